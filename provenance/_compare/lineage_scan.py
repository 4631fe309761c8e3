"""What the lineage is drawn from: the records of one AnnData (or one part of a MuData), and
what scanpy left where nothing was recorded.

A recorded step names its parents itself: a clustering its ``neighbors`` record (else its
graph's ``neighbors_key``), a result the clusterings it ``uses`` and the steps it read
(``parents``). Without a record, scanpy's own leftovers still say where a result came from:
``uns[k]["params"]["groupby"]`` of ``rank_genes_groups``, ``groupby`` of a dendrogram,
``groups`` of PAGA. Only ``uns`` is read (of a file: the ``params``/``provenance`` the audit
reads, and the small ``dendrogram_<column>`` and ``paga`` entries whole).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError
from provenance._storage.codec import PROVENANCE_FIELD, decode_any, entry_kind, history_texts
from provenance._storage.history import has_history
from provenance._storage.index import INDEX_KEY

if TYPE_CHECKING:
    from provenance._schema.models import ClusteringRecord, NeighborsRecord, ResultRecord

    AnyRecord = ClusteringRecord | NeighborsRecord | ResultRecord

__all__ = ["Found", "Scan", "scan_part"]

# The functions scanpy's leftovers point to, by the kind of result they are.
_SCANPY = {
    "neighbors": "scanpy.pp.neighbors",
    "rank_genes_groups": "scanpy.tl.rank_genes_groups",
    "dendrogram": "scanpy.tl.dendrogram",
    "paga": "scanpy.tl.paga",
}


@dataclass
class Found:
    """One key seen in ``uns``: what made it, and whether a record says so."""

    key: str
    kind: str
    """The record's kind; ``"unrecorded"`` when there is no readable history."""
    version: int | None = None
    function: str | None = None
    recorded: bool = False
    note: str = ""
    """What is known of it in one line (the node's ``why`` when nothing is wrong)."""


@dataclass
class Scan:
    """Keys and edges found so far, in the order found; keys of a modality prefixed."""

    found: dict[str, Found] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    obs: set[str] = field(default_factory=set)
    """``obs`` columns (prefixed), to tell an unrecorded column from a key that is gone."""

    def add(self, f: Found) -> None:
        self.found.setdefault(f.key, f)

    def edge(self, parent: str, child: str) -> None:
        if parent != child and (parent, child) not in self.edges:
            self.edges.append((parent, child))


def scan_part(part: Any, out: Scan) -> None:
    """Add the keys and edges of one AnnData source (or a MuData part) to ``out``."""
    prefix: str = getattr(part, "prefix", "")
    out.obs |= set(part.obs_columns())
    for key, entry in part.uns.items():
        if key == INDEX_KEY or not isinstance(entry, Mapping):
            continue
        if has_history(entry):
            _recorded(key, entry, prefix, out)
        else:
            _scanpy_params(key, entry, prefix, out)
    for key, entry in _leftovers(part, prefix, out):
        _scanpy_result(key, entry, prefix, out)


def readable_records(entry: Mapping[str, Any], key: str) -> list[AnyRecord]:
    """The records of a history that can be read, oldest first (the audit reports the rest)."""
    try:
        texts = history_texts(entry[PROVENANCE_FIELD], key=key)
    except ProvenanceError:
        return []
    records = []
    for i, text in enumerate(texts):
        try:
            records.append(decode_any(text, key=key, index=i))
        except ProvenanceError:
            continue
    return records


