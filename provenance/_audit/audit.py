"""The audit: for each clustering in an object or file, how it was made and whether it holds.

The findings and the report they make up are defined in ``_report``; scanpy's own parameters
and the legacy fixed keys are read in ``_legacy``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from provenance._base.errors import NewerSchemaError, ProvenanceError, UnknownKeyError
from provenance._storage.codec import PROVENANCE_FIELD, decode_record, history_texts
from provenance._storage.history import has_history

from .legacy import FIXED_KEYS, add_legacy, params_mismatches, scanpy_params
from .report import WARNINGS, AuditEntry, AuditReport, Finding, FindingCode, Severity, Status

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import numpy as np
    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord
    from provenance._storage.files import AnnDataSource, FileSource

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
    adata_or_path: AnnData | str | Any,
    key: str | Sequence[str] | None = None,
    *,
    check_data: bool = True,
) -> AuditReport:
    """Audit every clustering of an AnnData object or ``.h5ad``/``.zarr`` file.

    Parameters
    ----------
    adata_or_path
        An AnnData object, or the path of an ``.h5ad`` file or ``.zarr`` store (only ``uns``,
        the needed ``obs`` columns, ``obs_names`` and the recorded ``obsp`` graphs are read).
    key
        Audit this key only, or these keys (in the order given).
    check_data
        Compare labels and graphs with the records. ``False`` reads a file's ``uns`` and the
        length of its ``obs`` index alone.

    Returns
    -------
    The report: ``.ok`` is true when no finding is an error.

    Raises
    ------
    UnknownKeyError
        A key asked for is neither in ``obs`` nor in ``uns``.
    UnreadableFileError
        The path is missing, not AnnData, or damaged where it must be read.

    Examples
    --------
    >>> report = provenance.audit(adata)
    >>> report.ok
    True
    >>> [(e.key, e.status) for e in report.entries]
    [('louvain', 'warning'), ('leiden_0.5', 'ok'), ('leiden_1.0', 'ok'), ('leiden_0.8', 'ok')]
    >>> [e.key for e in provenance.audit(adata, ["leiden_1.0", "leiden_0.5"]).entries]
    ['leiden_1.0', 'leiden_0.5']
    """
    from provenance._storage.files import open_source

    wanted = _wanted(key)
    with open_source(adata_or_path, check_data=check_data) as src:
        if wanted is None:
            keys = _keys(src, None)
        else:
            keys = list(dict.fromkeys(k for w in wanted for k in _keys(src, w)))
        ctx = _Context(src)
        entries = tuple(_audit_key(src, k, ctx) for k in keys)
        if wanted is None or any(k in FIXED_KEYS for k in wanted):
            names = keys if wanted is None else _keys(src, None)
            entries = add_legacy(src, entries, names)
            if wanted is not None:
                entries = tuple(e for e in entries if e.key in wanted)
        if wanted is None:
            entries += _index_entries(src)
        return AuditReport(
            source=src.label,
            n_obs=src.n_obs,
            entries=entries,
            key=key if wanted is None or isinstance(key, str) else wanted,
            checked_data=src.check_data,
        )


def _wanted(key: Any) -> tuple[str, ...] | None:
    """The keys asked for, in order and without repeats; ``None`` for every key."""
    if key is None:
        return None
    if isinstance(key, str):
        return (key,)
    if isinstance(key, bytes | Mapping) or not isinstance(key, Iterable):
        msg = f"key must be a str, a sequence of str or None, not a {type(key).__name__}."
        raise TypeError(msg)
    keys = list(key)
    bad = [k for k in keys if not isinstance(k, str)]
    if bad:
        msg = f"keys must be str; got a {type(bad[0]).__name__} ({bad[0]!r})."
        raise TypeError(msg)
    if not keys:
        msg = "key is an empty sequence; pass None to audit every key."
        raise ValueError(msg)
    return tuple(dict.fromkeys(keys))


def show(adata_or_path: AnnData | str | Any, key: str | Sequence[str] | None = None) -> None:
    """Print the audit: HTML in Jupyter, a rich table in a terminal, plain text otherwise.

    On a path only ``uns`` and the length of the ``obs`` index are read (labels and graphs
    are not compared; use :func:`audit` or ``provenance verify`` for that). An AnnData in
    memory is audited in full.

    Parameters
    ----------
    adata_or_path
        An AnnData object, or the path of an ``.h5ad`` file or ``.zarr`` store.
    key
        Show this key (or these keys) only, with the full history: every version's
        parameters, graph and result, and what changed from the version before.

    Examples
    --------
    >>> provenance.show(adata)  # doctest: +SKIP
    >>> provenance.show("pbmc.h5ad", "leiden_1.0")  # doctest: +SKIP

    The first shows every clustering key, the second one key's history, from ``uns`` alone.
    """
    from provenance._render.core import display

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
    from provenance._storage.index import read_index

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


def _index_entries(src: Source) -> tuple[AuditEntry, ...]:
    """A warning entry for an index that cannot be read or names keys that are gone.

    The index is only a cross-check (it tells a wiped or emptied history), so the histories
    are audited either way; an index that cannot serve says so instead of going quiet.
    """
    from provenance._storage.index import INDEX_KEY, read_index

    if INDEX_KEY not in src.uns:
        return ()
    where = f"uns[{INDEX_KEY!r}]"
    try:
        index = read_index(src.uns)
    except ProvenanceError as e:
        msg = (
            f"{e} Until then a history wiped or emptied outside provenance.record() cannot be "
            "told; the histories themselves are audited."
        )
        details: dict[str, Any] = {"reason": "unreadable"}
    else:
        columns = src.obs_columns()
        gone = [
            k
            for k in index
            if k not in columns and not has_history(src.uns.get(k)) and k not in src.uns_errors
        ]
        if not gone:
            return ()
        shown = ", ".join(map(repr, gone[:5])) + (
            f" and {len(gone) - 5} more" if len(gone) > 5 else ""
        )
        msg = (
            f"{where} names {shown}, which {'has' if len(gone) == 1 else 'have'} neither an obs "
            "column nor a history in uns: deleted since, or the index came with uns from another "
            "object (copied or concatenated). It cannot tell what happened to their records; "
            f"delete {where} to reset it (the next provenance.record() starts a new one, "
            "histories are not touched)."
        )
        details = {"reason": "unknown_keys", "keys": gone}
    finding = Finding("index_unreadable", INDEX_KEY, msg, details)
    return (AuditEntry(key=INDEX_KEY, history=(), n_stored=0, findings=(finding,), in_obs=False),)


# --- one key ---------------------------------------------------------------------------------


class _Context:
    """Per-audit caches: obs_names digest and graph fingerprints are shared by the keys."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self._names: str | None = None
        self._graphs: dict[str, Any] = {}
        self.index = _index(src)

    def names_digest(self) -> str:
        from provenance._util.fingerprint import obs_names_digest

        if self._names is None:
            self._names = obs_names_digest(self.src.obs_names())
        return self._names

    def graph(self, obsp_key: str) -> Any:
        """``obsp[obsp_key]`` as a ``CurrentGraph``, or the error that says why it cannot be.

        The graph is fingerprinted once per algorithm the records name, for all keys.
        """
        from provenance._storage.graph import CurrentGraph

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
        stored = _read_records(entry[PROVENANCE_FIELD], key, records, findings)
        if stored is not None:
            n_stored = stored
            _check_chain(key, records, findings, ctx.index.get(key), n_stored=n_stored)
    elif key in columns and key in ctx.index:
        v = ctx.index[key]["version"]
        nested = _nested_path(src, key)
        if nested is not None:
            # anndata writes a '/' in a uns key as nested groups: the entry is there, moved.
            path = "".join(f"[{p!r}]" for p in nested)
            msg = (
                f"uns[{key!r}] is not where its history should be: the key contains '/', which "
                f".h5ad/.zarr store as nested groups, so the entry was read back as uns{path}, "
                f"apart from obs[{key!r}]. It was not re-clustered. Rename the column to a key "
                "without '/' and move the entry under that name, or re-cluster under such a key."
            )
            details = {"indexed_version": v, "cause": "nested_key", "found_at": list(nested)}
        else:
            msg = (
                f"uns[{key!r}] had a provenance history ({v} version{'s' * (v != 1)}, says "
                f"uns['provenance_index']) but it is gone: the key was re-clustered or "
                f"overwritten outside provenance.record(), so obs[{key!r}] is unrecorded. Restore "
                "the history from an earlier copy of the file, or re-run the clustering inside "
                "provenance.record()."
            )
            details = {"indexed_version": v}
        findings.append(Finding("history_lost", key, msg, details))
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
    if complete:
        rec = records[-1][1]
        findings.extend(_check_params(key, entry, rec))
        if src.check_data:
            findings.extend(_check_data(src, key, rec, ctx))
            checked = True
        elif src.n_obs != rec.result.n_obs:
            # The length of the obs index is cheap to read: a file grown by concatenation or
            # cut by subsetting shows without reading labels or graphs.
            findings.append(_subset_or_reordered(key, rec, src.n_obs))
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


