"""The catalogue of audit findings: one table, from which everything else about them is derived.

:data:`CATALOGUE` lists every finding the audit can report, in the order of the docs: its
``code``, its severity, what it means (one line) and what to do (one line). From it come

- :data:`WARNINGS` and :attr:`Finding.severity`;
- the module docstring of :mod:`provenance._audit.report` (``catalogue_doc.findings_doc``);
- the table of ``docs/findings.md`` (the ``provenance-findings`` directive in ``docs/_ext``,
  which fails the build when a code lacks its section there).

:data:`FindingCode` is written out, not built from the table: a type checker reads a
``Literal`` statically and cannot evaluate one made at run time. ``tests/test_findings_catalogue``
asserts that its arguments are the table's codes, in the table's order.

Adding a finding: a row here, the code in :data:`FindingCode`, a ``(finding-<code>)=`` section
in ``docs/findings.md``, and a check (``checks_*.py``) that declares the code and returns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CATALOGUE",
    "WARNINGS",
    "Finding",
    "FindingCode",
    "FindingSpec",
    "Severity",
    "spec",
]

Severity = Literal["warning", "error"]
FindingCode = Literal[
    "no_record",
    "legacy_params",
    "graph_not_checkable",
    "subset_or_reordered",
    "labels_renamed",
    "index_unreadable",
    "stale_result_suspected",
    "unsigned",
    "not_replayable",
    "graph_changed_by_step",
    "replay_inconclusive",
    "unrecorded_step",
    "graph_changed",
    "graph_missing",
    "labels_changed",
    "labels_missing",
    "params_mismatch",
    "invalid_record",
    "broken_chain",
    "newer_schema",
    "history_lost",
    "parent_missing",
    "stale_result",
    "representation_changed",
    "output_changed",
    "signature_invalid",
    "untrusted_signer",
    "signature_missing",
    "replay_differs",
    "rolled_back",
    "not_sealed",
    "unverified",
]


@dataclass(frozen=True)
class FindingSpec:
    """One row of the catalogue: what a finding code means and what to do about it."""

    code: FindingCode
    """The code findings carry (``Finding.code``), and the anchor ``finding-<code>`` in docs."""
    severity: Severity
    """``"warning"``: something cannot be checked, or a routine edit the record still explains
    (a rename, a subset); ``"error"``: something contradicts a record."""
    meaning: str
    """What was found, in one line (reST inline markup)."""
    remedy: str
    """What to do, in one line (reST inline markup)."""


# Warnings first, then errors; within each, the order of docs/findings.md.
CATALOGUE: tuple[FindingSpec, ...] = (
    FindingSpec(
        "no_record",
        "warning",
        "labels or scanpy parameters without a provenance record.",
        "re-run the clustering inside ``provenance.record(adata)``, or ``provenance adopt`` "
        "what scanpy left as a reconstructed record.",
    ),
    FindingSpec(
        "legacy_params",
        "warning",
        "parameters at scanpy's fixed key ``uns['leiden']`` / ``uns['louvain']`` that may "
        "belong to another run (scanpy <= 1.9 wrote them there whatever ``key_added`` was).",
        "do not read them as the parameters of any one labelling; the records of the other "
        "keys say how each was made.",
    ),
    FindingSpec(
        "graph_not_checkable",
        "warning",
        "the record cannot be compared with a graph in the object (``adjacency=``, an "
        "adopted record, a newer hash algorithm, a backed or dask matrix).",
        "store the graph in ``obsp`` and cluster with ``obsp=``; upgrade anndata-provenance; "
        "load the object into memory.",
    ),
    FindingSpec(
        "subset_or_reordered",
        "warning",
        "the object holds other cells than were clustered (a subset such as "
        "``adata[mask].copy()`` or ``sc.pp.subsample``, reordered or renamed ``obs_names``, "
        "or more cells: a concatenation), so its labels and graph are not compared with the "
        "record, which describes the cells clustered; found from the length of the ``obs`` "
        "index alone when data are not checked.",
        "nothing to do for an intended subset; audit the original object (or the parts of a "
        "concatenation) to check the labels, or re-cluster this one inside "
        "``provenance.record(adata)`` if it is what you analyse.",
    ),
    FindingSpec(
        "labels_renamed",
        "warning",
        "the clusters of ``obs[key]`` were renamed since clustering (the same cells in each, "
        "the old→new mapping proven from cell membership in ``details['mapping']``): the "
        "partition is the recorded one, under other names; on a result (markers, dendrogram) "
        "or a ``restrict_to`` sub-clustering made before: it holds, under the old names.",
        "nothing is wrong with the clustering; keep annotations under a new key "
        "(``adata.obs['cell_type'] = ...``) so the record keeps describing ``obs[key]``; "
        "re-run a result as the message prints it for one under the new names.",
    ),
    FindingSpec(
        "index_unreadable",
        "warning",
        "``uns['provenance_index']`` cannot be read, or names keys with neither an ``obs`` "
        "column nor a history; the histories are audited all the same.",
        "remove the entries it names of keys deleted on purpose, or delete "
        "``uns['provenance_index']``; the next ``provenance.record()`` writes a new one.",
    ),
    FindingSpec(
        "stale_result_suspected",
        "warning",
        "a result made without ``record()`` (markers, dendrogram, PAGA) names groups that are "
        "not the categories of its ``groupby`` column now, or the column is gone: it was "
        "probably computed from other labels (a weaker check than ``stale_result``).",
        "re-run it on the current labels, inside ``provenance.record(adata)`` so the next "
        "audit can tell exactly.",
    ),
    FindingSpec(
        "unsigned",
        "warning",
        "checked only under a trust policy (``trusted_keys=``, ``verify --trusted-key``): a "
        "record carries no signature (none before it in its history has one, none required).",
        "record inside ``provenance.record(adata, sign_with=...)`` (or with "
        "``PROVENANCE_SIGNING_KEY`` set); ``verify --require-signed`` to require signatures.",
    ),
    FindingSpec(
        "not_replayable",
        "warning",
        "checked only when asked and accepted (``deep=True, allow_unreplayable=True``): the "
        "latest record cannot be re-run to check its labels; ``details['cause']`` says why "
        "(backend missing, graph changed or missing, the ``restrict_to`` parent changed, not "
        "deterministic, an ``.h5mu`` file, the call failed).",
        "install the backend named, restore the recorded graph, or re-cluster with a fixed "
        "``random_state`` inside ``provenance.record(adata)``.",
    ),
    FindingSpec(
        "graph_changed_by_step",
        "warning",
        "the graph a record names changed since, and recorded steps explain it: their records "
        "lead from the recorded digest to the graph now (scanpy 1.11's ``sc.tl.umap`` zeroes "
        "some weights of the connectivities in place); ``details`` names the step, its scanpy "
        "and the entries changed, and ``proven`` whether undoing the kept changes gives the "
        "recorded graph (then ``verify --deep`` replays on it).",
        "nothing is wrong with the labels; to have the graph and the clustering agree, "
        "re-cluster after the step (or run ``sc.tl.umap`` before clustering, or on scanpy "
        ">= 1.12, which copies the graph).",
    ),
    FindingSpec(
        "replay_inconclusive",
        "warning",
        "checked only when asked (``deep=True``, ``verify --deep``): the re-run gave another "
        "partition, but a package that decides it (scanpy, igraph, leidenalg, louvain, muon; "
        "numpy for ``flavor='igraph'``) is not the recorded version, which alone can change a "
        "partition (``details['software']``: recorded vs installed).",
        "install the recorded versions (the message gives the ``pip install`` line) and "
        "``verify --deep`` again: then a difference is ``replay_differs``.",
    ),
    FindingSpec(
        "unrecorded_step",
        "warning",
        "the chain of recorded steps cannot explain the data: a record read a slot (``X``, "
        "``obsm['X_pca']``, a ``var`` column) at another digest than the step before it wrote "
        "(``details['cause']``: ``between``, named on the reading step), or what a recorded "
        "transform wrote differs in the object now (``after``, in memory only); no record is "
        "contradicted, but some change between them was made by no recorded call.",
        "re-run the pipeline from the step named inside ``provenance.record(adata)``, or "
        "make the change with a recorded call (``sc.pp.highly_variable_genes(subset=True)`` "
        "instead of ``adata[:, mask]``).",
    ),
    FindingSpec(
        "graph_changed",
        "error",
        "the graph the record names is in ``obsp`` but its fingerprint differs from the "
        "recorded one (edges, weights, dtype or nodes): on a clustering, the graph it "
        "clustered; on a ``sc.pp.neighbors`` step, a graph it wrote.",
        "re-cluster inside ``provenance.record(adata)`` on the current graph, or restore the "
        "recorded graph.",
    ),
    FindingSpec(
        "graph_missing",
        "error",
        "the graph the record names is gone from ``obsp``.",
        "restore it; a recomputed graph is checked against the recorded digest.",
    ),
    FindingSpec(
        "labels_changed",
        "error",
        "cells were reassigned since clustering: moved between clusters (merged, split, edited "
        "by hand) or left without a label (NaN); a rename of whole clusters is "
        "``labels_renamed``, category bookkeeping (reordered or unused categories) no change.",
        "re-run the clustering inside ``provenance.record(adata)``, or store hand edits under "
        "a new key.",
    ),
    FindingSpec(
        "labels_missing",
        "error",
        "the key has a history but ``obs[key]``, its labels, is gone.",
        "restore the column, or re-run the clustering inside ``provenance.record(adata)``.",
    ),
    FindingSpec(
        "params_mismatch",
        "error",
        "scanpy's ``uns[key]['params']`` (or ``['modularity']``; of a step: its copy of the "
        "arguments its plots read, as markers' ``groupby`` or PAGA's ``groups``) contradict the "
        "latest record on a field both hold, compared type-aware; a field one side lacks is not "
        "compared.",
        "put the recorded values back (``provenance.latest(adata, key).params``), or re-run "
        "the clustering inside ``provenance.record(adata)``.",
    ),
    FindingSpec(
        "invalid_record",
        "error",
        "a stored record or its container cannot be read, fails validation, or was copied "
        "from another key.",
        "restore the file from a copy you trust, or move the damaged history aside and "
        "re-run inside ``provenance.record(adata)``.",
    ),
    FindingSpec(
        "broken_chain",
        "error",
        "the history's hash chain does not hold, or it holds fewer entries than "
        "``uns['provenance_index']`` says were recorded (an emptied history included).",
        "do not trust the history's parameters; restore the file from a copy you trust, or "
        "re-run the clustering inside ``provenance.record(adata)``.",
    ),
    FindingSpec(
        "newer_schema",
        "error",
        "records written by a newer anndata-provenance than the one installed.",
        "``pip install -U anndata-provenance``; nothing is wrong with the file.",
    ),
    FindingSpec(
        "history_lost",
        "error",
        "the key had a history that is gone: ``uns['provenance_index']`` says so but "
        "``uns[key]`` holds none (re-clustered outside ``record()``), or "
        "``uns[key]['provenance']`` kept only its ``schema_version`` (``ad.concat`` merged "
        "objects), or a key with '/' was stored nested; or, with a ledger, a sealed key is gone.",
        "restore the history from an earlier copy, or re-run the clustering inside "
        "``provenance.record(adata)``.",
    ),
    FindingSpec(
        "parent_missing",
        "error",
        "a record names a parent record (the ``sc.pp.neighbors`` run a clustering clustered, "
        "a step a result read, the clustering whose labels it used) by key, version and "
        "digest, and no history of the object holds it: deleted, or its history was replaced.",
        "restore the parent's ``uns`` entry from a copy of the file, or re-run the parent and "
        "what was made from it inside ``provenance.record(adata)``.",
    ),
    FindingSpec(
        "stale_result",
        "error",
        "a recorded result (markers, dendrogram, PAGA) was computed from labels or a graph "
        "that changed since: the clustering was re-run, edited or deleted, its categories "
        "reordered under a result that indexes them by position (PAGA, a dendrogram), or the "
        "step it read was re-run; or a clustering made with ``restrict_to`` sub-clustered "
        "labels of its parent clustering that were re-clustered or edited since; or any "
        "recorded step (neighbors, embedding, clustering, transform) read a slot a recorded "
        "step re-made later (``remade``: a PCA re-run after the neighbors), or was made from "
        "a stale step's output (``upstream``); ``details['because']`` names the root step.",
        "re-run the result (or the sub-clustering) on the current labels inside "
        "``provenance.record(adata)`` (the message names the call), or restore the labels it "
        "was computed from.",
    ),
    FindingSpec(
        "representation_changed",
        "error",
        "checked only when asked (``check_representation=True``, ``verify "
        "--representation``): the matrix a recorded ``sc.pp.neighbors`` graph was computed "
        "from (``obsm['X_pca']``, ``use_rep``, ``X``) changed since, or is gone, so the graph "
        "no longer follows from the data beside it (a PCA re-run after the neighbors).",
        "restore the matrix the graph was computed from, or re-run ``sc.pp.neighbors`` (and "
        "what was clustered from it) inside ``provenance.record(adata)``.",
    ),
    FindingSpec(
        "output_changed",
        "error",
        "what a recorded step wrote changed since (``obsm['X_umap']`` of a recorded "
        "``sc.tl.umap``): its digest differs from the step's latest record, so the record "
        "no longer describes it (edited, or replaced outside ``record()``).",
        "re-run the step inside ``provenance.record(adata)`` (the message names the call), "
        "or restore what it wrote.",
    ),
    FindingSpec(
        "signature_invalid",
        "error",
        "checked only under a trust policy: a record's signature, made by a trusted key, "
        "does not match the record: it changed after it was signed (even with its digest, "
        "the index and scanpy's params recomputed to match).",
        "do not trust the record; restore the file from a copy you trust.",
    ),
    FindingSpec(
        "untrusted_signer",
        "error",
        "checked only under a trust policy: a record is signed by a key that is not among "
        "the trusted keys.",
        "add the signer's public key (``--trusted-key``) if you trust who holds it; "
        "otherwise treat the record as made by someone else.",
    ),
    FindingSpec(
        "signature_missing",
        "error",
        "checked only under a trust policy: a record carries no signature though a signed "
        "record precedes it in its history (``details['cause']`` ``after_signed``: appended "
        "without the key, or its signature removed), or though the policy requires "
        "signatures (``required``: ``require_signed=True``, ``verify --require-signed``).",
        "re-run inside ``provenance.record(adata, sign_with=...)`` if you made it; otherwise "
        "do not trust it and restore the file from a copy you trust.",
    ),
    FindingSpec(
        "replay_differs",
        "error",
        "checked only when asked (``deep=True``, ``verify --deep``): re-running the latest "
        "record on the recorded graph gives another partition than the labels (ARI/NMI in "
        "``details``): the record does not describe the call that made them (a forged record).",
        "do not trust the record; re-run the clustering inside ``provenance.record(adata)``.",
    ),
    FindingSpec(
        "rolled_back",
        "error",
        "with a ledger (``verify --ledger``): a sealed key or step's latest record is older "
        "than the sealed one (``older``), or another record holds the sealed version "
        "(``rewritten``): the file was rolled back or rewritten since it was sealed.",
        "do not take the file for the latest state; restore its sealed copy.",
    ),
    FindingSpec(
        "not_sealed",
        "error",
        "with a ledger: no seal names any record of the file (never sealed, or rolled back to "
        "before its first seal); on the key ``provenance_index``.",
        "verify against the ledger that sealed it; seal it once checked (``provenance seal``).",
    ),
    FindingSpec(
        "unverified",
        "error",
        "checked only when asked (``deep=True``, ``verify --deep``): the latest record cannot "
        "be re-run to check its labels (``details['cause']`` as for ``not_replayable``), so "
        "deep verification cannot vouch for it: a forger can make a record unreplayable.",
        "fix the cause (install the backend, restore the graph, re-cluster with a fixed "
        "``random_state``), or accept it with ``allow_unreplayable=True`` "
        "(``--allow-unreplayable``): a ``not_replayable`` warning.",
    ),
)

_BY_CODE: dict[str, FindingSpec] = {s.code: s for s in CATALOGUE}

WARNINGS: frozenset[str] = frozenset(s.code for s in CATALOGUE if s.severity == "warning")
"""The codes of severity ``"warning"``."""


def spec(code: str) -> FindingSpec:
    """The catalogue row of ``code``.

    Raises
    ------
    KeyError
        ``code`` is not in the catalogue.
    """
    try:
        return _BY_CODE[code]
    except KeyError:
        msg = f"{code!r} is not an audit finding code; add it to provenance._audit.catalogue."
        raise KeyError(msg) from None


@dataclass(frozen=True)
class Finding:
    """One problem found for one key."""

    code: FindingCode
    """What kind of problem: its meaning and what to do are in the catalogue of findings."""
    key: str
    """The key concerned: a clustering's (``obs`` column / ``uns`` key), or a step's ``uns``
    key (``"rank_genes_groups"``, ``"neighbors"``) for the findings of steps."""
    message: str
    """What was found and what to do, in one sentence or two."""
    details: dict[str, Any] = field(default_factory=dict)
    """JSON-safe facts behind the message (e.g. cluster counts then and now)."""

    def __post_init__(self) -> None:
        spec(self.code)  # a code outside the catalogue is a bug: fail where it is made

    @property
    def severity(self) -> Severity:
        """``"warning"`` for what cannot be checked or a routine edit, ``"error"`` for what
        contradicts a record."""
        return spec(self.code).severity

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "code": self.code,
            "severity": self.severity,
            "key": self.key,
            "message": self.message,
            "details": dict(self.details),
        }
