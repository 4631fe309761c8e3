"""``adata.provenance``: the functions as an AnnData namespace, on anndata >= 0.12.

anndata 0.12 added ``anndata.register_anndata_namespace``. ``import provenance`` registers
the namespace once anndata is imported (now, if it already is), through
``_base.imports.when_imported``, so ``import provenance`` never imports anndata. On anndata
0.10 and 0.11 there is no accessor; the functions (:func:`provenance.audit`, ...) are the
primary API and work everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import ModuleType

    from anndata import AnnData

    from provenance._audit.report import AuditReport
    from provenance._compare.lineage import Lineage
    from provenance._schema.models import ClusteringRecord, StepRecord

__all__ = ["NAME", "ProvenanceAccessor", "register"]

NAME = "provenance"


class ProvenanceAccessor:
    """``adata.provenance``: this package's functions bound to one AnnData object.

    Each method calls the function of the same name with the object (the functions stay the
    primary API; this is a shorthand for anndata >= 0.12).

    Examples
    --------
    >>> with provenance.record(adata):
    ...     sc.pp.pca(adata); sc.pp.neighbors(adata)
    ...     sc.tl.leiden(adata, key_added="L", flavor="igraph", n_iterations=2, directed=False)
    >>> adata.provenance.audit("L").ok  # the other keys were clustered on the graph replaced
    True
    >>> [r.key for r in adata.provenance.steps()][-3:]
    ['pca', 'neighbors', 'L']
    >>> adata.provenance.history("L")[-1].params.resolution
    1.0
    """

    def __init__(self, adata: AnnData) -> None:
        self._adata = adata

    def show(
        self,
        key: str | Sequence[str] | None = None,
        *,
        trusted_keys: Sequence[str | Path] | None = None,
    ) -> None:
        """:func:`provenance.show` of the object: the audit, with the pipeline view; with
        ``trusted_keys``, whether each signature is trusted."""
        from provenance._render.show import show

        show(self._adata, key, trusted_keys=trusted_keys)

    def audit(self, key: str | Sequence[str] | None = None, **kwargs: Any) -> AuditReport:
        """:func:`provenance.audit` of the object (``key`` and keyword options as there)."""
        from provenance._audit.audit import audit

        return audit(self._adata, key, **kwargs)

    def history(self, key: str) -> list[ClusteringRecord] | list[StepRecord]:
        """Every record of ``key``, oldest first: a clustering's (:func:`provenance.history`)
        or a step's (:func:`provenance.step_history`: ``"pca"``, ``"neighbors"``, ...)."""
        from provenance._storage.history import history, is_step_entry, step_history

        if is_step_entry(self._adata.uns.get(key)):
            return step_history(self._adata, key)
        return history(self._adata, key)

    def steps(self) -> list[ClusteringRecord | StepRecord]:
        """:func:`provenance.steps`: every record, in the order the calls ran."""
        from provenance._storage.timeline import steps

        return steps(self._adata)

    def lineage(self) -> Lineage:
        """:func:`provenance.lineage` of the object: the whole graph of steps."""
        from provenance._compare.lineage import lineage

        return lineage(self._adata)

    def __repr__(self) -> str:
        return (
            "<adata.provenance: show(), audit(), history(key), steps(), lineage(); "
            "see help(provenance)>"
        )


def register(anndata: ModuleType) -> None:
    """Register ``AnnData.provenance`` when anndata can (>= 0.12) and the name is free.

    Registering again (a second ``import provenance`` after a reload) does nothing; a name
    another package took is left to it, with a warning that says so.
    """
    register_namespace = getattr(anndata, "register_anndata_namespace", None)
    cls = getattr(anndata, "AnnData", None)
    if register_namespace is None or cls is None:  # anndata < 0.12, or a partial import
        return
    current = cls.__dict__.get(NAME)
    if current is not None:
        ours = getattr(getattr(current, "_ns", None), "__qualname__", None)
        if ours != ProvenanceAccessor.__qualname__:
            import warnings

            from provenance._base.errors import ProvenanceWarning

            msg = (
                f"AnnData.{NAME} is already registered by another package ({current!r}); "
                "adata.provenance is left to it: call provenance.audit(adata) and the other "
                "functions instead."
            )
            warnings.warn(msg, ProvenanceWarning, stacklevel=2)
        return
    # anndata checks the annotation of ``adata`` is its AnnData class (not a string).
    ProvenanceAccessor.__init__.__annotations__["adata"] = cls
    try:
        register_namespace(NAME)(ProvenanceAccessor)
    except (AttributeError, TypeError, NameError) as e:  # never break ``import anndata``
        import warnings

        from provenance._base.errors import ProvenanceWarning

        msg = f"adata.{NAME} could not be registered ({e}); the functions work as before."
        warnings.warn(msg, ProvenanceWarning, stacklevel=2)
