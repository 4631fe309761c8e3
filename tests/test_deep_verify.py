"""Deep verification: a forged record that every other check accepts is caught by re-running it.

The forgery is the one the hash chain cannot show: a record's resolution changed, its digest
recomputed with the documented canonical JSON (the package's own functions), its index entry
and scanpy's ``uns[key]["params"]`` updated to match. ``verify`` passes it; ``verify --deep``
re-runs the recorded call on the recorded graph and finds another partition.
"""

from __future__ import annotations

import importlib.util
import json
import os
from typing import TYPE_CHECKING, Any

import pytest
import scanpy as sc
from _audit_data import drop_unrecorded
from conftest import FAST, LEIDENALG, SCANPY

import provenance
from provenance._cli.commands import main
from provenance._storage.codec import encode_history, history_texts
from provenance._storage.index import read_index, update_index
from provenance._util.jsonsafe import canonical_json, digest

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord

HAS_LOUVAIN = importlib.util.find_spec("louvain") is not None
DEEP_CODES = {"replay_differs", "replay_inconclusive", "not_replayable", "unverified"}


def forge(adata: AnnData, key: str, change: Any) -> ClusteringRecord:
    """Change the latest record of ``key`` with ``change(obj)`` and make it "valid" again:
    digest recomputed from the canonical JSON, index entry and scanpy's params updated."""
    texts = history_texts(adata.uns[key]["provenance"], key=key)
    obj = json.loads(texts[-1])
    change(obj)
    del obj["digest"]
    signed = "signature" in obj  # 1.4: outside the digest, as the digest itself is
    signature = obj.pop("signature", None)
    obj["digest"] = digest(obj)  # sha256 of the canonical JSON without those two fields
    if signed:
        obj["signature"] = signature
    texts[-1] = canonical_json(obj)
    adata.uns[key]["provenance"] = encode_history(texts)
    rec = provenance.latest(adata, key)
    assert rec is not None and rec.digest == rec.expected_digest()  # the forgery is "valid"
    update_index(adata.uns, rec)
    assert read_index(adata.uns)[key]["digest"] == rec.digest
    for name in ("resolution", "random_state", "n_iterations"):
        if name in adata.uns[key].get("params", {}):
            adata.uns[key]["params"][name] = getattr(rec.params, name)
    return rec


def resolution(value: float) -> Any:
    def change(obj: dict[str, Any]) -> None:
        obj["params"]["resolution"] = value

    return change


@pytest.fixture(scope="module")
def forged_master(_pbmc_master: AnnData) -> AnnData:
    """leiden at resolution 1.0 recorded (igraph and leidenalg flavors), each forged to 0.3;
    one honest key beside them."""
    adata = drop_unrecorded(_pbmc_master.copy())  # --deep does not pass unrecorded labels
    with provenance.record(adata):
        sc.tl.leiden(adata, resolution=1.0, key_added="forged_ig", **FAST)
        sc.tl.leiden(adata, resolution=1.0, key_added="forged_la", **LEIDENALG)
        sc.tl.leiden(adata, resolution=0.5, key_added="honest", **FAST)
    forge(adata, "forged_ig", resolution(0.3))
    forge(adata, "forged_la", resolution(0.3))
    return adata


@pytest.fixture
def forged(forged_master: AnnData) -> AnnData:
    return forged_master.copy()


@pytest.fixture(scope="module")
def forged_file(forged_master: AnnData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("deep") / "forged.h5ad"
    forged_master.write_h5ad(path)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, dict[str, Any]]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def deep_codes(report: provenance.AuditReport) -> dict[str, list[str]]:
    return {
        e.key: [f.code for f in e.findings if f.code in DEEP_CODES]
        for e in report.entries
        if any(f.code in DEEP_CODES for f in e.findings)
    }


def assert_caught(report: provenance.AuditReport) -> None:
    assert not report.ok
    assert deep_codes(report) == {"forged_ig": ["replay_differs"], "forged_la": ["replay_differs"]}
    for key in ("forged_ig", "forged_la"):
        (f,) = report[key].findings
        assert f.severity == "error"
        d = f.details
        assert 0 <= d["ari"] < 1 and 0 <= d["nmi"] < 1
        assert d["n_clusters_replayed"] < d["n_clusters_recorded"]  # resolution 0.3 < 1.0
        assert "resolution=0.3" in d["call"]
        assert f"ARI {d['ari']:.3f}" in f.message and f"NMI {d['nmi']:.3f}" in f.message


