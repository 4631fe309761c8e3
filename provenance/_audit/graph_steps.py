"""A graph changed by a recorded step: which step, and the graph as it was before.

scanpy 1.11's ``sc.tl.umap`` zeroes some weights of the connectivities it reads, in place. A
clustering (or PAGA, or the neighbors record itself) made before it then holds a graph digest
that ``obsp`` no longer has. When recorded steps explain the change (an embedding record
whose ``graph_edit`` starts at the recorded digest, followed by others up to the digest of
the graph now), the finding names them (``graph_changed_by_step``, a warning) instead of
calling the graph an unexplained contradiction (``graph_changed``). When every edit kept its
changed weights, undoing them on the graph now must give the recorded digest: the change is
proven, and a deep audit replays on the rebuilt graph.

:func:`explain_graph_change` is the one decision every graph check calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

from .neighbors import short_function, step_records, when

if TYPE_CHECKING:
    from provenance._schema.models import EmbeddingRecord, GraphEdit
    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    Source = AnnDataSource | FileSource | PartView

__all__ = ["GraphSteps", "explain_graph_change", "rebuild_graph"]


@dataclass(frozen=True)
class GraphSteps:
    """The recorded steps that changed a graph in place, from a recorded digest to now."""

    obsp_key: str
    """The ``obsp`` matrix."""
    steps: tuple[tuple[str, EmbeddingRecord], ...]
    """``(uns key, record)`` of each step, in the order walked from the recorded graph to the
    graph now."""
    undone: tuple[bool, ...]
    """Per step: ``True`` when the graph now is back to what it was before that step changed
    it (re-made or restored since), ``False`` when the step's change is what is new."""
    proven: bool
    """Whether redoing/undoing the steps' kept changes on the graph now gives the recorded
    digest."""

    @property
    def edits(self) -> list[GraphEdit]:
        return [rec.graph_edit for _, rec in self.steps if rec.graph_edit is not None]

    @property
    def n_changed(self) -> int | None:
        """Entries whose weight the steps changed (``None``: an edit changed the entries)."""
        counts = [e.n_changed for e in self.edits]
        return None if any(n is None for n in counts) else sum(n for n in counts if n is not None)

    def rebuild(self, matrix_now: Any) -> Any | None:
        """The recorded graph, from the graph now (``None`` when the changes were not kept)."""
        from provenance._storage.graph import apply_edits

        moves = [
            (rec.graph_edit, not undone)
            for (_, rec), undone in zip(reversed(self.steps), reversed(self.undone), strict=True)
            if rec.graph_edit is not None
        ]
        try:
            return apply_edits(matrix_now, moves)
        except ProvenanceError:
            return None

    def text(self) -> str:
        """``"sc.tl.umap (uns['umap'] version 1, scanpy 1.11.5, at ...) changed 12 of its
        weights in place"``, for every step."""
        parts = []
        for (key, rec), undone in zip(self.steps, self.undone, strict=True):
            edit = rec.graph_edit
            scanpy = _scanpy(rec)
            where = f"uns[{key!r}] version {rec.version}" + (f", scanpy {scanpy}" if scanpy else "")
            what = (
                f"changed {edit.n_changed} of its weights in place"
                if edit is not None and edit.n_changed is not None
                else "changed its entries in place"
            )
            t = when(rec.finished_at or rec.started_at)
            step = f"{short_function(rec.function)} ({where}, at {t}) {what}"
            if undone:
                step = (
                    f"it is back to the graph before {step}, which the record used (re-made since)"
                )
            parts.append(step)
        return "; then ".join(parts)

    def details(self) -> dict[str, Any]:
        """JSON-safe facts: the (last) step's key, function and scanpy version, every step
        (key, version, function, scanpy, entries changed, digests, undone), ``n_changed``,
        ``proven``."""
        steps = []
        for (key, rec), undone in zip(self.steps, self.undone, strict=True):
            edit = rec.graph_edit
            steps.append(
                {
                    "key": key,
                    "version": rec.version,
                    "function": rec.function,
                    "scanpy": _scanpy(rec),
                    "n_changed": edit.n_changed if edit is not None else None,
                    "digest_before": edit.digest_before if edit is not None else None,
                    "digest_after": edit.digest_after if edit is not None else None,
                    "undone": undone,
                }
            )
        return {
            "step": steps[-1]["key"] if steps else None,
            "step_function": steps[-1]["function"] if steps else None,
            "scanpy": steps[-1]["scanpy"] if steps else None,
            "steps": steps,
            "n_changed": self.n_changed,
            "proven": self.proven,
        }


