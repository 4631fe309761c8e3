"""What every recorded call does to its key's history, whatever it records.

scanpy replaces ``uns[key]`` wholesale on each run. A recorded call snapshots the entry and
its history before the call, puts the history back after it (or the whole entry after a
failure), links the new record to the last one (or to the versions the index saw and the
history lost), appends it and points the index at it. :class:`~.call.Call` (a clustering)
and :class:`~.step_call.StepCall` (a step around one) add what they record.
"""

from __future__ import annotations

import copy as _copy
import time
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from provenance._base import config as _config
from provenance._base.errors import (
    HistoryLimitError,
    InvalidRecordError,
    ProvenanceError,
    ProvenanceWarning,
)
from provenance._storage.codec import (
    PROVENANCE_FIELD,
    encode_history,
    encode_record,
    history_texts,
)
from provenance._storage.index import read_index, update_index
from provenance._storage.slots import changed, identities, is_column, slot_names, snapshot

from .parents import parent_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from anndata import AnnData

    from provenance._schema.models import (
        ClusteringRecord,
        ConcatRecord,
        EmbeddingRecord,
        NeighborsRecord,
        ParentObject,
        ResultRecord,
        SlotDigest,
        TransformRecord,
    )
    from provenance._util.signing import Signer

    from .blocks import Recording

__all__ = ["MISSING", "HistoryCall", "bad_key", "put", "restore", "sign"]

_R = TypeVar(
    "_R",
    bound="ClusteringRecord | NeighborsRecord | ResultRecord | EmbeddingRecord | TransformRecord"
    " | ConcatRecord",
)

MISSING: Any = object()
"""Stands for an absent ``uns`` entry or field in a snapshot."""


