"""Replay every recorded step a clustering depends on: ``replay(adata, key, pipeline=True)``.

The chain (``chain.py``) is followed back from the clustering's record by the slots each step
read. The replay runs it forward on a scratch object: a slot a step read comes from the
replay of the step that wrote it, or, where that step was not replayed (or no recorded step
made it), from the slot of the object that holds the recorded digest (``layers['counts']``
for what ``normalize_total`` read from ``X``). A step whose input the object no longer holds
is not run (a filter's input is the object before it filtered); the replay starts at the
first step it can run, and says so. Each step is called with the registered target's own,
unwrapped function and the recorded arguments; every slot it wrote is hashed once and
compared with the record's ``writes``; the clustering is re-run by :func:`replay` on the
replayed graph and compared with ``obs[key]``. The user's object is never modified.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ReplayError
from provenance._storage.history import history, select_version
from provenance._storage.slots import _parse, get_slot, slot_digest

from .calls import (
    Missing,
    concat_reason,
    holds_counts,
    made_on,
    registered_function,
    step_kwargs,
    step_software,
)
from .chain import ObjectSlots, dependency_chain
from .result import PipelineReplay, PipelineStep, SlotComparison

if TYPE_CHECKING:
    from collections.abc import Callable

    from anndata import AnnData

    from .chain import ChainStep
    from .result import ReplayResult, StepStatus

__all__ = ["replay_pipeline"]


def replay_pipeline(
    adata: AnnData, key: str, *, version: int, replay: Callable[..., ReplayResult]
) -> PipelineReplay:
    """Re-run the recorded steps ``key``'s clustering depends on; see :func:`replay`, which
    passes itself as ``replay`` to re-run the clustering on the replayed graph."""
    from provenance._base.errors import UnknownVersionError
    from provenance._storage.mudata import is_mudata
    from provenance._storage.timeline import steps

    if is_mudata(adata):
        msg = (
            f"the pipeline replay of {key!r}, a clustering of a whole MuData, is not supported; "
            "replay a modality's clustering ('<mod>:<key>') with pipeline=True."
        )
        raise ReplayError(msg)
    records = history(adata, key)
    if not records:
        msg = (
            f"{key!r} has no provenance record to replay; run the pipeline inside "
            "`with provenance.record(adata):` to record it."
        )
        raise ReplayError(msg)
    try:
        rec = select_version(records, version, key=key)
    except UnknownVersionError as e:
        raise ReplayError(str(e)) from None
    where = f"{key!r} version {rec.version}"
    if not rec.reads:
        msg = (
            f"{where} does not name the slots it read (recorded before schema 1.6, or "
            "adopted): the steps it depends on cannot be followed; replay it without "
            "pipeline=True."
        )
        raise ReplayError(msg)
    if key not in adata.obs:
        msg = f"obs[{key!r}] is missing: there are no labels to compare the replay of {where} with."
        raise ReplayError(msg)
    everything = steps(adata)
    last = next(
        i
        for i, r in enumerate(everything)
        if r.kind == "clustering" and r.key == key and r.version == rec.version
    )
    return _Run(adata, dependency_chain(everything, last), replay).run()


class _Run:
    """One pipeline replay: the scratch object and what each step of the chain gave."""

    def __init__(
        self, adata: AnnData, chain: list[ChainStep], replay: Callable[..., ReplayResult]
    ) -> None:
        self.adata = adata
        self.replay = replay
        self.chain = chain
        self.source = ObjectSlots(adata)
        self.scratch: Any = None
        self.status: list[StepStatus | None] = [None] * len(chain)
        self.ran = [False] * len(chain)  # the step was called and returned
        self.digests: dict[str, str] = {}  # slot -> digest the replay left in it
        self.start: str | None = None
        self.notes: list[str] = []

    def run(self) -> PipelineReplay:
        rows = [self._step(i) for i in range(len(self.chain) - 1)]
        row, clustering = self._clustering()
        rows.append(row)
        started = next((i for i, r in enumerate(rows) if r.status != "not_run"), len(rows))
        first = next((i for i in range(started, len(rows)) if rows[i].status != "identical"), None)
        if started:
            skipped = ", ".join(f"{r.function} ({r.key!r})" for r in rows[:started])
            self.notes.insert(
                0,
                f"not replayed: {skipped} (see each step for why), so the replay starts after them",
            )
        rec = self.chain[-1].record
        return PipelineReplay(
            key=rec.key,
            version=rec.version,
            steps=tuple(rows),
            start=self.start,
            first_departure=first,
            clustering=clustering,
            notes=tuple(self.notes),
        )

    # -- one step ----------------------------------------------------------------------------

    def _row(self, i: int, status: StepStatus, **fields: Any) -> PipelineStep:
        self.status[i] = status
        rec = self.chain[i].record
        return PipelineStep(
            key=rec.key,
            version=rec.version,
            function=rec.function,
            status=status,
            software=step_software(rec),
            **fields,
        )

    def _step(self, i: int) -> PipelineStep:
        rec = self.chain[i].record
        try:
            if rec.kind == "concat":
                raise Missing(concat_reason(rec))
            func = registered_function(rec.function)
            kwargs = step_kwargs(rec, func)
            inputs, problems = self._inputs(i)
        except Missing as e:
            return self._row(i, e.status, reason=str(e))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the recorded run showed its warnings
                func(self.scratch, **kwargs)
            self.ran[i] = True
        except Exception as e:
            detail = " ".join(str(e).split())[:300]
            return self._row(
                i,
                self._verdict(i, []),
                inputs=tuple(inputs),
                reason=f"{rec.function} raised {type(e).__name__}: {detail}",
            )
        compared = self._compare(rec.writes, lambda name: get_slot(self.scratch, name))
        if getattr(rec, "before", None) is not None:
            # A call that changed the shape rewrote every slot along it; the replay carries
            # only those the chain reads (and the call makes).
            compared = [c for c in compared if c.replayed is not None]
        return self._judge(i, inputs, problems, compared)

    def _judge(
        self, i: int, inputs: list[str], problems: list[str], compared: list[SlotComparison]
    ) -> PipelineStep:
        rec = self.chain[i].record
        differ = [c.name for c in compared if not c.equal]
        if differ:
            problems.append(f"{', '.join(differ)} not as recorded")
        if not problems:
            return self._row(i, "identical", inputs=tuple(inputs), compared=tuple(compared))
        if rec.digest != rec.expected_digest():
            problems.append("the record fails its digest check (edited after it was written)")
        return self._row(
            i,
            self._verdict(i, problems),
            inputs=tuple(inputs),
            compared=tuple(compared),
            reason="; ".join(problems),
        )

    def _verdict(self, i: int, problems: list[str]) -> StepStatus:
        """A difference is a departure under the recorded versions, or one that follows
        from an inconclusive step before; under other versions it is inconclusive."""
        if any(" by no recorded call" in p or "digest check" in p for p in problems):
            return "departs"  # an unrecorded change, an edited record: no version explains it
        upstream = [
            self.status[link.producer]
            for link in self.chain[i].links
            if link.producer is not None
            and self.ran[link.producer]
            and self.status[link.producer] != "identical"
        ]
        if "inconclusive" in upstream:
            return "inconclusive"
        software = step_software(self.chain[i].record)
        return "inconclusive" if software is None or software else "departs"

    def _compare(self, writes: dict[str, Any], value: Callable[[str], Any]) -> list[SlotComparison]:
        """The slots the record says the step wrote, each hashed once as the replay left it."""
        out = []
        for name, recorded in writes.items():
            try:
                got = slot_digest(value(name))
            except (KeyError, TypeError, ValueError, AttributeError):
                got = None
            if got is not None:
                self.digests[name] = got.digest
            out.append(SlotComparison(name, recorded.digest, None if got is None else got.digest))
        return out

    # -- inputs -------------------------------------------------------------------------------

    def _inputs(self, i: int) -> tuple[list[str], list[str]]:
        """Put what step ``i`` reads into the scratch object: ``(where each came from, how
        what it reads differs from the record)``; :class:`Missing` when one is gone."""
        step = self.chain[i]
        rec = step.record
        inputs: list[str] = []
        problems: list[str] = []
        placements: list[tuple[str, str, str, Any]] = []
        for link in step.links:
            p = link.producer
            producer = None if p is None else self.chain[p].record
            replayed = p is not None and self.ran[p]
            if link.gap and producer is not None:
                problems.append(
                    f"{link.name} changed between {producer.function} ({producer.key!r}) and "
                    f"{rec.function} ({rec.key!r}) by no recorded call: it read another "
                    f"{link.name} than {producer.key!r} wrote"
                )
            if replayed and not link.gap:
                made = f"{producer.key!r}"  # type: ignore[union-attr]
                slot = link.written_as or link.name
                if link.written_as is not None:  # copied from there by no recorded call
                    made += f" (its {slot})"
                    self._put(link.name, get_slot(self.scratch, slot).copy())
                inputs.append(f"{link.name} <- replay of {made}")
                if self.digests.get(slot) != link.read.digest:
                    problems.append(
                        f"{link.name} as replayed by {producer.key!r} is not what this step "  # type: ignore[union-attr]
                        "read (the departure before)"
                    )
                continue
            found = self.source.find(link.name, link.read)
            if found is not None:
                self._fits(link.name, found)
                placements.append((link.name, link.read.digest, found, producer))
                continue
            if replayed:  # a gap whose value is gone: go on with the replay's
                inputs.append(f"{link.name} <- replay of {producer.key!r} (what was read is gone)")  # type: ignore[union-attr]
                continue
            if found is None:
                shape = " x ".join(map(str, link.read.shape))
                made = "" if producer is None else f", made by {producer.function} (not replayed),"
                msg = (
                    f"what it read, {link.name} ({shape} {link.read.dtype}){made} is in no slot "
                    "of the object"
                )
                if getattr(rec, "before", None) is not None:
                    msg += (
                        f": {rec.function} changed the object's shape, and its input is the "
                        "object before"
                    )
                raise Missing(msg)
        self._runnable(rec, bool(placements))
        # Only once every input is found: a step that cannot run leaves the scratch as it was.
        for name, digest, found, producer in placements:
            self._place(name, found)
            self.digests[name] = digest
            inputs.append(f"{name} <- object's {found}")
            if self.start is None:
                self.start = f"{rec.function} ({rec.key!r}) from {found}"
                link = next(link for link in step.links if link.name == name)
                self._note_start(rec, name, found, producer, link.other_cells)
        return inputs, problems

    def _runnable(self, rec: Any, placing: bool) -> None:
        """:class:`Missing` when there is no object to run ``rec``'s call on: it changed the
        object's shape (``sc.pp.subsample``) and read the object before, or it read nothing
        recorded and no step before it was replayed."""
        before = getattr(rec, "before", None)
        n_obs = (self.scratch if self.scratch is not None else self.adata).n_obs
        if before is not None and (n_obs != before.n_obs or (self.scratch is None and not placing)):
            msg = (
                f"its input is the object before it ({before.n_obs} x {before.n_vars}), which "
                f"the object does not keep: {rec.function} changed the object's shape"
            )
            raise Missing(msg)
        if self.scratch is None and not placing:
            msg = "it read no recorded slot and no step before it was replayed: nothing to run on"
            raise Missing(msg)

    def _note_start(self, rec: Any, name: str, found: str, producer: Any, other: Any) -> None:
        """Where the replay begins, and what it cannot show before that (``other``: the record
        on the parent object that made ``name``)."""
        what = f"{name} as the object holds it in {found}" if found != name else name
        if producer is None and other is not None:
            text = (
                f"the replay starts from {what}, read by {rec.function} ({rec.key!r}); it was "
                f"made by {other.function} ({other.key!r} version {other.version}) on the "
                f"parent object ({made_on(other)}): the steps made there are not part of this "
                "object's replay"
            )
            before = "the steps before were made on the parent object"
        elif producer is None:
            text = f"the earliest recorded input is {what}, read by {rec.function} ({rec.key!r})"
            before = "the steps that made it were not recorded"
        else:
            text = (
                f"the replay starts from {what}, read by {rec.function} ({rec.key!r}); it was "
                f"made by {producer.function} ({producer.key!r}), recorded but not replayed"
            )
            before = "the recorded steps before could not be replayed"
        if not holds_counts(get_slot(self.adata, found)):
            text += (
                f"; {found} does not hold counts (non-negative integers) and {before}, so this "
                "replay cannot show that the clusters follow from counts"
            )
        self.notes.append(text)

    def _fits(self, name: str, found: str) -> None:
        """:class:`Missing` when the object's matrix ``found`` cannot stand for ``name`` in
        the scratch object (another shape than the replay holds)."""
        where, _ = _parse(name)
        value = get_slot(self.adata, found)
        s = self.scratch
        if s is not None and where in ("X", "layers") and tuple(value.shape) != tuple(s.shape):
            msg = (
                f"{name} from {found} has shape {value.shape}, but the replay holds "
                f"{s.shape[0]} x {s.shape[1]}"
            )
            raise Missing(msg)

    def _place(self, name: str, found: str) -> None:
        """Copy the object's slot ``found`` into the scratch object as ``name``."""
        import pandas as pd
        from anndata import AnnData

        adata = self.adata
        value = self.source.value(found)
        where, _ = _parse(name)
        if self.scratch is None:
            raw = found == "raw.X" and where in ("X", "layers", "raw.X")
            var_names = adata.raw.var_names if raw else adata.var_names
            self.scratch = AnnData(
                obs=pd.DataFrame(index=adata.obs_names.copy()),
                var=pd.DataFrame(index=var_names.copy()),
            )
        if where == "raw.X":
            s = self.scratch
            s.raw = AnnData(X=value, obs=pd.DataFrame(index=s.obs_names), var=adata.raw.var[[]])
        else:
            self._put(name, value)

    def _put(self, name: str, value: Any) -> None:
        """Set slot ``name`` (not ``raw.X``) of the scratch object to ``value``."""
        s = self.scratch
        where, k = _parse(name)
        if where in ("obs", "var"):
            frame, names = (s.obs, s.obs_names) if where == "obs" else (s.var, s.var_names)
            frame[k] = value.reindex(names) if not value.index.equals(names) else value
            return
        if where == "X":
            s.X = value
        else:
            getattr(s, where)[k] = value

    # -- the clustering -----------------------------------------------------------------------

    def _clustering(self) -> tuple[PipelineStep, ReplayResult | None]:
        from provenance._storage.slots import slot_name

        i = len(self.chain) - 1
        rec = self.chain[i].record
        try:
            inputs, problems = self._inputs(i)
        except Missing as e:
            return self._row(i, "not_run", reason=str(e)), None
        stage = self.scratch
        stage.obs[rec.key] = self.adata.obs[rec.key].values  # categorical stays categorical
        stage.uns[rec.key] = self.adata.uns[rec.key]
        # force: the graph is the replayed one, which the rows compare with the record.
        result = self.replay(stage, rec.key, version=rec.version, force=True)
        labels = slot_name("obs", rec.key)
        compared = self._compare(
            rec.writes, lambda name: result.labels if name == labels else get_slot(stage, name)
        )
        if result.labels_version not in (None, rec.version):
            self.notes.append(
                f"obs[{rec.key!r}] holds the labels of version {result.labels_version}; version "
                f"{rec.version} replayed is compared with its record's digests"
            )
        elif not result.identical:
            edited = result.labels_version is None
            problems.append(
                f"the replayed partition differs from obs[{rec.key!r}] (ARI {result.ari:.4f}, "
                f"NMI {result.nmi:.4f})"
                + (", which matches no recorded version (edited?)" if edited else "")
            )
        return self._judge(i, inputs, problems, compared), result
