"""``provenance.adopt``: turn what scanpy left in a file into records marked as adopted."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError, ProvenanceWarning, UnreadableFileError
from provenance._schema.models import ClusteringRecord, ResultInfo
from provenance._storage.codec import PROVENANCE_FIELD, encode_history, encode_record
from provenance._storage.index import INDEX_KEY, update_index
from provenance._targets.registry import fixed_keys, target_for_adopt, targets
from provenance._util.fingerprint import HASH_ALGORITHM, label_digests
from provenance._util.jsonsafe import jsonable

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["adopt", "adopt_file"]


def _scalar(v: Any) -> Any:
    """scanpy <= 1.9 files store params as 1-element arrays."""
    if hasattr(v, "shape") and getattr(v, "size", 0) == 1:
        v = v.reshape(-1)[0]
    return jsonable(v)


def _candidates(adata: AnnData) -> dict[str, Mapping[str, Any]]:
    """Keys with scanpy's params (``uns[key]``) and labels (``obs[key]``), without a record."""
    out = {}
    for key, entry in adata.uns.items():
        if not isinstance(entry, Mapping) or PROVENANCE_FIELD in entry:
            continue
        params = entry.get("params")
        if not isinstance(params, Mapping) or "resolution" not in params:
            continue
        if key in adata.obs and str(adata.obs[key].dtype) == "category":
            out[key] = entry
    return out


def _not_provable(adata: AnnData, keys: list[str]) -> dict[str, str]:
    """``{fixed key: why}`` for legacy fixed keys whose params may belong to another run.

    scanpy <= 1.9 wrote every run's params to ``uns["leiden"]``/``uns["louvain"]`` whatever
    ``key_added`` was; the audit's ``legacy_params`` finding says when another labelling may
    have written them. Those params do not provably describe ``obs[fixed]``.
    """
    fixed = [k for k in keys if k in fixed_keys()]
    if not fixed:
        return {}
    from provenance._audit.audit import audit

    report = audit(adata)
    return {
        f.key: f.message
        for e in report.entries
        for f in e.findings
        if f.code == "legacy_params" and f.key in fixed
    }


def adopt(adata: AnnData, *, keys: list[str] | None = None) -> list[ClusteringRecord]:
    """Give clusterings made without this package a record reconstructed from scanpy's params.

    A key is adopted when ``uns[key]["params"]`` holds scanpy's clustering parameters and
    ``obs[key]`` its labels. Legacy fixed keys (``uns["leiden"]``, ``uns["louvain"]``, written
    by scanpy <= 1.9 whatever ``key_added`` was) are adopted only when they provably describe
    the column of the same name: when the audit finds that another labelling may have written
    them (``legacy_params``), the key is left without a record and the finding stays (a
    :class:`ProvenanceWarning` says so; an error when the key is named in ``keys``). The
    records have ``origin="adopted"``, no software, times or graph (none can be known), list
    the arguments scanpy did not keep in ``params.unknown``, and keep the modularity scanpy
    >= 1.12 stores in ``uns[key]["modularity"]`` as ``result.modularity``. Keys that already
    have a history are left alone.

    Parameters
    ----------
    adata
        The annotated data matrix; modified in place.
    keys
        Adopt only these keys; all candidates when ``None``.

    Returns
    -------
    The records written, one per adopted key.

    Examples
    --------
    >>> adata = sc.datasets.pbmc68k_reduced()  # holds an old louvain clustering
    >>> [r.key for r in provenance.adopt(adata)]
    ['louvain']
    """
    found = _candidates(adata)
    if keys is not None:
        missing = [k for k in keys if k not in found]
        if missing:
            msg = (
                f"cannot adopt {missing}: each needs scanpy's uns[key]['params'] and a "
                "categorical obs[key] column, and no existing history."
            )
            raise ProvenanceError(msg)
        found = {k: found[k] for k in keys}
    unprovable = _not_provable(adata, list(found))
    records = []
    for key, entry in found.items():
        if key in unprovable:
            msg = (
                f"not adopting {key!r}: {unprovable[key]} obs[{key!r}] stays without a record "
                "(its parameters are unknown); re-run it inside provenance.record(adata) to "
                "record it."
            )
            if keys is not None:
                raise ProvenanceError(msg)
            warnings.warn(msg, ProvenanceWarning, stacklevel=2)
            continue
        try:
            rec = _adopt_one(adata, key, entry)
        except (ProvenanceError, ValueError) as e:  # pydantic's ValidationError is a ValueError
            msg = f"cannot adopt {key!r}: {' '.join(str(e).split())[:300]}"
            if keys is not None:
                raise ProvenanceError(msg) from None
            warnings.warn(msg + "; it stays without a record.", ProvenanceWarning, stacklevel=2)
            continue
        adata.uns[key] = {**adata.uns[key], PROVENANCE_FIELD: encode_history([encode_record(rec)])}
        update_index(adata.uns, rec)
        records.append(rec)
    return records