class HistoryCall:
    """The history of the key one recorded call writes: snapshot, restore, link, append.

    Subclasses set the attributes below in their ``__init__`` (calling this one first),
    describe the call and read the history with :meth:`_prepare`, start the clock
    with :meth:`_start_clock`, and in ``finish`` call :meth:`_stop_clock`,
    :meth:`_written_entry`, :meth:`_keep_history`, :meth:`_link` and :meth:`_append`.
    """

    def __init__(self, adata: AnnData, key: str, *, copy: bool, block: Recording) -> None:
        self.block = block
        self.adata = adata
        self.key = key
        self.copy = copy
        # Anything that fails from here on is reported after the call, once the existing
        # history has been put back: the call runs and no history is dropped.
        self.error: ProvenanceError | None = None
        self.texts: list[str] = []
        self.last: Any = None
        self.lost: dict[str, Any] | None = None
        self.read_names: list[str] = []
        self.slots_before: dict[str, SlotDigest] = {}
        self.ids_before: dict[str, tuple[Any, ...]] = {}
        self.parent: ParentObject | None = None
        uns = adata.uns
        # scanpy replaces uns[key] wholesale: keep the old entry (and its history) to restore.
        self.old_entry = uns.get(key, MISSING)
        self.old_prov = (
            self.old_entry.get(PROVENANCE_FIELD, MISSING)
            if isinstance(self.old_entry, Mapping)
            else MISSING
        )

    def _prepare(self, describe: Callable[[], None]) -> None:
        """Describe the call and read the key's history; keep what fails in :attr:`error`.

        ``describe`` sets what the subclass records of the call's arguments.
        """
        try:
            describe()
            # What the call reads, as it is now (one xxh3 pass per buffer, no copy). Not
            # reused from the last call's snapshot: an edit in place between two calls
            # (X.data *= 2) leaves every object and buffer as it was; only a digest sees it.
            self.read_names = self._reads()
            self._take_before()
            self._read_history()
            self.lost = self._lost_versions(self.adata.uns)
            self.parent = self._parent()
        except ProvenanceError as e:
            self.error = e
        except Exception as e:
            self.error = ProvenanceError(f"cannot describe the call: {e}")
        why = bad_key(self.key)
        if why is not None:
            self.error = ProvenanceError(why)

    def _reads(self) -> list[str]:
        """The slots the call reads (names, see ``_storage/slots.py``), before it runs."""
        return []

    def _parent(self) -> ParentObject | None:
        """The object the key's history (or the object's records) was made on, when the
        object as the call finds it holds other cells (``parents.py``)."""
        adata = self.adata
        cells = (int(adata.n_obs), self.block._names_digest(adata.obs_names))
        return parent_for(adata.uns, self.key, self.last, cells)

    def _take_before(self) -> None:
        """Digest what the call reads and every column; of the other matrices keep only
        which objects and buffers they are (:func:`identities`).

        A matrix the call neither reads nor replaces is not hashed at all: a call that
        changes a matrix in place reads it (``log1p``, ``normalize_total``, ``scale``; umap's
        edit of the graph it reads), so what it wrote is among its reads or among the
        matrices whose identity changed. With ``copy=True`` every matrix of the returned
        copy is new: all are hashed before and after.
        """
        adata = self.adata
        self.ids_before = {} if self.copy else identities(adata)
        names = slot_names(adata)
        reads = set(self.read_names)
        self.slots_before = snapshot(
            adata, [n for n in names if n in reads or is_column(n) or n not in self.ids_before]
        )

    def _chain(self, out: AnnData) -> dict[str, Any]:
        """The record's ``reads`` and ``writes``: the slots read as they were before the call,
        and those that differ after it; and its ``parent``."""
        before = self.slots_before
        ids_before = self.ids_before
        ids_after = identities(out)
        reads = set(self.read_names)
        # A re-run of the key makes again what its last version made: what it left as it was
        # (leiden v2 with v1's labels) is still its output, so later steps link to v2.
        again = set(getattr(self.last, "writes", None) or ())
        names = [
            n
            for n in slot_names(out)
            if n in reads
            or n in again
            or is_column(n)
            or n not in ids_before
            or ids_after.get(n) != ids_before[n]
        ]
        after = snapshot(out, names)
        writes = changed(before, after)
        writes |= {n: after[n] for n in sorted(again) if n in after and n not in writes}
        return {
            "reads": {n: before[n] for n in self.read_names if n in before},
            "writes": writes,
            "parent": self.parent,
        }

    def _decode(self, text: str, *, index: int) -> Any:
        """One stored record of this key's history (the subclass's kind)."""
        raise NotImplementedError

    def _start_clock(self) -> None:
        self.started_at = datetime.now(UTC)
        self.t0 = time.perf_counter()

    def _stop_clock(self, result: Any) -> AnnData:
        """Time the call (``duration``, ``finished_at``); the object it modified."""
        self.duration = time.perf_counter() - self.t0
        self.finished_at = datetime.now(UTC)
        out = result if self.copy else self.adata
        if out is None:
            msg = "copy=True but the call returned None"
            raise ProvenanceError(msg)
        return out

    def _written_entry(self, uns: Any) -> dict[str, Any]:
        """The ``uns[key]`` the call wrote, which holds the history."""
        entry = uns.get(self.key)
        if not isinstance(entry, dict):
            msg = f"scanpy wrote no dict to uns[{self.key!r}] (found {type(entry).__name__})"
            raise ProvenanceError(msg)
        return entry

    def _keep_history(self, entry: dict[str, Any]) -> None:
        """Put the key's own history back into the entry scanpy wrote; drop any other.

        Whatever happens next, the existing history is never dropped, and an entry scanpy
        copied from another key (``filter_rank_genes_groups``) never carries that key's.
        """
        old_prov = self.old_prov
        if old_prov is not MISSING:
            entry[PROVENANCE_FIELD] = old_prov if not self.copy else _copy.deepcopy(old_prov)
        else:
            entry.pop(PROVENANCE_FIELD, None)

    def _link(self) -> tuple[int, str | None]:
        """``(version, previous)`` of the record to append."""
        last = self.last
        version = (last.version + 1) if last is not None else len(self.texts) + 1
        previous = last.digest if last is not None else None
        if self.lost is not None:
            # Versions the index saw are gone: link to the last of them, so the loss stays
            # visible in the chain instead of a fresh v1 erasing the index's trace of it.
            version, previous = self.lost["version"] + 1, self.lost["digest"]
        return version, previous

    def _signed_alike(self, last: Any) -> bool:
        """Whether ``last`` is signed as this call's record would be: an identical re-run
        under another key (or a first key) is a new version, so that it gets signed."""
        signer = self.block._signer
        if signer is None:
            return True
        sig = getattr(last, "signature", None)
        return sig is not None and sig.key_id == signer.key_id

    def _append(self, uns: Any, entry: dict[str, Any], rec: _R) -> _R:
        """Append ``rec`` to the history in ``entry`` (signed, when the block has a key),
        index it, and warn of lost versions; the record appended."""
        rec = sign(rec, self.block._signer)
        entry[PROVENANCE_FIELD] = encode_history([*self.texts, encode_record(rec)])
        update_index(uns, rec)
        if self.lost is not None:
            held = len(self.texts)
            msg = (
                f"uns['provenance_index'] says {self.key!r} had {self.lost['version']} recorded "
                f"version{'s' * (self.lost['version'] != 1)}, but uns[{self.key!r}] held "
                f"{held or 'none'}: its history was cut or wiped outside provenance.record(). "
                f"This run is recorded as version {rec.version}, linked to the lost version "
                f"{self.lost['version']}, so the audit keeps reporting the gap (broken_chain). "
                "Restore the history from an earlier copy of the file, or record under a new "
                "key_added."
            )
            warnings.warn(msg, ProvenanceWarning, stacklevel=5)
        return rec

    def _lost_versions(self, uns: Any) -> dict[str, Any] | None:
        """The index's entry for this key when the history lacks versions it recorded."""
        try:
            indexed = read_index(uns).get(self.key)
        except InvalidRecordError:
            return None  # an unreadable index is the audit's to report; it is rebuilt
        if indexed is None:
            return None
        have = self.last.version if self.last is not None else 0
        if have >= indexed["version"]:
            return None
        return indexed

    def _read_history(self) -> None:
        """Read the key's existing history: its length and its last record."""
        if self.old_prov is MISSING:
            return
        try:
            self.texts = history_texts(self.old_prov, key=self.key)
            if self.texts:
                self.last = self._decode(self.texts[-1], index=len(self.texts) - 1)
        except InvalidRecordError as e:
            msg = (
                f"the existing history in uns[{self.key!r}]['provenance'] cannot be read ({e}); "
                "it is kept unchanged and this run is not recorded. Repair it, or move it aside "
                f"(adata.uns[{self.key!r}]['provenance_unreadable'] = "
                f"adata.uns[{self.key!r}].pop('provenance')) and re-run."
            )
            raise ProvenanceError(msg) from None
        if len(self.texts) >= _config.max_history():
            msg = (
                f"uns[{self.key!r}] already holds {len(self.texts)} versions, the limit "
                "(PROVENANCE_MAX_HISTORY); this run is not recorded. Use a new key_added, or "
                "raise the limit."
            )
            raise HistoryLimitError(msg)


