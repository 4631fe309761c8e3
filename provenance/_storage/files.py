"""Where the audit reads from: an AnnData in memory, or only the needed parts of a file.

A file is opened with h5py (``.h5ad``) or zarr (``.zarr``) and read element by element with
anndata's ``read_elem``. ``uns`` is read entry by entry and, of each entry, only ``params``,
``provenance`` and ``modularity``; ``obs`` contributes its column names (attributes, no data)
and, when data checks are asked for, the columns and ``obs_names`` the audit needs; ``obsp``
matrices are read on first use. ``X``, layers, ``obsm`` and ``varm`` are never opened.
:meth:`FileSource.to_anndata` gathers such parts into a small AnnData (for replay).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import UnreadableFileError

from .index import INDEX_KEY
from .mudata import is_mudata, mudata_source
from .nodes import (
    _child,
    _fast_strings,
    _is_array,
    _names_node,
    _NotPlain,
    _open_root,
    _read_plain,
    _uns_members,
    _versions,
    _ZarrRoot,
)
from .url import is_url

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import pandas as pd
    from anndata import AnnData

    from .mudata import MuDataSource

    Options = Mapping[str, Any] | None  # fsspec storage options of a URL

__all__ = ["AnnDataSource", "FileSource", "UnreadableFileError", "open_file", "open_source"]

PROVENANCE_FIELD = "provenance"  # as in _codec, which this module does not import (pydantic)


def _read_elem() -> Callable[[Any], Any]:
    try:
        from anndata.io import read_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import read_elem
    fn: Callable[[Any], Any] = read_elem  # anndata is untyped
    return fn


@dataclass
class AnnDataSource:
    """An AnnData in memory, seen through the interface the audit uses."""

    adata: AnnData
    check_data: bool = True
    uns_errors: dict[str, str] = field(default_factory=dict)
    label: str = "AnnData object"

    @property
    def uns(self) -> Mapping[str, Any]:
        uns: Mapping[str, Any] = self.adata.uns  # anndata is untyped
        return uns

    @property
    def n_obs(self) -> int:
        return int(self.adata.n_obs)

    def obs_columns(self) -> dict[str, bool]:
        """Column name -> whether it is categorical."""
        import pandas as pd

        return {
            str(c): isinstance(dt, pd.CategoricalDtype) for c, dt in self.adata.obs.dtypes.items()
        }

    def obs_column(self, name: str) -> pd.Series:
        return self.adata.obs[name]

    def obs_names(self) -> Any:
        return self.adata.obs_names

    def var_names(self) -> Any:
        return self.adata.var_names

    def has_obsp(self, key: str) -> bool:
        return key in self.adata.obsp

    def obsp(self, key: str) -> Any:
        return self.adata.obsp[key]

    def has_history_at(self, path: tuple[str, ...]) -> bool:
        """Whether ``uns[path[0]][path[1]]...`` holds a provenance history."""
        node: Any = self.adata.uns
        for part in (*path, PROVENANCE_FIELD):
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return True


class FileSource:
    """The parts of an ``.h5ad`` file or ``.zarr`` store the audit needs, read on demand."""

    def __init__(self, path: Path | str, root: Any, *, check_data: bool, label: str = "") -> None:
        self.path = path
        self.root = root
        self.check_data = check_data
        self.label = label or str(path)
        self._uns_errors: dict[str, str] = {}
        self._uns_entries: dict[str, Any] = {}
        obs = _child(root, "obs", path)
        if _is_array(obs):
            msg = (
                f"{path}: obs is stored as a single table, as anndata < 0.7 wrote; read it with "
                "anndata.read_h5ad and audit the object instead."
            )
            raise UnreadableFileError(msg)
        self._obs = obs
        attrs = dict(obs.attrs)
        self._index_name = str(attrs.get("_index", "_index"))
        order = attrs.get("column-order", [])
        self._columns = [str(c) for c in (order.tolist() if hasattr(order, "tolist") else order)]
        self._obs_names: Any = None
        self._obsp: dict[str, Any] = {}
        self._column_kinds: dict[str, bool] | None = None

    def _read(self, node: Any, what: str) -> Any:
        try:
            return _read_plain(node)
        except _NotPlain:
            pass  # an encoding only anndata knows: let it read the element
        except Exception as e:
            raise self._cannot_read(what, e) from e
        try:
            return _read_elem()(node)
        except Exception as e:
            raise self._cannot_read(what, e) from e

    def _cannot_read(self, what: str, e: Exception) -> UnreadableFileError:
        """The element, the error, and the versions of the readers that failed on it."""
        is_h5 = type(self.root).__module__.split(".")[0] == "h5py"  # a URL's too: no is_dir()
        readers = "h5py" if is_h5 else _versions()
        if not is_h5 and "data type" in str(e):
            how = "a data type the installed zarr cannot parse (written by a newer zarr?)"
            return UnreadableFileError(
                f"{self.path}: cannot read {what}: {how}; installed: {readers} "
                f"({type(e).__name__}: {str(e)[:200]})."
            )
        if readers == "h5py":
            return UnreadableFileError(
                f"{self.path}: cannot read {what} ({type(e).__name__}: {str(e)[:200]})."
            )
        return UnreadableFileError(
            f"{self.path}: cannot read {what} with {readers} ({type(e).__name__}: {str(e)[:200]})."
        )

    def _node(self, group: Any, name: str, what: str) -> Any:
        """A child element; one whose metadata cannot be parsed raises a message naming it."""
        try:
            return group[name]
        except KeyError:
            raise
        except Exception as e:
            raise self._cannot_read(what, e) from e

    @functools.cached_property
    def uns(self) -> dict[str, Any]:
        """``params``, ``provenance`` and ``modularity`` of every ``uns`` entry (read once)."""
        return self._read_uns()

    @property
    def uns_errors(self) -> dict[str, str]:
        """Key -> why its ``uns`` entry could not be read (a finding, not an unreadable file)."""
        _ = self.uns  # the errors are collected while uns is read
        return self._uns_errors

    def _read_uns(self) -> dict[str, Any]:
        if "uns" not in self.root:
            return {}
        group = self.root["uns"]
        uns: dict[str, Any] = {}
        directory = self.root.path / "uns" if isinstance(self.root, _ZarrRoot) else None
        for key, fields in _uns_members(group, directory):
            if not fields:
                if key == INDEX_KEY:  # a small JSON string: which keys had a history
                    with contextlib.suppress(UnreadableFileError):
                        node = self._node(group, key, f"uns[{key!r}]")
                        if _is_array(node):
                            uns[key] = self._read(node, f"uns[{key!r}]")
                continue
            entry = {}
            try:
                node = self._node(group, key, f"uns[{key!r}]")
                for name in fields:
                    what = f"uns[{key!r}][{name!r}]"
                    entry[name] = self._read(self._node(node, name, what), what)
            except UnreadableFileError as e:
                # One damaged entry is a finding for that key, not an unreadable file.
                self._uns_errors[key] = str(e)
            uns[key] = entry
        return uns

    @functools.cached_property
    def n_obs(self) -> int:
        node = _names_node(_child(self._obs, self._index_name, self.path))
        return int(node.shape[0])

    def obs_columns(self) -> dict[str, bool]:
        """Column name -> whether it is categorical, from attributes alone."""
        if self._column_kinds is None:
            kinds = {}
            for c in self._columns:
                if c in self._obs:
                    node = self._obs[c]
                    kinds[c] = (
                        not _is_array(node) and node.attrs.get("encoding-type") == "categorical"
                    )
            self._column_kinds = kinds
        return dict(self._column_kinds)

    def obs_column(self, name: str) -> pd.Series:
        import pandas as pd

        values = self._read(_child(self._obs, name, self.path), f"obs[{name!r}]")
        return pd.Series(values, copy=False)

    def obs_names(self) -> Any:
        if self._obs_names is None:
            self._obs_names = self._names(self._obs, self._index_name, "obs_names")
        return self._obs_names

    def var_names(self) -> Any:  # read only to tell a transposed object (adata.T)
        var = _child(self.root, "var", self.path)
        return self._names(var, str(dict(var.attrs).get("_index", "_index")), "var_names")

    def _names(self, group: Any, index: str, what: str) -> Any:
        node = _names_node(_child(group, index, self.path))
        names = _fast_strings(node)
        return names if names is not None else self._read(node, what)

    def has_obsp(self, key: str) -> bool:
        return "obsp" in self.root and key in self.root["obsp"]

    def obsp(self, key: str) -> Any:
        if key not in self._obsp:
            what = f"obsp[{key!r}]"
            self._obsp[key] = self._read(self._node(self.root["obsp"], key, what), what)
        return self._obsp[key]

    def has_history_at(self, path: tuple[str, ...]) -> bool:
        """Whether the group ``uns/<path...>`` holds a provenance history (nothing is read)."""
        if "uns" not in self.root:
            return False
        node = self.root["uns"]
        try:
            for part in (*path, PROVENANCE_FIELD):
                if _is_array(node) or part not in node:
                    return False
                node = node[part]
        except Exception:  # a damaged or foreign element: no history there that we can tell
            return False
        return True

    def uns_entry(self, key: str) -> Any:
        """The whole of ``uns[key]`` (not only ``params``/``provenance``), or ``None``."""
        if key not in self._uns_entries:
            node = self.root["uns"][key] if "uns" in self.root and key in self.root["uns"] else None
            self._uns_entries[key] = None if node is None else self._read(node, f"uns[{key!r}]")
        return self._uns_entries[key]

    def to_anndata(
        self,
        *,
        uns_keys: Iterable[str] = (),
        columns: Iterable[str] = (),
        graphs: Iterable[str] = (),
    ) -> AnnData:
        """A small AnnData holding ``obs_names`` and the named parts of the file.

        Parameters
        ----------
        uns_keys
            ``uns`` entries to read whole.
        columns
            ``obs`` columns to read.
        graphs
            ``obsp`` matrices to read.

        Returns
        -------
        An AnnData with no variables; names the file lacks are left out. ``X``, layers,
        ``obsm`` and ``varm`` are never read.

        Examples
        --------
        >>> with open_file(Path("pbmc.h5ad")) as src:
        ...     adata = src.to_anndata(uns_keys=["neighbors"], graphs=["connectivities"])
        >>> adata.n_vars, list(adata.obsp)
        (0, ['connectivities'])
        """
        import pandas as pd
        from anndata import AnnData

        index_name = None if self._index_name == "_index" else self._index_name
        obs = pd.DataFrame(index=pd.Index(self.obs_names(), name=index_name).astype(str))
        for c in sorted(set(columns)):
            if c != self._index_name and c in self._obs:
                obs[c] = self._read(self._obs[c], f"obs[{c!r}]")
        uns = {k: self.uns_entry(k) for k in dict.fromkeys(uns_keys)}
        uns = {k: v for k, v in uns.items() if v is not None}
        obsp = {g: self.obsp(g) for g in sorted(set(graphs)) if self.has_obsp(g)}
        return AnnData(obs=obs, obsp=obsp or None, uns=uns or None)


@contextlib.contextmanager
def open_source(
    obj: Any, *, check_data: bool = True, storage_options: Options = None
) -> Iterator[AnnDataSource | FileSource | MuDataSource]:
    """Open an AnnData or a path for the audit.

    Parameters
    ----------
    obj
        An AnnData or MuData, or the path of an ``.h5ad``/``.h5mu`` file or ``.zarr`` store
        (a MuData gives a :class:`~.mudata.MuDataSource`: its root and modalities as parts).
    check_data
        Whether labels and graphs are to be compared with the records. For a path, without
        it only ``uns`` and the names of the ``obs`` columns are read.
    storage_options
        For a URL (``https://``, ``s3://``, ``gs://``): options of its fsspec filesystem
        (e.g. ``{"anon": True}``, ``{"endpoint_url": ...}``); see :mod:`.remote`.

    Examples
    --------
    >>> with open_source("pbmc.h5ad", check_data=False) as src:
    ...     sorted(src.uns)
    ['leiden_0.5', 'leiden_0.8', 'leiden_1.0', 'louvain', 'neighbors', 'provenance_index', ...]
    """
    if not isinstance(obj, str | Path):
        if is_mudata(obj):
            mods = {
                str(m): AnnDataSource(a, check_data=check_data, label=f"MuData object, mod {m!r}")
                for m, a in obj.mod.items()
            }
            root = AnnDataSource(obj, check_data=check_data, label="MuData object")
            yield mudata_source(root, mods)
            return
        if not all(hasattr(obj, a) for a in ("uns", "obs", "obsp", "obs_names")):
            msg = f"expected an AnnData or a path, got a {type(obj).__qualname__}."
            raise TypeError(msg)
        yield AnnDataSource(obj, check_data=check_data)
        return
    with _open_path(obj, check_data=check_data, mudata=True, options=storage_options) as src:
        yield src


def _mudata_file(path: Path | str, root: Any, *, check_data: bool) -> MuDataSource:
    """An ``.h5mu`` file or mudata ``.zarr`` store: the root's and each ``mod/<name>``'s parts.

    mudata writes ``mod-order`` on ``mod``; modalities it does not name follow, sorted.
    """
    mods: dict[str, FileSource] = {}
    if "mod" in root:
        group = _child(root, "mod", path)
        order = group.attrs.get("mod-order")
        names = [str(m) for m in (order.tolist() if hasattr(order, "tolist") else order or ())]
        names = [m for m in names if m in group] + sorted(str(m) for m in group if m not in names)
        for m in names:
            node = _ZarrRoot(root.path / "mod" / m) if isinstance(root, _ZarrRoot) else group[m]
            mods[m] = FileSource(path, node, check_data=check_data, label=f"{path} mod/{m}")
    return mudata_source(FileSource(path, root, check_data=check_data), mods)


@contextlib.contextmanager
def open_file(
    path: Path | str, *, check_data: bool = True, storage_options: Options = None
) -> Iterator[FileSource]:
    """Open an ``.h5ad`` file or ``.zarr`` store; errors inside the block pass through as raised.

    A MuData file is refused (:func:`open_source` reads it, for the audit).

    Examples
    --------
    >>> with open_file(Path("pbmc.zarr")) as src:
    ...     src.n_obs
    700
    """
    with _open_path(path, check_data=check_data, mudata=False, options=storage_options) as src:
        assert isinstance(src, FileSource)
        yield src


@contextlib.contextmanager
def _open_path(
    path: Path | str, *, check_data: bool, mudata: bool, options: Options = None
) -> Iterator[FileSource | MuDataSource]:
    path = path if is_url(path) else Path(path)  # a URL stays a string (it has no is_dir())
    with _open_root(path, storage_options=options) as root:
        kind = root.attrs.get("encoding-type")
        if kind == "MuData" and mudata:
            yield _mudata_file(path, root, check_data=check_data)
            return
        if kind is not None and kind != "anndata":
            msg = f"{path}: holds a {kind!r} element, not an AnnData object."
            if kind == "MuData":
                msg += " Read it with mudata.read_h5mu and pass mdata.mod[name] (an AnnData)."
            raise UnreadableFileError(msg)
        yield FileSource(path, root, check_data=check_data)
