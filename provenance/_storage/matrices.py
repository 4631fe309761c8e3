"""Reading one representation (``X`` or an ``obsm`` matrix), only when the audit is asked to.

The audit never reads ``X`` or ``obsm`` by default; ``audit(check_representation=True)`` (CLI
``verify --representation``) reads the matrix each neighbors record names, element by element
from a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .files import _read_elem
from .mudata import is_mudata
from .nodes import _open_root

__all__ = ["read_representation"]


def read_representation(obj: Any, name: str, *, modality: str | None = None) -> Any | None:
    """``X`` (``name == "X"``) or ``obsm[name]`` of an AnnData or file; ``None`` when absent.

    Parameters
    ----------
    obj
        An AnnData or MuData, or the path of an ``.h5ad``/``.h5mu`` file or ``.zarr`` store.
    name
        ``"X"`` or an ``obsm`` key (``"X_pca"``).
    modality
        Of a MuData: the modality whose matrix to read.
    """
    if not isinstance(obj, str | Path):
        adata = obj.mod[modality] if modality is not None and is_mudata(obj) else obj
        if name == "X":
            return adata.X
        return adata.obsm.get(name)
    parts = ["mod", modality] if modality is not None else []
    parts += ["X"] if name == "X" else ["obsm", name]
    with _open_root(Path(obj)) as root:
        node = root
        for part in parts:
            if part not in node:
                return None
            node = node[part]
        return _read_elem()(node)