def _nested_path(src: Source, key: str) -> tuple[str, ...] | None:
    """Where a key with '/' landed when anndata nested it, if an entry with a history is there."""
    if "/" not in key:
        return None
    parts = tuple(p for p in key.split("/") if p)
    return parts if parts and src.has_history_at(parts) else None


def _read_records(
    prov: Any, key: str, out: list[tuple[int, ClusteringRecord]], findings: list[Finding]
) -> int | None:
    """Decode the stored history into ``out``; the number of entries, ``None`` if unreadable."""
    from provenance._storage.codec import missing_history_message

    try:
        texts = history_texts(prov, key=key)
    except NewerSchemaError as e:
        findings.append(Finding("newer_schema", key, str(e), {"container": True}))
        return None
    except ProvenanceError as e:
        if isinstance(prov, Mapping) and "history" not in prov and "schema_version" in prov:
            # What ad.concat(uns_merge="same") leaves: the records are gone, not damaged.
            msg = missing_history_message(prov, key=key)
            findings.append(Finding("history_lost", key, msg, {"cause": "merged"}))
        else:
            findings.append(Finding("invalid_record", key, str(e)))
        return None
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
    n_stored: int,
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
    # The index names the latest record written: fewer entries than its version, or without
    # its digest, means entries were cut (all of them, or off the end).
    if indexed is not None and n_stored < indexed["version"]:
        held = f"{n_stored} entr{'y' if n_stored == 1 else 'ies'}" if n_stored else "none"
        problems.append(
            f"uns['provenance_index'] says version {indexed['version']} was recorded, but the "
            f"history holds {held}"
        )
    elif (
        indexed is not None
        and records
        and len(records) == n_stored
        and indexed["digest"] not in {r.digest for _, r in records}
    ):
        problems.append(
            f"uns['provenance_index'] names version {indexed['version']} as recorded, but "
            "it is not in the history"
        )
    elif n_stored == 0:
        problems.append("the history is empty, which anndata-provenance never writes")
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


