"""What scanpy wrote without this package: its own ``params``, and the fixed keys.

scanpy <= 1.9 wrote the parameters of every Leiden/Louvain run to ``uns["leiden"]`` /
``uns["louvain"]`` whatever ``key_added`` was; the ``legacy_params`` finding flags them when
another key may have written them. scanpy's own ``uns[key]["params"]`` (and, from 1.12,
``uns[key]["modularity"]``) are compared with the record by :func:`params_mismatches`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provenance._storage.history import has_history
from provenance._targets.registry import fixed_keys, target_for_adopt, target_for_record

from .report import AuditEntry, Finding

if TYPE_CHECKING:
    from provenance._schema.models import ClusteringRecord
    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView
    from provenance._targets.base import Target

    Source = AnnDataSource | FileSource | PartView

__all__ = ["FIXED_KEYS", "add_legacy", "params_mismatches", "same_value", "scanpy_params"]

# The uns keys scanpy <= 1.9 wrote parameters to whatever key_added was (the registered
# targets' fixed keys, as registered at import).
FIXED_KEYS: tuple[str, ...] = fixed_keys()


def scanpy_params(entry: Any) -> dict[str, Any] | None:
    """``uns[key]["params"]`` as scanpy wrote it, JSON-safe; ``None`` when absent."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("params"), Mapping):
        return None
    from provenance._util.jsonsafe import jsonable

    out = {}
    for k, v in entry["params"].items():
        # scanpy's scalars come back from old files as 1-element arrays.
        if hasattr(v, "shape") and getattr(v, "size", 0) == 1:
            v = v.reshape(-1)[0]
        out[str(k)] = jsonable(v)
    return out


def add_legacy(
    src: Source, entries: tuple[AuditEntry, ...], names: list[str]
) -> tuple[AuditEntry, ...]:
    """Flag ``uns["leiden"/"louvain"]["params"]`` that may belong to another run.

    In a MuData's modality the fixed keys are its own (``"rna:louvain"``).
    """
    out = list(entries)
    audited = {e.key: e for e in entries}
    prefix = getattr(src, "prefix", "")
    for local_fixed in fixed_keys():
        fixed = prefix + local_fixed
        entry = src.uns.get(fixed)
        if has_history(entry) or not isinstance(entry, Mapping) or "params" not in entry:
            continue
        others = [
            audited.get(k) or AuditEntry(key=k, history=(), n_stored=0, findings=())
            for k in names
            if k != fixed
        ]
        others = [
            e
            for e in others
            if (
                (e.latest is not None and _fixed_key_of(e.latest) == local_fixed)
                or e.key.lower().startswith(fixed)
            )
            and _may_have_clobbered(src, e)
        ]
        in_obs = fixed in src.obs_columns()
        if in_obs and not others:
            continue  # the params sit beside the labels they were written with
        params = scanpy_params(entry) or {}
        matching = [e.key for e in others if e.latest and _same_params(e.latest, params)]
        where = f"uns[{fixed!r}]['params']"
        if matching:
            tail = f"they match the record of {matching[0]!r}, so they are probably its leftovers"
        elif others:
            # Not ``names``: that is the list of keys the next fixed key is checked against.
            owners = ", ".join(repr(e.key) for e in others[:5])
            tail = f"they may belong to {owners} rather than obs[{fixed!r}]"
            if not in_obs:
                tail = f"there is no obs[{fixed!r}]; they may belong to {owners}"
        else:
            tail = f"there is no obs[{fixed!r}] they could describe"
        msg = (
            f"{where} sits at {_writer(local_fixed, params)} the parameters of its last "
            f"{local_fixed} run there whatever key_added was, so {tail}. Do not read them as the "
            f"parameters of any one labelling."
        )
        finding = Finding("legacy_params", fixed, msg, {"others": [e.key for e in others]})
        idx = next((i for i, e in enumerate(out) if e.key == fixed), None)
        if idx is None:
            out.append(
                AuditEntry(
                    key=fixed,
                    history=(),
                    n_stored=0,
                    findings=(finding,),
                    scanpy_params=params,
                    in_obs=in_obs,
                )
            )
        else:
            old = out[idx]
            out[idx] = AuditEntry(
                key=old.key,
                history=old.history,
                n_stored=old.n_stored,
                findings=(*old.findings, finding),
                scanpy_params=old.scanpy_params,
                in_obs=old.in_obs,
                checked=old.checked,
            )
    return tuple(out)