def _adopt_one(adata: AnnData, key: str, entry: Mapping[str, Any]) -> ClusteringRecord:
    params = entry["params"]
    target = target_for_adopt(key, params)
    if target is None:
        names = "/".join(dict.fromkeys(f"{t.default_key}*" for t in targets()))
        msg = f"cannot tell which function made it (its params name none, its key is not {names})"
        raise ProvenanceError(msg)
    known = {k: _scalar(v) for k, v in params.items()}
    labels = label_digests(adata.obs[key], adata.obs_names)
    # scanpy >= 1.12 stores the partition's modularity beside the params.
    modularity = _scalar(entry["modularity"]) if "modularity" in entry else None
    return ClusteringRecord.create(
        version=1,
        key=key,
        method=target.method,
        function=target.function,
        origin="adopted",
        params=target.adopt_params(key, known),
        software=None,
        started_at=None,
        finished_at=None,
        duration_s=None,
        graph=None,
        result=ResultInfo(
            n_obs=adata.n_obs,
            n_clusters=len(labels["categories"]),
            hash_algorithm=HASH_ALGORITHM,
            modularity=modularity,
            **labels,
        ),
        previous=None,
    )


def adopt_file(
    path: str | Path, *, out: str | Path | None = None, keys: list[str] | None = None
) -> list[ClusteringRecord]:
    """Adopt the clusterings of an ``.h5ad`` file or ``.zarr`` store and write it back.

    The output is written next to its destination and moved there only once complete, so a
    failure never leaves a half-written file; with ``out=None`` it replaces ``path``,
    otherwise ``path`` is not changed. Of an ``.h5ad`` file only what adoption needs is read;
    the file is copied and only the ``uns`` entries adoption changes are written into the
    copy, so data the installed anndata cannot read or write back (e.g. pandas 3's nullable
    strings) is kept as it was.
    """
    import shutil

    from provenance._storage.remote import is_url

    if is_url(path):
        # adopt copies the whole file and rewrites it: no partial read to gain, and no
        # writing back to a server.
        msg = (
            f"{path}: provenance adopt works on local files only (it writes a file); download "
            "it first, then adopt the local copy with --out or --in-place."
        )
        raise UnreadableFileError(msg)
    src = Path(path)
    _check_anndata_file(src)
    is_zarr = src.is_dir() or src.suffix == ".zarr"
    adata = _read_whole(src, is_zarr=True) if is_zarr else _read_adoptable(src)
    records = adopt(adata, keys=keys)
    if not records and out is None:
        return records  # nothing adopted: leave the file untouched
    final = Path(out) if out is not None else src
    tmp = final.with_name(f".{final.name}.adopt-tmp")
    _remove(tmp)
    try:
        if is_zarr:
            _write_zarr(adata, tmp, src)
        else:
            shutil.copyfile(src, tmp)
            try:
                _write_uns_entries(tmp, adata, [rec.key for rec in records])
            except Exception as e:
                raise _stack_error(src, "write", None, e) from e
    except BaseException:
        _remove(tmp)
        raise
    if is_zarr and final.exists():
        old = final.with_name(f".{final.name}.adopt-old")
        _remove(old)
        final.rename(old)
        tmp.rename(final)
        _remove(old)
    else:
        tmp.replace(final)
    return records


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _read_whole(src: Path, *, is_zarr: bool) -> AnnData:
    """The whole AnnData; what the installed stack cannot read fails naming element and versions."""
    import anndata as ad

    try:
        return ad.read_zarr(src) if is_zarr else ad.read_h5ad(src)
    except Exception as e:
        element = _unreadable_element(src) if is_zarr else None
        raise _stack_error(src, "read", element, e) from e


