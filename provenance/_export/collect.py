"""From a file's records to an :class:`~provenance._export.model.Export`.

The records are read as the audit reads them, ``uns`` alone (``check_data=False``): an
export says what the records say, it does not re-check the data (``provenance verify`` does).
Keys come in the lineage's order (parents before children). The links between runs are taken
at the level of versions from the records themselves: a clustering's ``neighbors`` reference
and its graph's digest, a result's ``uses`` (which version of which labels) and ``parents``;
a ``restrict_to`` clustering used its parent's version recorded before it (the record names
the column, not the version).
The lineage has the same edges between keys, but not which version of a key was used.

Identifiers are built from keys, versions and digests only, so the same file always gives the
same export, wherever it lies. A record whose digest does not match its content (edited after
it was recorded) stops the export (:class:`~provenance.InvalidRecordError`) unless
``allow_invalid``: then it is exported, marked. So does a record that cannot be read
(:mod:`.gaps`): then it is left out, the gap marked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from provenance._schema.models import EMBEDDING_KINDS

from .data_items import SLOT_KINDS, read_item, written_items
from .gaps import find_gap, refusal, warning
from .model import Export, Item
from .runs import make_run, records_digest

if TYPE_CHECKING:
    from provenance._audit.report import AuditEntry, AuditReport, StepEntry
    from provenance._compare.lineage import Lineage
    from provenance._schema.models import (
        ClusteringRecord,
        GraphInfo,
        NeighborsRecord,
        RecordRef,
        ResultRecord,
    )

    from .gaps import Gap
    from .model import Run

    AnyRecord = ClusteringRecord | NeighborsRecord | ResultRecord

__all__ = ["collect", "from_report"]


def collect(adata_or_path: Any, *, name: str | None = None, allow_invalid: bool = False) -> Export:
    """Read the records of an object or file (``uns`` only) and gather what they say.

    Parameters
    ----------
    adata_or_path
        An AnnData or MuData object, or the path or URL of a file holding one.
    name
        The name the export gives the data (default: the file's name; ``"adata"`` for an
        object).
    allow_invalid
        Export records whose digest does not match their content, marked
        (``Run.digest_valid``), and the rest of a history whose records cannot all be read,
        the gap marked (``Export.gaps``, a :class:`~provenance.ProvenanceWarning`), instead
        of raising.

    Raises
    ------
    InvalidRecordError
        A record fails its own digest check (edited after it was recorded) or cannot be
        read (:mod:`.gaps`), and not ``allow_invalid``: one line per key.
    """
    from provenance._audit.audit import audit
    from provenance._compare.lineage import from_report as lineage_of

    report = audit(adata_or_path, check_data=False)
    export = from_report(report, lineage_of(report), name=name or _name_of(adata_or_path))
    lines = [
        f"{report.source}: the record of {r.key!r} version {r.version} does not match its "
        "own digest: it was edited after it was recorded. Nothing was exported. Run provenance "
        "verify; to export it anyway, marked invalid, pass --allow-invalid (allow_invalid=True)."
        for r in export.runs
        if not r.digest_valid
    ]
    lines += [refusal(g, report.source) for g in export.gaps]
    if lines and not allow_invalid:
        from provenance._base.errors import InvalidRecordError

        # One line per key: the CLI prints each as its own error line.
        raise InvalidRecordError("\n".join(lines))
    if export.gaps:
        import warnings

        from provenance._base.errors import ProvenanceWarning

        warnings.warn(warning(export.gaps, report.source), ProvenanceWarning, stacklevel=3)
    return export


def _name_of(obj: Any) -> str:
    if isinstance(obj, str) or hasattr(obj, "__fspath__"):
        text = str(obj).rstrip("/\\")
        return text.replace("\\", "/").rsplit("/", 1)[-1] or text
    return "adata"


def from_report(report: AuditReport, lineage: Lineage, *, name: str) -> Export:
    """The export of what an audit read: every readable record, in the lineage's key order."""
    from provenance._storage.index import INDEX_KEY

    histories: dict[str, tuple[str, tuple[AnyRecord, ...]]] = {}
    skipped: dict[str, int] = {}
    gaps: dict[str, Gap] = {}
    entries: list[AuditEntry | StepEntry] = [*report.entries, *report.steps]
    for entry in entries:
        if entry.key == INDEX_KEY:
            continue
        if (gap := find_gap(entry)) is not None:
            gaps[entry.key] = gap
        records: tuple[Any, ...] = entry.history
        if entry.n_stored > len(records):
            skipped[entry.key] = entry.n_stored - len(records)
        if records:
            histories[entry.key] = (_prefix(entry.key, records[-1].key), records)
    rank = {n.key: i for i, n in enumerate(lineage.nodes)}
    keys = sorted(histories, key=lambda k: (rank.get(k, len(rank)), k))
    b = _Builder({k: h[1] for k, h in histories.items()}, gaps)
    # First what every run made (ids depend on key and version alone), then what each used:
    # a run may use what a run later in the order made (a graph remade under another key).
    for key in keys:
        prefix, records = histories[key]
        for rec in records:
            b.made(key, prefix, rec)
    runs = []
    for key in keys:
        prefix, records = histories[key]
        previous: Run | None = None
        for rec in records:
            run = b.run(key, prefix, rec)
            runs.append(run)
            if previous is not None and previous.version == run.version - 1:
                b.revisions += _revisions(run, previous)
            previous = run
        if key not in gaps or not gaps[key].latest:
            # Not when the latest record cannot be read: the file holds what it made, not
            # what the latest readable one made.
            b.current += runs[-1].made
    return Export(
        records_digest=records_digest(r.digest for r in runs),
        name=name,
        source=report.source,
        runs=tuple(runs),
        items=b.items,
        derived=tuple(dict.fromkeys(b.derived)),
        revisions=tuple(b.revisions),
        current=tuple(dict.fromkeys(b.current)),
        skipped=skipped,
        gaps=tuple(gaps[k] for k in sorted(gaps, key=lambda k: (rank.get(k, len(rank)), k))),
    )