# --- the forged record ------------------------------------------------------------------------


def test_forged_record_passes_the_ordinary_audit(forged: AnnData) -> None:
    report = provenance.audit(forged)
    assert report.ok, report.findings
    assert report["forged_ig"].findings == ()
    assert report["forged_ig"].latest.params.resolution == 0.3  # type: ignore[union-attr]


def test_deep_audit_catches_the_forgery_in_memory(forged: AnnData) -> None:
    report = provenance.audit(forged, deep=True, jobs=1)
    assert_caught(report)
    assert report["honest"].findings == ()


def test_deep_audit_catches_the_forgery_from_h5ad(forged_file: Path) -> None:
    assert provenance.audit(forged_file).ok
    assert_caught(provenance.audit(forged_file, deep=True, jobs=1))


def test_cli_verify_passes_and_verify_deep_fails(forged_file: Path, capsys) -> None:
    code, d = run(capsys, "verify", forged_file, "--json")
    assert code == 0 and d["passed"]
    code, d = run(capsys, "verify", forged_file, "--deep", "--json")
    assert code == 1 and not d["passed"]
    found = {
        f["key"]: f for e in d["entries"] for f in e["findings"] if f["code"] == "replay_differs"
    }
    assert set(found) == {"forged_ig", "forged_la"}
    assert found["forged_ig"]["severity"] == "error" and found["forged_ig"]["details"]["ari"] < 1


def test_a_clean_file_passes_deep(pbmc: AnnData, tmp_path: Path, capsys) -> None:
    drop_unrecorded(pbmc)
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, resolution=1.0, key_added="a", **FAST)
        sc.tl.leiden(pbmc, resolution=0.6, key_added="b", **LEIDENALG)
    path = tmp_path / "clean.h5ad"
    pbmc.write_h5ad(path)
    code, d = run(capsys, "verify", path, "--deep", "--key", "a", "--json")
    assert code == 0 and d["passed"], d
    assert d["checks"]["replayed"] == ["a"] and d["checks"]["unverified"] == []
    report = provenance.audit(path, deep=True)
    assert deep_codes(report) == {}
    assert [f.code for f in report["a"].findings] == []
    assert report.checks is not None and report.checks.deep
    assert report.checks.replayed == ("a", "b") and report.checks.unverified == ()


def test_without_deep_nothing_is_replayed(forged: AnnData) -> None:
    plain = provenance.audit(forged)
    assert deep_codes(plain) == {}
    assert plain.to_dict() == provenance.audit(forged, deep=False).to_dict()


def test_deep_records_nothing_inside_record(forged: AnnData) -> None:
    before = {k: len(provenance.history(forged, k)) for k in ("forged_ig", "honest")}
    with provenance.record(forged):
        provenance.audit(forged, deep=True, jobs=1)
    assert {k: len(provenance.history(forged, k)) for k in before} == before
    assert "_provenance_replay" not in forged.obs


def test_jobs_1_and_2_give_the_same_report(forged: AnnData) -> None:
    one = provenance.audit(forged, deep=True, jobs=1)
    two = provenance.audit(forged, deep=True, jobs=2)
    assert one.to_dict() == two.to_dict()
    assert set(deep_codes(two)) == {"forged_ig", "forged_la"}


def test_jobs_none_starts_workers_only_for_large_graphs() -> None:
    import numpy as np
    from anndata import AnnData
    from scipy import sparse

    from provenance._audit.deep import PARALLEL_MIN_EDGES, _workers

    def work(n_keys: int, edges: int) -> list[tuple[str, tuple[AnnData, str]]]:
        n = 10_000
        rng = np.random.default_rng(0)
        g = sparse.csr_matrix(
            (np.ones(edges), (rng.integers(0, n, edges), rng.integers(0, n, edges))),
            shape=(n, n),
        )
        small = AnnData(obsp={"connectivities": g}, obs={"k": np.zeros(n)})
        return [(f"k{i}", (small, "k")) for i in range(n_keys)]

    cores = len(os.sched_getaffinity(0))
    big = PARALLEL_MIN_EDGES // 2 + 20_000  # two keys: over the threshold together
    assert _workers(None, work(2, 1000)) == 1  # pbmc68k_reduced-sized: in this process
    assert _workers(None, work(1, 2 * big)) == 1  # one key: nothing to share out
    assert _workers(None, work(2, big)) == min(cores, 2)
    assert _workers(3, work(2, 1000)) == 2  # asked for: at most one per key
    assert _workers(1, work(2, big)) == 1


