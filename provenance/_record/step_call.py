"""One recorded step around a clustering (neighbors, markers, dendrogram, PAGA, UMAP).

What is written is the target's (:class:`~provenance._targets.steps.StepTarget`): the
arguments as bound, and the fields :meth:`~provenance._targets.steps.StepTarget.describe`
reads after the call. The history is kept as for a clustering (``history_call``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceWarning
from provenance._schema.models import Software
from provenance._storage.codec import decode_step
from provenance._util.software import software_info

from .history_call import MISSING, HistoryCall, restore

if TYPE_CHECKING:
    from anndata import AnnData

    from provenance._schema.models import StepRecord
    from provenance._targets.steps import StepTarget

    from .blocks import Recording

__all__ = ["StepCall"]

# What tells two runs apart besides what they did: when, by which software, and where the
# record stands in the history. An identical re-run adds no version.
_NOT_COMPARED = {
    "id",
    "version",
    "previous",
    "digest",
    "signature",
    "software",
    "started_at",
    "finished_at",
    "duration_s",
    "writes",  # an identical re-run leaves the slots as they were: it writes nothing new
}


class StepCall(HistoryCall):
    """One recorded step: the history of its ``uns`` key kept, its record appended."""

    def __init__(
        self,
        target: StepTarget,
        named: dict[str, Any],
        var_kw: dict[str, Any],
        block: Recording,
    ) -> None:
        adata: AnnData = named[next(iter(named))]
        # A key_added passed through **kwargs (scanpy's sc.external.pp.bbknn hands it on).
        keyed = named if "key_added" not in var_kw else {"key_added": var_kw["key_added"], **named}
        super().__init__(adata, target.written_key(keyed), copy=target.copies(named), block=block)
        self.target = target
        self.named = named
        self.var_kw = var_kw
        self.last: StepRecord | None = None
        self.before: Any = None
        self._prepare(self._describe)
        self._start_clock()

    def _describe(self) -> None:
        self.arguments = self.target.arguments(self.named, self.var_kw)
        self.before = self.target.before(self.adata, self.named)

    def _reads(self) -> list[str]:
        return self.target.reads(self.adata, self.named)

    def _written_entry(self, uns: Any) -> dict[str, Any]:
        if not self.target.writes_uns and not isinstance(uns.get(self.key), dict):
            # A step that writes no uns entry (sc.pp.log1p on scanpy <= 1.9,
            # sc.pp.normalize_total): its history gets one of its own, under its key.
            uns[self.key] = {}
        return super()._written_entry(uns)

    def _decode(self, text: str, *, index: int) -> StepRecord:
        return decode_step(text, key=self.key, index=index)

    def rollback(self) -> None:
        """Put ``uns[key]`` back as it was before a call that raised (a warning if it cannot)."""
        if self.copy:
            return  # the object passed in is not modified by scanpy with copy=True
        try:
            restore(self.adata.uns, self.key, self.old_entry)
        except Exception as e:
            msg = f"could not put uns[{self.key!r}] back after the failed call: {e}"
            warnings.warn(msg, ProvenanceWarning, stacklevel=4)

    def finish(self, result: Any) -> StepRecord | None:
        """Write the record onto the object scanpy modified; return it (``None``: the same
        step again, nothing new to record)."""
        out = self._stop_clock(result)
        uns = out.uns
        entry = self._written_entry(uns)
        self._keep_history(entry)
        if self.error is not None:
            raise self.error
        target = self.target
        names_digest = self.block._names_digest(out.obs_names)
        fields = target.describe_call(
            out, self.named, key=self.key, names_digest=names_digest, before=self.before
        )
        self.before = None  # a copy of the graph's weights: not kept past the call
        chain = self._chain(out)
        if target.kind == "transform" and not chain["writes"]:
            # inplace=False, or nothing to do: the object is as it was, no step of its making.
            self._drop_if_empty(uns)
            return None
        version, previous = self._link()
        rec = target.record_model.create(
            kind=target.kind,
            version=version,
            key=self.key,
            function=target.function,
            arguments=self.arguments,
            software=Software.model_validate(software_info(target.packages)),
            started_at=self.started_at,
            finished_at=self.finished_at,
            duration_s=self.duration,
            n_obs=out.n_obs,
            obs_names_digest=names_digest,
            previous=previous,
            **chain,
            **fields,
        )
        last = self.last
        if last is not None and self._signed_alike(last) and _same_step(last, rec):
            return None
        return self._append(uns, entry, rec)

    def _drop_if_empty(self, uns: Any) -> None:
        """Remove the entry the recorder made for a step that wrote nothing (no history)."""
        if self.old_entry is MISSING and uns.get(self.key) == {}:
            del uns[self.key]


def _same_step(a: StepRecord, b: StepRecord) -> bool:
    """Whether two records describe the same run (see ``_NOT_COMPARED``)."""
    return a.model_dump(mode="json", exclude=_NOT_COMPARED) == b.model_dump(
        mode="json", exclude=_NOT_COMPARED
    )
