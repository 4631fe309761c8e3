"""``scanpy.pp.recipe_zheng17``, ``recipe_seurat``, ``recipe_weinreb17``: a whole preprocessing
in one call, recorded as one transform.

A recipe runs several steps itself: some through ``scanpy.pp`` (``filter_cells``, ``log1p``,
``scale``: patched), others through imports the recorder does not patch (``normalize_total``,
the deprecated ``filter_genes_dispersion``, a subset of the genes in place). Recorded step by
step, the chain would show a gap where the unpatched ones changed ``X``. So a recipe is
*opaque* (:attr:`~provenance._targets.base.RecordedFunction.opaque`): one
:class:`~provenance.TransformRecord` of the whole call (what it read, what it wrote, the
object's size before it when it subset the genes), under ``uns['recipe_<name>']``, and the
recorded functions it calls are part of it, not recorded on their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from .scanpy_pp import TransformTarget

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ScanpyRecipeSeurat", "ScanpyRecipeWeinreb17", "ScanpyRecipeZheng17"]


class _Recipe(TransformTarget):
    opaque = True

    def reads(self, adata: Any, named: Mapping[str, Any]) -> list[str]:
        return ["X"]


class ScanpyRecipeZheng17(_Recipe):
    """``scanpy.pp.recipe_zheng17(adata, *, n_top_genes, log, plot, copy)``."""

    attr = "recipe_zheng17"
    function = "scanpy.pp.recipe_zheng17"
    default_key = "recipe_zheng17"
    defaults: ClassVar[Mapping[str, Any]] = {
        "n_top_genes": 1000,
        "log": True,
        "plot": False,
        "copy": False,
    }


class ScanpyRecipeSeurat(_Recipe):
    """``scanpy.pp.recipe_seurat(adata, *, log, plot, copy)``."""

    attr = "recipe_seurat"
    function = "scanpy.pp.recipe_seurat"
    default_key = "recipe_seurat"
    defaults: ClassVar[Mapping[str, Any]] = {"log": True, "plot": False, "copy": False}


class ScanpyRecipeWeinreb17(_Recipe):
    """``scanpy.pp.recipe_weinreb17(adata, *, log, mean_threshold, cv_threshold, n_pcs,
    svd_solver, random_state, copy)``."""

    attr = "recipe_weinreb17"
    function = "scanpy.pp.recipe_weinreb17"
    default_key = "recipe_weinreb17"
    defaults: ClassVar[Mapping[str, Any]] = {
        "log": True,
        "mean_threshold": 0.01,
        "cv_threshold": 2,
        "n_pcs": 50,
        "svd_solver": "randomized",
        "random_state": 0,
        "copy": False,
    }