def test_jobs_must_be_positive(forged: AnnData) -> None:
    with pytest.raises(ValueError, match="jobs=0"):
        provenance.audit(forged, deep=True, jobs=0)
    with pytest.raises(ValueError, match="check_data=True"):
        provenance.audit(forged, deep=True, check_data=False)


# --- keys that cannot be re-run ---------------------------------------------------------------


def _reason(report: provenance.AuditReport, key: str, code: str = "unverified") -> dict[str, Any]:
    """The details of ``key``'s one finding ``code``: ``unverified`` (an error: deep never
    passes a key it could not re-run), ``not_replayable`` under ``allow_unreplayable``."""
    (f,) = [f for f in report[key].findings if f.code == code]
    assert f.severity == ("warning" if code == "not_replayable" else "error")
    assert report.checks is not None and key in report.checks.unverified
    assert key not in report.checks.replayed
    return f.details


def test_missing_or_changed_graph_is_unverified_with_its_reason(pbmc: AnnData) -> None:
    sc.pp.neighbors(pbmc, n_neighbors=10, key_added="nb2")
    sc.pp.neighbors(pbmc, n_neighbors=10, key_added="nb3")
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, neighbors_key="nb2", key_added="changed", **FAST)
        sc.tl.leiden(pbmc, neighbors_key="nb3", key_added="missing", **FAST)
    sc.pp.neighbors(pbmc, n_neighbors=5, key_added="nb2")
    del pbmc.obsp["nb3_connectivities"]
    report = provenance.audit(pbmc, deep=True, jobs=1)
    assert _reason(report, "changed")["cause"] == "graph_changed"
    assert _reason(report, "missing")["cause"] == "graph_missing"
    assert "graph_changed" in [f.code for f in report["changed"].findings]  # not replaced
    assert "replay_differs" not in str(report.to_dict())  # never replayed on another graph


def test_unseeded_clustering_is_unverified_unless_allowed(pbmc: AnnData) -> None:
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="unseeded", random_state=None, **FAST)  # type: ignore[arg-type]
    report = provenance.audit(pbmc, "unseeded", deep=True, jobs=1)
    assert not report.ok  # the record's author cannot choose not to be checked
    details = _reason(report, "unseeded")
    assert details["cause"] == "nondeterministic"
    assert "random_state was None" in details["reason"]
    message = report["unseeded"].findings[0].message
    assert "fixed random_state" in message and "--allow-unreplayable" in message
    allowed = provenance.audit(pbmc, "unseeded", deep=True, jobs=1, allow_unreplayable=True)
    assert allowed.ok and _reason(allowed, "unseeded", "not_replayable") == details
    assert allowed.checks is not None and allowed.checks.allow_unreplayable


def test_louvain_vtraag_without_the_louvain_package(pbmc: AnnData) -> None:
    with provenance.record(pbmc):
        sc.tl.louvain(pbmc, key_added="lv", flavor="igraph")

    def vtraag(obj: dict[str, Any]) -> None:
        obj["params"]["flavor"] = "vtraag"
        obj["params"]["python_random_state"] = None

    forge(pbmc, "lv", vtraag)
    report = provenance.audit(pbmc, "lv", deep=True, jobs=1)
    if HAS_LOUVAIN:  # re-run with the other backend: another partition
        assert [f.code for f in report["lv"].findings] == ["replay_differs"]
    else:
        details = _reason(report, "lv")
        assert details["cause"] == "backend_missing"
        assert "install louvain" in details["reason"]
        assert "install louvain" in report["lv"].findings[0].message


# --- MuData -----------------------------------------------------------------------------------


