"""``provenance.to_prov`` / ``to_ro_crate`` and ``provenance export``: W3C PROV and RO-Crate.

A real recorded lineage on pbmc68k_reduced (neighbors, two versions of one Leiden key, markers
computed from the first version, a dendrogram and PAGA from the second), written to ``.h5ad``
and ``.zarr``. The PROV documents are read back with ``ProvDocument.deserialize`` (and rdflib
for PROV-O), the crates with ``rocrate.rocrate.ROCrate``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import scanpy as sc
from conftest import FAST, SCANPY, write_zarr

import provenance
from provenance._cli import main
from provenance._export.deps import require

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

pytest.importorskip("prov", reason="the export extra (anndata-provenance[export])")
pytest.importorskip("rocrate", reason="the export extra (anndata-provenance[export])")

from prov.model import (
    PROV_TYPE,
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvDerivation,
    ProvDocument,
    ProvEntity,
    ProvGeneration,
    ProvMembership,
    ProvUsage,
)
from rocrate.rocrate import ROCrate

# scanpy's dendrogram calls pandas in ways pandas deprecates (as in tests/test_lineage.py).
pytestmark = [
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.set_index"),
    pytest.mark.filterwarnings("ignore:The default of observed=False is deprecated"),
]

# scanpy 1.9's paga fails on the legacy environment's pandas/scipy, with or without recording.
PAGA = SCANPY >= (1, 10)
RUNS = ["neighbors/v1", "L/v1", "L/v2", "rank_genes_groups/v1", "dendrogram_L/v1"]
RUNS += ["paga/v1"] * PAGA
PROFILE = "https://w3id.org/ro/wfrun/process/0.5"


@pytest.fixture(scope="module")
def recorded(_pbmc_master: AnnData) -> AnnData:
    """neighbors → L v1 → markers (of L v1) → L v2 → dendrogram, PAGA (of L v2)."""
    adata = _pbmc_master.copy()
    with provenance.record(adata):
        sc.pp.neighbors(adata, n_neighbors=10)
        sc.tl.leiden(adata, key_added="L", resolution=1.0, **FAST)
        sc.tl.rank_genes_groups(adata, "L", method="t-test", n_genes=10)
        sc.tl.leiden(adata, key_added="L", resolution=0.5, **FAST)
        sc.tl.dendrogram(adata, "L")
        if PAGA:
            sc.tl.paga(adata, groups="L")
    return adata


@pytest.fixture(scope="module")
def files(recorded: AnnData, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("export")
    recorded.write_h5ad(d / "rec.h5ad")
    write_zarr(recorded, d / "rec.zarr")
    return {"h5ad": d / "rec.h5ad", "zarr": d / "rec.zarr"}


def _records(adata: AnnData) -> dict[str, Any]:
    """Every record of the object, by ``"<key>/v<version>"``."""
    out: dict[str, Any] = {f"L/v{r.version}": r for r in provenance.history(adata, "L")}
    for key in ("neighbors", "rank_genes_groups", "dendrogram_L", "paga"):
        if key in adata.uns:
            out |= {f"{key}/v{r.version}": r for r in provenance.step_history(adata, key)}
    return out


def _local(qn: Any) -> str:
    return str(qn.localpart)


def _activities(doc: ProvDocument) -> dict[str, ProvActivity]:
    return {_local(a.identifier): a for a in doc.get_records(ProvActivity)}


def _entities(doc: ProvDocument) -> dict[str, ProvEntity]:
    return {_local(e.identifier): e for e in doc.get_records(ProvEntity)}


def _attr(record: Any, name: str) -> Any:
    """The one value of the attribute whose local name is ``name``."""
    (value,) = [v for k, v in record.attributes if k.localpart == name]
    return value


def _pairs(doc: ProvDocument, kind: type, a: str, b: str) -> set[tuple[str, str]]:
    """``(a, b)`` local names of every relation of ``kind`` (attributes ``prov:a``/``prov:b``)."""
    out = set()
    for r in doc.get_records(kind):
        attrs = {k.localpart: v for k, v in r.attributes}
        out.add((_local(attrs[a]), _local(attrs[b])))
    return out


def _cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --- PROV ---------------------------------------------------------------------------------


def test_one_activity_per_record_with_its_parameters_times_and_digest(recorded):
    doc = provenance.to_prov(recorded)
    acts = _activities(doc)
    records = _records(recorded)
    assert sorted(acts) == sorted(RUNS) == sorted(records)
    for run, rec in records.items():
        act = acts[run]
        assert act.get_startTime() == rec.started_at and act.get_endTime() == rec.finished_at
        assert _attr(act, "function") == rec.function
        assert _attr(act, "record_digest") == rec.digest
        assert _attr(act, "record_id") == rec.id
    assert _attr(acts["L/v2"], "resolution") == 0.5
    assert _attr(acts["L/v1"], "resolution") == 1.0
    assert _attr(acts["L/v2"], "previous_digest") == records["L/v1"].digest
    assert _attr(acts["rank_genes_groups/v1"], "groupby") == "L"
    assert _attr(acts["neighbors/v1"], "n_neighbors") == 10
    # None, lists and objects as canonical JSON typed ap:json.
    restrict = _attr(acts["L/v2"], "restrict_to")
    assert (restrict.value, restrict.datatype.localpart) == ("null", "json")


def test_entities_carry_the_digests_and_the_links_follow_the_versions(recorded):
    doc = provenance.to_prov(recorded)
    ents, records = _entities(doc), _records(recorded)
    graph = records["neighbors/v1"].graphs["connectivities"]
    assert _attr(ents["neighbors/v1/connectivities"], "digest") == graph.digest
    assert _attr(ents["neighbors/v1/connectivities"], "obsp_key") == "connectivities"
    for v in (1, 2):
        labels = ents[f"L/v{v}/labels"]
        assert _attr(labels, "digest") == records[f"L/v{v}"].result.labels_digest
        assert _attr(labels, "obs_column") == "L"
    rep = records["neighbors/v1"].representation
    (rep_id,) = [k for k in ents if k.startswith("X_pca/")]
    assert _attr(ents[rep_id], "digest") == rep.digest

    used = _pairs(doc, ProvUsage, "activity", "entity")
    assert ("neighbors/v1", rep_id) in used
    assert {
        ("L/v1", "neighbors/v1/connectivities"),
        ("L/v2", "neighbors/v1/connectivities"),
    } <= used
    # Each result used the version of the labels it was computed from.
    assert ("rank_genes_groups/v1", "L/v1/labels") in used
    assert ("dendrogram_L/v1", "L/v2/labels") in used
    assert ("rank_genes_groups/v1", "L/v2/labels") not in used
    if PAGA:
        assert {("paga/v1", "L/v2/labels"), ("paga/v1", "neighbors/v1/connectivities")} <= used
    made = _pairs(doc, ProvGeneration, "entity", "activity")
    assert {("L/v1/labels", "L/v1"), ("L/v2/labels", "L/v2")} <= made
    assert ("rank_genes_groups/v1/result", "rank_genes_groups/v1") in made

    derived, revised = set(), set()
    for r in doc.get_records(ProvDerivation):
        attrs = {k.localpart: v for k, v in r.attributes}
        pair = (_local(attrs["generatedEntity"]), _local(attrs["usedEntity"]))
        is_revision = any(_local(v) == "Revision" for k, v in r.attributes if k == PROV_TYPE)
        (revised if is_revision else derived).add(pair)
    assert revised == {("L/v2/labels", "L/v1/labels")}
    assert ("L/v1/labels", "neighbors/v1/connectivities") in derived
    assert ("rank_genes_groups/v1/result", "L/v1/labels") in derived
    assert ("neighbors/v1/connectivities", rep_id) in derived


def test_software_agents_with_versions(recorded):
    doc = provenance.to_prov(recorded)
    rec = provenance.latest(recorded, "L")
    agents = {_local(a.identifier): a for a in doc.get_records(ProvAgent)}
    scanpy = agents[f"scanpy/{rec.software.packages['scanpy']}"]
    assert _local(_attr(scanpy, "type")) == "SoftwareAgent"
    assert _attr(scanpy, "software_version") == rec.software.packages["scanpy"]
    roles = {
        (_local(attrs["activity"]), _local(attrs["agent"])): _local(attrs["role"])
        for attrs in (
            {k.localpart: v for k, v in r.attributes} for r in doc.get_records(ProvAssociation)
        )
    }
    assert roles[("L/v2", scanpy.identifier.localpart)] == "implementation"
    own = f"anndata-provenance/{rec.software.packages['anndata-provenance']}"
    assert roles[("L/v2", own)] == "recorder"


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
def test_file_and_object_give_the_same_document(recorded, files, fmt):
    path = files[fmt]
    from_file = provenance.to_prov(path)
    assert from_file == provenance.to_prov(recorded, name=path.name)
    assert from_file == provenance.to_prov(str(path))
    assert len(_activities(from_file)) == len(RUNS)


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
def test_cli_prov_json_deserializes(files, capsys, fmt):
    path = files[fmt]
    rc, out, err = _cli(capsys, "export", path, "--format", "prov-json")
    assert rc == 0, err
    doc = ProvDocument.deserialize(content=out, format="json")
    assert sorted(_activities(doc)) == sorted(RUNS)
    assert doc == provenance.to_prov(path)
    # Deterministic: the same file gives the same bytes; --out writes what stdout shows.
    assert _cli(capsys, "export", path, "--format", "prov-json")[1] == out
    target = path.parent / f"{fmt}.prov.json"
    assert _cli(capsys, "export", path, "--format", "prov-json", "--out", target)[0] == 0
    assert target.read_text(encoding="utf-8") == out


# rdflib >= 7.5 reads an attribute it deprecates when it parses PROV-O back (rdflib's notice).
@pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")
def test_cli_prov_n_and_prov_o(files, capsys):
    path = files["h5ad"]
    rc, provn, _ = _cli(capsys, "export", path, "--format", "prov-n")
    assert rc == 0
    lines = [x.strip() for x in provn.splitlines()]
    assert lines[0] == "document" and lines[-1] == "endDocument"
    assert sum(x.startswith("activity(") for x in lines) == len(RUNS)
    assert any(x.startswith("activity(provenance:L/v2, ") for x in lines)
    assert any(
        x.startswith("wasDerivedFrom(provenance:L/v2/labels, provenance:L/v1/labels") for x in lines
    )

    rc, ttl, _ = _cli(capsys, "export", path, "--format", "prov-o")
    assert rc == 0
    rdflib = pytest.importorskip("rdflib")
    g = rdflib.Graph().parse(data=ttl, format="turtle")
    prov_ns = rdflib.Namespace("http://www.w3.org/ns/prov#")
    activities = set(g.subjects(rdflib.RDF.type, prov_ns.Activity))
    assert len(activities) == len(RUNS)
    back = ProvDocument.deserialize(content=ttl, format="rdf", rdf_format="turtle")
    assert sorted(_activities(back)) == sorted(RUNS)


def test_an_unrecorded_file_gives_an_empty_valid_document(pbmc, tmp_path, capsys):
    path = tmp_path / "raw.h5ad"
    pbmc.write_h5ad(path)
    doc = provenance.to_prov(path)
    assert not list(doc.get_records(ProvActivity))
    assert list(_entities(doc)) == ["file"]
    rc, out, err = _cli(capsys, "export", path, "--format", "prov-json")
    assert rc == 0 and "holds no readable record" in err
    assert ProvDocument.deserialize(content=out, format="json") == doc


def test_an_unreadable_record_is_refused_or_left_out_marked(recorded):
    import numpy as np

    adata = recorded.copy()
    history = np.array([str(x) for x in adata.uns["L"]["provenance"]["history"]], dtype=object)
    history[0] = "{not json"
    adata.uns["L"]["provenance"]["history"] = history
    with pytest.raises(provenance.InvalidRecordError, match=r"'L' version 1 cannot be read"):
        provenance.to_prov(adata)
    with pytest.warns(provenance.ProvenanceWarning, match=r"left out of the export.*'L' version 1"):
        doc = provenance.to_prov(adata, allow_invalid=True)
    assert sorted(_activities(doc)) == sorted(r for r in RUNS if r != "L/v1")
    # The markers still name the labels version they used, which no readable record made:
    # marked so. The file holds the latest version's labels, which a readable record made.
    assert ("rank_genes_groups/v1", "L/v1/labels") in _pairs(doc, ProvUsage, "activity", "entity")
    assert _attr(_entities(doc)["L/v1/labels"], "record_readable") is False
    assert ("file", "L/v2/labels") in _pairs(doc, ProvMembership, "collection", "entity")
    assert not any(r.get_attribute(PROV_TYPE) for r in doc.get_records(ProvDerivation))


@pytest.mark.parametrize(
    ("field", "value", "cause"),
    [("history", 5, "not decode"), ("schema_version", "99.0", "newer anndata-provenance")],
)
def test_an_unreadable_history_is_refused_or_left_out_marked(recorded, field, value, cause):
    adata = recorded.copy()
    adata.uns["L"]["provenance"][field] = value
    with pytest.raises(provenance.InvalidRecordError, match=rf"'L' \(its whole history\).*{cause}"):
        provenance.to_prov(adata)
    with pytest.warns(provenance.ProvenanceWarning, match=r"'L' \(its whole history\)"):
        doc = provenance.to_prov(adata, allow_invalid=True)
    assert not {"L/v1", "L/v2"} & set(_activities(doc))
    members = {e for _, e in _pairs(doc, ProvMembership, "collection", "entity")}
    assert members and not any(m.startswith("L/") for m in members)
    assert _attr(_entities(doc)["L/v1/labels"], "record_readable") is False


def test_cli_usage_errors(files, tmp_path, capsys):
    path = files["h5ad"]
    rc, _, err = _cli(capsys, "export", path, "--format", "ro-crate")
    assert rc == 2 and "give --out DIR" in err
    rc, _, err = _cli(capsys, "export", path, "--format", "prov-n", "--no-copy")
    assert rc == 2 and "--no-copy applies to --format ro-crate only" in err
    afile = tmp_path / "not-a-dir"
    afile.write_text("x", encoding="utf-8")
    rc, _, err = _cli(capsys, "export", path, "--format", "ro-crate", "--out", afile)
    assert rc == 2 and "is not a directory" in err
    rc, _, err = _cli(capsys, "export", tmp_path / "missing.h5ad", "--format", "prov-json")
    assert rc == 2 and "missing.h5ad" in err
    with pytest.raises(SystemExit):
        main(["export", str(path), "--format", "prov-xml"])


def test_a_missing_extra_is_named():
    with pytest.raises(ImportError, match=r"anndata-provenance\[export\]") as e:
        require("provenance_no_such_module", "provenance.to_prov")
    assert "provenance.to_prov" in str(e.value)


def test_import_provenance_stays_light():
    code = (
        "import sys, provenance; "
        "print(sorted(m for m in ('prov', 'rocrate', 'rdflib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- RO-Crate -----------------------------------------------------------------------------


def _actions(crate: ROCrate) -> dict[str, Any]:
    return {a["name"]: a for a in crate.get_by_type("CreateAction")}


def _ids(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v.id for v in values]


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
def test_crate_has_one_action_per_record(recorded, files, tmp_path, capsys, fmt):
    path, out = files[fmt], tmp_path / "crate"
    rc, _, err = _cli(capsys, "export", path, "--format", "ro-crate", "--out", out)
    assert rc == 0 and f"{len(RUNS)} action(s)" in err
    crate = ROCrate(out)
    assert PROFILE in _ids(crate.root_dataset["conformsTo"])
    records = _records(recorded)
    actions = _actions(crate)
    assert len(actions) == len(records) == len(RUNS)
    for run, rec in records.items():
        key, _, v = run.partition("/v")
        action = actions[f"{rec.function} -> {key} (version {v})"]
        assert action.id == f"urn:uuid:{rec.id}"
        # To the second (the profile's ISO 8601 form has no microseconds).
        assert action["startTime"] == rec.started_at.replace(microsecond=0).isoformat()
        assert action["endTime"] == rec.finished_at.replace(microsecond=0).isoformat()
        app = action["instrument"]
        assert app.type == "SoftwareApplication" and app["name"] == "scanpy"
        assert app["softwareVersion"] == rec.software.packages["scanpy"]
        assert f"#{run}" in " ".join(_ids(action["result"]))
        assert action["object"], run
        assert action.id in _ids(crate.root_dataset["mentions"])
    v2 = actions["scanpy.tl.leiden -> L (version 2)"]
    assert "#neighbors/v1/connectivities" in _ids(v2["object"])
    labels = v2["result"]  # one result: a single value, as RO-Crate 1.1 recommends
    assert labels["identifier"] == records["L/v2"].result.labels_digest
    params = {p["name"]: p["value"] for p in v2["object"] if p.type == "PropertyValue"}
    assert params["resolution"] == 0.5 and params["key_added"] == "L"
    markers = actions["scanpy.tl.rank_genes_groups -> rank_genes_groups (version 1)"]
    assert "#L/v1/labels" in _ids(markers["object"])

    # The data file, copied in; the PROV document beside it.
    data = crate.dereference(path.name)
    assert data is not None and data.id in _ids(crate.root_dataset["hasPart"])
    assert data.type == ("Dataset" if fmt == "zarr" else "File")
    assert (out / path.name).exists()
    if fmt == "h5ad":
        assert (out / path.name).read_bytes() == path.read_bytes()
        assert data["contentSize"] == str(path.stat().st_size)
        assert data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert labels["isPartOf"].id == data.id
    prov_doc = ProvDocument.deserialize(content=(out / "prov.json").read_text(), format="json")
    assert prov_doc == provenance.to_prov(path)


def test_a_crate_written_again_keeps_its_files(files, tmp_path):
    from rocrate.model.person import Person

    out = tmp_path / "crate"
    crate = provenance.to_ro_crate(files["h5ad"], out)
    prov_json = (out / "prov.json").read_text(encoding="utf-8")
    author = crate.add(Person(crate, "https://orcid.org/0000-0000-0000-0000", {"name": "A. P."}))
    crate.root_dataset["author"] = author
    crate.write(out)  # as docs/depositing.md says: add an author, write again
    assert (out / "prov.json").read_text(encoding="utf-8") == prov_json
    assert (out / "rec.h5ad").read_bytes() == files["h5ad"].read_bytes()
    assert ROCrate(out).root_dataset["author"]["name"] == "A. P."


def test_crate_without_copying_the_data(files, tmp_path):
    path, out = files["h5ad"], tmp_path / "meta-only"
    crate = provenance.to_ro_crate(path, out, copy=False)
    assert sorted(p.name for p in out.iterdir()) == ["prov.json", "ro-crate-metadata.json"]
    loaded = ROCrate(out)
    assert loaded.dereference(path.name) is not None
    assert len(_actions(loaded)) == len(_actions(crate)) == len(RUNS)


def test_crate_in_the_data_files_own_directory(recorded, tmp_path):
    path = tmp_path / "here.h5ad"
    recorded.write_h5ad(path)
    before = path.read_bytes()
    provenance.to_ro_crate(path, tmp_path)  # described where it is, not copied onto itself
    assert path.read_bytes() == before
    crate = ROCrate(tmp_path)
    assert crate.dereference("here.h5ad") is not None
    assert len(_actions(crate)) == len(RUNS)


def test_crate_of_an_unrecorded_file_claims_no_process(pbmc, tmp_path):
    path = tmp_path / "raw.h5ad"
    pbmc.write_h5ad(path)
    provenance.to_ro_crate(path, tmp_path / "crate")
    crate = ROCrate(tmp_path / "crate")
    assert not _actions(crate)
    assert crate.dereference("raw.h5ad") is not None
    assert PROFILE not in json.dumps(crate.root_dataset.as_jsonld())


def test_crate_needs_a_file(recorded, tmp_path):
    with pytest.raises(TypeError, match="write_h5ad"):
        provenance.to_ro_crate(recorded, tmp_path)  # type: ignore[arg-type]


# --- MuData -------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("muon") is None, reason="muon is not installed")
def test_mudata_keys_name_the_modality():
    from _muon_data import build_mudata, import_muon, quiet_mudata

    m = build_mudata()
    rna = m.mod["rna"]
    with provenance.record(rna):
        sc.tl.leiden(rna, key_added="leiden", random_state=0, **FAST)
    mu = import_muon()
    with provenance.record(m), quiet_mudata():
        mu.tl.leiden(m, key_added="multi", random_state=0)
    doc = provenance.to_prov(m)
    acts = _activities(doc)
    assert sorted(acts) == ["multi/v1", "rna%3Aleiden/v1"]
    assert _attr(acts["rna%3Aleiden/v1"], "key") == "rna:leiden"
    used = _pairs(doc, ProvUsage, "activity", "entity")
    # The multiplex clustering read each modality's graph.
    graphs = sorted(e for a, e in used if a == "multi/v1")
    assert [g.split("/")[1] for g in graphs] == ["rest%3Aconnectivities", "rna%3Aconnectivities"]
    assert _attr(_entities(doc)["rna%3Aleiden/v1/labels"], "obs_column") == "rna:leiden"
    # Parameters are muon's arguments (its **kwargs as kwargs); what ran is a note.
    import inspect

    params = {k.localpart for k, _ in acts["multi/v1"].attributes if k.namespace.prefix == "param"}
    assert params <= set(inspect.signature(mu.tl.leiden).parameters) and "kwargs" in params
    # muon 0.1.9 seeds only a truthy random_state (0 runs unseeded), muon >= 0.2 any: as recorded.
    assert _attr(acts["multi/v1"], "seeded") is provenance.latest(m, "multi").params.seeded
