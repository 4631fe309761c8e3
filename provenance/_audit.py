"""The audit: for each clustering in an object or file, how it was made and whether it holds.

The findings and the report they make up are defined in ``_report``; scanpy's own parameters
and the legacy fixed keys are read in ``_legacy``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._codec import PROVENANCE_FIELD, decode_record, history_texts
from ._errors import NewerSchemaError, ProvenanceError, UnknownKeyError
from ._history import has_history
from ._legacy import FIXED_KEYS, add_legacy, scanpy_params
from ._report import WARNINGS, AuditEntry, AuditReport, Finding, FindingCode, Severity, Status

if TYPE_CHECKING:
    from anndata import AnnData

    from ._files import AnnDataSource, FileSource
    from ._models import ClusteringRecord

    Source = AnnDataSource | FileSource

# The report's names are re-exported: docs/_ext and older imports read them from here.
__all__ = [
    "FIXED_KEYS",
    "WARNINGS",
    "AuditEntry",
    "AuditReport",
    "Finding",
    "FindingCode",
    "Severity",
    "Status",
    "audit",
    "show",
]

_CLUSTERING_NAME = re.compile(r"^(leiden|louvain)", re.IGNORECASE)


def audit(
    adata_or_path: AnnData | str | Any, key: str | None = None, *, check_data: bool = True
) -> AuditReport:
    """Audit every clustering of an AnnData object or ``.h5ad``/``.zarr`` file.

    Parameters
    ----------
    adata_or_path
        An AnnData object, or the path of an ``.h5ad`` file or ``.zarr`` store (only ``uns``,
        the needed ``obs`` columns, ``obs_names`` and the recorded ``obsp`` graphs are read).
    key
        Audit this key only.
    check_data
        Compare labels and graphs with the records. ``False`` reads a file's ``uns`` alone.

    Returns
    -------
    The report: ``.ok`` is true when no finding is an error.

    Raises
    ------
    UnknownKeyError
        ``key`` is neither in ``obs`` nor in ``uns``.
    UnreadableFileError
        The path is missing, not AnnData, or damaged where it must be read.

    Examples
    --------
    >>> report = provenance.audit(adata)
    >>> report.ok
    True
    >>> [(e.key, e.status) for e in report.entries]
    [('louvain', 'warning'), ('leiden_0.5', 'ok'), ('leiden_1.0', 'ok')]
    """
    from ._files import open_source

    with open_source(adata_or_path, check_data=check_data) as src:
        keys = _keys(src, key)
        ctx = _Context(src)
        entries = tuple(_audit_key(src, k, ctx) for k in keys)
        if key is None or key in FIXED_KEYS:
            names = keys if key is None else _keys(src, None)
            entries = add_legacy(src, entries, names)
        return AuditReport(
            source=src.label,
            n_obs=src.n_obs,
            entries=entries,
            key=key,
            checked_data=src.check_data,
        )


def show(adata_or_path: AnnData | str | Any, key: str | None = None) -> None:
    """Print the audit: HTML in Jupyter, a rich table in a terminal, plain text otherwise.

    On a path only ``uns`` is read (labels and graphs are not compared; use :func:`audit`
    or ``provenance verify`` for that). An AnnData in memory is audited in full.

    Parameters
    ----------
    adata_or_path
        An AnnData object, or the path of an ``.h5ad`` file or ``.zarr`` store.
    key
        Show this key only, with its full history: every version's parameters, graph and
        result, and what changed from the version before.

    Examples
    --------
    >>> provenance.show(adata)                 # every clustering key
    >>> provenance.show("pbmc.h5ad", "leiden_1.0")   # one key's history, from uns alone
    """
    from ._render import display

    is_path = isinstance(adata_or_path, str | os.PathLike)
    display(audit(adata_or_path, key, check_data=not is_path))


# --- which keys are clusterings -------------------------------------------------------------


def _clustering_params(entry: Any) -> bool:
    """scanpy's Leiden/Louvain params: a ``resolution`` (``pp.neighbors`` has none)."""
    if not isinstance(entry, Mapping) or "connectivities_key" in entry:
        return False
    params = entry.get("params")
    return isinstance(params, Mapping) and "resolution" in params


def _index(src: Source) -> dict[str, dict[str, Any]]:
    from ._index import read_index

    try:
        return read_index(src.uns)
    except ProvenanceError:
        return {}  # a damaged index only loses the lost-history hint