def test_mudata_modality_keys_are_replayed(tmp_path: Path) -> None:
    pytest.importorskip("muon")  # the muon extra; its nox sessions run this
    from _muon_data import build_mudata, import_muon, quiet_mudata

    mu = import_muon()
    mdata = build_mudata()
    rna = mdata.mod["rna"]
    with provenance.record(mdata):
        sc.tl.leiden(rna, key_added="leiden", random_state=0, **FAST)
        sc.tl.leiden(rna, key_added="honest", random_state=0, **FAST)
        with quiet_mudata():
            mu.tl.leiden(mdata, key_added="wnn", resolution=0.8, random_state=1)
    assert provenance.audit(mdata, deep=True, jobs=1).ok
    forge(rna, "leiden", resolution(0.3))
    assert provenance.audit(mdata).ok
    report = provenance.audit(mdata, deep=True, jobs=1)
    assert deep_codes(report) == {"rna:leiden": ["replay_differs"]}
    assert report["rna:leiden"].findings[0].details["ari"] < 1
    assert report["wnn"].findings == ()  # the multiplex root key replays, identical
    path = tmp_path / "m.h5mu"
    with quiet_mudata():
        mdata.write(str(path))
    from_file = provenance.audit(path, deep=True, jobs=1)
    assert deep_codes(from_file) == {
        "rna:leiden": ["replay_differs"],
        "wnn": ["unverified"],
    }
    assert _reason(from_file, "wnn")["cause"] == "mudata_root"


# --- other versions: replay_inconclusive --------------------------------------------------
#
# A file recorded under other versions of scanpy or its backends, whose seeded call gave other
# labels than the installed versions give. Made for real: each key is clustered with
# random_state=1 (real scanpy labels), then its record says random_state=0, as the same call
# under another igraph could have: the labels are not what the installed stack gives for the
# record's call. With the recorded versions installed, that is a forgery (replay_differs);
# with another version of a package that decides the partition, it proves nothing.


def reseed_as(packages: dict[str, str]) -> Any:
    """A change of the record: ``random_state`` 1 -> 0, and ``packages`` as its versions."""

    def change(obj: dict[str, Any]) -> None:
        obj["params"]["random_state"] = 0
        obj["software"]["packages"].update(packages)

    return change


@pytest.fixture(scope="module")
def reseeded_master(_pbmc_master: AnnData) -> AnnData:
    adata = drop_unrecorded(_pbmc_master.copy())
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="ig", random_state=1, **FAST)
        sc.tl.leiden(adata, key_added="la", random_state=1, **{**FAST, **LEIDENALG})
    return adata


def reseeded(master: AnnData, packages: dict[str, str]) -> AnnData:
    adata = master.copy()
    for key in ("ig", "la"):
        forge(adata, key, reseed_as(packages))
    return adata


def test_other_igraph_and_scanpy_versions_make_it_inconclusive(
    reseeded_master: AnnData, tmp_path: Path, capsys
) -> None:
    # Versions no session installs (the louvain session's igraph is 0.11.8).
    adata = reseeded(reseeded_master, {"igraph": "0.9.11", "scanpy": "1.10.4"})
    # Not verified, so not passed: a forger could name other versions to get here.
    strict = provenance.audit(adata, deep=True, jobs=1)
    assert not strict.ok and strict.checks is not None
    assert deep_codes(strict) == {"ig": ["unverified"], "la": ["unverified"]}
    assert {f.details["cause"] for f in strict.errors} == {"inconclusive"}
    assert "--allow-unreplayable" in strict.errors[0].message
    assert set(strict.checks.unverified) == {"ig", "la"} <= set(strict.checks.replayed)
    report = provenance.audit(adata, deep=True, jobs=1, allow_unreplayable=True)
    assert report.ok  # a warning: nothing is shown to be wrong
    assert deep_codes(report) == {"ig": ["replay_inconclusive"], "la": ["replay_inconclusive"]}
    f = report["ig"].findings[0]
    assert f.severity == "warning"
    d = f.details
    assert d["deciding"]["igraph"]["recorded"] == "0.9.11"
    assert d["deciding"]["scanpy"] == {"recorded": "1.10.4", "installed": sc.__version__}
    assert d["install"] == "pip install 'igraph==0.9.11' 'scanpy==1.10.4'"
    assert d["install"] in f.message and "igraph 0.9.11 recorded" in f.message
    assert "forged" not in f.message.replace("not a sign of a forged record", "")
    assert 0 <= d["ari"] < 1 and "random_state=0" in d["call"]
    path = tmp_path / "older.h5ad"
    adata.write_h5ad(path)
    assert run(capsys, "verify", path, "--deep", "--json")[0] == 1
    assert run(capsys, "verify", path, "--deep", "--allow-unreplayable", "--json")[0] == 0
    args = ("verify", path, "--deep", "--allow-unreplayable", "--strict", "--json")
    assert run(capsys, *args)[0] == 1


