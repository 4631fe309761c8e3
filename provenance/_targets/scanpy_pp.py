"""``scanpy.pp``: the calls that make the data a clustering depends on, from counts to PCA.

Each is a :class:`TransformTarget`: its record (:class:`~provenance.TransformRecord`) keeps
the call's arguments, the slots it read and wrote with their digests (the recorder's
``reads``/``writes``), and the object's size and names before the call when the call changed
them (a filter, ``subset=True``). Its history lives under the ``uns`` key the function writes
(``pca``, ``log1p``, ``hvg``) or, for one that writes none, under its own name
(``normalize_total``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from provenance._schema.models import ObjectShape, TransformRecord
from provenance._util.fingerprint import obs_names_digest

from .slots import column_slots, matrix_slot
from .steps import StepTarget

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anndata import AnnData

__all__ = [
    "ScanpyCombat",
    "ScanpyFilterCells",
    "ScanpyFilterGenes",
    "ScanpyHighlyVariableGenes",
    "ScanpyLog1p",
    "ScanpyNormalizeTotal",
    "ScanpyPca",
    "ScanpyRegressOut",
    "ScanpyScale",
    "ScanpySubsample",
    "TransformTarget",
    "object_shape",
]


def object_shape(adata: AnnData) -> ObjectShape:
    """``adata``'s size and the digests of its names."""
    return ObjectShape(
        n_obs=int(adata.n_obs),
        n_vars=int(adata.n_vars),
        obs_names_digest=obs_names_digest(adata.obs_names),
        var_names_digest=obs_names_digest(adata.var_names),
    )


class TransformTarget(StepTarget):
    """A ``sc.pp`` call that changes the data: recorded as a ``"transform"``.

    The default reads are the matrix the call transforms (``layer``, ``obsm`` when the
    function has it, else ``X``); subclasses add what else they read (:meth:`extra_reads`).
    """

    module = "scanpy.preprocessing"
    kind = "transform"
    record_model = TransformRecord
    writes_uns = False

    def records_call(self, data: Any) -> bool:
        # An array passed instead of an AnnData: the function returns its result, the
        # object of no pipeline changes.
        return hasattr(data, "obs") and hasattr(data, "uns") and hasattr(data, "var_names")

    def written_key(self, named: Mapping[str, Any]) -> str:
        return self.default_key

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        matrix = matrix_slot(layer=named.get("layer"), obsm=named.get("obsm"))
        return [matrix, *self.extra_reads(adata, named)]

    def extra_reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        """Slots read besides the matrix transformed (a batch column)."""
        return []

    def before(self, adata: AnnData, named: Mapping[str, Any]) -> ObjectShape:
        return object_shape(adata)

    def describe_call(
        self,
        out: AnnData,
        named: Mapping[str, Any],
        *,
        key: str,
        names_digest: str,
        before: Any,
    ) -> dict[str, Any]:
        after = object_shape(out)
        changed = isinstance(before, ObjectShape) and before != after
        return {
            "n_vars": after.n_vars,
            "var_names_digest": after.var_names_digest,
            "before": before if changed else None,
        }


class ScanpyFilterCells(TransformTarget):
    """``scanpy.pp.filter_cells(data, *, min_counts, min_genes, max_counts, max_genes, ...)``."""

    attr = "filter_cells"
    function = "scanpy.pp.filter_cells"
    default_key = "filter_cells"
    defaults: ClassVar[Mapping[str, Any]] = {
        "min_counts": None,
        "min_genes": None,
        "max_counts": None,
        "max_genes": None,
        "inplace": True,
        "copy": False,
    }


class ScanpyFilterGenes(TransformTarget):
    """``scanpy.pp.filter_genes(data, *, min_counts, min_cells, max_counts, max_cells, ...)``."""

    attr = "filter_genes"
    function = "scanpy.pp.filter_genes"
    default_key = "filter_genes"
    defaults: ClassVar[Mapping[str, Any]] = {
        "min_counts": None,
        "min_cells": None,
        "max_counts": None,
        "max_cells": None,
        "inplace": True,
        "copy": False,
    }


class ScanpyNormalizeTotal(TransformTarget):
    """``scanpy.pp.normalize_total(adata, *, target_sum, ..., key_added, layer, inplace)``."""

    attr = "normalize_total"
    function = "scanpy.pp.normalize_total"
    default_key = "normalize_total"
    defaults: ClassVar[Mapping[str, Any]] = {
        "target_sum": None,
        "exclude_highly_expressed": False,
        "max_fraction": 0.05,
        "key_added": None,
        "layer": None,
        "obsm": None,
        "layers": None,
        "layer_norm": None,
        "inplace": True,
        "copy": False,
    }

    def written_key(self, named: Mapping[str, Any]) -> str:
        return self.default_key  # key_added names an obs column, not an uns key


