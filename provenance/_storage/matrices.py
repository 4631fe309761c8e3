"""Reading one representation (``X`` or an ``obsm`` matrix), only when the audit is asked to.

The audit never reads ``X`` or ``obsm`` by default; ``audit(check_representation=True)`` (CLI
``verify --representation``) reads the matrix each neighbors record names, element by element
from a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .files import _read_elem
from .mudata import is_mudata
from .nodes import _open_root
from .url import is_url

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["read_representation", "source_obsm"]


def read_representation(
    obj: Any,
    name: str,
    *,
    modality: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Any | None:
    """``X`` (``name == "X"``) or ``obsm[name]`` of an AnnData or file; ``None`` when absent.

    Parameters
    ----------
    obj
        An AnnData or MuData, or the path of an ``.h5ad``/``.h5mu`` file or ``.zarr`` store.
    name
        ``"X"`` or an ``obsm`` key (``"X_pca"``).
    modality
        Of a MuData: the modality whose matrix to read.
    storage_options
        For a URL: the options of its fsspec filesystem.
    """
    if not isinstance(obj, str | Path):
        adata = obj.mod[modality] if modality is not None and is_mudata(obj) else obj
        if name == "X":
            return adata.X
        return adata.obsm.get(name)
    parts = ["mod", modality] if modality is not None else []
    parts += ["X"] if name == "X" else ["obsm", name]
    where = obj if is_url(obj) else Path(obj)
    with _open_root(where, storage_options=storage_options) as root:
        node = root
        for part in parts:
            if part not in node:
                return None
            node = node[part]
        return _read_elem()(node)


def source_obsm(src: Any, key: str) -> Any | None:
    """``obsm[key]`` of what an audit reads (an ``AnnDataSource``, a ``FileSource`` or a
    MuData part), read on demand: a step's output, e.g. ``X_umap`` (n_obs x 2). ``None``
    when absent."""
    inner = getattr(src, "inner", src)  # a MuData part: its AnnData or file
    adata = getattr(inner, "adata", None)
    if adata is not None:
        return adata.obsm.get(key)
    root = inner.root
    if "obsm" not in root or key not in root["obsm"]:
        return None
    what = f"obsm[{key!r}]"
    return inner._read(inner._node(root["obsm"], key, what), what)
