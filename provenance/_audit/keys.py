"""Which keys of an object are clusterings or steps, and which of them an audit was asked for.

A key whose history records a step around a clustering (``sc.pp.neighbors``, markers,
dendrogram, PAGA) is a step key (:func:`step_kind`), audited apart from the clusterings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from provenance._base.errors import UnknownKeyError
from provenance._storage.history import has_history
from provenance._targets.registry import candidate_key

if TYPE_CHECKING:
    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    Source = AnnDataSource | FileSource | PartView

__all__ = [
    "clustering_keys",
    "clustering_params",
    "is_step",
    "looks_like_clustering",
    "step_kind",
    "wanted_keys",
]


def step_kind(entry: Any) -> str | None:
    """The kind of step whose history ``entry`` holds (``"neighbors"``, ``"paga"``, ...);
    ``None`` for a clustering's history or none.

    The last record that can be parsed says it, so a history whose newest entry is damaged
    is still audited as the step's (and its damage reported there).
    """
    import json

    from provenance._base.errors import ProvenanceError
    from provenance._storage.codec import PROVENANCE_FIELD, history_texts

    if not has_history(entry):
        return None
    try:
        texts = history_texts(entry[PROVENANCE_FIELD], key="?")
    except ProvenanceError:
        return None
    for text in reversed(texts):
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            kind = obj.get("kind", "clustering")
            return kind if isinstance(kind, str) and kind != "clustering" else None
    return None


def is_step(entry: Any) -> bool:
    """Whether ``entry`` holds the history of a step, not of a clustering."""
    return step_kind(entry) is not None


def looks_like_clustering(name: str) -> bool:
    """Whether a categorical ``obs`` column's name says a clustering made it.

    The one place a name is taken as a hint (an unrecorded column without scanpy's params):
    it starts with a registered target's default key.
    """
    return candidate_key(name)


def clustering_params(entry: Any) -> bool:
    """scanpy's Leiden/Louvain params: a ``resolution`` (``pp.neighbors`` has none)."""
    if not isinstance(entry, Mapping) or "connectivities_key" in entry:
        return False
    params = entry.get("params")
    return isinstance(params, Mapping) and "resolution" in params


def wanted_keys(key: Any) -> tuple[str, ...] | None:
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


def clustering_keys(src: Source, key: str | None, index: Mapping[str, Any]) -> list[str]:
    """The keys to audit: ``[key]`` if given (it must exist), else every clustering key.

    A clustering key has a history, an unreadable ``uns`` entry, an entry in the index, or
    is a categorical ``obs`` column named or parametrised like a clustering; ``uns`` entries
    without a column count when they hold a history or scanpy's clustering params.

    Raises
    ------
    UnknownKeyError
        ``key`` is neither in ``obs`` nor in ``uns``.
    """
    uns, columns = src.uns, src.obs_columns()
    if key is not None:
        if key not in uns and key not in columns and key not in src.uns_errors:
            known = clustering_keys(src, None, index)
            msg = (
                f"{key!r} is neither in obs nor in uns; clustering keys here: "
                f"{', '.join(map(repr, known)) or 'none'}."
            )
            raise UnknownKeyError(msg)
        return [key]
    keys = []
    for col, categorical in columns.items():
        entry = uns.get(col)
        if is_step(entry):
            continue  # a step wrote uns[col]; the column is another key's
        if (
            has_history(entry)
            or col in src.uns_errors
            or col in index
            or (categorical and (looks_like_clustering(col) or clustering_params(entry)))
        ):
            keys.append(col)
    for k, entry in uns.items():
        if k not in columns and (
            (has_history(entry) and not is_step(entry))
            or k in src.uns_errors
            or clustering_params(entry)
        ):
            keys.append(k)
    return keys