def test_with_the_deciding_versions_recorded_it_stays_replay_differs(
    reseeded_master: AnnData,
) -> None:
    """The forgery check: other pandas and anndata do not decide a partition."""
    adata = reseeded(reseeded_master, {"pandas": "1.5.3", "anndata": "0.9.2"})
    report = provenance.audit(adata, deep=True, jobs=1)
    assert not report.ok
    assert deep_codes(report) == {"ig": ["replay_differs"], "la": ["replay_differs"]}
    f = report["la"].findings[0]
    assert f.severity == "error" and "Do not trust the record" in f.message
    assert "pandas 1.5.3" in f.message
    assert f.details["software"]["pandas"]["recorded"] == "1.5.3"


def test_numpy_decides_only_the_igraph_flavor(reseeded_master: AnnData) -> None:
    """scanpy's flavor="igraph" draws from a numpy RandomState; leidenalg seeds its own."""
    adata = reseeded(reseeded_master, {"numpy": "1.26.4"})
    report = provenance.audit(adata, deep=True, jobs=1)
    ig = "unverified" if FAST.get("flavor") == "igraph" else "replay_differs"
    assert deep_codes(report) == {"ig": [ig], "la": ["replay_differs"]}


def test_partition_packages_by_call() -> None:
    from provenance._targets.registry import target_for_record

    leiden = target_for_record("scanpy.tl.leiden", "leiden", exact=True)
    louvain = target_for_record("scanpy.tl.louvain", "louvain", exact=True)
    assert leiden is not None and louvain is not None
    assert leiden.partition_packages("igraph") == ("scanpy", "igraph", "numpy")
    assert leiden.partition_packages("leidenalg") == ("scanpy", "leidenalg", "igraph")
    assert leiden.partition_packages(None) == ("scanpy", "leidenalg", "igraph")  # scanpy 1.9
    assert louvain.partition_packages("vtraag") == ("scanpy", "louvain", "igraph")
    assert louvain.partition_packages("igraph") == ("scanpy", "igraph")  # Python's random


def test_files_recorded_under_other_stacks_are_not_accused() -> None:
    """The fixtures recorded under scanpy 1.9.8 / numpy 1.26 and 1.12.4 / numpy 2.5 replay
    identically here: another version alone is no finding."""
    from pathlib import Path

    data = Path(__file__).parent / "data"
    for env in ("legacy", "stable-3.12"):
        manifest = json.loads((data / env / "manifest.json").read_text())
        path = data / env / "recorded.h5ad"
        report = provenance.audit(path, deep=True, jobs=1, allow_unreplayable=True)
        deep = [f for f in report.findings if f.code in DEEP_CODES | {"replay_inconclusive"}]
        for f in deep:
            # Never accused. Another partition is inconclusive only where a version that
            # decides it differs (the minimal pins' igraph 0.10.8 does for the igraph flavor);
            # flavor="igraph" does not exist before scanpy 1.10: it cannot be re-run there.
            assert f.code != "replay_differs", (env, f.message)
            if f.code == "replay_inconclusive":
                assert f.details["deciding"], (env, f.message)
            else:
                assert SCANPY < (1, 10) and env == "stable-3.12", (env, f.message)
        if SCANPY >= (1, 10):
            # Re-run everywhere; where another partition came, the loop above saw it named
            # the differing version (the louvain session's igraph 0.11.8 may).
            assert deep_codes(report) == {}, env
        assert {e.key for e in report.entries if e.checked} >= set(manifest["recorded"])