class ScanpyLog1p(TransformTarget):
    """``scanpy.pp.log1p(data, *, base, copy, chunked, chunk_size, layer, obsm)``."""

    attr = "log1p"
    function = "scanpy.pp.log1p"
    default_key = "log1p"
    defaults: ClassVar[Mapping[str, Any]] = {
        "base": None,
        "copy": False,
        "chunked": None,
        "chunk_size": None,
        "layer": None,
        "obsm": None,
    }


class ScanpyHighlyVariableGenes(TransformTarget):
    """``scanpy.pp.highly_variable_genes(adata, *, layer, n_top_genes, ..., flavor, subset,
    inplace, batch_key)``."""

    attr = "highly_variable_genes"
    function = "scanpy.pp.highly_variable_genes"
    default_key = "hvg"
    defaults: ClassVar[Mapping[str, Any]] = {
        "layer": None,
        "n_top_genes": None,
        "min_disp": 0.5,
        "min_mean": 0.0125,
        "max_mean": 3,
        "span": 0.3,
        "n_bins": 20,
        "flavor": "seurat",
        "subset": False,
        "inplace": True,
        "batch_key": None,
        "filter_unexpressed_genes": None,
        "check_values": True,
    }

    def extra_reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        return column_slots(named.get("batch_key"))


class ScanpyScale(TransformTarget):
    """``scanpy.pp.scale(data, *, zero_center, max_value, copy, layer, obsm, mask_obs)``."""

    attr = "scale"
    function = "scanpy.pp.scale"
    default_key = "scale"
    defaults: ClassVar[Mapping[str, Any]] = {
        "zero_center": True,
        "max_value": None,
        "copy": False,
        "layer": None,
        "obsm": None,
        "mask_obs": None,
    }

    def extra_reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        mask = named.get("mask_obs")
        return column_slots(mask) if isinstance(mask, str) else []


class ScanpyRegressOut(TransformTarget):
    """``scanpy.pp.regress_out(adata, keys, *, layer, n_jobs, copy)``."""

    attr = "regress_out"
    function = "scanpy.pp.regress_out"
    default_key = "regress_out"
    defaults: ClassVar[Mapping[str, Any]] = {"layer": None, "n_jobs": None, "copy": False}

    def extra_reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        return column_slots(named.get("keys"))


class ScanpyCombat(TransformTarget):
    """``scanpy.pp.combat(adata, key, *, covariates, inplace)``."""

    attr = "combat"
    function = "scanpy.pp.combat"
    default_key = "combat"
    defaults: ClassVar[Mapping[str, Any]] = {"key": "batch", "covariates": None, "inplace": True}

    def extra_reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        return column_slots(named.get("key"), named.get("covariates"))


class ScanpyPca(TransformTarget):
    """``scanpy.pp.pca(data, n_comps, *, layer, zero_center, svd_solver, ..., mask_var,
    use_highly_variable, key_added, copy)``."""

    attr = "pca"
    function = "scanpy.pp.pca"
    default_key = "pca"
    writes_uns = True
    defaults: ClassVar[Mapping[str, Any]] = {
        "n_comps": None,
        "layer": None,
        "obsm": None,
        "zero_center": True,
        "svd_solver": None,
        "chunked": False,
        "chunk_size": None,
        "random_state": 0,
        "return_info": False,
        "use_highly_variable": None,
        "dtype": "float32",
        "key_added": None,
        "copy": False,
    }

    def written_key(self, named: Mapping[str, Any]) -> str:
        key = named.get("key_added")
        return self.default_key if key is None else str(key)

    def extra_reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        from provenance._storage.slots import slot_name

        mask = named.get("mask_var")
        if isinstance(mask, str):
            return [slot_name("var", mask)]
        if (mask is None and "mask_var" in named) or named.get("use_highly_variable") is False:
            return []  # no mask (an array mask is an argument, kept as its digest)
        # By default, scanpy masks by var['highly_variable'] when it is there.
        return [slot_name("var", "highly_variable")] if "highly_variable" in adata.var else []


class ScanpySubsample(TransformTarget):
    """``scanpy.pp.subsample(data, fraction, *, n_obs, random_state, copy)``: a random subset
    of the cells (its record's ``before`` is the object it was drawn from)."""

    attr = "subsample"
    function = "scanpy.pp.subsample"
    default_key = "subsample"
    defaults: ClassVar[Mapping[str, Any]] = {
        "fraction": None,
        "n_obs": None,
        "random_state": 0,
        "copy": False,
    }

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        return []  # the cells are drawn by number alone
