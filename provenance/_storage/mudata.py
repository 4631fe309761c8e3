"""A MuData (in memory, ``.h5mu`` or mudata's ``.zarr``) seen as parts the audit already reads.

A MuData is a root (``obs``, ``obsp``, ``uns`` of the whole object, where muon's multiplex
clusterings land) and modalities (``mod/<name>``), each an AnnData. Each part is exposed as the
source the AnnData path uses (:class:`~.files.AnnDataSource` or :class:`~.files.FileSource` over
``mod/<name>``), wrapped in a :class:`PartView` that names a modality's keys as muon names a
modality's columns, ``"<mod>:<key>"``: every check runs unchanged on a part, and its findings
name the key as the user passes it. Only what the AnnData path reads is read; ``X`` is never
opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .index import INDEX_KEY

if TYPE_CHECKING:
    import pandas as pd

    from .files import AnnDataSource, FileSource

__all__ = ["MuDataSource", "PartView", "is_mudata", "split_key"]

SEP = ":"  # muon's separator of a modality's name and its column ("rna:leiden")


def is_mudata(obj: Any) -> bool:
    """Whether ``obj`` is a MuData (duck-typed: mudata is not imported for the check)."""
    return isinstance(getattr(obj, "mod", None), Mapping) and hasattr(obj, "uns")


def split_key(key: str, modalities: Any) -> tuple[str | None, str]:
    """``"rna:leiden"`` -> ``("rna", "leiden")`` when ``rna`` is a modality, else ``(None, key)``.

    ``modalities`` is anything ``in`` answers for (``mdata.mod``, a list of names).
    """
    mod, sep, local = key.partition(SEP)
    if sep and local and mod in modalities:
        return mod, local
    return None, key


@dataclass
class PartView:
    """One part of a MuData: the root (``modality=None``) or ``mod/<modality>``.

    Keys (``uns`` entries, ``obs`` columns, ``uns_errors``) are prefixed ``"<modality>:"``;
    ``obsp``, ``obs_names`` and ``n_obs`` are the part's own. The root hides the
    ``"<mod>:<column>"`` copies mudata < 0.4 pulls into ``mdata.obs`` (the modality's own
    column is audited), and knows the modalities (:attr:`modalities`) for multiplex graphs.
    """

    inner: AnnDataSource | FileSource
    modality: str | None = None
    modalities: Mapping[str, PartView] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return "" if self.modality is None else self.modality + SEP

    @property
    def label(self) -> str:
        return self.inner.label

    @property
    def check_data(self) -> bool:
        return bool(self.inner.check_data)

    def local(self, key: str) -> str:
        """The key inside the part (``"rna:leiden"`` -> ``"leiden"`` in ``rna``)."""
        return key.removeprefix(self.prefix)

    def _hidden(self, key: str) -> bool:
        return self.modality is None and split_key(key, self.modalities)[0] is not None

    @property
    def uns(self) -> Mapping[str, Any]:
        uns = self.inner.uns
        if self.modality is None:
            return uns
        return {self.prefix + str(k): v for k, v in uns.items() if k != INDEX_KEY}

    @property
    def local_uns(self) -> Mapping[str, Any]:
        """The part's ``uns`` under its own keys (where its ``provenance_index`` is)."""
        return self.inner.uns

    @property
    def uns_errors(self) -> dict[str, str]:
        return {self.prefix + k: v for k, v in self.inner.uns_errors.items()}

    @property
    def n_obs(self) -> int:
        return self.inner.n_obs

    def obs_columns(self) -> dict[str, bool]:
        return {
            self.prefix + c: cat
            for c, cat in self.inner.obs_columns().items()
            if not self._hidden(c)
        }

    def obs_column(self, name: str) -> pd.Series:
        return self.inner.obs_column(self.local(name))

    def obs_names(self) -> Any:
        return self.inner.obs_names()

    def has_obsp(self, key: str) -> bool:
        return self.inner.has_obsp(key)

    def obsp(self, key: str) -> Any:
        return self.inner.obsp(key)

    def has_history_at(self, path: tuple[str, ...]) -> bool:
        if not path:
            return False
        return self.inner.has_history_at((self.local(path[0]), *path[1:]))


@dataclass
class MuDataSource:
    """A MuData's parts: the root first, then each modality in ``mdata.mod`` order."""

    root: PartView
    label: str
    check_data: bool

    @property
    def parts(self) -> tuple[PartView, ...]:
        return (self.root, *self.root.modalities.values())

    @property
    def n_obs(self) -> int:
        return self.root.n_obs

    def part_of(self, key: str) -> PartView:
        """The part ``key`` lives in: a modality for ``"<mod>:<key>"``, else the root."""
        mod, _ = split_key(key, self.root.modalities)
        return self.root if mod is None else self.root.modalities[mod]


def mudata_source(
    root: AnnDataSource | FileSource,
    mods: Mapping[str, AnnDataSource | FileSource],
) -> MuDataSource:
    """Wrap the root's and the modalities' sources into one :class:`MuDataSource`."""
    views = {m: PartView(s, m) for m, s in mods.items()}
    view = PartView(root, None, views)
    return MuDataSource(view, label=root.label, check_data=bool(root.check_data))