def _scanpy(rec: EmbeddingRecord) -> str | None:
    return rec.software.packages.get("scanpy") if rec.software is not None else None


def _edit_steps(src: Source, obsp_key: str) -> list[tuple[str, EmbeddingRecord]]:
    """Every recorded step (any version) that changed ``obsp[obsp_key]`` in place."""
    from provenance._schema.models import EMBEDDING_KINDS, EmbeddingRecord
    from provenance._storage.codec import entry_kind

    out = []
    for key in list(src.uns):
        entry = src.uns.get(key)
        if not isinstance(entry, Mapping) or entry_kind(entry) not in EMBEDDING_KINDS:
            continue
        for rec in step_records(src, str(key)):
            if (
                isinstance(rec, EmbeddingRecord)
                and rec.graph_edit is not None
                and rec.graph_edit.obsp_key == obsp_key
                and rec.graph_edit.digest_before != rec.graph_edit.digest_after
            ):
                out.append((str(key), rec))
    return out


def explain_graph_change(
    src: Source, obsp_key: str, digest_then: str, graph_now: Any
) -> GraphSteps | None:
    """The recorded steps that lead from the graph of digest ``digest_then`` to the graph in
    ``obsp[obsp_key]`` now, or ``None`` when no chain of recorded steps does.

    Each step is an in-place change a record keeps (``EmbeddingRecord.graph_edit``): walked
    forward (the step changed the graph since) or backward (the graph now is back to what it
    was before the step, whose changed graph the record used). The shortest chain is taken.

    Parameters
    ----------
    src
        The audit's source (``ctx.src``).
    obsp_key
        The ``obsp`` matrix.
    digest_then
        The digest a record holds of it (a clustering's ``graph.digest``, PAGA's, a neighbors
        record's graph).
    graph_now
        The graph now: a :class:`~provenance._storage.graph.CurrentGraph`
        (``ctx.audit.graph(obsp_key)``), a matrix, or its digest (a ``str``: then the chain is
        followed by digests alone and ``proven`` is ``False``).

    Returns
    -------
    The steps, with ``proven`` set when each kept its changed weights and redoing/undoing them
    on the graph now gives ``digest_then``.
    """
    from provenance._storage.graph import CurrentGraph

    edits = _edit_steps(src, obsp_key)
    if not edits:
        return None
    current: CurrentGraph | None = None
    if isinstance(graph_now, CurrentGraph):
        current = graph_now
    elif not isinstance(graph_now, str):
        try:
            current = CurrentGraph(graph_now, name=f"obsp[{obsp_key!r}]")
        except ProvenanceError:
            return None

    def now(algorithm: str) -> str:
        if isinstance(graph_now, str):
            return graph_now
        assert current is not None
        return current.fingerprint(algorithm).digest

    # Breadth-first over digests: the shortest chain of recorded changes.
    paths: dict[str, list[tuple[tuple[str, EmbeddingRecord], bool]]] = {digest_then: []}
    frontier = [digest_then]
    found: list[tuple[tuple[str, EmbeddingRecord], bool]] | None = None
    while frontier and found is None:
        nxt = []
        for digest in frontier:
            for step in edits:
                edit = step[1].graph_edit
                assert edit is not None
                for a, b, undone in (
                    (edit.digest_before, edit.digest_after, False),
                    (edit.digest_after, edit.digest_before, True),
                ):
                    if a != digest or b in paths:
                        continue
                    paths[b] = [*paths[digest], (step, undone)]
                    if b == now(edit.hash_algorithm):
                        found = paths[b]
                        break
                    nxt.append(b)
                if found is not None:
                    break
            if found is not None:
                break
        frontier = nxt
    if not found:
        return None
    steps = GraphSteps(
        obsp_key, tuple(s for s, _ in found), tuple(u for _, u in found), proven=False
    )
    if current is not None:
        rebuilt = steps.rebuild(current.csr)
        first = found[0][0][1].graph_edit
        assert first is not None
        if rebuilt is not None and _digest(rebuilt, first.hash_algorithm) == digest_then:
            steps = GraphSteps(steps.obsp_key, steps.steps, steps.undone, proven=True)
    return steps


def _digest(csr: Any, algorithm: str) -> str:
    from provenance._util.fingerprint import graph_digest

    return graph_digest(csr, algorithm=algorithm)


def rebuild_graph(matrix_now: Any, steps: GraphSteps) -> Any | None:
    """The recorded graph ``steps`` lead from, rebuilt from ``matrix_now`` (``None`` when
    the steps did not keep their changes)."""
    return steps.rebuild(matrix_now)
