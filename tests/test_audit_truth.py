"""A truthful audit (issue 12): no alarm on bookkeeping, no "OK" on a contradiction, no silent loss.

Every case is built from real scanpy runs on pbmc68k_reduced, in memory and through ``.h5ad``
and ``.zarr`` files where a file is involved.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from _audit_data import RECORDED, codes, drop_unrecorded, only, sweep
from conftest import FAST, SCANPY, write_zarr

import provenance
from provenance import InvalidRecordError, NewerSchemaError, UnknownKeyError
from provenance._cli import main

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

    from provenance import AuditReport

WHERE = ["memory", "h5ad", "zarr"]


@pytest.fixture(scope="module")
def _swept_master(_pbmc_master):
    return drop_unrecorded(sweep(_pbmc_master.copy()))


@pytest.fixture
def swept(_swept_master):
    """pbmc68k_reduced with a recorded sweep (leiden_1.0 has two versions), nothing unrecorded."""
    return _swept_master.copy()


def write(adata: AnnData, tmp_path: Path, where: str) -> Path:
    path = tmp_path / ("t.h5ad" if where == "h5ad" else "t.zarr")
    if where == "h5ad":
        adata.write_h5ad(path)
    else:
        write_zarr(adata, path)
    return path


def audit_at(adata: AnnData, tmp_path: Path, where: str, **kw) -> AuditReport:
    """Audit ``adata`` in memory, or the file it is written to."""
    if where == "memory":
        return provenance.audit(adata, **kw)
    return provenance.audit(write(adata, tmp_path, where), **kw)


# --- 1. category bookkeeping is not relabelling ------------------------------------------------


def _reorder(col):
    return col.cat.reorder_categories(list(reversed(col.cat.categories)))


BOOKKEEPING = {
    "reorder": _reorder,
    "add_unused": lambda col: col.cat.add_categories(["unused"]),
    "reorder_add_then_drop_unused": lambda col: _reorder(
        col.cat.add_categories(["unused"])
    ).cat.remove_unused_categories(),
    "set_categories": lambda col: col.cat.set_categories(["unused", *reversed(col.cat.categories)]),
}


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("edit", sorted(BOOKKEEPING))
def test_category_bookkeeping_is_not_a_change(swept, tmp_path, where, edit):
    before = swept.obs["leiden_0.5"].astype(str)
    swept.obs["leiden_0.5"] = BOOKKEEPING[edit](swept.obs["leiden_0.5"])
    assert (swept.obs["leiden_0.5"].astype(str) == before).all()  # every cell keeps its label
    assert list(swept.obs["leiden_0.5"].cat.categories) != list(
        before.astype("category").cat.categories
    )
    report = audit_at(swept, tmp_path, where)
    assert codes(report, "leiden_0.5") == []
    assert report.ok, report.findings


@pytest.mark.parametrize("where", WHERE)
def test_rename_mapping_comes_from_membership_not_position(swept, tmp_path, where):
    key = "leiden_0.5"
    col = swept.obs[key]
    # A routine annotation: one cluster named, then categories sorted for a legend. Position
    # pairs old and new categories wrongly ("10" is now where "1" was, and so on).
    renamed = col.cat.rename_categories({"3": "T cells"})
    swept.obs[key] = renamed.cat.reorder_categories(sorted(renamed.cat.categories))
    report = audit_at(swept, tmp_path, where)
    f = only(report, key, "labels_renamed")
    assert f.severity == "warning"
    assert f.details["kind"] == "rename"
    assert f.details["mapping"] == {"3": "T cells"}
    assert "3→T cells" in f.message and "1 of" in f.message


def test_swapped_names_are_a_rename_with_the_swap(swept):
    key = "leiden_0.5"
    col = swept.obs[key]
    # The same categories in the same order, but the cells of "0" and "1" trade names.
    swapped = col.astype(str).map({"0": "1", "1": "0"}).fillna(col.astype(str))
    swept.obs[key] = swapped.astype(col.dtype)
    assert list(swept.obs[key].cat.categories) == list(col.cat.categories)
    f = only(provenance.audit(swept), key, "labels_renamed")
    assert f.details["kind"] == "rename"
    assert f.details["mapping"] == {"0": "1", "1": "0"}


def test_moved_cells_stay_a_reassignment_not_bookkeeping(swept):
    key = "leiden_0.5"
    col = swept.obs[key]
    # Reorder the categories (bookkeeping) and also move one cell: a change.
    edited = _reorder(col).copy()
    first = edited.iloc[0]
    edited.iloc[0] = next(c for c in edited.cat.categories if c != first)
    swept.obs[key] = edited
    f = only(provenance.audit(swept), key, "labels_changed")
    assert f.details["kind"] == "reassignment"
    assert "mapping" not in f.details


# --- 2. scanpy's own params against the record -----------------------------------------------

EDITS = {"resolution": 0.9, "random_state": 7, "n_iterations": 5}


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("field", sorted(EDITS))
def test_edited_scanpy_params_are_params_mismatch(swept, tmp_path, where, field):
    key = "leiden_0.5"
    recorded = provenance.latest(swept, key).params.model_dump(by_alias=True)[field]
    swept.uns[key]["params"][field] = EDITS[field]
    assert EDITS[field] != recorded
    for check_data in (True, False):
        report = audit_at(swept, tmp_path, where, check_data=check_data)
        f = only(report, key, "params_mismatch")
        assert f.severity == "error" and not report.ok
        assert f.details["fields"] == {field: {"uns": EDITS[field], "record": recorded}}
        assert f.details["version"] == 1
        assert field in f.message and "digest still holds" in f.message
        assert codes(report, "leiden_1.0") == []  # the other keys stay clean


@pytest.mark.skipif(SCANPY < (1, 12), reason="scanpy < 1.12 writes no uns[key]['modularity']")
@pytest.mark.parametrize("where", WHERE)
def test_edited_scanpy_modularity_is_params_mismatch(swept, tmp_path, where):
    key = "leiden_0.5"
    recorded = provenance.latest(swept, key).result.modularity
    assert recorded is not None and swept.uns[key]["modularity"] == recorded
    swept.uns[key]["modularity"] = recorded + 0.1
    f = only(audit_at(swept, tmp_path, where), key, "params_mismatch")
    assert f.details["fields"]["modularity"]["record"] == recorded


@pytest.mark.parametrize("where", WHERE)
def test_params_equal_across_types_are_not_a_mismatch(pbmc, tmp_path, where):
    drop_unrecorded(pbmc)
    with provenance.record(pbmc):
        # An int resolution (scanpy stores 1, the record 1.0), a float32 one, a numpy seed,
        # and a resolution that the igraph Louvain flavor ignores (scanpy stores what was
        # passed, so does the record).
        sc.tl.leiden(pbmc, resolution=1, key_added="int_res", **FAST)
        sc.tl.leiden(
            pbmc,
            resolution=np.float32(0.3),
            random_state=np.int64(3),
            key_added="f32_res",
            **FAST,
        )
        sc.tl.louvain(pbmc, resolution=0.7, flavor="igraph", key_added="louvain_ig")
    assert type(pbmc.uns["int_res"]["params"]["resolution"]) is int
    assert pbmc.uns["louvain_ig"]["params"]["resolution"] == 0.7
    report = audit_at(pbmc, tmp_path, where)
    assert report.ok and report.findings == (), report.findings


@pytest.mark.skipif(SCANPY < (1, 10), reason="scanpy 1.9 has no igraph flavor for leiden")
def test_random_state_object_is_not_compared(pbmc):
    # scanpy stores the RandomState object, which the clustering advanced; the record holds
    # its state before the call: the two cannot be compared, so no false alarm.
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, random_state=np.random.RandomState(0), key_added="rs", **FAST)
    assert isinstance(pbmc.uns["rs"]["params"]["random_state"], np.random.RandomState)
    assert codes(provenance.audit(pbmc), "rs") == []


@pytest.mark.parametrize("where", WHERE)
def test_deleted_scanpy_params_are_not_a_finding(swept, tmp_path, where):
    # The record holds every argument; scanpy's params are a partial copy of three of them.
    del swept.uns["leiden_0.5"]["params"]
    report = audit_at(swept, tmp_path, where)
    assert codes(report, "leiden_0.5") == []
    assert report.ok


@pytest.mark.skipif(SCANPY >= (1, 10), reason="the fixed-key move exists on scanpy <= 1.9 only")
def test_legacy_params_moved_by_the_recorder_are_compared(swept):
    swept.uns["leiden_0.5"]["params"]["resolution"] = 0.9
    assert "params_mismatch" in codes(provenance.audit(swept), "leiden_0.5")


# --- 3. an emptied history and the index ----------------------------------------------------


@pytest.mark.parametrize("where", WHERE)
def test_emptied_history_is_broken_chain(swept, tmp_path, where):
    key = "leiden_1.0"
    prov = swept.uns[key]["provenance"]
    assert len(prov["history"]) == 2
    prov["history"] = prov["history"][:0]
    report = audit_at(swept, tmp_path, where)
    f = only(report, key, "broken_chain")
    assert "version 2 was recorded" in f.message and "holds none" in f.message
    assert report[key].n_stored == 0 and not report.ok


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("index", ["not json {", '{"keys": 3}', "[]"])
def test_unreadable_index_is_a_warning_and_histories_are_audited(swept, tmp_path, where, index):
    swept.uns["provenance_index"] = index
    swept.obs["leiden_0.5"] = swept.obs["leiden_0.5"].cat.rename_categories(lambda c: f"c{c}")
    report = audit_at(swept, tmp_path, where)
    f = only(report, "provenance_index", "index_unreadable")
    assert f.severity == "warning"
    assert "uns['provenance_index']" in f.message and "delete it" in f.message
    assert codes(report, "leiden_0.5") == ["labels_renamed"]  # still audited
    assert codes(report, "leiden_1.0") == []
    # The index's entry is not a clustering: the headline counts the clustering keys only.
    keys = report.clustering_keys
    assert "provenance_index" not in keys and len(keys) == len(report.entries) - 1
    assert f"{len(keys)} clustering keys," in str(report)


@pytest.mark.parametrize("where", WHERE)
def test_index_naming_a_key_that_is_gone_is_a_warning(swept, tmp_path, where):
    del swept.obs["louvain_igraph"]
    del swept.uns["louvain_igraph"]
    report = audit_at(swept, tmp_path, where)
    f = only(report, "provenance_index", "index_unreadable")
    assert f.details["keys"] == ["louvain_igraph"] and "'louvain_igraph'" in f.message
    assert report.ok  # a warning: the object itself holds no contradiction
    assert [e.key for e in provenance.audit(swept, "leiden_0.5").entries] == ["leiden_0.5"]


# --- 4. the container's schema_version -------------------------------------------------------


@pytest.mark.parametrize("where", WHERE)
def test_newer_container_schema_says_upgrade(swept, tmp_path, where):
    swept.uns["leiden_0.5"]["provenance"]["schema_version"] = "9.0"
    back = swept if where == "memory" else _read(write(swept, tmp_path, where))
    with pytest.raises(NewerSchemaError, match=r"9\.0.*upgrade"):
        provenance.history(back, "leiden_0.5")
    with pytest.raises(NewerSchemaError, match="pip install -U anndata-provenance"):
        provenance.latest(back, "leiden_0.5")
    report = audit_at(swept, tmp_path, where)
    f = only(report, "leiden_0.5", "newer_schema")
    assert "upgrade" in f.message and f.severity == "error"
    assert codes(report, "leiden_1.0") == []


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("value", ["banana", None, "0.9"])
def test_malformed_or_missing_container_schema_is_invalid(swept, tmp_path, where, value):
    prov = swept.uns["leiden_0.5"]["provenance"]
    if value is None:
        del prov["schema_version"]
    else:
        prov["schema_version"] = value
    back = swept if where == "memory" else _read(write(swept, tmp_path, where))
    with pytest.raises(InvalidRecordError, match=r"uns\['leiden_0.5'\]\['provenance'\]") as info:
        provenance.history(back, "leiden_0.5")
    assert not isinstance(info.value, NewerSchemaError)
    report = audit_at(swept, tmp_path, where)
    f = only(report, "leiden_0.5", "invalid_record")
    assert "schema_version" in f.message


def _read(path: Path) -> AnnData:
    return ad.read_h5ad(path) if path.suffix == ".h5ad" else ad.read_zarr(path)


# --- 6. concatenated objects -----------------------------------------------------------------


def _two_parts(pbmc: AnnData) -> tuple[AnnData, AnnData]:
    """Two samples of 700 cells, each clustered and recorded on its own."""
    drop_unrecorded(pbmc)
    a, b = pbmc.copy(), pbmc.copy()
    b.obs_names = [f"{n}-b" for n in b.obs_names]
    for part, r in ((a, 0.5), (b, 0.8)):
        with provenance.record(part):
            sc.tl.leiden(part, resolution=r, key_added="leiden", **FAST)
    return a, b


@pytest.mark.parametrize("where", WHERE)
def test_concat_same_names_the_merge(pbmc, tmp_path, where):
    merged = ad.concat(_two_parts(pbmc), uns_merge="same")
    assert "history" not in merged.uns["leiden"]["provenance"]
    report = audit_at(merged, tmp_path, where)
    f = only(report, "leiden", "history_lost")
    assert "concatenated or merged" in f.message and "damaged" not in f.message
    assert not report.ok
    with pytest.raises(InvalidRecordError, match="concatenated or merged"):
        provenance.history(merged, "leiden")


@pytest.mark.parametrize("where", ["h5ad", "zarr"])
def test_show_on_a_concatenated_file_flags_the_cell_count(pbmc, tmp_path, where, capsys):
    merged = ad.concat(_two_parts(pbmc), uns_merge="first")
    assert merged.n_obs == 1400
    path = write(merged, tmp_path, where)
    report = provenance.audit(path, check_data=False)  # what show reads: uns and n_obs
    f = only(report, "leiden", "subset_or_reordered")
    assert f.details == {"n_obs_then": 700, "n_obs_now": 1400}
    assert "concatenated" in f.message
    provenance.show(path)
    out = capsys.readouterr().out
    assert "subset_or_reordered" in out and "1400 cells" in out
    assert main(["show", "--json", str(path)]) == 0  # show reports; verify decides
    shown = json.loads(capsys.readouterr().out)
    assert shown["n_obs"] == 1400
    assert shown["ok"] is True  # a warning: the record is not contradicted, only not checkable
    full = only(provenance.audit(path), "leiden", "subset_or_reordered")
    assert "concatenated" in full.message and full.severity == "warning"
    assert main(["verify", str(path)]) == 0
    assert main(["verify", "--strict", str(path)]) == 1


# --- 11. several keys -----------------------------------------------------------------------


def test_audit_accepts_several_keys(swept, capsys):
    report = provenance.audit(swept, ["leiden_1.0", "leiden_0.5", "leiden_1.0"])
    assert [e.key for e in report.entries] == ["leiden_1.0", "leiden_0.5"]
    assert report.key == ("leiden_1.0", "leiden_0.5")
    assert json.loads(json.dumps(report.to_dict()))["key"] == ["leiden_1.0", "leiden_0.5"]
    assert report.ok
    assert [e.key for e in provenance.audit(swept, ("louvain_igraph",)).entries] == [
        "louvain_igraph"
    ]
    provenance.show(swept, ["leiden_0.5", "louvain_igraph"])
    out = capsys.readouterr().out
    assert "History of leiden_0.5" in out and "History of louvain_igraph" in out
    with pytest.raises(UnknownKeyError, match="'nope' is neither in obs nor in uns"):
        provenance.audit(swept, ["leiden_0.5", "nope"])
    with pytest.raises(TypeError, match="int"):
        provenance.audit(swept, ["leiden_0.5", 3])
    with pytest.raises(ValueError, match="empty"):
        provenance.audit(swept, [])


def test_several_keys_from_a_file(swept, tmp_path):
    path = write(swept, tmp_path, "h5ad")
    report = provenance.audit(path, list(RECORDED[:2]))
    assert [e.key for e in report.entries] == list(RECORDED[:2])
    assert report.ok and all(e.checked for e in report.entries)
