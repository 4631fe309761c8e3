"""What scanpy wrote without this package: its own ``params``, and the fixed keys.

scanpy <= 1.9 wrote the parameters of every Leiden/Louvain run to ``uns["leiden"]`` /
``uns["louvain"]`` whatever ``key_added`` was; the ``legacy_params`` finding flags them when
another key may have written them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._adapters import ADAPTERS
from ._history import has_history
from ._report import AuditEntry, Finding

if TYPE_CHECKING:
    from ._files import AnnDataSource, FileSource
    from ._models import ClusteringRecord

    Source = AnnDataSource | FileSource

__all__ = ["FIXED_KEYS", "add_legacy", "scanpy_params"]

# The uns keys scanpy <= 1.9 wrote parameters to whatever key_added was.
FIXED_KEYS: tuple[str, ...] = tuple(dict.fromkeys(a.fixed_key for a in ADAPTERS if a.fixed_key))


def scanpy_params(entry: Any) -> dict[str, Any] | None:
    """``uns[key]["params"]`` as scanpy wrote it, JSON-safe; ``None`` when absent."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("params"), Mapping):
        return None
    from ._jsonsafe import jsonable

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
    """Flag ``uns["leiden"/"louvain"]["params"]`` that may belong to another run."""
    out = list(entries)
    audited = {e.key: e for e in entries}
    for fixed in FIXED_KEYS:
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
                (e.latest is not None and e.latest.method == fixed)
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
            names = ", ".join(repr(e.key) for e in others[:5])
            tail = f"they may belong to {names} rather than obs[{fixed!r}]"
            if not in_obs:
                tail = f"there is no obs[{fixed!r}]; they may belong to {names}"
        else:
            tail = f"there is no obs[{fixed!r}] they could describe"
        msg = (
            f"{where} sits at scanpy's fixed key: scanpy <= 1.9 wrote the parameters of its last "
            f"{fixed} run there whatever key_added was, so {tail}. Do not read them as the "
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


def _same_params(rec: ClusteringRecord, params: Mapping[str, Any]) -> bool:
    mine = rec.params.model_dump(mode="json", by_alias=True)
    return all(mine.get(k) == v for k, v in params.items() if k in mine)