def bad_key(key: str) -> str | None:
    """Why a written key cannot hold a record, else ``None``."""
    if key and "/" not in key:
        return None
    why = (
        "an empty key"
        if not key
        else "'/' in a key: anndata refuses it when writing (zarr, anndata >= 0.13) or reads "
        f"it back nested as uns[{key.split('/')[0]!r}][...], separated from its record"
    )
    return f"key_added={key!r} cannot be recorded: {why}. Use a key_added without '/' to record it."


def restore(mapping: Any, key: str, value: Any) -> None:
    """Put ``value`` back under ``key`` unless it is still there."""
    if mapping.get(key, MISSING) is not value:
        put(mapping, key, value)


def put(mapping: Any, key: str, value: Any) -> None:
    """Set ``mapping[key]``, or remove it for :data:`MISSING`."""
    if value is MISSING:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def sign(rec: _R, signer: Signer | None) -> _R:
    """``rec`` with ``signer``'s signature of its digest (``rec`` itself without a signer).

    The signature is outside the digested content: signing leaves the digest, and so the
    hash chain, as it was.
    """
    if signer is None:
        return rec
    from provenance._schema.models import Signature

    signature = Signature(key_id=signer.key_id, value=signer.sign(rec.digest))
    return cast("_R", rec.model_copy(update={"signature": signature}))
