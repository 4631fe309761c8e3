"""What a check reads: the source, the key, its decoded history; and what a check is.

Every check is a :class:`Check`: a function ``(ctx: KeyContext) -> list[Finding]`` that
declares the codes it may return. :class:`KeyContext` decodes the key's history once (the
findings of reading it are kept for the check that reports them) and caches what several
checks share; :class:`AuditContext` holds what all keys of one audit share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from provenance._base.errors import NewerSchemaError, ProvenanceError
from provenance._storage.codec import PROVENANCE_FIELD, decode_record, decode_step, history_texts
from provenance._storage.history import has_history

from .catalogue import Finding, spec

if TYPE_CHECKING:
    from collections.abc import Callable

    from provenance._schema.models import ClusteringRecord, StepRecord
    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    from .catalogue import FindingCode

    Source = AnnDataSource | FileSource | PartView

__all__ = ["AuditContext", "Check", "KeyContext", "StepContext", "check", "read_index"]


def read_index(src: Source) -> dict[str, dict[str, Any]]:
    """``uns["provenance_index"]``, or ``{}`` when it cannot be read.

    A MuData modality's index names its own keys: they are prefixed as the part names them.
    """
    from provenance._storage.index import read_index as _read

    prefix = getattr(src, "prefix", "")
    try:
        index = _read(getattr(src, "local_uns", src.uns))
    except ProvenanceError:
        return {}  # a damaged index only loses the lost-history hint
    return {prefix + k: v for k, v in index.items()} if prefix else index


class AuditContext:
    """Per-audit caches: obs_names digest and graph fingerprints are shared by the keys."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self._names: str | None = None
        self._graphs: dict[tuple[str | None, str], Any] = {}
        self._labels: dict[str, tuple[str, str]] = {}
        self._var_names: str | None = None
        self.index = read_index(src)

    def transposed(self, obs_names_digest: str) -> bool:
        """Whether the object is the transpose (``adata.T``) of the one recorded: its
        ``var_names`` are the ``obs_names`` a record names (by their digest)."""
        from provenance._util.fingerprint import obs_names_digest as digest

        if self._var_names is None:
            var_names = getattr(self.src, "var_names", None)
            try:
                self._var_names = digest(var_names()) if var_names is not None else ""
            except (ProvenanceError, KeyError, TypeError, ValueError):
                self._var_names = ""  # no var index to read: not known to be transposed
        return self._var_names == obs_names_digest

    def label_names(self, column_key: str) -> tuple[str, str]:
        """``(partition_digest, names_digest)`` of ``obs[column_key]`` now, computed once for
        every result that grouped by it."""
        from provenance._util.fingerprint import label_digests, label_names_digest

        if column_key not in self._labels:
            column = self.src.obs_column(column_key)
            names = self.names_digest()
            partition = label_digests(column, self.src.obs_names(), names_digest=names)
            self._labels[column_key] = (
                partition["partition_digest"],
                label_names_digest(column, names_digest=names),
            )
        return self._labels[column_key]

    def names_digest(self) -> str:
        from provenance._util.fingerprint import obs_names_digest

        if self._names is None:
            self._names = obs_names_digest(self.src.obs_names())
        return self._names

    def graph(self, obsp_key: str, modality: str | None = None) -> Any:
        """``obsp[obsp_key]`` as a ``CurrentGraph``, or the error that says why it cannot be.

        The graph is fingerprinted once per algorithm the records name, for all keys.
        ``modality``: the graph of that modality of a MuData (a multiplex record's layer).
        """
        from provenance._storage.graph import CurrentGraph

        if (modality, obsp_key) not in self._graphs:
            name = f"obsp[{obsp_key!r}]"
            src: Any = self.src
            if modality is not None:
                src, name = src.modalities[modality], f"mod[{modality!r}].{name}"
            # A damaged element raises UnreadableFileError here: the input is unreadable.
            matrix = src.obsp(obsp_key)
            try:
                self._graphs[modality, obsp_key] = CurrentGraph(matrix, name=name)
            except ProvenanceError as e:  # e.g. a backed/dask matrix
                self._graphs[modality, obsp_key] = e
        return self._graphs[modality, obsp_key]


@dataclass(frozen=True)
class History:
    """A key's stored history as read: the readable records and what reading found."""

    records: tuple[tuple[int, Any], ...] = ()
    """``(position, record)`` of every entry that could be decoded, oldest first."""
    n_stored: int = 0
    """Number of entries stored (readable or not); 0 when the container is unreadable."""
    readable: bool = False
    """Whether the container could be read (the chain is checked only then)."""
    findings: tuple[Finding, ...] = ()
    """``invalid_record``, ``newer_schema`` or ``history_lost`` found while reading."""