def _read_adoptable(src: Path) -> AnnData:
    """What adoption reads of an ``.h5ad``, as the audit by path reads it: ``obs_names``, the
    categorical ``obs`` columns and the ``params``/``provenance``/``modularity`` of ``uns``
    entries. The matrix and other elements are never read, so an element this anndata cannot
    read (e.g. anndata 0.13's nullable-string index on anndata < 0.12) does not stop it."""
    import copy

    from provenance._storage.files import open_file

    with open_file(src) as f:
        columns = [c for c, categorical in f.obs_columns().items() if categorical]
        adata = f.to_anndata(columns=columns)
        adata.uns = copy.deepcopy(dict(f.uns))
    return adata


def _write_zarr(adata: AnnData, tmp: Path, src: Path) -> None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # anndata/zarr notices about their future defaults
            adata.write_zarr(tmp)
    except Exception as e:
        raise _stack_error(src, "write", None, e) from e


def _write_uns_entries(h5ad: Path, adata: AnnData, keys: list[str]) -> None:
    """Write ``uns[key]["provenance"]`` for ``keys`` and the index into the file ``h5ad``."""
    import h5py

    try:
        from anndata.io import write_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import write_elem
    with h5py.File(h5ad, "r+") as f:
        entries = [(f["uns"][k], PROVENANCE_FIELD, adata.uns[k][PROVENANCE_FIELD]) for k in keys]
        entries.append((f["uns"], INDEX_KEY, adata.uns[INDEX_KEY]))
        for group, name, value in entries:
            if name in group:
                del group[name]
            write_elem(group, name, value)


def _unreadable_element(store: Path) -> str | None:
    """The first element of a zarr store whose metadata the installed zarr cannot parse."""
    import warnings

    from provenance._storage.nodes import _ZARR_META, _zarr_open

    for meta in sorted(p for name in _ZARR_META for p in store.rglob(name)):
        node = meta.parent
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _zarr_open(node)
        except Exception:
            return "/" + node.relative_to(store).as_posix() if node != store else "/"
    return None


def _stack_error(src: Path, action: str, element: str | None, e: Exception) -> ProvenanceError:
    from provenance._storage.nodes import _versions

    where = f" at {element}" if element else ""
    detail = " ".join(f"{type(e).__name__}: {e}".split())[:200]
    msg = (
        f"{src}: the installed {_versions()} cannot {action} this file{where} ({detail}); it was "
        "probably written by a newer stack: run provenance adopt with that anndata/zarr, or "
        "re-save the file with it in a format this one reads."
    )
    return UnreadableFileError(msg)


def _check_anndata_file(path: Path) -> None:
    """Fail with what to do on anything but an AnnData file (e.g. a MuData ``.h5mu``)."""
    from provenance._storage.nodes import _open_root

    with _open_root(path) as root:
        kind = root.attrs.get("encoding-type")
    if kind is None or kind == "anndata":
        return
    if kind == "MuData" or path.suffix == ".h5mu":
        msg = (
            f"{path}: a MuData file; provenance adopt reads AnnData files (.h5ad, .zarr) only. "
            "Adopt each modality in Python: mdata = mudata.read_h5mu(path); "
            "provenance.adopt(mdata.mod[name]) for each modality; mdata.write(path)."
        )
    else:
        msg = (
            f"{path}: holds a {kind!r} element, not an AnnData object; provenance adopt reads "
            "AnnData files (.h5ad, .zarr) only."
        )
    raise UnreadableFileError(msg)