def _prefix(key: str, local: str) -> str:
    """``"rna:"`` of ``"rna:L"`` (a MuData modality's records name the modality's keys)."""
    return key[: len(key) - len(local)] if key.endswith(local) else ""


def _seg(key: str) -> str:
    """A key as one segment of an identifier (``"rna:L"`` -> ``"rna%3AL"``)."""
    return quote(key, safe="")


def _short(digest: str) -> str:
    """The first 16 hex digits of a digest: enough to tell data apart inside one file."""
    return digest.partition(":")[2][:16]


def _revisions(new: Run, old: Run) -> list[tuple[str, str]]:
    """The same output (``labels``, ``connectivities``, ``result``) of two versions."""
    olds = {m.removeprefix(old.id + "/"): m for m in old.made}
    return [(m, olds[r]) for m in new.made if (r := m.removeprefix(new.id + "/")) in olds]


class _Builder:
    """The items, links and runs of one export, built record by record."""

    def __init__(self, histories: dict[str, tuple[AnyRecord, ...]], gaps: dict[str, Gap]) -> None:
        self.histories = histories
        self.gaps = gaps
        self.items: dict[str, Item] = {}
        self.outputs: dict[tuple[str, int], tuple[str, ...]] = {}
        self.graphs: dict[str, list[str]] = {}  # graph digest -> items made with it
        self.derived: list[tuple[str, str]] = []
        self.revisions: list[tuple[str, str]] = []
        self.current: list[str] = []
        self.slots: dict[str, list[str]] = {}  # digest -> items made with it

    def add(self, item: Item) -> str:
        self.items.setdefault(item.id, item)
        return item.id

    # --- what each run made -------------------------------------------------------------------

    def made(self, key: str, prefix: str, rec: AnyRecord) -> None:
        run = f"{_seg(key)}/v{rec.version}"
        out: list[str] = []
        if rec.kind == "neighbors":
            for role, g in rec.graphs.items():
                out.append(self.add(_graph_item(f"{run}/{_seg(role)}", g, prefix, key, rec)))
                self.graphs.setdefault(g.digest, []).append(out[-1])
        elif rec.kind == "clustering":
            r = rec.result
            attrs: dict[str, str | int | float | bool] = {
                "obs_column": key,
                "n_obs": r.n_obs,
                "n_clusters": r.n_clusters,
                "partition_digest": r.partition_digest,
                "obs_names_digest": r.obs_names_digest,
            }
            label = f"obs[{key!r}], version {rec.version}"
            out.append(self.add(Item(f"{run}/labels", "labels", label, r.labels_digest, attrs)))
        elif rec.kind in EMBEDDING_KINDS:  # sc.tl.umap: the embedding, and a graph it changed
            e: Any = rec
            if e.embedding is not None:
                emb = e.embedding
                attrs = {"name": emb.name, "n_obs": emb.n_obs, "n_dims": emb.n_dims}
                label = f"{prefix}obsm[{emb.name!r}], version {rec.version}"
                item = Item(f"{run}/embedding", "representation", label, emb.digest, attrs)
                out.append(self.add(item))
            edit, g = e.graph_edit, e.graph
            if edit is not None and g is not None:
                changed = g.model_copy(update={"digest": edit.digest_after})
                out.append(self.add(_graph_item(f"{run}/graph", changed, prefix, key, rec)))
                self.graphs.setdefault(edit.digest_after, []).append(out[-1])
        elif rec.kind in SLOT_KINDS:  # sc.pp and concat: the slots it wrote, by digest
            out += [self.add(i) for i in written_items(run, prefix, key, rec)]
        else:
            local = key.removeprefix(prefix)
            attrs = {"uns_key": local, "result_kind": rec.kind}
            if prefix:
                attrs = {"modality": prefix[:-1], **attrs}
            where = f"mdata[{prefix[:-1]!r}].uns[{local!r}]" if prefix else f"uns[{key!r}]"
            label = f"{where} ({rec.kind}), version {rec.version}"
            out.append(self.add(Item(f"{run}/result", "result", label, None, attrs)))
        self.outputs[(key, rec.version)] = tuple(out)
        for o in out:  # what a later step read with the same digest came from here
            if (d := self.items[o].digest) is not None:
                self.slots.setdefault(d, []).append(o)

    # --- what each run used -------------------------------------------------------------------

    def run(self, key: str, prefix: str, rec: AnyRecord) -> Run:
        run_id = f"{_seg(key)}/v{rec.version}"
        used: list[str] = []
        if rec.kind in SLOT_KINDS:
            for slot, d in getattr(rec, "reads", {}).items():
                made_by = self.slots.get(d.digest)
                used.append(made_by[0] if made_by else self.add(read_item(slot, d, prefix)))
        elif rec.kind == "neighbors":
            rep = rec.representation
            if rep is not None and rep.digest in self.slots:  # a recorded PCA made it
                used.append(self.slots[rep.digest][0])
            elif rep is not None:
                where = "X" if rep.name == "X" else f"obsm[{rep.name!r}]"
                attrs: dict[str, str | int | float | bool] = {
                    "name": rep.name,
                    "n_obs": rep.n_obs,
                    "n_dims": rep.n_dims,
                    "dtype": rep.dtype,
                }
                item = Item(
                    f"{_seg(prefix + rep.name)}/{_short(rep.digest)}",
                    "representation",
                    f"mdata[{prefix[:-1]!r}].{where}" if prefix else where,
                    rep.digest,
                    attrs,
                )
                used.append(self.add(item))
        elif rec.kind in EMBEDDING_KINDS:
            e: Any = rec
            if e.graph is not None:
                used.append(self._graph(e.graph, prefix, e.neighbors))
        elif rec.kind == "clustering":
            c: Any = rec
            ref = c.neighbors
            if c.layers:  # multiplex: each modality's graph
                for layer in c.layers:
                    used.append(self._graph(layer.graph, f"{layer.modality}:", None))
            elif c.graph is not None:
                used.append(self._graph(c.graph, prefix, ref))
            restrict = getattr(c.params, "restrict_to", None)
            if restrict is not None:
                used.append(self._restricted(prefix + restrict.key, c))
        else:
            s: Any = rec
            for use in s.uses:
                used.append(self._labels(use, prefix))
            matched = False
            # A graph changed in place since its neighbors run (graph_steps): the graph item
            # is the one the last step left, not what the neighbors run made.
            parents = s.parents if not getattr(s, "graph_steps", None) else []
            for parent in parents:
                found = self._parent(parent, prefix, s.graph)
                matched |= s.graph is not None and any(
                    self.items[f].digest == s.graph.digest for f in found
                )
                used += found
            if s.graph is not None and not matched:
                used.append(self._graph(s.graph, prefix, None))
        used = list(dict.fromkeys(used))
        made = self.outputs[(key, rec.version)]
        self.derived += [(m, u) for m in made for u in used]
        return make_run(run_id, key, rec, tuple(used), made)

    def _graph(self, g: GraphInfo, prefix: str, ref: RecordRef | None) -> str:
        """The item of a graph a run read: the one a recorded neighbors run made with this
        digest (the run the record names first), else the graph on its own."""
        if ref is not None:
            for out in self.outputs.get((prefix + ref.key, ref.version), ()):
                if self.items[out].digest == g.digest:
                    return out
        for out in self.graphs.get(g.digest, ()):
            return out
        where = f"obsp/{_seg(prefix + g.obsp_key)}" if g.obsp_key else "adjacency"
        return self.add(_graph_item(f"{where}/{_short(g.digest)}", g, prefix, None, None))

    def _restricted(self, key: str, child: ClusteringRecord) -> str:
        """The labels a ``restrict_to`` clustering sub-clustered: its parent's version
        recorded before it, else the column."""
        from provenance._audit.checks_parent import parent_used

        parent = parent_used(self.histories.get(key, ()), child)
        if parent is not None:
            for out in self.outputs.get((key, parent.version), ()):
                return out
        label = f"obs[{key!r}] (not recorded)"
        return self.add(Item(f"obs/{_seg(key)}", "labels", label, None, {"obs_column": key}))

    def _labels(self, use: Any, prefix: str) -> str:
        """The labels a result grouped by: the clustering version it names, else the column."""
        ref = use.record
        if ref is not None:
            key = prefix + ref.key
            for out in self.outputs.get((key, ref.version), ()):
                return out
            item_id = f"{_seg(key)}/v{ref.version}/labels"
            label = f"obs[{key!r}], version {ref.version}"
            unread = self._unread(key, ref.version)
            if unread:
                label += " (made by a record that cannot be read)"
        else:
            key = prefix + use.key
            item_id = f"obs/{_seg(key)}/{_short(use.partition_digest)}"
            label = f"obs[{key!r}] (not recorded)"
            unread = False
        attrs: dict[str, str | int | float | bool] = {
            "obs_column": key,
            "n_clusters": use.n_clusters,
            "partition_digest": use.partition_digest,
            "obs_names_digest": use.obs_names_digest,
        }
        if unread:
            attrs["record_readable"] = False
        return self.add(Item(item_id, "labels", label, None, attrs))

    def _unread(self, key: str, version: int) -> bool:
        """Whether version ``version`` of ``key`` is stored but cannot be read."""
        gap = self.gaps.get(key)
        return gap is not None and (not gap.versions or version in gap.versions)

    def _parent(self, ref: RecordRef, prefix: str, graph: GraphInfo | None) -> list[str]:
        """What a result read of another recorded step: the graph it used of a neighbors run,
        else all that run made; a record that cannot be read stands for itself."""
        key = prefix + ref.key
        outs = self.outputs.get((key, ref.version))
        if outs is None:
            where = f"mdata[{prefix[:-1]!r}].uns[{ref.key!r}]" if prefix else f"uns[{key!r}]"
            label = f"the record of {where}, version {ref.version} (not readable)"
            attrs: dict[str, str | int | float | bool] = {"record_digest": ref.digest}
            if self._unread(key, ref.version):
                attrs["record_readable"] = False
            return [self.add(Item(f"{_seg(key)}/v{ref.version}", "record", label, None, attrs))]
        if graph is not None:
            same = [o for o in outs if self.items[o].digest == graph.digest]
            if same:
                return same
        return list(outs)


def _graph_item(
    item_id: str, g: GraphInfo, prefix: str, key: str | None, rec: AnyRecord | None
) -> Item:
    # A modality's graph is mdata['rna'].obsp[...]; "rna:connectivities" is no key anywhere.
    holder = f"mdata[{prefix[:-1]!r}]." if prefix else ""
    where = f"{holder}obsp[{g.obsp_key!r}]" if g.obsp_key else "an adjacency matrix passed in"
    made = f", made by {key} version {rec.version}" if key is not None and rec is not None else ""
    attrs: dict[str, str | int | float | bool] = {
        "n_nodes": g.n_nodes,
        "n_edges": g.n_edges,
        "dtype": g.dtype,
    }
    if g.obsp_key:
        attrs = {"obsp_key": g.obsp_key, **attrs}
    if prefix:
        attrs = {"modality": prefix[:-1], **attrs}
    return Item(item_id, "graph", f"{where}{made}", g.digest, attrs)
