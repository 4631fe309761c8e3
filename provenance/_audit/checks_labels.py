"""The labels check: a change of label strings is a finding, category bookkeeping is not.

A hypothesis about each cell's recorded label is *proven* by recomputing the record's labels
digest from it; renames are told from reassignments that way (see :func:`check_labels`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalogue import Finding
from .checks_data import transposed
from .context import check

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import numpy as np

    from provenance._schema.models import ClusteringRecord

    from .context import KeyContext

__all__ = ["check_labels"]

# Assignments among clusters of equal size tried, at most, to prove which recorded name each
# renamed cluster had: each is one labels digest (about 0.1 s at 1M cells).
_MAX_MAPPINGS = 6


@check("labels_missing", "labels_renamed", "labels_changed", "subset_or_reordered")
def check_labels(ctx: KeyContext) -> list[Finding]:
    """The labels of the latest record: gone (error), renamed (warning) or reassigned (error).

    Compared only when the data are checked and the object holds the cells that were
    clustered (else ``subset_or_reordered`` says why not), and when the record's labels
    digest uses the algorithm this version computes.
    """
    from provenance._util.fingerprint import HASH_ALGORITHM

    rec = ctx.latest
    if rec is None or not ctx.check_data:
        return []
    if not ctx.in_obs:
        if ctx.audit.transposed(rec.result.obs_names_digest):
            return [transposed(ctx, rec)]  # nothing is missing: the cells are the variables
        msg = (
            f"obs[{ctx.key!r}] is gone: the labels of version {rec.version} are no longer in "
            "the object; restore them or re-run the clustering inside provenance.record(adata)."
        )
        return [Finding("labels_missing", ctx.key, msg)]
    if not ctx.same_cells or rec.result.hash_algorithm != HASH_ALGORITHM:
        return []
    return _compare_labels(ctx, rec)


def _compare_labels(ctx: KeyContext, rec: ClusteringRecord) -> list[Finding]:
    """The labels against the record: a change of label strings is a finding, bookkeeping is not.

    The record keeps the labels digest (codes, categories, obs_names), the partition digest
    (who is clustered with whom), and the categories with their sizes. A hypothesis about
    each cell's recorded label is *proven* by recomputing the labels digest from it:

    - every cell keeps its label string (the record's categories looked up by name): the
      categories were reordered, or unused ones added or removed; no finding;
    - same partition, other strings: a rename (``labels_renamed``, a warning), whose old→new
      mapping is found by matching clusters by membership (position, then name and size) and
      proven the same way;
    - another partition: cells were reassigned (merged, split, edited, unlabelled):
      ``labels_changed``.
    """
    import numpy as np
    import pandas as pd

    from provenance._util.fingerprint import label_digests

    key, src, names_digest = ctx.key, ctx.src, ctx.audit.names_digest()
    then = rec.result
    column = src.obs_column(key)
    now = label_digests(column, src.obs_names(), names_digest=names_digest)
    if now["labels_digest"] == then.labels_digest:
        return []
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    codes = np.asarray(column.array.codes, dtype=np.int64)
    names = [str(c) for c in column.array.categories]
    sizes_now = np.bincount(codes[codes >= 0], minlength=len(names))
    n_now = int(np.count_nonzero(sizes_now))

    def proven(lut: np.ndarray) -> bool:
        return _proves(lut, codes, then, names_digest)

    if now["partition_digest"] != then.partition_digest:
        return [_reassigned(key, rec, names, n_now, int(np.count_nonzero(codes < 0)))]
    position = {c: i for i, c in enumerate(then.categories)}
    by_name = np.array([position.get(c, -1) for c in names], dtype=np.int64)
    if proven(by_name):
        return []  # reordered, or unused categories added/removed: every cell keeps its label
    lut = next((c for c in _rename_candidates(names, sizes_now, then) if proven(c)), None)
    mapping = None
    if lut is not None:
        used = np.flatnonzero(sizes_now)
        pairs = sorted((int(lut[c]), names[c]) for c in used)
        mapping = {then.categories[j]: new for j, new in pairs if then.categories[j] != new}
    return [_renamed(key, rec, names, n_now, mapping)]


def _proves(lut: np.ndarray, codes: np.ndarray, then: Any, names_digest: str) -> bool:
    """Whether relabelling the cells by ``lut`` (code now → recorded category) gives the record."""
    import numpy as np
    import pandas as pd

    from provenance._util.fingerprint import label_digests

    table = np.append(lut, -1)  # code -1 (no label) picks the last slot
    recoded = table[codes]
    if np.any((codes >= 0) & (recoded < 0)):
        return False  # a labelled cell has no recorded name under this hypothesis
    try:
        labels = pd.Series(pd.Categorical.from_codes(recoded, categories=then.categories))
    except (ValueError, TypeError):
        return False  # e.g. recorded category names that are not unique as strings
    digests = label_digests(labels, pd.Index([]), names_digest=names_digest)
    return bool(digests["labels_digest"] == then.labels_digest)


def _rename_candidates(names: list[str], sizes_now: np.ndarray, then: Any) -> Iterator[np.ndarray]:
    """Assignments of current categories to recorded ones, cheapest first, each to be proven.

    By position (``cat.rename_categories``); then cluster by cluster among the recorded
    clusters of the same size, the same name first; then, while few enough, every other
    assignment among clusters of equal size. Only a proven one is reported.
    """
    import itertools
    import math

    import numpy as np

    sizes_then = list(then.cluster_sizes)
    used = [int(c) for c in np.flatnonzero(sizes_now)]
    groups_now: dict[int, list[int]] = {}
    for c in used:
        groups_now.setdefault(int(sizes_now[c]), []).append(c)
    groups_then: dict[int, list[int]] = {}
    for j, s in enumerate(sizes_then):
        if s > 0:
            groups_then.setdefault(int(s), []).append(j)
    if {s: len(g) for s, g in groups_now.items()} != {s: len(g) for s, g in groups_then.items()}:
        return  # the cluster sizes differ: no assignment can hold

    def lut_of(pairs: Iterable[tuple[int, int]]) -> np.ndarray:
        lut = np.full(len(names), -1, dtype=np.int64)
        for c, j in pairs:
            lut[c] = j
        return lut

    seen: set[bytes] = set()

    def fresh(lut: np.ndarray) -> bool:
        b = lut.tobytes()
        if b in seen:
            return False
        seen.add(b)
        return True

    if all(c < len(sizes_then) and sizes_then[c] == sizes_now[c] for c in used):
        pos = lut_of((c, c) for c in used)
        if fresh(pos):
            yield pos
    greedy = []
    for s, now_group in groups_now.items():
        free = list(groups_then[s])
        named: dict[str, int | None] = {then.categories[j]: j for j in free}
        rest: list[int] = []
        for c in now_group:
            same_name = named.pop(names[c], None)
            if same_name is None:
                rest.append(c)
            else:
                free.remove(same_name)
                greedy.append((c, same_name))
        greedy.extend(zip(rest, free, strict=True))
    first = lut_of(greedy)
    if fresh(first):
        yield first
    total = math.prod(math.factorial(len(g)) for g in groups_now.values())
    if total > _MAX_MAPPINGS:
        return
    sizes = list(groups_now)
    for combo in itertools.product(*(itertools.permutations(groups_then[s]) for s in sizes)):
        pairs = (
            (c, j)
            for s, chosen in zip(sizes, combo, strict=True)
            for c, j in zip(groups_now[s], chosen, strict=True)
        )
        lut = lut_of(pairs)
        if fresh(lut):
            yield lut


def _renamed(
    key: str, rec: ClusteringRecord, names: list[str], n_now: int, mapping: dict[str, str] | None
) -> Finding:
    then = rec.result
    if mapping is not None:
        renamed = [f"{a}→{b}" for a, b in mapping.items()]
        shown = ", ".join(renamed[:6]) + (", …" if len(renamed) > 6 else "")
        what = f"{len(renamed)} of {then.n_clusters} clusters: {shown}"
    else:
        what = (
            f"{then.n_clusters} clusters; which old name became which new one cannot be proven "
            "from the record, as clusters of equal size could swap"
        )
    msg = (
        f"obs[{key!r}]: clusters were renamed since clustering ({what}); every cell is in the "
        "cluster it was given, so nothing is wrong with the clustering, and the record "
        "describes these labels under their old names. Keep annotations under a new key "
        f"(adata.obs['cell_type'] = ...) so the record keeps describing obs[{key!r}]."
    )
    details = {
        "kind": "rename",
        "n_clusters_then": then.n_clusters,
        "n_clusters_now": n_now,
        "categories_then": then.categories[:50],
        "categories_now": names[:50],
        "mapping": mapping,
    }
    return Finding("labels_renamed", key, msg, details)


def _reassigned(
    key: str, rec: ClusteringRecord, names: list[str], n_now: int, unlabelled: int
) -> Finding:
    then = rec.result
    lost = unlabelled - (then.n_obs - sum(then.cluster_sizes))  # NaN now beyond the recorded
    counts = f"{then.n_clusters} clusters then, {n_now} now"
    if lost > 0:
        what = (
            f"{lost} cell{'s' * (lost != 1)} lost {'their labels' if lost != 1 else 'its label'} "
            f"(NaN in obs[{key!r}]; {counts})"
        )
    else:
        what = f"clusters merged, split or edited by hand; {counts}"
    msg = (
        f"obs[{key!r}]: cells were reassigned since clustering ({what}); the record no longer "
        "describes these labels. Re-run the clustering inside provenance.record(adata), or "
        "store hand edits under a new key."
    )
    details = {
        "kind": "reassignment",
        "n_clusters_then": then.n_clusters,
        "n_clusters_now": n_now,
        "n_unlabelled": unlabelled,
        "categories_then": then.categories[:50],
        "categories_now": names[:50],
    }
    return Finding("labels_changed", key, msg, details)
