"""Records state what ran (issue 16) and nothing inside ``record()`` is silent (issue 12).

The files under ``tests/data/effective/`` were written by real runs of this module's
``_write_fixture`` (``python tests/test_honest_records.py <scanpy>``): the same default
``sc.tl.leiden`` call (leidenalg, ``n_iterations=2``) on the same 200-cell graph, recorded
under scanpy 1.12 and under scanpy 1.11 (``leiden-1.12.h5ad``, ``leiden-1.11.h5ad``), and
under scanpy 1.12 by the release that wrote schema 1.0 records
(``leiden-1.12-schema-1.0.h5ad``: ``flavor=None, directed=None``). Every session reads all
of them, so a record made under one scanpy is checked under the other.
"""

from __future__ import annotations

import json
import sys
import threading
import warnings
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import pytest
import scanpy as sc
from conftest import FAST, SCANPY

import provenance
from provenance import ProvenanceError, ProvenanceWarning
from provenance._compare.diff import compare
from provenance._storage.codec import decode_record, history_texts

DATA = Path(__file__).parent / "data" / "effective"
FIXTURES = sorted(DATA.glob("*.h5ad"))
DEFAULT_CALL = {"key_added": "ld", "n_iterations": 2}
"""The recorded call of the fixtures: scanpy's default flavor."""


