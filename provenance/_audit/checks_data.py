"""Checks of the object against the latest record: scanpy's params, the cells, the graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

from .catalogue import Finding
from .context import check
from .legacy import params_mismatches
from .parents import parent_note

if TYPE_CHECKING:
    from provenance._schema.models import ClusteringRecord, GraphInfo

    from .context import KeyContext

__all__ = ["check_graph", "check_params", "check_subset"]


@check("params_mismatch")
def check_params(ctx: KeyContext) -> list[Finding]:
    """scanpy's own ``uns[key]["params"]`` (and ``["modularity"]``) against the latest record.

    Only fields both hold are compared: scanpy writes three or four of the arguments (as
    passed, also those a flavor ignores), anndata 0.10 leaves ``None`` out of files, and a
    deleted ``params`` loses nothing the record does not hold, so absence is no finding.
    """
    key, rec = ctx.key, ctx.latest
    if rec is None:
        return []
    diff = params_mismatches(rec, ctx.entry)
    if not diff:
        return []
    shown = "; ".join(f"{name} {a!r} in uns, {b!r} recorded" for name, (a, b) in diff.items())
    intact = rec.expected_digest() == rec.digest
    cause = (
        "the record's digest still holds, so scanpy's copy was changed after the run (by hand, "
        "or copied from another run)"
        if intact
        else "the record was edited too (see broken_chain)"
    )
    msg = (
        f"uns[{key!r}]: scanpy's own parameters disagree with the latest record (version "
        f"{rec.version}): {shown}; {cause}. Tools that read uns[{key!r}]['params'] report "
        "parameters that did not make these labels: restore them from the record, or re-run "
        "the clustering inside provenance.record(adata)."
    )
    details = {
        "version": rec.version,
        "fields": {name: {"uns": a, "record": b} for name, (a, b) in diff.items()},
    }
    return [Finding("params_mismatch", key, msg, details)]


@check("subset_or_reordered")
def check_subset(ctx: KeyContext) -> list[Finding]:
    """Other cells than were clustered: the obs_names digest, or the length of the obs index.

    Without data checks the length of the obs index alone is read: a file grown by
    concatenation or cut by subsetting shows without reading labels or graphs.
    """
    rec = ctx.latest
    if rec is None or (ctx.check_data and not ctx.in_obs):
        return []  # no record to compare with, or labels_missing says more
    if ctx.same_cells:
        return []
    if ctx.audit.transposed(rec.result.obs_names_digest):
        return [transposed(ctx, rec)]
    note = parent_note(ctx, (rec.result.n_obs, rec.result.obs_names_digest))
    if note is not None:
        return [_parent_made(ctx.key, rec, ctx.src.n_obs, note)]
    return [_subset_or_reordered(ctx.key, rec, ctx.src.n_obs)]


def _parent_made(
    key: str, rec: ClusteringRecord, n_now: int, note: tuple[str, list[str]]
) -> Finding:
    """``subset_or_reordered`` of a clustering made on the parent object records here name."""
    msg = (
        f"{key!r}: the object holds {n_now} cells, the clustering labelled {rec.result.n_obs}; "
        f"{note[0]}. Its labels here are the parent's, carried over, and are not compared "
        "with the record (nothing here contradicts it). Nothing to do if that is meant; "
        "re-cluster this object inside provenance.record(adata) for labels made on these cells."
    )
    details = {"n_obs_then": rec.result.n_obs, "n_obs_now": n_now, "parent_of": note[1]}
    return Finding("subset_or_reordered", key, msg, details)


def _subset_or_reordered(key: str, rec: ClusteringRecord, n_now: int) -> Finding:
    then = rec.result
    if n_now > then.n_obs:
        msg = (
            f"{key!r}: the object has {n_now} cells, the clustering labelled {then.n_obs}: it "
            "looks concatenated with other data (ad.concat keeps one part's uns with "
            "uns_merge='first'), so the record describes at most the cells of one part; the "
            "labels and graph are not compared with it. Audit the parts, or re-cluster the "
            "combined object inside provenance.record(adata)."
        )
    else:
        how = (
            f"{n_now} of the {then.n_obs} cells clustered: a subset, e.g. adata[mask].copy() "
            "or sc.pp.subsample"
            if n_now < then.n_obs
            else "the same number of cells, but obs_names are reordered or renamed"
        )
        msg = (
            f"{key!r}: the object holds other cells than were clustered ({how}). The record "
            f"describes the labels of all {then.n_obs} cells, so these labels and this graph "
            "are not compared with it (nothing here contradicts it). Audit the original "
            "object to check them; re-cluster this one inside provenance.record(adata) if it "
            "is what you analyse."
        )
    details = {"n_obs_then": then.n_obs, "n_obs_now": n_now}
    return Finding("subset_or_reordered", key, msg, details)


@check("graph_not_checkable", "graph_missing", "graph_changed", "graph_changed_by_step")
def check_graph(ctx: KeyContext) -> list[Finding]:
    """The graph the latest record names, against its fingerprint; for a multiplex record
    (``layers``), each modality's graph against its layer's fingerprint."""
    rec = ctx.latest
    if rec is None or not ctx.comparable:
        return []
    key, g = ctx.key, rec.graph
    layers = getattr(rec, "layers", None)  # schema >= 1.2: a multiplex clustering (muon)
    if layers:
        return [f for layer in layers for f in _check_one(ctx, layer.graph, layer.modality)]
    if g is None:
        unknown = ", ".join(rec.params.unknown) or "none"
        msg = (
            f"{key!r} has a record {rec.origin} from what scanpy left, without the graph it "
            f"was clustered on (unknown arguments: {unknown}); the labels are checked, the "
            "graph cannot be. Re-run it inside provenance.record() for a full record."
        )
        return [Finding("graph_not_checkable", key, msg)]
    return _check_one(ctx, g, None)


def _check_one(ctx: KeyContext, g: GraphInfo, modality: str | None) -> list[Finding]:
    """One recorded graph against ``obsp`` (of ``mod[modality]`` for a multiplex layer)."""
    from provenance._util.fingerprint import GRAPH_ALGORITHMS, GRAPH_HASH_ALGORITHM

    key = ctx.key
    src: Any = ctx.src
    from .neighbors import holder as holder_of

    whole = holder_of(src)  # the object clustered: adata, mdata, mdata['rna']
    holder = whole if modality is None else f"mdata[{modality!r}]"
    at = "" if holder == "adata" else f"{holder}."
    extra = {} if modality is None else {"modality": modality}
    if modality is not None and modality not in getattr(src, "modalities", {}):
        msg = (
            f"modality {modality!r}, whose graph {key!r} was clustered on (a multiplex layer), "
            "is missing; restore it (a recomputed graph is checked against the recorded digest)."
        )
        return [Finding("graph_missing", key, msg, {"obsp_key": g.obsp_key, **extra})]
    if modality is not None:
        src = src.modalities[modality]
    if g.obsp_key is None:
        msg = (
            f"{key!r} was clustered on a matrix passed as adjacency=, not stored in obsp; "
            "the graph cannot be checked. Store it in obsp and pass obsp= to make it checkable."
        )
        return [Finding("graph_not_checkable", key, msg)]
    if g.hash_algorithm not in GRAPH_ALGORITHMS:
        msg = (
            f"{key!r}: the graph digest uses {g.hash_algorithm!r}, which this version does not "
            f"compute ({GRAPH_HASH_ALGORITHM!r}); upgrade anndata-provenance to check it."
        )
        return [Finding("graph_not_checkable", key, msg)]
    if not src.has_obsp(g.obsp_key):
        msg = (
            f"{at}obsp[{g.obsp_key!r}], the graph {key!r} was clustered on, is missing; restore "
            "it (a recomputed graph is checked against the recorded digest)."
        )
        return [Finding("graph_missing", key, msg, {"obsp_key": g.obsp_key, **extra})]
    current = ctx.audit.graph(g.obsp_key, modality)
    if isinstance(current, ProvenanceError):
        return [Finding("graph_not_checkable", key, str(current))]
    try:
        result = current.check(g)
    except ProvenanceError as e:  # e.g. index values no integer type holds
        return [Finding("graph_not_checkable", key, f"{at}obsp[{g.obsp_key!r}]: {e}")]
    if result.matches:
        return []
    where = f"{at}obsp[{g.obsp_key!r}]"
    if modality is None:
        by_step = _by_step(ctx, g, current)
        if by_step is not None:
            return [by_step]
    if result.cause == "dtype":
        advice = (
            f"Cast it back ({holder}.obsp[{g.obsp_key!r}] = {holder}.obsp[{g.obsp_key!r}]"
            f".astype({g.dtype!r})), or re-cluster inside provenance.record({whole})."
        )
    elif result.cause == "dtype_rounded":
        advice = (
            f"Restore the {g.dtype} graph (e.g. from the file or sc.pp.neighbors with the "
            f"recorded parameters), or re-cluster inside provenance.record({whole})."
        )
    else:
        advice = f"Re-cluster inside provenance.record({whole}), or restore the graph."
    consequence = (
        f"the labels came from the {g.dtype} graph"
        if result.cause in ("dtype", "dtype_rounded")
        else "the labels did not come from this graph"
    )
    how = _remade(ctx, g) if modality is None else None
    detail = result.detail
    if how is not None:  # the re-run is named: scanpy's guess at it goes
        detail = f"{how[0]}; " + detail.removesuffix("; e.g. sc.pp.neighbors re-run")
    msg = f"{where} changed since {key!r} was clustered: {detail}; {consequence}. {advice}"
    details = {
        **extra,
        "obsp_key": g.obsp_key,
        "cause": result.cause,
        **result.facts,
        "digest_now": result.fingerprint.digest,
    }
    if how is not None:
        details["neighbors"] = how[1]
    return [Finding("graph_changed", key, msg, details)]


def _by_step(ctx: KeyContext, g: GraphInfo, current: Any) -> Finding | None:
    """``graph_changed_by_step`` when recorded steps explain how the graph changed."""
    from .graph_steps import explain_graph_change

    assert g.obsp_key is not None
    steps = explain_graph_change(ctx.src, g.obsp_key, g.digest, current)
    if steps is None:
        return None
    key = ctx.key
    proof = (
        "undoing the recorded changes gives exactly the graph clustered"
        if steps.proven
        else "the records lead from the graph clustered to this one"
    )
    msg = (
        f"obsp[{g.obsp_key!r}] changed since {key!r} was clustered: {steps.text()} ({proof}). "
        f"The labels came from the graph before; nothing is wrong with them. To have graph "
        f"and labels agree, re-cluster {key!r} after that step inside provenance.record(adata), "
        "or run it before clustering."
    )
    details = {"obsp_key": g.obsp_key, "digest_then": g.digest, **steps.details()}
    return Finding("graph_changed_by_step", key, msg, details)


def _remade(ctx: KeyContext, g: GraphInfo) -> tuple[str, dict[str, Any]] | None:
    """How the graph was re-made, when a newer ``sc.pp.neighbors`` run was recorded."""
    from .neighbors import remade

    rec = ctx.latest
    ref = getattr(rec, "neighbors", None)  # schema >= 1.3: the neighbors record clustered
    nk = ref.key if ref is not None else g.neighbors_key
    if rec is None or nk is None or g.obsp_key is None:
        return None
    prefix = getattr(ctx.src, "prefix", "")
    return remade(
        ctx.src,
        prefix + nk,
        obsp_key=g.obsp_key,
        digest_then=g.digest,
        graph_now=ctx.audit.graph(g.obsp_key),
        ref=ref,
        params_then=g.neighbors_params,
    )


def transposed(ctx: KeyContext, rec: ClusteringRecord) -> Finding:
    """``subset_or_reordered`` of a transposed object (``adata.T``): its observations are the
    genes, its variables the cells clustered; nothing in it contradicts the record."""
    msg = (
        f"obs[{ctx.key!r}] is not here: the object is transposed (adata.T): its "
        f"{ctx.src.n_obs} observations are the variables (genes) of the object clustered, and "
        f"its variables are the {rec.result.n_obs} cells; nothing in it contradicts the record. "
        "Audit the object as it was clustered (adata.T again)."
    )
    details = {"n_obs_then": rec.result.n_obs, "n_obs_now": ctx.src.n_obs, "transposed": True}
    return Finding("subset_or_reordered", ctx.key, msg, details)