class KeyContext:
    """One key of one audit: what every check reads, computed once."""

    step = False
    """Whether the key is a step's (neighbors, markers, ...): :class:`StepContext`."""

    def __init__(self, audit: AuditContext, key: str) -> None:
        self.audit = audit
        self.src = audit.src
        self.key = key
        self.entry: Any = self.src.uns.get(key)
        """``uns[key]`` as stored (``None`` when absent)."""
        self.in_obs = key in self.src.obs_columns()

    @cached_property
    def history(self) -> History:
        """The stored history, decoded; empty when ``uns[key]`` has none."""
        if self.key in self.src.uns_errors or not has_history(self.entry):
            return History()
        local = getattr(self.src, "local", str)(self.key)  # a MuData modality's own key
        return _read_history(self.entry[PROVENANCE_FIELD], self.key, local, step=self.step)

    @property
    def records(self) -> list[ClusteringRecord]:
        """The readable records, oldest first."""
        return [r for _, r in self.history.records]

    @property
    def latest(self) -> ClusteringRecord | None:
        """The latest record, when it is readable and the last one stored; else ``None``.

        Parameters, cells, labels and graph are checked against it only then.
        """
        h = self.history
        if h.records and h.records[-1][0] == h.n_stored - 1:
            rec: ClusteringRecord = h.records[-1][1]
            return rec
        return None

    @property
    def check_data(self) -> bool:
        """Whether labels and graphs are compared (``False``: a file's uns and n_obs only)."""
        return bool(self.src.check_data)

    @cached_property
    def same_cells(self) -> bool:
        """Whether the object holds the cells the latest record labelled, in its order.

        Without data checks only the length of the obs index is compared.
        """
        rec = self.latest
        if rec is None:
            return False
        if self.src.n_obs != rec.result.n_obs:
            return False
        if not self.check_data:
            return True
        return self.audit.names_digest() == rec.result.obs_names_digest

    @property
    def comparable(self) -> bool:
        """Whether labels and graph are compared with the latest record."""
        return self.check_data and self.latest is not None and self.in_obs and self.same_cells


class StepContext(KeyContext):
    """One step key (neighbors, markers, dendrogram, PAGA): its history decoded as steps'."""

    step = True
    kind = ""
    """``"neighbors"``, ``"rank_genes_groups"``, ... (set by whoever finds the key)."""

    @property
    def records(self) -> list[StepRecord]:  # type: ignore[override]
        return [r for _, r in self.history.records]

    @property
    def latest(self) -> StepRecord | None:  # type: ignore[override]
        h = self.history
        if h.records and h.records[-1][0] == h.n_stored - 1:
            rec: StepRecord = h.records[-1][1]
            return rec
        return None

    @cached_property
    def same_cells(self) -> bool:
        rec = self.latest
        if rec is None or self.src.n_obs != rec.n_obs:
            return False
        return not self.check_data or self.audit.names_digest() == rec.obs_names_digest


@dataclass(frozen=True)
class Check:
    """One audit check: a function of a :class:`KeyContext` returning its findings.

    ``codes`` are the finding codes it may return (each in the catalogue).
    """

    run: Callable[[Any], list[Finding]]
    """The check: a function of a :class:`KeyContext` (a :class:`StepContext` for steps')."""
    codes: tuple[FindingCode, ...]

    @property
    def name(self) -> str:
        return self.run.__name__

    def __call__(self, ctx: KeyContext) -> list[Finding]:
        return self.run(ctx)


def check(*codes: FindingCode) -> Callable[[Callable[[Any], list[Finding]]], Check]:
    """Make a function a :class:`Check` that may return ``codes``."""
    for c in codes:
        spec(c)

    def wrap(fn: Callable[[Any], list[Finding]]) -> Check:
        return Check(fn, codes)

    return wrap


def _read_history(prov: Any, key: str, local: str | None = None, *, step: bool = False) -> History:
    """Decode a stored history; the findings of entries or a container that cannot be read.

    ``step``: the history of a step (neighbors, markers, ...), decoded as such."""
    from provenance._storage.codec import missing_history_message

    findings: list[Finding] = []
    try:
        texts = history_texts(prov, key=key)
    except NewerSchemaError as e:
        return History(findings=(Finding("newer_schema", key, str(e), {"container": True}),))
    except ProvenanceError as e:
        if isinstance(prov, Mapping) and "history" not in prov and "schema_version" in prov:
            # What ad.concat(uns_merge="same") leaves: the records are gone, not damaged.
            msg = missing_history_message(prov, key=key)
            lost = Finding("history_lost", key, msg, {"cause": "merged"})
            return History(findings=(lost,))
        return History(findings=(Finding("invalid_record", key, str(e)),))
    out: list[tuple[int, Any]] = []
    newer = []
    decode = decode_step if step else decode_record
    for i, text in enumerate(texts):
        try:
            out.append((i, decode(text, key=key, index=i)))
        except NewerSchemaError as e:
            newer.append(str(e))
        except ProvenanceError as e:
            findings.append(Finding("invalid_record", key, str(e), {"index": i}))
    if newer:
        # One finding per key: a newer package writes all later entries in the newer schema.
        more = f" ({len(newer)} entries)" if len(newer) > 1 else ""
        findings.append(Finding("newer_schema", key, newer[0] + more, {"entries": len(newer)}))
    for i, rec in out:
        if rec.key not in (key, local):
            msg = (
                f"uns[{key!r}]['provenance']['history'][{i}]: field 'key' is {rec.key!r}, but the "
                f"record is stored under {key!r}; it was copied from another key."
            )
            findings.append(Finding("invalid_record", key, msg, {"index": i}))
    return History(tuple(out), len(texts), True, tuple(findings))