def _write_fixture(name: str) -> None:
    """Record the default Leiden call on the fixture graph into ``tests/data/effective/``."""
    import numpy as np

    DATA.mkdir(exist_ok=True)
    base = DATA / "leiden-1.12.h5ad"
    if base.exists():  # the graph of the first file, so every file clusters the same graph
        adata = ad.read_h5ad(base)
        adata.obs = adata.obs.iloc[:, :0].copy()
        adata.uns = {"neighbors": adata.uns["neighbors"]}
    else:
        full = sc.datasets.pbmc68k_reduced()
        adata = full[::3][:200, :10].copy()
        adata.X = np.asarray(adata.X, dtype=np.float32)
        adata.obsm = {"X_pca": np.asarray(adata.obsm["X_pca"][:, :10], dtype=np.float32)}
        adata.raw = None
        adata.varm = {}
        adata.obsp = {}
        adata.obs = adata.obs.iloc[:, :0].copy()
        adata.var = adata.var.iloc[:, :0].copy()
        adata.uns = {}
        sc.pp.neighbors(adata, n_neighbors=10, use_rep="X_pca")
        del adata.obsm["X_pca"]
    adata.obs_names = adata.obs_names.astype(object)  # readable by anndata 0.10 to 0.13
    adata.var_names = adata.var_names.astype(object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with provenance.record(adata):
            sc.tl.leiden(adata, **DEFAULT_CALL)
    adata.write_h5ad(DATA / f"{name}.h5ad")


def _read(path: Path) -> ad.AnnData:
    return ad.read_h5ad(path)


def _default_leiden(adata: ad.AnnData, **kw) -> None:
    sc.tl.leiden(adata, **DEFAULT_CALL, **kw)


# --- 1. the flavor that ran --------------------------------------------------------------


def test_default_leiden_records_the_flavor_and_direction_that_ran(pbmc, capsys):
    with provenance.record(pbmc):
        _default_leiden(pbmc)
    p = provenance.latest(pbmc, "ld").params
    # scanpy 1.12 defaults flavor=None and runs leidenalg; every version runs it directed.
    assert (p.flavor, p.directed) == ("leidenalg", True)
    if SCANPY >= (1, 12):
        assert p.passed == {"flavor": None, "directed": None}
    elif SCANPY >= (1, 10):
        assert p.passed == {"directed": None}
    else:  # scanpy 1.9 defaults to what runs: directed=True, and has no flavor argument
        assert p.passed == {}
    assert p.not_in_effect == []
    provenance.show(pbmc, "ld")
    assert "leidenalg" in capsys.readouterr().out


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_a_record_made_under_another_scanpy_replays_and_reruns_as_the_same_run(path):
    adata = _read(path)
    assert provenance.audit(adata).ok
    (rec,) = provenance.history(adata, "ld")
    assert rec.schema_version == provenance.SCHEMA_VERSION  # a 1.0 record is upgraded on read ...
    assert rec.digest == rec.expected_digest()  # ... and still verifies
    assert (rec.params.flavor, rec.params.directed) == ("leidenalg", True)
    result = provenance.replay(adata, "ld")  # under 1.11: no "but None was passed"
    assert result.identical and result.reproduces_record
    if SCANPY >= (1, 10):  # scanpy 1.9 has no flavor argument: leidenalg is all it runs
        assert "flavor='leidenalg'" in result.call
    if rec.params.passed:
        assert any("passed as None" in n for n in result.notes)
    # The same call under the installed scanpy: not a second version, as long as the backend
    # labels the partition as it did (another leidenalg release may number the same partition
    # otherwise, and labels under other names are a new version).
    with provenance.record(adata) as block:
        _default_leiden(adata)
    if rec.software.packages.get("leidenalg") == version("leidenalg"):
        assert block.records == []
        assert len(provenance.history(adata, "ld")) == 1
    else:
        assert all(r.result.partition_digest == rec.result.partition_digest for r in block.records)


def test_the_same_run_under_scanpy_1_11_and_1_12_is_no_flavor_change():
    old = provenance.latest(_read(DATA / "leiden-1.11.h5ad"), "ld")
    new = provenance.latest(_read(DATA / "leiden-1.12.h5ad"), "ld")
    assert (old.software.packages["scanpy"][:4], new.software.packages["scanpy"][:4]) == (
        "1.11",
        "1.12",
    )
    rows, _ = compare(old, new, all=True)
    by_field = {r.field: r for r in rows}
    differ = [r.field for r in rows if r.differs and r.section == "params"]
    assert differ == []
    assert by_field["flavor"].same and by_field["directed"].same
    spelled = by_field["passed.flavor"]  # how it was spelled is shown, not counted
    assert (spelled.a, spelled.b, spelled.in_effect) == ("leidenalg", None, False)
    assert new.graph.digest == old.graph.digest
    assert new.result.labels_digest == old.result.labels_digest


def test_upgrading_keeps_edits_detectable():
    path = DATA / "leiden-1.12-schema-1.0.h5ad"
    text = history_texts(_read(path).uns["ld"]["provenance"], key="ld")[0]
    obj = json.loads(text)
    assert obj["schema_version"] == "1.0" and obj["params"]["flavor"] is None
    obj["params"]["resolution"] = 0.5  # an edit that keeps the stored digest
    edited = decode_record(json.dumps(obj), key="ld", index=0)
    assert edited.expected_digest() != edited.digest
    changed = decode_record(text, key="ld", index=0).model_copy(update={"version": 2})
    assert changed.expected_digest() != changed.digest


def test_the_schema_of_every_readable_version_stays_committed():
    from provenance import SCHEMA_VERSION
    from provenance._schema.convert import CONVERTERS as _UPGRADES

    schemas = Path(__file__).parents[1] / "schemas"
    for v in (*_UPGRADES, SCHEMA_VERSION):
        assert (schemas / f"clustering-record-{v}.schema.json").is_file(), v


# --- 2. arguments a backend ignores ------------------------------------------------------


def test_louvain_igraph_resolution_is_not_in_effect(pbmc):
    with provenance.record(pbmc):
        for r in (0.2, 5.0):
            sc.tl.louvain(pbmc, resolution=r, key_added=f"lv{r}", flavor="igraph")
    p = provenance.latest(pbmc, "lv0.2").params
    assert (p.flavor, p.directed, p.passed) == ("igraph", False, {"directed": True})
    assert p.not_in_effect == ["partition_kwargs", "random_state", "resolution"]
    d = provenance.diff(pbmc, "lv0.2", "lv5.0")
    (row,) = [r for r in d.rows if r.field == "resolution"]
    assert (row.a, row.b, row.in_effect) == (0.2, 5.0, False)
    assert "resolution" not in [r.field for r in d.differences]
    assert "not in effect" in str(d)
    assert d.to_dict()["rows"][[r.field for r in d.rows].index("resolution")]["in_effect"] is False
    result = provenance.replay(pbmc, "lv5.0")
    assert any("not in effect" in n and "resolution" in n for n in result.notes)


def test_an_argument_ignored_by_one_record_only_is_a_difference(pbmc):
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, resolution=0.5, key_added="a", **FAST)
        sc.tl.louvain(pbmc, resolution=2.0, key_added="b", flavor="igraph")
    d = provenance.diff(pbmc, "a", "b")
    (row,) = [r for r in d.rows if r.field == "resolution"]
    assert row.in_effect and row.differs
    assert "not in effect in the second record" in (row.note or "")


# --- 3. positional calls, and 7. warnings point at the caller ----------------------------


@pytest.mark.skipif(SCANPY < (1, 10), reason="scanpy 1.9's arguments are all positional")
def test_a_legacy_positional_call_is_recorded_as_scanpy_understood_it(pbmc):
    with provenance.record(pbmc), pytest.warns(FutureWarning, match="no longer positional") as w:
        sc.tl.louvain(pbmc, None, 0, None, "lv_pos", None, "igraph")
    rec = provenance.latest(pbmc, "lv_pos")
    assert rec is not None
    assert (rec.params.flavor, rec.params.random_state, rec.params.key_added) == (
        "igraph",
        0,
        "lv_pos",
    )
    ours = [x for x in w if "no longer positional" in str(x.message)]
    assert ours and all(x.filename == __file__ for x in ours), [x.filename for x in ours]


