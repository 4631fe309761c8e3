"""What a replay runs on: the recorded graph, checked, on a scratch object; Python's RNG."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError, ReplayError
from provenance._storage.graph import CurrentGraph, locate_graph
from provenance._util.fingerprint import GRAPH_ALGORITHMS, obs_names_digest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord
    from provenance._storage.graph import GraphCheck

__all__ = ["graph_to_replay", "python_random", "stage"]


def graph_to_replay(
    adata: AnnData, rec: ClusteringRecord, force: bool, where: str
) -> tuple[Any, str, bool | None, bool, str | None]:
    """``(matrix, name, digest matches, forced, note)`` of the graph to replay on.

    "digest matches" is ``None`` when the graph cannot be checked against the record; the
    note then says why.
    """
    g = rec.graph
    # Single-graph (scanpy) params: a multiplex record is staged by its target.
    params: Any = rec.params
    how = "replay(..., force=True) or --force replays on the graph as it is now"
    problem = None
    if g is None:
        problem = f"the record of {where} does not say which graph was clustered"
    elif g.obsp_key is None:
        problem = (
            f"{where} clustered a matrix passed as adjacency= ({params.adjacency}) that is "
            "not stored in the object, so it cannot be checked"
        )
    elif g.hash_algorithm not in GRAPH_ALGORITHMS:
        problem = (
            f"the record of {where} fingerprints its graph with {g.hash_algorithm!r}, which "
            "this version does not compute (upgrade anndata-provenance to check it)"
        )
    elif g.obsp_key not in adata.obsp:
        problem = f"{where} clustered obsp[{g.obsp_key!r}], which is missing now"
    else:
        matrix = adata.obsp[g.obsp_key]
        name = f"obsp[{g.obsp_key!r}]"
        check = CurrentGraph(matrix, name=name).check(g)
        if check.matches:
            return matrix, name, True, False, None
        if not force:
            msg = f"{_why_graph_differs(adata, rec, name, check, where)}; {how}."
            raise ReplayError(msg)
        return matrix, name, False, True, None
    if not force:
        msg = f"{problem}; {how}."
        raise ReplayError(msg)
    try:
        matrix, obsp_key, _ = locate_graph(
            adata, adjacency=None, obsp=params.obsp, neighbors_key=params.neighbors_key
        )
    except ProvenanceError as e:
        msg = f"{problem}, and no graph to force a replay on: {e}"
        raise ReplayError(msg) from None
    return matrix, f"obsp[{obsp_key!r}]", None, True, f"graph not checked: {problem}"


def _why_graph_differs(
    adata: AnnData, rec: ClusteringRecord, name: str, check: GraphCheck, where: str
) -> str:
    """Why the graph is not the recorded one, naming a subset/reorder of the cells first."""
    then = rec.result
    edges = f"{check.fingerprint.n_edges} edges, {check.facts['n_edges_then']} recorded"
    if adata.n_obs != then.n_obs:
        how = "subset" if adata.n_obs < then.n_obs else "grown (concatenated?)"
        return (
            f"the object was {how} since {where} was recorded ({then.n_obs} → {adata.n_obs} "
            f"cells), so {name} ({edges}) is not the graph clustered; replay the object it "
            "was recorded on, or re-cluster this one inside provenance.record(adata)"
        )
    if obs_names_digest(adata.obs_names) != then.obs_names_digest:
        return (
            f"the cells were reordered or renamed since {where} was recorded (same {adata.n_obs} "
            f"cells, other obs_names), so {name} ({edges}) is not the graph clustered"
        )
    digests = (
        f"recorded digest {check.facts.get('digest_then')}, current {check.fingerprint.digest}"
    )
    return f"the graph {name} changed since {where} was recorded: {check.detail} ({digests})"


def stage(adata: AnnData, rec: ClusteringRecord, matrix: Any, kwargs: dict[str, Any]) -> AnnData:
    """A scratch object holding only what the call reads: the graph and the restrict column."""
    import pandas as pd
    from anndata import AnnData

    obs = pd.DataFrame(index=adata.obs_names.copy())
    params: Any = rec.params  # single-graph (scanpy) params, as in graph_to_replay
    restrict = params.restrict_to
    if restrict is not None:
        where = f"{rec.key!r} version {rec.version}"
        if restrict.key == rec.key:
            msg = (
                f"{where} re-clustered obs[{restrict.key!r}] in place (restrict_to and key_added "
                "are the same column): the labels it started from are gone, so it cannot be "
                "replayed."
            )
            raise ReplayError(msg)
        if restrict.key not in adata.obs:
            msg = f"{where} used restrict_to=({restrict.key!r}, ...), but obs has no such column."
            raise ReplayError(msg)
        obs[restrict.key] = adata.obs[restrict.key].copy()
    stage = AnnData(obs=obs)
    # Not copied: scanpy's leiden/louvain only read the graph (restrict_to slices it into a
    # new matrix); the tests check the caller's graph is left byte for byte as it was.
    graph = _scipy_indices(matrix)
    if params.adjacency is not None:
        kwargs["adjacency"] = graph
    elif params.obsp is not None:
        stage.obsp[params.obsp] = graph
    else:
        nk = params.neighbors_key
        if nk is None or nk == "neighbors":
            stage.obsp["connectivities"] = graph
            stage.uns["neighbors"] = {}
        else:
            stage.obsp[f"{nk}_connectivities"] = graph
            stage.uns[nk] = {
                "connectivities_key": f"{nk}_connectivities",
                "distances_key": f"{nk}_distances",
            }
    return stage


def _scipy_indices(matrix: Any) -> Any:
    """``matrix``, with index arrays scipy's routines accept (shared data, same values).

    anndata's ``write_csr_csc_indices_with_min_possible_dtype`` reads back uint16 indices
    beside int32 ``indptr``, which scipy's ``tocoo`` (and so scanpy's graph conversion)
    rejects; the graph is the same, so the scratch object gets int32/int64 indices instead.
    """
    import numpy as np
    from scipy import sparse

    if not sparse.issparse(matrix) or matrix.format not in ("csr", "csc"):
        return matrix
    ok = (np.dtype(np.int32), np.dtype(np.int64))
    if matrix.indices.dtype == matrix.indptr.dtype and matrix.indices.dtype in ok:
        return matrix
    # The constructor picks int32 (int64 when the values need it) without copying the data.
    return type(matrix)((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)


@contextmanager
def python_random(state: dict[str, Any] | None) -> Iterator[None]:
    """Run with Python's ``random`` module in the recorded state; the caller's is restored."""
    if state is None:
        yield
        return
    import random

    try:
        recorded = (
            int(state["version"]),
            tuple(int(x) for x in state["state"]),
            state["gauss_next"],
        )
    except (KeyError, TypeError, ValueError):
        msg = "params.python_random_state is damaged; it cannot be restored."
        raise ReplayError(msg) from None
    saved = random.getstate()
    try:
        random.setstate(recorded)
        yield
    finally:
        random.setstate(saved)
