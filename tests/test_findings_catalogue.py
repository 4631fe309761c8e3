"""The catalogue of findings is the one source: codes, severities, docstring, docs and checks.

The checks are run on real scanpy clusterings of pbmc68k_reduced, damaged the ways users damage
them, so that every check returns findings and their order in the report can be compared.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import pytest
import scanpy as sc
from _audit_data import codes, edit_record, forget
from conftest import FAST

import provenance
from provenance._audit import report as report_module
from provenance._audit.catalogue import (
    CATALOGUE,
    WARNINGS,
    Finding,
    FindingCode,
    Severity,
    spec,
)
from provenance._audit.catalogue_doc import findings_doc
from provenance._audit.checks import CHECKS, run_checks
from provenance._audit.checks_steps import STEP_CHECKS
from provenance._audit.context import AuditContext, KeyContext, StepContext
from provenance._audit.keys import clustering_keys
from provenance._audit.ledger import CODES as LEDGER_CODES
from provenance._audit.legacy import FIXED_KEYS
from provenance._audit.signatures import CODES as SIGNATURE_CODES
from provenance._audit.steps import find_steps
from provenance._storage.files import open_source

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from anndata import AnnData

# sc.tl.dendrogram's pandas deprecations, scanpy's warnings, not ours: 1.12 calls
# DataFrame.set_index(inplace=True) (pandas 3.1), 1.9 groups without observed= (pandas 2.1).
pytestmark = [
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.set_index"),
    pytest.mark.filterwarnings("ignore:The default of observed=False is deprecated"),
]

DOCS = Path(__file__).resolve().parents[1] / "docs" / "findings.md"
CODES = tuple(s.code for s in CATALOGUE)


# --- the table and what is derived from it ---------------------------------------------------


def test_every_row_has_severity_meaning_and_remedy():
    assert len(set(CODES)) == len(CODES)
    for s in CATALOGUE:
        assert s.severity in get_args(Severity), s
        for text in (s.meaning, s.remedy):
            assert text.strip() and "\n" not in text and text.endswith("."), (s.code, text)


def test_the_literal_is_the_table():
    # A Literal cannot be built at run time for a type checker: it is written out, checked here.
    assert get_args(FindingCode) == CODES


def test_severities_come_from_the_table():
    assert {s.code for s in CATALOGUE if s.severity == "warning"} == WARNINGS
    for s in CATALOGUE:
        assert Finding(s.code, "k", "m").severity == s.severity == spec(s.code).severity
    with pytest.raises(KeyError, match="not an audit finding code"):
        Finding("no_such_code", "k", "m")  # type: ignore[arg-type]


def test_report_docstring_is_generated_from_the_table():
    doc = report_module.__doc__ or ""
    assert doc.startswith("The audit's report")
    assert findings_doc() in doc
    flat = " ".join(doc.split())
    for s in CATALOGUE:
        assert f"``{s.code}`` ({s.severity}): {' '.join(s.meaning.split())}" in flat
        assert " ".join(s.remedy.split()) in flat
    # The names tests and older code read from the report and audit modules are the table's.
    assert report_module.WARNINGS is WARNINGS and report_module.Finding is Finding


def test_docs_have_a_section_per_code_under_its_severity():
    text = DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^## (Warnings|Errors)$", text, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    documented = re.findall(r"^\(finding-(\w+)\)=$", text, flags=re.MULTILINE)
    assert sorted(documented) == sorted(CODES)
    for s in CATALOGUE:
        body = sections["Warnings" if s.severity == "warning" else "Errors"]
        assert f"(finding-{s.code})=\n### `{s.code}`" in body, s.code
    assert "```{provenance-findings}" in text  # the table is the directive's, from CATALOGUE


def test_every_code_has_a_check_that_returns_it():
    declared = [c for check in (*CHECKS, *STEP_CHECKS) for c in check.codes]
    assert set(declared) <= set(CODES)
    # Two codes are found across keys, not per key: the index's, and scanpy's fixed keys; one
    # only when asked (check_representation=True, tests/test_representation.py; deep=True,
    # tests/test_deep_verify.py).
    across = {
        "index_unreadable",
        "legacy_params",
        "representation_changed",
        "replay_differs",
        "replay_inconclusive",
        "not_replayable",
        "unverified",
        "unrecorded_step",  # across every record of the object (_audit/checks_pipeline.py)
    }
    # The signature checks run only under a trust policy, across every history
    # (_audit/signatures.py; tests/test_signing.py).
    across |= set(SIGNATURE_CODES)
    # The ledger's, only with a ledger (_audit/ledger.py; tests/test_ledger.py).
    across |= set(LEDGER_CODES)
    assert set(declared) | across == set(CODES)
    assert [c.name for c in CHECKS] == [
        "check_records",
        "check_chain",
        "check_lost",
        "check_unrecorded",
        "check_params",
        "check_subset",
        "check_labels",
        "check_graph",
        "check_restricted",
        "check_parents",
    ]
    assert [c.name for c in STEP_CHECKS] == [
        "check_records",
        "check_chain",
        "check_step_lost",
        "check_step_cells",
        "check_step_params",
        "check_step_graphs",
        "check_stale",
        "check_parents",
        "check_output",
        "check_suspected",
    ]


# --- the checks on real damage ---------------------------------------------------------------


def _damaged(pbmc: AnnData) -> AnnData:
    """Recorded clusterings, each damaged in its own way (several findings on some keys)."""
    adata = pbmc
    sc.pp.neighbors(adata, n_neighbors=10, key_added="nb2")
    sc.pp.neighbors(adata, n_neighbors=10, key_added="nb3")
    adjacency = adata.obsp["connectivities"].copy()
    with provenance.record(adata):
        for i, key in enumerate("abcdegh"):
            sc.tl.leiden(adata, resolution=0.4 + 0.1 * i, key_added=key, **FAST)
        sc.tl.leiden(adata, adjacency=adjacency, key_added="f", **FAST)
        sc.tl.leiden(adata, neighbors_key="nb2", key_added="i", **FAST)
        sc.tl.leiden(adata, neighbors_key="nb3", key_added="j", **FAST)
        sc.tl.leiden(adata, restrict_to=("a", ["0"]), key_added="k", **FAST)
        sc.tl.rank_genes_groups(adata, groupby="a", method="t-test", key_added="rgg_a")
        sc.tl.rank_genes_groups(adata, groupby="b", method="t-test", key_added="rgg_b")
        sc.tl.rank_genes_groups(adata, groupby="e", method="t-test", key_added="rgg_e")
        sc.pp.neighbors(adata, n_neighbors=10, key_added="nb4")
        sc.tl.leiden(adata, neighbors_key="nb4", key_added="m", **FAST)
        sc.pp.neighbors(adata, n_neighbors=10, key_added="nb5")
    sc.tl.dendrogram(adata, groupby="g")  # unrecorded, of a column deleted below

    def rename(key: str) -> None:
        col = adata.obs[key]
        adata.obs[key] = col.cat.rename_categories([f"T{c}" for c in col.cat.categories])

    def merge(key: str) -> None:
        adata.obs[key] = adata.obs[key].astype(str).replace({"1": "0"}).astype("category")

    def resolution(value: object) -> Callable[[dict[str, Any]], None]:
        def change(obj: dict[str, Any]) -> None:
            obj["params"]["resolution"] = value

        return change

    def newer(obj: dict[str, Any]) -> None:
        obj["schema_version"] = "9.0"

    adata.uns["a"]["params"]["resolution"] = 9.0  # params_mismatch
    rename("a")  # labels_renamed, for rgg_a (its groups keep the old names) and k too
    # history_lost for rgg_b: re-run outside record(), scanpy wipes the history
    sc.tl.rank_genes_groups(adata, groupby="b", method="t-test", key_added="rgg_b")
    edit_record(adata, "b", 0, resolution(2.0))  # broken_chain, params_mismatch
    edit_record(adata, "c", 0, newer)  # newer_schema
    edit_record(adata, "d", 0, resolution("high"))  # invalid_record
    del adata.obs["e"]  # labels_missing; stale_result for rgg_e
    merge("f")  # labels_changed, graph_not_checkable (adjacency=)
    # index_unreadable: the index names a key that is gone; stale_result_suspected for
    # dendrogram_g (its column is gone)
    del adata.obs["g"], adata.uns["g"]
    del adata.uns["h"]["provenance"]  # history_lost
    sc.pp.neighbors(adata, n_neighbors=5, key_added="nb2")  # graph_changed for i
    del adata.obsp["nb3_connectivities"]  # graph_missing for j
    forget(adata, "nb4")  # parent_missing for m: the neighbors record it names is gone
    adata.obsp["nb5_distances"].data[:100] *= 2  # graph_changed for the step nb5
    adata.uns["nb5"]["params"]["n_neighbors"] = 50  # and params_mismatch: scanpy's copy
    adata.uns["leiden_x"] = {"params": {"resolution": 1.0}}  # no_record (uns only)
    adata.uns["leiden"] = {"params": {"resolution": 1.0}}  # legacy_params
    return adata


@pytest.fixture(scope="module")
def damaged(_pbmc_master: AnnData) -> AnnData:
    return _damaged(_pbmc_master.copy())


def _by_check(adata: AnnData | str) -> dict[str, dict[str, list[Finding]]]:
    """key -> check name -> findings, each check called on its own (a step key's by
    ``STEP_CHECKS``)."""
    out: dict[str, dict[str, list[Finding]]] = {}
    with open_source(adata, check_data=True) as src:
        audit = AuditContext(src)
        for key in clustering_keys(src, None, audit.index):
            ctx = KeyContext(audit, key)
            out[key] = {c.name: c(ctx) for c in CHECKS}
            assert run_checks(KeyContext(audit, key)) == _in_report_order(out[key])
        for key, kind in find_steps(src).items():
            step = StepContext(audit, key)
            step.kind = kind
            out[key] = {c.name: c(step) for c in STEP_CHECKS}
    return out


def _in_report_order(
    found: dict[str, list[Finding]], checks: tuple[Any, ...] = CHECKS
) -> tuple[Finding, ...]:
    in_checks_order = [f for c in checks for f in found[c.name]]
    return tuple(sorted(in_checks_order, key=lambda f: f.severity != "error"))


def test_damage_gives_the_expected_findings(damaged):
    report = provenance.audit(damaged)
    expected = {
        "a": ["params_mismatch", "labels_renamed"],
        "b": ["broken_chain", "params_mismatch"],
        "c": ["newer_schema"],
        "d": ["invalid_record"],
        "e": ["labels_missing"],
        "f": ["labels_changed", "graph_not_checkable"],  # errors first
        "h": ["history_lost"],
        "i": ["graph_changed"],
        "j": ["graph_missing"],
        "k": ["labels_renamed"],  # restrict_to a renamed parent: true, under old names
        "m": ["parent_missing"],
        "louvain": ["no_record"],
        "leiden_x": ["no_record"],
        "leiden": ["legacy_params"],
        "provenance_index": ["index_unreadable"],
    }
    assert {e.key: codes(report, e.key) for e in report.entries} == expected
    steps = {s.key: [f.code for f in s.findings] for s in report.steps if s.findings}
    assert steps == {
        "rgg_a": ["labels_renamed"],  # "a" renamed: the markers name its old groups
        "rgg_b": ["history_lost"],
        "rgg_e": ["stale_result"],
        "nb5": ["params_mismatch", "graph_changed"],
        "dendrogram_g": ["stale_result_suspected"],
    }
    # Every code of the catalogue is produced by this one damaged object, but one that
    # concerns the whole object: other cells (its subset, in the next test), and one checked
    # only when asked (tests/test_representation.py, tests/test_deep_verify.py, test_signing.py).
    # The codes of a recorded sc.tl.umap have their own module (tests/test_umap.py), which
    # pays numba's compilation once: graph_changed_by_step arises on scanpy 1.11 only.
    only_asked = {
        "subset_or_reordered",
        "representation_changed",
        "replay_differs",
        "replay_inconclusive",
        "not_replayable",
        "unverified",
        "graph_changed_by_step",
        "output_changed",
        "unrecorded_step",  # a pipeline's (tests/test_pipeline_audit.py, the verdict rows)
        *SIGNATURE_CODES,
        "rolled_back",  # with a ledger (tests/test_ledger.py)
        "not_sealed",
    }
    assert {f.code for f in report.findings} == set(CODES) - only_asked
    assert "subset_or_reordered" in {f.code for f in provenance.audit(damaged[::2]).findings}


def test_each_check_returns_only_its_codes_and_each_runs(damaged, pbmc, tmp_path):
    subset = damaged[::2].copy()
    path = tmp_path / "damaged.h5ad"
    damaged.write_h5ad(path)
    returned: dict[str, set[str]] = {c.name: set() for c in (*CHECKS, *STEP_CHECKS)}
    for obj in (damaged, subset, str(path)):
        for found in _by_check(obj).values():
            for check in (*CHECKS, *STEP_CHECKS):
                if check.name not in found:
                    continue
                got = {f.code for f in found[check.name]}
                assert got <= set(check.codes), (check.name, got)
                returned[check.name] |= got
    # Every check found something somewhere; check_output needs a recorded sc.tl.umap
    # (tests/test_umap.py).
    assert all(v for k, v in returned.items() if k != "check_output"), returned
    assert "subset_or_reordered" in returned["check_subset"]
    assert "subset_or_reordered" in returned["check_step_cells"]


@pytest.mark.parametrize("copy", ["memory", "subset", "file"])
def test_the_report_keeps_checks_order_errors_first(damaged, tmp_path, copy):
    obj: AnnData | str = damaged
    if copy == "subset":
        obj = damaged[::2].copy()
    elif copy == "file":
        obj = str(tmp_path / "damaged.h5ad")
        damaged.write_h5ad(obj)
    report = provenance.audit(obj)
    steps = {s.key: s for s in report.steps}
    for key, found in _by_check(obj).items():
        if key in steps:
            assert steps[key].findings == _in_report_order(found, STEP_CHECKS), key
            continue
        expected = _in_report_order(found)
        got = report[key].findings
        # legacy_params is found across keys, after the per-key checks: it comes last.
        assert got[: len(expected)] == expected, key
        assert all(f.code == "legacy_params" for f in got[len(expected) :])
        assert key in FIXED_KEYS or len(got) == len(expected)
