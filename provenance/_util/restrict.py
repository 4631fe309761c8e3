"""What the labels of a ``restrict_to`` clustering tell of the parent labels the call read.

``sc.tl.leiden(adata, restrict_to=("leiden", ["0", "1"]), key_added="sub")`` (and
``sc.tl.louvain``) re-clusters the cells of ``obs["leiden"]`` in categories ``"0"`` and ``"1"``;
scanpy (1.9 to 1.12) writes ``"0-1,<id>"`` for a restricted cell (the categories joined by
``-``, a comma, the sub-cluster) and the parent's label, as ``astype("U")`` makes it, for every
other. So labels as the call wrote them say which cells were restricted and the parent's
label of every other cell: :func:`parent_read` compares that with the parent column now. The
audit (a stale sub-clustering) and replay (whose re-run reads the parent as it is now) use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ParentRead", "parent_read"]


@dataclass(frozen=True)
class ParentRead:
    """What the labels of a ``restrict_to`` clustering tell of its parent column now."""

    state: Literal["same", "renamed", "changed"]
    """``"same"``: every cell's parent label is the one the call read (category order and
    unused categories aside); ``"renamed"``: the same cells restricted and the same partition
    of the others, under other names; ``"changed"``: other cells restricted, or the others
    grouped otherwise."""
    categories_now: tuple[str, ...] = ()
    """The parent's labels now of the restricted cells (its category order)."""
    mapping: dict[str, str] | None = None
    """For ``"renamed"``: old → new name of each unrestricted category renamed, and of the
    restricted category when a single one was restricted."""


def parent_read(child: Any, parent: Any, categories: list[str]) -> ParentRead:
    """Compare the labels a ``restrict_to`` call wrote (``child``) with its parent column now.

    ``child`` and ``parent`` are ``obs`` columns of the same cells; ``categories`` the
    recorded ``restrict_to`` categories.
    """
    import numpy as np
    import pandas as pd

    c, p = _strings(child), _strings(parent)
    prefix = "-".join(categories) + ","
    inside = np.fromiter((s.startswith(prefix) for s in c), dtype=bool, count=len(c))
    names_now = _in_order(parent, p[inside])
    if np.array_equal(np.isin(p, categories), inside) and np.array_equal(p[~inside], c[~inside]):
        return ParentRead("same", names_now)
    pairs = pd.DataFrame({"then": c[~inside], "now": p[~inside]}).drop_duplicates()
    same_partition = (
        not np.isin(p[~inside], list(names_now)).any()
        and pairs["then"].is_unique
        and pairs["now"].is_unique
    )
    if not same_partition:
        return ParentRead("changed", names_now)
    mapping = {str(a): str(b) for a, b in zip(pairs["then"], pairs["now"], strict=True) if a != b}
    if len(categories) == 1 and len(names_now) == 1 and categories[0] != names_now[0]:
        mapping[categories[0]] = names_now[0]
    return ParentRead("renamed", names_now, mapping)


def _strings(column: Any) -> np.ndarray:
    """Each cell's label as scanpy's ``astype("U")`` writes it: a string, ``"nan"`` where
    missing (pandas 3's ``astype(str)`` would keep it missing)."""
    import numpy as np
    import pandas as pd

    column = pd.Series(column)
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    names = [str(x) for x in column.cat.categories] + ["nan"]
    codes = np.asarray(column.cat.codes, dtype=np.int64)  # -1 (missing) picks "nan"
    return np.asarray(names, dtype=object)[codes]


def _in_order(parent: Any, names: np.ndarray) -> tuple[str, ...]:
    """The distinct ``names`` in the order of the parent's categories."""
    present = set(names.tolist())
    cats = getattr(getattr(parent, "cat", None), "categories", None)
    order = [str(x) for x in cats] if cats is not None else sorted(present)
    seen = [x for x in order if x in present]
    return tuple(seen + sorted(present - set(seen)))