def _recorded(key: str, entry: Mapping[str, Any], prefix: str, out: Scan) -> None:
    records = readable_records(entry, key)
    if not records:
        kind = entry_kind(entry) or "unrecorded"
        out.add(Found(key, kind, recorded=True, note="its history cannot be read"))
        return
    rec = records[-1]
    when = rec.finished_at or rec.started_at
    at = f" at {when:%Y-%m-%d %H:%M} UTC" if when is not None else ""
    n = len(records)
    note = f"{rec.function}{at} ({n} version{'s' * (n != 1)})"
    out.add(Found(key, rec.kind, rec.version, rec.function, recorded=True, note=note))
    kind = rec.kind
    if kind == "clustering":
        ref = getattr(rec, "neighbors", None)
        graph = getattr(rec, "graph", None)
        parent = ref.key if ref is not None else (graph.neighbors_key if graph else None)
        if parent:
            out.edge(prefix + parent, key)
    elif kind != "neighbors":
        for use in getattr(rec, "uses", ()):
            out.edge(prefix + use.key, key)
        for ref in getattr(rec, "parents", ()):
            out.edge(prefix + ref.key, key)


def _scanpy_params(key: str, entry: Mapping[str, Any], prefix: str, out: Scan) -> None:
    """An unrecorded ``uns`` entry scanpy's ``params`` tell the maker of."""
    params = entry.get("params")
    if not isinstance(params, Mapping):
        return
    if "n_neighbors" in params:
        out.add(_unrecorded(key, "neighbors", "graph parameters as scanpy left them"))
    elif "groupby" in params and "reference" in params:
        groups = _names(params.get("groupby"))
        out.add(_unrecorded(key, "rank_genes_groups", _grouped(groups)))
        for g in groups:
            out.edge(prefix + g, key)


def _scanpy_result(key: str, entry: Mapping[str, Any], prefix: str, out: Scan) -> None:
    """An unrecorded dendrogram or PAGA, from the keys scanpy writes with it."""
    if "groupby" in entry and ("linkage" in entry or "categories_ordered" in entry):
        groups, kind = _names(entry["groupby"]), "dendrogram"
    elif "groups" in entry and "connectivities" in entry:
        groups, kind = _names(entry["groups"]), "paga"
    else:
        return
    out.add(_unrecorded(key, kind, _grouped(groups)))
    for g in groups:
        out.edge(prefix + g, key)


def _leftovers(part: Any, prefix: str, out: Scan) -> list[tuple[str, Mapping[str, Any]]]:
    """Whole ``uns`` entries without a history that may be a dendrogram or PAGA.

    In memory every entry is looked at. A file is not listed (a store may hold thousands of
    entries, some that this zarr cannot parse): scanpy's own names are tried, ``paga`` and
    ``dendrogram_<column>`` for each categorical ``obs`` column, and read whole (small).
    """
    inner = getattr(part, "inner", part)
    adata = getattr(inner, "adata", None)
    if adata is not None:
        names = [str(k) for k in adata.uns]
        read = adata.uns.get
    else:
        cols = [c for c, categorical in inner.obs_columns().items() if categorical]
        names = ["paga", *(f"dendrogram_{c}" for c in cols)]
        read = inner.uns_entry
    got = []
    for name in names:
        key = prefix + name
        if key in out.found:
            continue
        try:
            entry = read(name)
        except (ProvenanceError, KeyError, OSError):
            continue  # a damaged entry: the audit reports what it must
        if isinstance(entry, Mapping) and not has_history(entry):
            got.append((key, entry))
    return got


def _unrecorded(key: str, kind: str, note: str) -> Found:
    return Found(key, "unrecorded", function=_SCANPY[kind], note=note)


def _grouped(groups: list[str]) -> str:
    by = f" by {', '.join(map(repr, groups))}" if groups else ""
    return f"as scanpy left it{by}, without a record"


def _names(value: Any) -> list[str]:
    """Column names from what scanpy stored: a str, bytes, a list or an array of them."""
    if value is None:
        return []
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    if isinstance(value, str):
        return [value]
    if hasattr(value, "tolist"):
        value = value.tolist()
        if isinstance(value, str | bytes):
            return _names(value)
    if isinstance(value, list | tuple):
        return [n for v in value for n in _names(v)]
    return [str(value)]
