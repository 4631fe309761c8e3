"""The audit and diff on real scanpy clusterings of pbmc68k_reduced: each finding from a workflow."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import scanpy as sc
from _audit_data import (
    RECORDED,
    codes,
    drop_unrecorded,
    edit_history,
    edit_record,
    only,
    sweep,
)
from conftest import ANNDATA, FAST, SCANPY, write_zarr

import provenance
from provenance import UnknownKeyError


@pytest.fixture(scope="module")
def _swept_master(_pbmc_master):
    return sweep(_pbmc_master.copy())


@pytest.fixture
def swept(_swept_master):
    """pbmc68k_reduced with a recorded sweep (and its own unrecorded ``louvain``)."""
    return _swept_master.copy()


# --- clean states ----------------------------------------------------------------------------


def test_pbmc_as_shipped_is_a_warning_not_an_error(pbmc):
    report = provenance.audit(pbmc)
    assert [e.key for e in report.entries] == ["louvain"]  # not bulk_labels, not phase
    assert codes(report, "louvain") == ["no_record"]
    assert report["louvain"].status == "warning"
    assert report["louvain"].scanpy_params == {"random_state": 0, "resolution": 1}
    assert report.ok


def test_fresh_sweep_audits_clean(swept):
    report = provenance.audit(swept)
    assert report.ok
    assert {e.key for e in report.entries} == {*RECORDED, "louvain"}
    for key in RECORDED:
        entry = report[key]
        assert entry.status == "ok", entry.findings
        assert entry.checked
        assert entry.latest == provenance.latest(swept, key)
    assert len(report["leiden_1.0"].history) == 2
    # The shipped louvain params sit beside a recorded louvain key, which cannot have written
    # them (the recorder keeps the fixed key): no legacy_params false alarm.
    assert codes(report, "louvain") == ["no_record"]


@pytest.mark.parametrize("fmt", ["h5ad", "zarr2", "zarr3"])
def test_fresh_sweep_audits_clean_from_a_file(swept, tmp_path, fmt):
    drop_unrecorded(swept)
    path = tmp_path / ("s.h5ad" if fmt == "h5ad" else f"s.{fmt}.zarr")
    if fmt == "h5ad":
        swept.write_h5ad(path)
    else:
        write_zarr(swept, path, zarr_format=int(fmt[-1]))
    report = provenance.audit(path)
    assert report.ok
    assert report.findings == ()
    assert report.source == str(path)
    assert report.n_obs == swept.n_obs
    assert [e.key for e in report.entries] == list(RECORDED)
    expected = provenance.audit(swept).to_dict()["entries"]
    if ANNDATA < (0, 11):  # anndata 0.10 leaves None values out of uns when it writes
        for e in expected:
            e["scanpy_params"] = {k: v for k, v in e["scanpy_params"].items() if v is not None}
    assert report.to_dict()["entries"] == expected


# --- graph -----------------------------------------------------------------------------------


def test_neighbors_rerun_is_graph_changed(swept):
    sc.pp.neighbors(swept, n_neighbors=5)
    report = provenance.audit(swept)
    assert not report.ok
    for key in RECORDED:
        f = only(report, key, "graph_changed")
        assert f.severity == "error"
        assert "obsp['connectivities']" in f.message and key in f.message
        assert f.details["n_edges_now"] < f.details["n_edges_then"]
    # Without data checks only the records themselves are audited.
    unchecked = provenance.audit(swept, check_data=False)
    assert unchecked.ok and not unchecked.checked_data
    assert not any(e.checked for e in unchecked.entries)


def test_deleted_graph_is_graph_missing(swept):
    del swept.obsp["connectivities"]
    report = provenance.audit(swept)
    for key in RECORDED:
        assert codes(report, key) == ["graph_missing"]
    assert not report.ok


def test_adjacency_argument_is_not_checkable(pbmc):
    adjacency = pbmc.obsp["connectivities"].copy()
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, adjacency=adjacency, key_added="adj", **FAST)
    report = provenance.audit(pbmc)
    f = only(report, "adj", "graph_not_checkable")
    assert f.severity == "warning" and "adjacency" in f.message
    assert report.ok


# --- labels ----------------------------------------------------------------------------------


def test_renamed_categories_are_a_rename(swept):
    col = swept.obs["leiden_0.5"]
    swept.obs["leiden_0.5"] = col.cat.rename_categories([f"T{c}" for c in col.cat.categories])
    report = provenance.audit(swept)
    f = only(report, "leiden_0.5", "labels_renamed")
    assert f.severity == "warning" and report.ok  # a routine edit: verify exits 0
    assert f.details["kind"] == "rename"
    assert f.details["n_clusters_then"] == f.details["n_clusters_now"]
    assert "renamed" in f.message and "0→T0" in f.message
    assert report["leiden_1.0"].status == "ok"


def test_merged_clusters_are_a_reassignment(swept):
    col = swept.obs["leiden_1.0"]
    n = len(col.cat.categories)
    merged = col.astype(str).replace({"1": "0"}).astype("category")
    swept.obs["leiden_1.0"] = merged
    report = provenance.audit(swept)
    f = only(report, "leiden_1.0", "labels_changed")
    assert f.details["kind"] == "reassignment" and not report.ok
    assert (f.details["n_clusters_then"], f.details["n_clusters_now"]) == (n, n - 1)
    assert f"{n} clusters then, {n - 1} now" in f.message
    assert "merged, split" in f.message and f.details["n_unlabelled"] == 0


def test_nan_labels_say_cells_lost_their_labels(swept):
    col = swept.obs["leiden_1.0"].copy()
    col.iloc[:3] = np.nan
    swept.obs["leiden_1.0"] = col
    report = provenance.audit(swept)
    f = only(report, "leiden_1.0", "labels_changed")
    assert f.details["kind"] == "reassignment" and f.details["n_unlabelled"] == 3
    assert "3 cells lost their labels (NaN in obs['leiden_1.0']" in f.message
    assert "merged, split" not in f.message


def test_deleted_labels_are_labels_missing(swept):
    del swept.obs["louvain_igraph"]
    report = provenance.audit(swept)
    assert codes(report, "louvain_igraph") == ["labels_missing"]


# --- object ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("how", "index"), [("subset", slice(None, None, 2)), ("reorder", None)])
def test_subset_or_reordered(swept, how, index):
    if index is None:
        index = np.random.default_rng(0).permutation(swept.n_obs)
    view = swept[index].copy()
    report = provenance.audit(view)
    for key in RECORDED:
        f = only(report, key, "subset_or_reordered")
        assert codes(report, key) == ["subset_or_reordered"]  # no noise from digests
        assert f.severity == "warning" and "cannot be checked" not in f.message
        if how == "subset":
            assert f.details == {"n_obs_then": 700, "n_obs_now": 350}
            assert "350 of the 700 cells clustered: a subset" in f.message
        else:
            assert "reordered" in f.message
    assert report.ok  # a subset is routine: nothing contradicts a record


def test_a_transposed_object_is_said_to_hold_genes_not_cells(swept, tmp_path):
    report = provenance.audit(swept.T)
    # Nothing is missing or contradicted: the cells are the variables now (warnings only).
    assert report.ok and str(report).startswith(
        "Provenance audit — OK: AnnData object, 765 genes (transposed"
    )
    assert "765 cells" not in str(report) and "765 cells" not in report._repr_html_()
    f = only(report, "leiden_0.5", "subset_or_reordered")
    assert f.details["transposed"] is True and "the object is transposed (adata.T)" in f.message
    assert "765 observations are the variables (genes)" in f.message
    path = tmp_path / "t.h5ad"
    swept.T.write_h5ad(path)
    shown = provenance.audit(str(path), check_data=False)  # what show reads
    f = only(shown, "leiden_0.5", "subset_or_reordered")
    assert f.details["transposed"] is True and "concatenated" not in f.message
    assert provenance.audit(swept).transposed is False
    assert provenance.audit(swept).observations == "700 cells"


def test_history_of_a_subset_says_the_versions_are_of_different_cells(swept, capsys):
    sub = swept[swept.obs["bulk_labels"] != "Dendritic"].copy()
    sc.pp.neighbors(sub, n_neighbors=10)
    with provenance.record(sub):
        sc.tl.leiden(sub, key_added="leiden_1.0", **FAST)
    provenance.show(sub, "leiden_1.0")
    last = " ".join(capsys.readouterr().out.split()).rsplit("changed:", 1)[1]  # v2 → v3
    assert f"n_obs: 700 → {sub.n_obs}" in last
    assert "partition: of other cells (the versions were made on different cells)" in last
    assert "different cells grouped together" not in last


# --- records ---------------------------------------------------------------------------------


def test_edited_field_breaks_the_chain(swept):
    def change(obj):
        obj["params"]["resolution"] = 2.0

    edit_record(swept, "leiden_0.5", 0, change)
    assert provenance.latest(swept, "leiden_0.5").params.resolution == 2.0  # still valid
    report = provenance.audit(swept)
    f = only(report, "leiden_0.5", "broken_chain")
    assert "version 1 was edited" in f.message
    assert not report.ok


@pytest.mark.parametrize("drop", [0, 1])
def test_removed_history_entry_breaks_the_chain(swept, drop):
    edit_history(swept, "leiden_1.0", lambda texts: [t for i, t in enumerate(texts) if i != drop])
    report = provenance.audit(swept)
    f = only(report, "leiden_1.0", "broken_chain")
    assert "leiden_1.0" in f.message
    if drop == 1:  # the last entry: only the index knows it existed
        assert "provenance_index" in f.message


def test_newer_schema_says_upgrade(swept):
    def change(obj):
        obj["schema_version"] = "9.0"

    edit_record(swept, "leiden_1.0", 1, change)
    report = provenance.audit(swept)
    f = only(report, "leiden_1.0", "newer_schema")
    assert "9.0" in f.message and "pip install -U anndata-provenance" in f.message
    assert f.severity == "error"
    assert len(report["leiden_1.0"].history) == 1  # the readable version is still shown


def test_invalid_field_is_named(swept):
    def change(obj):
        obj["params"]["resolution"] = "high"

    edit_record(swept, "leiden_0.5", 0, change)
    report = provenance.audit(swept)
    f = only(report, "leiden_0.5", "invalid_record")
    assert "resolution" in f.message and "'leiden_0.5'" in f.message


def test_unreadable_history_in_a_file_is_a_finding(swept, tmp_path):
    path = tmp_path / "bad.h5ad"
    swept.write_h5ad(path)
    with h5py.File(path, "r+") as f:
        del f["uns/leiden_0.5/provenance/history"]
        f["uns/leiden_0.5/provenance/history"] = np.arange(3)
    report = provenance.audit(path)
    assert codes(report, "leiden_0.5") == ["invalid_record"]
    assert report["leiden_1.0"].status == "ok"


@pytest.mark.skipif(
    SCANPY < (1, 10), reason="scanpy 1.9 writes the rerun's params to uns['leiden']: no wipe"
)
def test_history_wiped_by_scanpy_is_history_lost(swept):
    sc.tl.leiden(swept, resolution=0.3, key_added="leiden_0.5", **FAST)
    report = provenance.audit(swept)
    f = only(report, "leiden_0.5", "history_lost")
    assert f.severity == "error" and "outside provenance.record()" in f.message


# --- legacy ----------------------------------------------------------------------------------


def test_scanpy_19_fixed_key_params_are_legacy(pbmc):
    drop_unrecorded(pbmc)
    # What scanpy <= 1.9 left after a sweep: labels under key_added, the params of the last
    # run at the fixed key uns["leiden"].
    for r in (0.8, 1.2):
        key = f"leiden_{r}"
        sc.tl.leiden(pbmc, resolution=r, key_added=key, **FAST)
        if SCANPY >= (1, 10):  # scanpy 1.9 writes there itself
            pbmc.uns["leiden"] = pbmc.uns.pop(key)
    report = provenance.audit(pbmc)
    assert codes(report, "leiden_0.8") == ["no_record"]
    assert codes(report, "leiden_1.2") == ["no_record"]
    f = only(report, "leiden", "legacy_params")
    assert "'leiden_0.8'" in f.message and "'leiden_1.2'" in f.message
    assert report["leiden"].scanpy_params["resolution"] == 1.2
    assert report.ok


def test_default_key_beside_a_later_unrecorded_run(pbmc):
    """sc.tl.leiden() under its default key, then a second key, both outside record()."""
    drop_unrecorded(pbmc)
    sc.tl.leiden(pbmc, resolution=0.5, **FAST)
    sc.tl.leiden(pbmc, resolution=1.5, key_added="leiden_1.5", **FAST)
    report = provenance.audit(pbmc)
    assert report["leiden"].scanpy_params["resolution"] == (1.5 if SCANPY < (1, 10) else 0.5)
    if SCANPY >= (1, 10):
        # leiden_1.5 got its own uns params, so uns["leiden"] is obs["leiden"]'s own.
        assert codes(report, "leiden") == ["no_record"]
        assert codes(report, "leiden_1.5") == ["no_record"]
    else:
        # scanpy 1.9 wrote leiden_1.5's params over the default key's: flagged.
        f = only(report, "leiden", "legacy_params")
        assert "'leiden_1.5'" in f.message


def test_recorded_key_edited_since_stays_a_suspect(swept):
    """A recorded key whose labels changed may have been re-run on old scanpy outside record()."""
    drop_unrecorded(swept)
    sc.tl.leiden(swept, resolution=0.5, **FAST)  # obs["leiden"] + its params at uns["leiden"]
    report = provenance.audit(swept)
    assert codes(report, "leiden") == ["no_record"]
    col = swept.obs["leiden_1.0"]
    swept.obs["leiden_1.0"] = col.astype(str).replace({"1": "0"}).astype("category")
    report = provenance.audit(swept)
    assert "labels_changed" in codes(report, "leiden_1.0")
    f = only(report, "leiden", "legacy_params")
    assert "'leiden_1.0'" in f.message and "'leiden_0.5'" not in f.message


# --- report object ---------------------------------------------------------------------------


def test_one_key_and_unknown_key(swept):
    report = provenance.audit(swept, "leiden_1.0")
    assert [e.key for e in report.entries] == ["leiden_1.0"]
    assert report.key == "leiden_1.0"
    with pytest.raises(UnknownKeyError, match="'nope' is neither in obs nor in uns"):
        provenance.audit(swept, "nope")


def test_to_dict_is_json_and_to_frame_has_a_row_per_entry(swept):
    sc.pp.neighbors(swept, n_neighbors=5)
    report = provenance.audit(swept)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["ok"] is False and d["n_errors"] == 3 and d["n_warnings"] == 1
    entry = next(e for e in d["entries"] if e["key"] == "leiden_1.0")
    assert [r["version"] for r in entry["history"]] == [1, 2]
    assert entry["findings"][0]["code"] == "graph_changed"
    frame = report.to_frame()
    assert list(frame.index) == [e.key for e in report.entries]
    assert frame.loc["leiden_0.5", "status"] == "error"
    assert frame.loc["leiden_0.5", "resolution"] == 0.5
    assert "graph_changed" in frame.loc["leiden_0.5", "findings"]


# --- diff ------------------------------------------------------------------------------------


def test_diff_two_keys(swept):
    d = provenance.diff(swept, "leiden_0.5", "leiden_1.0")
    assert (d.a, d.b) == ("leiden_0.5@v1", "leiden_1.0@v2")
    fields = {(r.section, r.field): (r.a, r.b) for r in d.rows}
    assert fields[("params", "resolution")] == (0.5, 1.0)
    assert fields[("params", "random_state")] == (0, 42)
    assert ("graph", "digest") not in fields  # same graph: left out by default
    assert all(not r.same for r in d.rows)
    full = provenance.diff(swept, "leiden_0.5", "leiden_1.0", all=True)
    assert len(full.rows) == full.n_compared > len(d.rows)
    assert {s for s in ("params", "graph", "software", "result")} == {r.section for r in full.rows}
    text = str(d)
    assert "resolution" in text and "leiden_0.5@v1" in text
    assert json.loads(json.dumps(d.to_dict()))["identical"] is False


def test_diff_versions(swept):
    d = provenance.diff(swept, ("leiden_1.0", 1), ("leiden_1.0", -1))
    changed = {r.field for r in d.rows if r.section == "params"}
    assert changed == {"n_iterations", "random_state"}
    assert provenance.diff(swept, ("leiden_1.0", 2), "leiden_1.0").identical


@pytest.mark.parametrize("version", [True, False, 0, 3, -3])
def test_diff_bad_version_is_refused(swept, version):
    with pytest.raises(provenance.UnknownVersionError, match=r"'leiden_1.0'.*1\.\.2.*-1\.\.-2"):
        provenance.diff(swept, ("leiden_1.0", version), "leiden_0.5")


def test_diff_errors(swept):
    with pytest.raises(provenance.ProvenanceError, match="has 2 versions; version 3"):
        provenance.diff(swept, ("leiden_1.0", 3), "leiden_0.5")
    with pytest.raises(provenance.ProvenanceError, match="'louvain' has no provenance record"):
        provenance.diff(swept, "louvain", "leiden_0.5")
    with pytest.raises(UnknownKeyError):
        provenance.diff(swept, "nope", "leiden_0.5")


def test_import_stays_light():
    code = (
        "import sys, provenance\n"
        "heavy = {'scanpy', 'anndata', 'h5py', 'zarr', 'IPython', 'rich', 'pandas'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_report_names_stay_importable_from_audit():
    # docs and older code import these from provenance._audit.audit; they live in report/legacy.
    from typing import get_args

    from provenance._audit import audit as _audit
    from provenance._audit import legacy as _legacy
    from provenance._audit import report as _report

    for name in ("AuditEntry", "AuditReport", "Finding", "FindingCode", "WARNINGS"):
        assert getattr(_audit, name) is getattr(_report, name)
    assert provenance.AuditReport is _audit.AuditReport
    assert _audit.FIXED_KEYS == _legacy.FIXED_KEYS == ("leiden", "louvain")
    assert set(_report.WARNINGS) < set(get_args(_report.FindingCode))