def _check_params(key: str, entry: Any, rec: ClusteringRecord) -> list[Finding]:
    """scanpy's own ``uns[key]["params"]`` (and ``["modularity"]``) against the latest record.

    Only fields both hold are compared: scanpy writes three or four of the arguments (as
    passed, also those a flavor ignores), anndata 0.10 leaves ``None`` out of files, and a
    deleted ``params`` loses nothing the record does not hold, so absence is no finding.
    """
    diff = params_mismatches(rec, entry)
    if not diff:
        return []
    shown = "; ".join(f"{name} {a!r} in uns, {b!r} recorded" for name, (a, b) in diff.items())
    intact = rec.expected_digest() == rec.digest
    cause = (
        "the record's digest still holds, so scanpy's copy was changed after the run (by hand, "
        "or copied from another run)"
        if intact
        else "the record was edited too (see broken_chain)"
    )
    msg = (
        f"uns[{key!r}]: scanpy's own parameters disagree with the latest record (version "
        f"{rec.version}): {shown}; {cause}. Tools that read uns[{key!r}]['params'] report "
        "parameters that did not make these labels: restore them from the record, or re-run "
        "the clustering inside provenance.record(adata)."
    )
    details = {
        "version": rec.version,
        "fields": {name: {"uns": a, "record": b} for name, (a, b) in diff.items()},
    }
    return [Finding("params_mismatch", key, msg, details)]


def _subset_or_reordered(key: str, rec: ClusteringRecord, n_now: int) -> Finding:
    then = rec.result
    if n_now > then.n_obs:
        msg = (
            f"{key!r}: the object has {n_now} cells, the clustering labelled {then.n_obs}: it "
            "looks concatenated with other data (ad.concat keeps one part's uns with "
            "uns_merge='first'), so the record describes at most the cells of one part and "
            "the labels and graph cannot be checked against it. Audit the parts, or re-cluster "
            "the combined object inside provenance.record(adata)."
        )
    else:
        how = (
            f"it has {n_now} cells, the clustering labelled {then.n_obs}"
            if n_now != then.n_obs
            else "the same number of cells, but obs_names are reordered or renamed"
        )
        msg = (
            f"{key!r}: the object was subset or reordered since it was clustered ({how}); the "
            "labels and graph cannot be checked against the record. Re-cluster this object "
            "inside provenance.record(adata), or audit the original."
        )
    details = {"n_obs_then": then.n_obs, "n_obs_now": n_now}
    return Finding("subset_or_reordered", key, msg, details)


