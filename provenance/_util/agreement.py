"""How well two partitions of the same cells agree: contingency, ARI, NMI, best-match Jaccard.

Computed with numpy from the contingency table, so scikit-learn is not needed. The formulas
are the usual ones: ARI of Hubert and Arabie (1985); NMI with the arithmetic mean of the two
entropies as normaliser (scikit-learn's default), natural logarithms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "Agreement",
    "adjusted_rand_index",
    "agreement",
    "contingency",
    "normalized_mutual_info",
]

MISSING_LABEL = "<NA>"


@dataclass(frozen=True, eq=False)
class Agreement:
    """The agreement of a reference labelling (rows) with another one (columns)."""

    contingency: pd.DataFrame
    """Cells per (reference label, other label)."""
    identical: bool
    """The same partition up to label names: one non-zero cell per row and per column."""
    ari: float
    """Adjusted Rand index, 1.0 for identical partitions."""
    nmi: float
    """Normalised mutual information (arithmetic mean), 1.0 for identical partitions."""
    best_match: pd.DataFrame
    """Per reference label: the other label with the highest Jaccard index, and that index."""


def _as_categorical(labels: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and string names of a label column; missing values get their own label."""
    import numpy as np
    import pandas as pd

    cat = labels.astype("category") if not isinstance(labels.dtype, pd.CategoricalDtype) else labels
    codes = np.asarray(cat.cat.codes, dtype=np.int64)
    names = [str(c) for c in cat.cat.categories]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(MISSING_LABEL)
    return codes, names


def contingency(reference: pd.Series, other: pd.Series) -> pd.DataFrame:
    """Cells per (reference label, other label); only labels that occur are kept.

    Examples
    --------
    >>> contingency(pd.Series(list("aab")), pd.Series(list("xyy"))).to_numpy().tolist()
    [[1, 1], [0, 1]]
    """
    import numpy as np
    import pandas as pd

    if len(reference) != len(other):
        msg = f"cannot compare labellings of {len(reference)} and {len(other)} cells"
        raise ValueError(msg)
    rc, rn = _as_categorical(reference)
    oc, on = _as_categorical(other)
    table = np.zeros((len(rn), len(on)), dtype=np.int64)
    np.add.at(table, (rc, oc), 1)
    rows, cols = table.sum(axis=1) > 0, table.sum(axis=0) > 0
    return pd.DataFrame(
        table[rows][:, cols],
        index=pd.Index([n for n, k in zip(rn, rows, strict=True) if k], name="recorded"),
        columns=pd.Index([n for n, k in zip(on, cols, strict=True) if k], name="replayed"),
    )


def _pairs(counts: np.ndarray) -> int:
    """Sum of n*(n-1)/2 over the counts, exactly (Python integers)."""
    import numpy as np

    c = np.asarray(counts, dtype=np.int64).ravel()
    return int(np.sum(c * (c - 1) // 2, dtype=np.int64))


def adjusted_rand_index(table: np.ndarray) -> float:
    """Adjusted Rand index of a contingency table.

    Both partitions with a single cluster, or both with every cell alone, count as a perfect
    match (1.0), as in scikit-learn.

    Examples
    --------
    >>> adjusted_rand_index(np.array([[2, 0], [0, 2]]))
    1.0
    """
    import numpy as np

    t = np.asarray(table, dtype=np.int64)
    n = int(t.sum())
    index = _pairs(t)
    rows, cols = _pairs(t.sum(axis=1)), _pairs(t.sum(axis=0))
    total = n * (n - 1) // 2
    if total == 0:
        return 1.0
    expected = rows * cols / total
    maximum = (rows + cols) / 2
    if maximum == expected:  # both trivial: nothing to adjust for
        return 1.0
    return float((index - expected) / (maximum - expected))


def normalized_mutual_info(table: np.ndarray) -> float:
    """Normalised mutual information of a contingency table (arithmetic-mean normaliser).

    Examples
    --------
    >>> normalized_mutual_info(np.array([[2, 0], [0, 2]]))
    1.0
    """
    import numpy as np

    t = np.asarray(table, dtype=np.float64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] == t.shape[1] == 1 or t.size == 0:
        return 1.0
    n = t.sum()
    a, b = t.sum(axis=1), t.sum(axis=0)
    i, j = np.nonzero(t)
    nij = t[i, j]
    mi = float(np.sum(nij / n * (np.log(nij) + np.log(n) - np.log(a[i]) - np.log(b[j]))))
    ha = float(-np.sum(a / n * (np.log(a) - np.log(n))))
    hb = float(-np.sum(b / n * (np.log(b) - np.log(n))))
    if mi <= 0.0:
        return 0.0
    normaliser = max((ha + hb) / 2, np.finfo(np.float64).eps)
    return float(min(1.0, mi / normaliser))


def _best_match(table: pd.DataFrame) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    t = table.to_numpy(dtype=np.float64)
    a, b = t.sum(axis=1, keepdims=True), t.sum(axis=0, keepdims=True)
    jaccard = t / (a + b - t)
    best = jaccard.argmax(axis=1) if t.size else np.zeros(0, dtype=int)
    return pd.DataFrame(
        {
            "size": t.sum(axis=1).astype(np.int64),
            "best_match": [str(table.columns[k]) for k in best],
            "jaccard": jaccard[np.arange(len(best)), best] if t.size else [],
        },
        index=table.index,
    )


def agreement(reference: pd.Series, other: pd.Series) -> Agreement:
    """Compare two labellings of the same cells (in the same order).

    Examples
    --------
    >>> agreement(pd.Series(list("aabb")), pd.Series(list("xxyy"))).identical
    True
    """
    table = contingency(reference, other)
    t = table.to_numpy()
    identical = bool(
        t.shape[0] == t.shape[1]
        and ((t > 0).sum(axis=1) == 1).all()
        and ((t > 0).sum(axis=0) == 1).all()
    )
    ari = adjusted_rand_index(t)
    # Floating-point entropies of equal partitions can miss 1.0 by an ulp; the table decides.
    nmi = 1.0 if identical else normalized_mutual_info(t)
    return Agreement(
        contingency=table,
        identical=identical,
        ari=ari,
        nmi=nmi,
        best_match=_best_match(table),
    )
