"""The recorder: ``record()`` opens a block; the registered targets are patched while any is open.

How a call is recorded: ``patching`` (the wrapper), ``call`` (what is written), ``blocks``
(which block watches which object).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from provenance._util.signing import load_signer, signer_from_env

from .blocks import Recording, close_block, open_block
from .call import Call as _Call  # noqa: F401 (benchmarks/ time the recorder's work here)
from .patching import patches

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from anndata import AnnData

__all__ = ["Recording", "record"]


@contextmanager
def record(
    adata: AnnData | None = None,
    *,
    strict: bool | None = None,
    sign_with: str | Path | None = None,
) -> Iterator[Recording]:
    """Record every scanpy Leiden/Louvain clustering run inside the block, and the steps
    around it.

    Each call of ``sc.tl.leiden`` / ``sc.tl.louvain`` appends a
    :class:`~provenance.ClusteringRecord` to ``uns[key]["provenance"]`` of the object it
    modified (the returned copy with ``copy=True``), under the key it actually wrote. The
    steps around a clustering (``sc.pp.neighbors``, ``sc.tl.rank_genes_groups``,
    ``sc.tl.filter_rank_genes_groups``, ``sc.tl.dendrogram``, ``sc.tl.paga``) append a
    :class:`~provenance.NeighborsRecord` / :class:`~provenance.ResultRecord` under the
    ``uns`` key they wrote (read them with :func:`~provenance.step_history`).

    Parameters
    ----------
    adata
        Record calls on this object (and the copies ``copy=True`` returns) only, from any
        thread. ``None`` records calls on any object made in this thread or context, and in
        the threads started while the block is open. An AnnData, or an object with ``.obs``
        and ``.uns`` (such as a MuData).
    strict
        Raise instead of warning when a clustering cannot be recorded. Defaults to the
        ``PROVENANCE_STRICT`` environment variable.
    sign_with
        Path of an Ed25519 private key (``provenance keygen --out lab.key``): every record
        written in the block is signed with it (checked by ``provenance verify
        --trusted-key lab.key.pub``). Defaults to the ``PROVENANCE_SIGNING_KEY`` environment
        variable; unsigned when neither is set. Needs ``anndata-provenance[sign]``.

    Yields
    ------
    A :class:`Recording` whose ``records`` lists the records written in the block.

    Examples
    --------
    >>> import scanpy as sc, provenance
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> with provenance.record(adata):
    ...     sc.tl.leiden(adata, resolution=0.8, key_added="leiden_0.8", flavor="igraph")
    >>> provenance.latest(adata, "leiden_0.8").params.resolution
    0.8

    Raises
    ------
    TypeError
        ``adata`` is neither ``None``, an AnnData, nor an object with ``.obs`` and ``.uns``.
    ProvenanceError
        The signing key is missing or not an Ed25519 private key, or ``cryptography`` is
        not installed: raised on entering the block, before anything runs.

    Notes
    -----
    The patch replaces the attribute ``scanpy.tl.leiden``; a function imported before the block
    (``from scanpy.tl import leiden``) is the unpatched original and is not recorded.

    A targeted block does not record a clustering of another object made in its context
    (a subset or copy taken inside it): such a call is a :class:`ProvenanceWarning` that says
    how to record it (a :class:`ProvenanceError` in strict mode, before the call runs).
    """
    if adata is not None and not (hasattr(adata, "obs") and hasattr(adata, "uns")):
        msg = (
            f"provenance.record() records clusterings of an AnnData (or an object with .obs and "
            f".uns, such as a MuData), not a {type(adata).__module__}.{type(adata).__qualname__}; "
            "pass the object you cluster, or nothing to record every object."
        )
        raise TypeError(msg)
    # Loaded before the block opens: a bad key fails here, not after a clustering ran.
    signer = load_signer(sign_with) if sign_with is not None else signer_from_env()
    block = Recording(target=adata, strict=strict)
    block._signer = signer
    patches.acquire()
    token = open_block(block)
    try:
        yield block
    finally:
        close_block(block, token)
        patches.release()