def _writer(fixed: str, params: Mapping[str, Any]) -> str:
    """Who writes ``params`` to ``fixed``: the target that recognizes them, with its versions.

    muon's fixed-key params (``partition_improvement``, no ``n_iterations``) are muon's, not
    scanpy's.
    """
    target: Target | None = target_for_adopt(fixed, params)
    if target is None or target.fixed_key != fixed:
        return "a fixed key: the clustering function that made them wrote"
    package = target.fixed_key_package
    before = target.fixed_key_before
    if before is None:
        return f"{target.function}'s fixed key: {target.function} wrote"
    major, minor = before
    versions = f"{package} <= {major}.{minor - 1}" if minor else f"{package} < {major}"
    return f"{package}'s fixed key: {versions} wrote"


def _may_have_clobbered(src: Source, entry: AuditEntry) -> bool:
    """Whether the run behind ``entry`` may have written the fixed key.

    A key with its own ``uns[key]["params"]`` was written by scanpy >= 1.10 (which leaves the
    fixed keys alone) or under ``record()`` (which restores them on scanpy <= 1.9), so it is
    cleared, unless its labels changed since: a later run outside ``record()`` on old scanpy
    changes them and writes the fixed key.
    """
    if any(f.code == "labels_changed" for f in entry.findings):
        return True
    return scanpy_params(src.uns.get(entry.key)) is None


def _fixed_key_of(rec: ClusteringRecord) -> str | None:
    """The fixed key the function that made ``rec`` writes (whatever its version)."""
    target = target_for_record(rec.function, rec.method)
    return None if target is None else target.fixed_key


def _same_params(rec: ClusteringRecord, params: Mapping[str, Any]) -> bool:
    return not _mismatches(rec, params)


def params_mismatches(rec: ClusteringRecord, entry: Any) -> dict[str, tuple[Any, Any]]:
    """Fields of scanpy's ``uns[key]`` that contradict ``rec``: name -> (scanpy's, recorded).

    ``entry["params"]`` is compared field by field with the record's arguments (as passed:
    scanpy writes what was passed, also an argument the flavor ignores), and
    ``entry["modularity"]`` (scanpy >= 1.12) with ``rec.result.modularity``. A field only one
    side holds is not compared, nor are the arguments of an adopted record it does not know,
    nor a ``random_state`` recorded as a RandomState/Generator state (scanpy keeps the object,
    which the clustering advanced). Values are JSON-safe.
    """
    if not isinstance(entry, Mapping):
        return {}
    params = entry.get("params")
    out = _mismatches(rec, params) if isinstance(params, Mapping) else {}
    mod = rec.result.modularity
    if "modularity" in entry and mod is not None and same_value(entry["modularity"], mod) is False:
        out["modularity"] = (_jsonable(entry["modularity"]), mod)
    return out


def _mismatches(rec: ClusteringRecord, params: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    mine = rec.params.model_dump(mode="json", by_alias=True)
    unknown = set(rec.params.unknown)
    out = {}
    for name, theirs in params.items():
        name = str(name)
        if name in mine and name not in unknown and same_value(theirs, mine[name]) is False:
            out[name] = (_jsonable(theirs), mine[name])
    return out


def same_value(theirs: Any, recorded: Any) -> bool | None:
    """Whether a value scanpy stored equals a recorded JSON value; ``None``: not comparable.

    Type-aware: numpy scalars and 1-element arrays (old files) are their Python value; ints
    and floats compare by value (``1 == 1.0``, exactly, so a float64 that went through a
    file is still equal), a float32 at float32 precision; ``None``, bools and strings equal
    only their own kind. Tagged JSON forms (a RandomState, a non-finite float) and other
    objects are not compared.
    """
    import numpy as np

    if isinstance(theirs, np.ndarray) and theirs.size == 1 and theirs.ndim <= 1:
        theirs = theirs.reshape(-1)[0]
    single = isinstance(theirs, np.float32)
    if isinstance(theirs, np.generic):
        theirs = theirs.item()
    if isinstance(theirs, bytes):
        theirs = theirs.decode("utf-8", "replace")
    plain = (type(None), bool, int, float, str)
    if not isinstance(theirs, plain) or not isinstance(recorded, plain):
        return None
    if isinstance(theirs, float) and not np.isfinite(theirs):
        return None  # recorded in tagged form, if at all
    if theirs is None or recorded is None:
        return theirs is recorded
    if isinstance(theirs, bool) or isinstance(recorded, bool):
        return type(theirs) is type(recorded) and theirs == recorded
    if isinstance(theirs, str) or isinstance(recorded, str):
        return type(theirs) is type(recorded) and theirs == recorded
    if single and isinstance(recorded, float):
        return bool(np.float32(recorded) == np.float32(theirs))
    return bool(theirs == recorded)


def _jsonable(value: Any) -> Any:
    from provenance._util.jsonsafe import jsonable

    if hasattr(value, "shape") and getattr(value, "size", 0) == 1:
        value = value.reshape(-1)[0]
    return jsonable(value)