def _check_data(src: Source, key: str, rec: ClusteringRecord, ctx: _Context) -> list[Finding]:
    from provenance._util.fingerprint import HASH_ALGORITHM

    out: list[Finding] = []
    then = rec.result
    if key not in src.obs_columns():
        msg = (
            f"obs[{key!r}] is gone: the labels of version {rec.version} are no longer in the "
            "object; restore them or re-run the clustering inside provenance.record(adata)."
        )
        return [Finding("labels_missing", key, msg)]
    if src.n_obs != then.n_obs or ctx.names_digest() != then.obs_names_digest:
        return [_subset_or_reordered(key, rec, src.n_obs)]
    if then.hash_algorithm == HASH_ALGORITHM:
        out.extend(_check_labels(src, key, rec, ctx))
    out.extend(_check_graph(src, key, rec, ctx))
    return out


# --- labels ----------------------------------------------------------------------------------

# Assignments among clusters of equal size tried, at most, to prove which recorded name each
# renamed cluster had: each is one labels digest (about 0.1 s at 1M cells).
_MAX_MAPPINGS = 6


def _check_labels(src: Source, key: str, rec: ClusteringRecord, ctx: _Context) -> list[Finding]:
    """The labels against the record: a change of label strings is a finding, bookkeeping is not.

    The record keeps the labels digest (codes, categories, obs_names), the partition digest
    (who is clustered with whom), and the categories with their sizes. A hypothesis about
    each cell's recorded label is *proven* by recomputing the labels digest from it:

    - every cell keeps its label string (the record's categories looked up by name): the
      categories were reordered, or unused ones added or removed; no finding;
    - same partition, other strings: a rename, whose old→new mapping is found by matching
      clusters by membership (position, then name and size) and proven the same way;
    - another partition: cells were reassigned (merged, split, edited).
    """
    import numpy as np
    import pandas as pd

    from provenance._util.fingerprint import label_digests

    then = rec.result
    column = src.obs_column(key)
    now = label_digests(column, src.obs_names(), names_digest=ctx.names_digest())
    if now["labels_digest"] == then.labels_digest:
        return []
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    codes = np.asarray(column.array.codes, dtype=np.int64)
    names = [str(c) for c in column.array.categories]
    sizes_now = np.bincount(codes[codes >= 0], minlength=len(names))
    n_now = int(np.count_nonzero(sizes_now))

    def proven(lut: np.ndarray) -> bool:
        return _proves(lut, codes, then, ctx.names_digest())

    if now["partition_digest"] != then.partition_digest:
        return [_reassigned(key, rec, names, n_now)]
    position = {c: i for i, c in enumerate(then.categories)}
    by_name = np.array([position.get(c, -1) for c in names], dtype=np.int64)
    if proven(by_name):
        return []  # reordered, or unused categories added/removed: every cell keeps its label
    lut = next((c for c in _rename_candidates(names, sizes_now, then) if proven(c)), None)
    mapping = None
    if lut is not None:
        used = np.flatnonzero(sizes_now)
        pairs = sorted((int(lut[c]), names[c]) for c in used)
        mapping = {then.categories[j]: new for j, new in pairs if then.categories[j] != new}
    return [_renamed(key, rec, names, n_now, mapping)]


def _proves(lut: np.ndarray, codes: np.ndarray, then: Any, names_digest: str) -> bool:
    """Whether relabelling the cells by ``lut`` (code now → recorded category) gives the record."""
    import numpy as np
    import pandas as pd

    from provenance._util.fingerprint import label_digests

    table = np.append(lut, -1)  # code -1 (no label) picks the last slot
    recoded = table[codes]
    if np.any((codes >= 0) & (recoded < 0)):
        return False  # a labelled cell has no recorded name under this hypothesis
    try:
        labels = pd.Series(pd.Categorical.from_codes(recoded, categories=then.categories))
    except (ValueError, TypeError):
        return False  # e.g. recorded category names that are not unique as strings
    digests = label_digests(labels, pd.Index([]), names_digest=names_digest)
    return bool(digests["labels_digest"] == then.labels_digest)