def _keys(src: Source, key: str | None) -> list[str]:
    uns, columns = src.uns, src.obs_columns()
    index = _index(src)
    if key is not None:
        if key not in uns and key not in columns and key not in src.uns_errors:
            known = [k for k in _keys(src, None)]
            msg = (
                f"{key!r} is neither in obs nor in uns; clustering keys here: "
                f"{', '.join(map(repr, known)) or 'none'}."
            )
            raise UnknownKeyError(msg)
        return [key]
    keys = []
    for col, categorical in columns.items():
        entry = uns.get(col)
        if (
            has_history(entry)
            or col in src.uns_errors
            or col in index
            or (categorical and (_CLUSTERING_NAME.match(col) or _clustering_params(entry)))
        ):
            keys.append(col)
    for k, entry in uns.items():
        if k not in columns and (
            has_history(entry) or k in src.uns_errors or _clustering_params(entry)
        ):
            keys.append(k)
    return keys


# --- one key ---------------------------------------------------------------------------------


class _Context:
    """Per-audit caches: obs_names digest and graph fingerprints are shared by the keys."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self._names: str | None = None
        self._graphs: dict[str, Any] = {}
        self.index = _index(src)

    def names_digest(self) -> str:
        from ._fingerprint import obs_names_digest

        if self._names is None:
            self._names = obs_names_digest(self.src.obs_names())
        return self._names

    def graph(self, obsp_key: str) -> Any:
        """``obsp[obsp_key]`` as a ``CurrentGraph``, or the error that says why it cannot be.

        The graph is fingerprinted once per algorithm the records name, for all keys.
        """
        from ._graph import CurrentGraph

        if obsp_key not in self._graphs:
            # A damaged element raises UnreadableFileError here: the input is unreadable.
            matrix = self.src.obsp(obsp_key)
            try:
                self._graphs[obsp_key] = CurrentGraph(matrix, name=f"obsp[{obsp_key!r}]")
            except ProvenanceError as e:  # e.g. a backed/dask matrix
                self._graphs[obsp_key] = e
        return self._graphs[obsp_key]


def _audit_key(src: Source, key: str, ctx: _Context) -> AuditEntry:
    entry = src.uns.get(key)
    columns = src.obs_columns()
    findings: list[Finding] = []
    records: list[tuple[int, ClusteringRecord]] = []
    n_stored = 0
    if key in src.uns_errors:
        findings.append(Finding("invalid_record", key, src.uns_errors[key]))
    elif has_history(entry):
        n_stored = _read_records(entry[PROVENANCE_FIELD], key, records, findings)
        _check_chain(key, records, findings, ctx.index.get(key), complete=len(records) == n_stored)
    elif key in columns and key in ctx.index:
        v = ctx.index[key]["version"]
        msg = (
            f"uns[{key!r}] had a provenance history ({v} version{'s' * (v != 1)}, says "
            f"uns['provenance_index']) but it is gone: the key was re-clustered or overwritten "
            f"outside provenance.record(), so obs[{key!r}] is unrecorded. Restore the history "
            "from an earlier copy of the file, or re-run the clustering inside provenance.record()."
        )
        findings.append(Finding("history_lost", key, msg, {"indexed_version": v}))
    elif key in columns:
        where = f"obs[{key!r}]"
        if _clustering_params(entry):
            where += f" and uns[{key!r}]['params']"
        findings.append(
            Finding(
                "no_record",
                key,
                f"{where}: labels without a provenance record, so how they were made cannot be "
                "checked; re-run the clustering inside provenance.record(adata) to record "
                "it, or `provenance adopt` to keep what scanpy left as a reconstructed record.",
            )
        )
    elif key not in FIXED_KEYS:
        findings.append(
            Finding(
                "no_record",
                key,
                f"uns[{key!r}]['params'] holds clustering parameters but there is no obs[{key!r}] "
                "column and no provenance record; the labels they describe are gone.",
            )
        )
    checked = False
    complete = bool(records) and records[-1][0] == n_stored - 1
    if complete and src.check_data:
        findings.extend(_check_data(src, key, records[-1][1], ctx))
        checked = True
    findings.sort(key=lambda f: f.severity != "error")
    return AuditEntry(
        key=key,
        history=tuple(r for _, r in records),
        n_stored=n_stored,
        findings=tuple(findings),
        scanpy_params=scanpy_params(entry),
        in_obs=key in columns,
        checked=checked,
    )


def _read_records(
    prov: Any, key: str, out: list[tuple[int, ClusteringRecord]], findings: list[Finding]
) -> int:
    try:
        texts = history_texts(prov, key=key)
    except ProvenanceError as e:
        findings.append(Finding("invalid_record", key, str(e)))
        return 0
    newer = []
    for i, text in enumerate(texts):
        try:
            out.append((i, decode_record(text, key=key, index=i)))
        except NewerSchemaError as e:
            newer.append(str(e))
        except ProvenanceError as e:
            findings.append(Finding("invalid_record", key, str(e), {"index": i}))
    if newer:
        # One finding per key: a newer package writes all later entries in the newer schema.
        more = f" ({len(newer)} entries)" if len(newer) > 1 else ""
        findings.append(Finding("newer_schema", key, newer[0] + more, {"entries": len(newer)}))
    for i, rec in out:
        if rec.key != key:
            msg = (
                f"uns[{key!r}]['provenance']['history'][{i}]: field 'key' is {rec.key!r}, but the "
                f"record is stored under {key!r}; it was copied from another key."
            )
            findings.append(Finding("invalid_record", key, msg, {"index": i}))
    return len(texts)


def _check_chain(
    key: str,
    records: list[tuple[int, ClusteringRecord]],
    findings: list[Finding],
    indexed: dict[str, Any] | None,
    *,
    complete: bool,
) -> None:
    problems = []
    by_index = dict(records)
    for i, rec in records:
        if rec.expected_digest() != rec.digest:
            problems.append(f"version {rec.version} was edited after it was recorded")
        if rec.version != i + 1:
            problems.append(f"entry {i + 1} claims version {rec.version}")
        if i == 0 and rec.previous is not None:
            problems.append("the first entry points to an earlier version that is gone")
        prev = by_index.get(i - 1)
        if prev is not None and rec.previous != prev.digest:
            problems.append(f"version {rec.version} does not follow version {prev.version}")
    # The index names the latest record written; if it is gone, entries were cut off the end.
    if (
        indexed is not None
        and complete
        and records
        and indexed["digest"] not in {r.digest for _, r in records}
    ):
        problems.append(
            f"uns['provenance_index'] names version {indexed['version']} as recorded, but "
            "it is not in the history"
        )
    if problems:
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        msg = (
            f"uns[{key!r}]['provenance']: the history chain is broken ({shown}): an entry was "
            "edited, removed or reordered; its parameters cannot be trusted. Restore the file "
            "from a copy you trust, or re-run the clustering inside provenance.record(adata)."
        )
        findings.append(Finding("broken_chain", key, msg, {"problems": problems}))


def _check_data(src: Source, key: str, rec: ClusteringRecord, ctx: _Context) -> list[Finding]:
    from ._fingerprint import HASH_ALGORITHM, label_digests

    out: list[Finding] = []
    then = rec.result
    if key not in src.obs_columns():
        msg = (
            f"obs[{key!r}] is gone: the labels of version {rec.version} are no longer in the "
            "object; restore them or re-run the clustering inside provenance.record(adata)."
        )
        return [Finding("labels_missing", key, msg)]
    if src.n_obs != then.n_obs or ctx.names_digest() != then.obs_names_digest:
        how = (
            f"it has {src.n_obs} cells, the clustering labelled {then.n_obs}"
            if src.n_obs != then.n_obs
            else "the same number of cells, but obs_names are reordered or renamed"
        )
        msg = (
            f"{key!r}: the object was subset or reordered since it was clustered ({how}); the "
            "labels and graph cannot be checked against the record. Re-cluster this object "
            "inside provenance.record(adata), or audit the original."
        )
        details = {"n_obs_then": then.n_obs, "n_obs_now": src.n_obs}
        return [Finding("subset_or_reordered", key, msg, details)]
    if then.hash_algorithm == HASH_ALGORITHM:
        now = label_digests(src.obs_column(key), src.obs_names(), names_digest=ctx.names_digest())
        if now["labels_digest"] != then.labels_digest:
            out.append(_labels_changed(key, rec, now))
    out.extend(_check_graph(src, key, rec, ctx))
    return out


def _labels_changed(key: str, rec: ClusteringRecord, now: dict[str, Any]) -> Finding:
    then = rec.result
    details = {
        "kind": "rename" if now["partition_digest"] == then.partition_digest else "reassignment",
        "n_clusters_then": then.n_clusters,
        "n_clusters_now": len(now["categories"]),
        "categories_then": then.categories[:50],
        "categories_now": now["categories"][:50],
    }
    if details["kind"] == "rename":
        renamed = [
            f"{a}→{b}" for a, b in zip(then.categories, now["categories"], strict=False) if a != b
        ]
        shown = ", ".join(renamed[:6]) + (", …" if len(renamed) > 6 else "")
        msg = (
            f"obs[{key!r}]: categories were renamed since clustering (same partition, "
            f"{then.n_clusters} clusters{': ' + shown if shown else ''}); the record still "
            "describes these labels under their old names."
        )
    else:
        msg = (
            f"obs[{key!r}]: cells were reassigned since clustering ({then.n_clusters} clusters "
            f"then, {details['n_clusters_now']} now: clusters merged, split or edited by hand); "
            "the record no longer describes these labels. Re-run the clustering inside "
            "provenance.record(adata), or store hand edits under a new key."
        )
    return Finding("labels_changed", key, msg, details)


def _check_graph(src: Source, key: str, rec: ClusteringRecord, ctx: _Context) -> list[Finding]:
    from ._fingerprint import GRAPH_ALGORITHMS, GRAPH_HASH_ALGORITHM

    g = rec.graph
    if g is None:
        unknown = ", ".join(rec.params.unknown) or "none"
        msg = (
            f"{key!r} has a record {rec.origin} from what scanpy left, without the graph it "
            f"was clustered on (unknown arguments: {unknown}); the labels are checked, the "
            "graph cannot be. Re-run it inside provenance.record() for a full record."
        )
        return [Finding("graph_not_checkable", key, msg)]
    if g.obsp_key is None:
        msg = (
            f"{key!r} was clustered on a matrix passed as adjacency=, not stored in obsp; "
            "the graph cannot be checked. Store it in obsp and pass obsp= to make it checkable."
        )
        return [Finding("graph_not_checkable", key, msg)]
    if g.hash_algorithm not in GRAPH_ALGORITHMS:
        msg = (
            f"{key!r}: the graph digest uses {g.hash_algorithm!r}, which this version does not "
            f"compute ({GRAPH_HASH_ALGORITHM!r}); upgrade anndata-provenance to check it."
        )
        return [Finding("graph_not_checkable", key, msg)]
    if not src.has_obsp(g.obsp_key):
        msg = (
            f"obsp[{g.obsp_key!r}], the graph {key!r} was clustered on, is missing; restore it "
            "(a recomputed graph is checked against the recorded digest)."
        )
        return [Finding("graph_missing", key, msg, {"obsp_key": g.obsp_key})]
    current = ctx.graph(g.obsp_key)
    if isinstance(current, ProvenanceError):
        return [Finding("graph_not_checkable", key, str(current))]
    try:
        check = current.check(g)
    except ProvenanceError as e:  # e.g. index values no integer type holds
        return [Finding("graph_not_checkable", key, f"obsp[{g.obsp_key!r}]: {e}")]
    if check.matches:
        return []
    where = f"obsp[{g.obsp_key!r}]"
    if check.cause == "dtype":
        advice = (
            f"Cast it back (adata.obsp[{g.obsp_key!r}] = adata.obsp[{g.obsp_key!r}]"
            f".astype({g.dtype!r})), or re-cluster inside provenance.record(adata)."
        )
    elif check.cause == "dtype_rounded":
        advice = (
            f"Restore the {g.dtype} graph (e.g. from the file or sc.pp.neighbors with the "
            "recorded parameters), or re-cluster inside provenance.record(adata)."
        )
    else:
        advice = "Re-cluster inside provenance.record(adata), or restore the graph."
    consequence = (
        f"the labels came from the {g.dtype} graph"
        if check.cause in ("dtype", "dtype_rounded")
        else "the labels did not come from this graph"
    )
    msg = f"{where} changed since {key!r} was clustered: {check.detail}; {consequence}. {advice}"
    details = {
        "obsp_key": g.obsp_key,
        "cause": check.cause,
        **check.facts,
        "digest_now": check.fingerprint.digest,
    }
    return [Finding("graph_changed", key, msg, details)]
