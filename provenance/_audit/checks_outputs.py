"""``output_changed``: what a recorded step wrote, against the digest its record keeps.

A recorded ``sc.tl.umap`` keeps a digest of ``obsm['X_umap']`` (``EmbeddingRecord.embedding``).
When the matrix in the object hashes otherwise, it was edited or replaced outside
``record()``: the record no longer describes it. A matrix that is gone is not reported
(nothing is left to contradict the record); other cells are ``subset_or_reordered``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalogue import Finding
from .context import check
from .neighbors import call_text, short_function, when

if TYPE_CHECKING:
    from .context import StepContext

__all__ = ["check_output"]


@check("output_changed")
def check_output(ctx: StepContext) -> list[Finding]:
    """What a recorded step wrote (``sc.tl.umap``'s ``obsm['X_umap']``) against the digest
    its latest record keeps. Gone is not reported (nothing left to contradict the record)."""
    from provenance._schema.models import EmbeddingRecord
    from provenance._util.fingerprint import HASH_ALGORITHM, array_digest

    rec = ctx.latest
    if not isinstance(rec, EmbeddingRecord) or rec.embedding is None:
        return []
    out = rec.embedding
    if not ctx.check_data or not ctx.same_cells or out.hash_algorithm != HASH_ALGORITHM:
        return []
    from provenance._storage.matrices import source_obsm

    matrix = source_obsm(ctx.src, out.name)
    if matrix is None:
        return []
    import numpy as np

    if hasattr(matrix, "to_numpy"):  # an obsm DataFrame
        matrix = matrix.to_numpy()
    now = array_digest(np.asarray(matrix))
    if now == out.digest:
        return []
    fn = short_function(rec.function)
    shape = tuple(int(n) for n in np.shape(matrix))
    how = (
        f"{shape[0]}x{shape[1]} {np.asarray(matrix).dtype} now, {out.n_obs}x{out.n_dims} "
        f"{out.dtype} then"
        if len(shape) == 2 and (shape != (out.n_obs, out.n_dims) or str(matrix.dtype) != out.dtype)
        else "its values changed"
    )
    rerun = call_text(rec.function, _output_args(rec))
    msg = (
        f"uns[{ctx.key!r}]: obsm[{out.name!r}], which {fn} wrote (version {rec.version}, at "
        f"{when(rec.finished_at or rec.started_at)}), changed since ({how}): edited, or "
        f"replaced outside provenance.record(), so the record no longer describes it. Re-run "
        f"{rerun} inside provenance.record(adata), or restore it."
    )
    details = {
        "function": rec.function,
        "version": rec.version,
        "output": f"obsm[{out.name!r}]",
        "obsm_key": out.name,
        "digest_then": out.digest,
        "digest_now": now,
        "rerun": rerun,
    }
    return [Finding("output_changed", ctx.key, msg, details)]


def _output_args(rec: Any) -> dict[str, Any]:
    """The arguments of an embedding's re-run that say where it goes and what it reads."""
    # layout/key_added_ext: sc.tl.draw_graph's matrix; use_rep/n_pcs: sc.tl.tsne's input.
    names = ("key_added", "neighbors_key", "layout", "key_added_ext", "use_rep", "n_pcs")
    args = {n: rec.arguments.get(n) for n in names}
    return {n: v for n, v in args.items() if v and v != "neighbors"}