def _rename_candidates(names: list[str], sizes_now: np.ndarray, then: Any) -> Iterator[np.ndarray]:
    """Assignments of current categories to recorded ones, cheapest first, each to be proven.

    By position (``cat.rename_categories``); then cluster by cluster among the recorded
    clusters of the same size, the same name first; then, while few enough, every other
    assignment among clusters of equal size. Only a proven one is reported.
    """
    import itertools
    import math

    import numpy as np

    sizes_then = list(then.cluster_sizes)
    used = [int(c) for c in np.flatnonzero(sizes_now)]
    groups_now: dict[int, list[int]] = {}
    for c in used:
        groups_now.setdefault(int(sizes_now[c]), []).append(c)
    groups_then: dict[int, list[int]] = {}
    for j, s in enumerate(sizes_then):
        if s > 0:
            groups_then.setdefault(int(s), []).append(j)
    if {s: len(g) for s, g in groups_now.items()} != {s: len(g) for s, g in groups_then.items()}:
        return  # the cluster sizes differ: no assignment can hold

    def lut_of(pairs: Iterable[tuple[int, int]]) -> np.ndarray:
        lut = np.full(len(names), -1, dtype=np.int64)
        for c, j in pairs:
            lut[c] = j
        return lut

    seen: set[bytes] = set()

    def fresh(lut: np.ndarray) -> bool:
        b = lut.tobytes()
        if b in seen:
            return False
        seen.add(b)
        return True

    if all(c < len(sizes_then) and sizes_then[c] == sizes_now[c] for c in used):
        pos = lut_of((c, c) for c in used)
        if fresh(pos):
            yield pos
    greedy = []
    for s, now_group in groups_now.items():
        free = list(groups_then[s])
        named = {then.categories[j]: j for j in free}
        rest = []
        for c in now_group:
            j = named.pop(names[c], None)
            if j is None:
                rest.append(c)
            else:
                free.remove(j)
                greedy.append((c, j))
        greedy.extend(zip(rest, free, strict=True))
    first = lut_of(greedy)
    if fresh(first):
        yield first
    total = math.prod(math.factorial(len(g)) for g in groups_now.values())
    if total > _MAX_MAPPINGS:
        return
    sizes = list(groups_now)
    for combo in itertools.product(*(itertools.permutations(groups_then[s]) for s in sizes)):
        pairs = (
            (c, j)
            for s, chosen in zip(sizes, combo, strict=True)
            for c, j in zip(groups_now[s], chosen, strict=True)
        )
        lut = lut_of(pairs)
        if fresh(lut):
            yield lut


def _renamed(
    key: str, rec: ClusteringRecord, names: list[str], n_now: int, mapping: dict[str, str] | None
) -> Finding:
    then = rec.result
    if mapping is not None:
        renamed = [f"{a}→{b}" for a, b in mapping.items()]
        shown = ", ".join(renamed[:6]) + (", …" if len(renamed) > 6 else "")
        what = f"{len(renamed)} of {then.n_clusters} clusters: {shown}"
    else:
        what = (
            f"{then.n_clusters} clusters; which old name became which new one cannot be proven "
            "from the record, as clusters of equal size could swap"
        )
    msg = (
        f"obs[{key!r}]: categories were renamed since clustering (same partition, {what}); the "
        "record still describes these labels under their old names. Keep annotations under a "
        f"new key (adata.obs['cell_type'] = ...) so the record keeps describing obs[{key!r}]."
    )
    details = {
        "kind": "rename",
        "n_clusters_then": then.n_clusters,
        "n_clusters_now": n_now,
        "categories_then": then.categories[:50],
        "categories_now": names[:50],
        "mapping": mapping,
    }
    return Finding("labels_changed", key, msg, details)


def _reassigned(key: str, rec: ClusteringRecord, names: list[str], n_now: int) -> Finding:
    then = rec.result
    msg = (
        f"obs[{key!r}]: cells were reassigned since clustering ({then.n_clusters} clusters "
        f"then, {n_now} now: clusters merged, split or edited by hand); the record no longer "
        "describes these labels. Re-run the clustering inside provenance.record(adata), or "
        "store hand edits under a new key."
    )
    details = {
        "kind": "reassignment",
        "n_clusters_then": then.n_clusters,
        "n_clusters_now": n_now,
        "categories_then": then.categories[:50],
        "categories_now": names[:50],
    }
    return Finding("labels_changed", key, msg, details)


def _check_graph(src: Source, key: str, rec: ClusteringRecord, ctx: _Context) -> list[Finding]:
    from provenance._util.fingerprint import GRAPH_ALGORITHMS, GRAPH_HASH_ALGORITHM

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
