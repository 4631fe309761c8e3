"""The verdict table: for every recorded thing, every change made to it, the audit's verdict.

:data:`VERDICTS` (the rows of ``verdicts.toml`` beside this module) is the one statement of
what the audit says about what happens to an object after it was recorded: a routine workflow
(a rename, a subset, a re-run, another software version, a plot that computes something) or
an edit of the file. Each row names

- the thing changed (:data:`THINGS`: the labels, the graph, the representation, a step kind's
  inputs or outputs, the record, its parent, the index, the signature, the software);
- the change (:data:`CHANGES` says which kind, ``change`` in words);
- the verdict: every finding the audit reports, as ``"code@key"`` (``"code@key:cause"`` where
  ``details["cause"]`` tells apart causes of one code), or none; with ``audit`` options
  (``deep``, a trust policy, the representation check, a file instead of the object);
- whether the package can see the change at all (``seen``): where it cannot, the row says so
  and what would (``note``), and the audit makes no claim about it.

From it come the tests (``tests/test_verdicts.py`` runs every row's case, named by ``case``,
on a real scanpy run and compares the findings exactly: an extra finding fails as much as a
missing one) and the table of ``docs/findings.md`` (the ``provenance-verdicts`` directive).
``tests/test_verdicts.py`` also fails when a finding code of the catalogue is in no row, or a
recorded step kind lacks rows for its edits, deletion and re-runs: a new finding or a new step
kind cannot land without its rows.

Nothing in the package imports this module: it is data for the tests and the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CHANGES", "STEP_CHANGES", "THINGS", "VERDICTS", "Verdict", "verdicts_doc"]

THINGS: dict[str, str] = {
    "labels": "a clustering's labels, ``obs[key]``",
    "cells": "the cells: ``obs_names`` and their number",
    "graph": "the graph a clustering was made from, ``obsp``",
    "representation": "the matrix a graph was computed from (``obsm['X_pca']``, ``X``)",
    "neighbors": "a ``sc.pp.neighbors`` step: its record, its graphs",
    "umap": "a ``sc.tl.umap`` step: the graph it read (and may edit), ``obsm['X_umap']``",
    "tsne": "a ``sc.tl.tsne`` step: the representation it read, ``obsm['X_tsne']``",
    "draw_graph": "a ``sc.tl.draw_graph`` step: the graph it read, ``obsm['X_draw_graph_fr']``",
    "diffmap": "a ``sc.tl.diffmap`` step: the graph it read, ``obsm['X_diffmap']``",
    "rank_genes_groups": "a ``sc.tl.rank_genes_groups`` result",
    "filter_rank_genes_groups": "a ``sc.tl.filter_rank_genes_groups`` result",
    "dendrogram": "a ``sc.tl.dendrogram`` result",
    "paga": "a ``sc.tl.paga`` result",
    "restrict_to": "a clustering restricted to some clusters of another (``restrict_to=``)",
    "record": "a clustering's record and its history",
    "parent": "the record a record names as its parent",
    "index": "``uns['provenance_index']``",
    "signature": "a record's signature (under a trust policy)",
    "software": "the software a record was made with (deep verification)",
    "workflow": "a whole routine workflow",
    "concat": "an ``anndata.concat`` of recorded objects: its record, ``uns['concat']``",
    "transform": "a ``sc.pp`` step (filters, normalize_total, log1p, highly_variable_genes, "
    "scale, pca, ...): what it read and wrote (``X``, ``obsm['X_pca']``, ``var`` columns)",
}
"""What a row changes, and what the word covers."""

Change = Literal[
    "none",
    "edit",
    "delete",
    "older",
    "rename",
    "reorder",
    "subset",
    "rerun_other",
    "rerun_same",
    "versions",
    "unrecorded",
    "forge",
]
CHANGES: dict[str, str] = {
    "none": "nothing (a copy, a save and read)",
    "edit": "edited in place",
    "delete": "deleted",
    "older": "replaced with an older one",
    "rename": "renamed",
    "reorder": "reordered",
    "subset": "subset, or other cells",
    "rerun_other": "re-run with other arguments",
    "rerun_same": "re-run with the same arguments",
    "versions": "other software versions",
    "unrecorded": "made or re-made without ``record()``",
    "forge": "edited with its digests recomputed (an editor of files)",
}
"""The kinds of change a row can make, in words."""

STEP_CHANGES: tuple[str, ...] = ("edit", "delete", "rerun_other")
"""The kinds of change every recorded step kind needs a row for."""

AuditOption = Literal[
    "file",
    "deep",
    "trusted",
    "representation",
    "uns_only",
    "ledger",
    "required",
    "allow_unreplayable",
]


@dataclass(frozen=True)
class Verdict:
    """One row: a change to a recorded thing, and what the audit says about it."""

    thing: str
    """What is changed: a key of :data:`THINGS`."""
    how: Change
    """The kind of change: a key of :data:`CHANGES`."""
    change: str
    """The change, in words (Markdown inline)."""
    case: str
    """The test case that makes it: a function of ``tests/verdict_cases.py``."""
    expect: tuple[str, ...] = ()
    """Every finding of the audit, ``"code@key"`` or ``"code@key:cause"``; empty: none."""
    audit: tuple[AuditOption, ...] = ()
    """How it is audited: ``file`` (an ``.h5ad`` written and read by path), ``deep``,
    ``trusted`` (the lab's key trusted), ``representation``, ``uns_only``
    (``check_data=False``), ``ledger`` (the case's ledger of seals, with ``trusted``),
    ``required`` (with ``trusted``: ``require_signed=True``), ``allow_unreplayable`` (with
    ``deep``)."""
    routine: bool = False
    """A routine workflow: no finding of it may be an error."""
    seen: bool = True
    """Whether the package can see this change; ``False``: the audit cannot tell, and
    ``note`` says what would."""
    only: str = ""
    """A requirement (``"scanpy<1.12"``) outside which the row does not apply."""
    note: str = ""
    """Why the verdict is what it is, where that is not plain."""


def load(path: Path | None = None) -> tuple[Verdict, ...]:
    """The rows of ``verdicts.toml`` (beside this module), in its order."""
    import tomllib
    from pathlib import Path

    path = path or Path(__file__).with_name("verdicts.toml")
    with path.open("rb") as f:
        rows = tomllib.load(f)["verdict"]
    return tuple(
        Verdict(**{**r, "expect": tuple(r.get("expect", ())), "audit": tuple(r.get("audit", ()))})
        for r in rows
    )


VERDICTS: tuple[Verdict, ...] = load()
"""Every row of the table."""


def verdicts_doc() -> str:
    """The table as reST, for ``docs/findings.md``: each code links to its section there."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 12 36 38 14",
        "",
        "   * - Thing",
        "     - Change",
        "     - Verdict",
        "     - Audited",
    ]
    for v in VERDICTS:
        verdict = "; ".join(_finding(e) for e in v.expect)
        if not verdict:
            verdict = "no finding" if v.seen else "**not seen**"
        if v.note:
            verdict += f". {_rst(v.note)}"
        how = ", ".join(v.audit) or "object"
        if v.only:
            how += f" ({v.only})"
        lines += [
            f"   * - {v.thing}",
            f"     - {_rst(v.change)}{' *(routine)*' if v.routine else ''}",
            f"     - {verdict}",
            f"     - {how}",
        ]
    return "\n".join(lines) + "\n"


def _finding(expected: str) -> str:
    code, _, where = expected.partition("@")
    key, _, cause = where.partition(":")
    return f":ref:`{code} <finding-{code}>` on ``{key}``" + (f" ({cause})" if cause else "")


def _rst(text: str) -> str:
    """Markdown inline code (single backticks) as reST inline literals."""
    import re

    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)