def test_a_call_scanpy_rejects_gets_scanpys_error(pbmc):
    with provenance.record(pbmc), pytest.raises(TypeError, match=r"takes from \d+ to \d+"):
        sc.tl.louvain(pbmc, None, *range(20))
    assert provenance.audit(pbmc).ok


@pytest.mark.skipif(SCANPY < (1, 12), reason="flavor=None is scanpy 1.12's default")
def test_scanpys_flavor_warning_points_at_the_caller(pbmc):
    with provenance.record(pbmc), pytest.warns(FutureWarning, match="igraph. implementation") as w:
        sc.tl.leiden(pbmc, key_added="ld", n_iterations=2)
    assert {x.filename for x in w if "implementation" in str(x.message)} == {__file__}


def test_replay_silences_scanpys_leidenalg_notices(pbmc):
    with provenance.record(pbmc):
        _default_leiden(pbmc)
    with warnings.catch_warnings():
        # Only the notices the replay means to silence are made errors here.
        warnings.filterwarnings("error", message=".*igraph. implementation of leiden")
        warnings.filterwarnings("error", message="In the future, the default backend")
        assert provenance.replay(pbmc, "ld").identical


# --- issue 12, 5: keys anndata cannot store ---------------------------------------------


@pytest.mark.parametrize("key", ["a/b", ""])
def test_a_key_anndata_cannot_store_is_refused(pbmc, key):
    with provenance.record(pbmc), pytest.raises(ProvenanceError, match="cannot be recorded"):
        sc.tl.leiden(pbmc, key_added=key, **FAST)
    assert key not in pbmc.obs  # strict: refused before the call
    with (
        provenance.record(pbmc, strict=False),
        pytest.warns(ProvenanceWarning, match="without '/'") as w,
    ):
        sc.tl.leiden(pbmc, key_added=key, **FAST)
    assert {x.filename for x in w if x.category is ProvenanceWarning} == {__file__}
    assert pbmc.obs[key].nunique() > 1  # the clustering stands
    assert "provenance" not in pbmc.uns[key]


# --- issue 12, 9 and 10: nothing silent inside record() ----------------------------------


def test_a_subset_clustered_inside_a_targeted_block_is_not_silent(pbmc):
    mask = pbmc.obs["bulk_labels"] != "Dendritic"
    sub = pbmc[mask].copy()
    sc.pp.neighbors(sub)  # outside: inside the block, sc.pp.neighbors(sub) is refused as well
    with provenance.record(pbmc):
        sub = sub.copy()  # a copy made inside the block
        with pytest.raises(ProvenanceError, match=r"provenance\.record\(\)"):
            sc.tl.leiden(sub, key_added="sub", **FAST)
    assert "sub" not in sub.obs
    with provenance.record(pbmc, strict=False), pytest.warns(ProvenanceWarning) as w:
        sc.tl.leiden(sub, key_added="sub", **FAST)
    assert "sub" in sub.obs and provenance.history(sub, "sub") == []
    assert [x.filename for x in w if x.category is ProvenanceWarning] == [__file__]
    with provenance.record(sub):  # what the message says
        sc.tl.leiden(sub, key_added="sub2", **FAST)
    assert provenance.latest(sub, "sub2") is not None


def test_an_untargeted_block_records_the_threads_started_inside_it(pbmc):
    from concurrent.futures import ThreadPoolExecutor

    before = ThreadPoolExecutor(1)
    before.submit(lambda: None).result()  # its thread exists before the block

    def run(key):
        sc.tl.leiden(pbmc, key_added=key, **FAST)

    try:
        with provenance.record() as block:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(run, ("w1", "w2")))
            t = threading.Thread(target=run, args=("t",))
            t.start()
            t.join()
            before.submit(run, "old").result()
    finally:
        before.shutdown()
    assert sorted(r.key for r in block.records) == ["t", "w1", "w2"]
    assert provenance.history(pbmc, "old") == []  # a thread from before the block: not its own


def test_record_refuses_what_is_not_an_annotated_object(pbmc):
    with pytest.raises(TypeError, match=r"not a builtins\.str"), provenance.record("x"):
        pass  # pragma: no cover
    # Anything with .obs and .uns passes, e.g. a MuData (not an AnnData subclass).
    with provenance.record(SimpleNamespace(obs=pbmc.obs, uns={})) as block:
        pass
    assert block.records == []


if __name__ == "__main__":
    _write_fixture(sys.argv[1])
