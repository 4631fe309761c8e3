"""Exports that tell the truth (issue 25): parameters are the call's arguments, signatures are
shown and not claimed checked, an edited record is refused, the same file gives the same bytes
and another file of the same name other identifiers, and the crate of a recorded file passes
rocrate-validator's process-run-crate profile (REQUIRED and RECOMMENDED), run offline.

One signed recording on pbmc68k_reduced (neighbors, a Leiden key twice), written to .h5ad and
.zarr. The validator reads the RO-Crate JSON-LD context from its HTTP cache in offline mode; the
cache is filled from a local HTTP server serving the copy the ``rocrate`` package ships.
"""

from __future__ import annotations

import hashlib
import http.server
import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import scanpy as sc
from conftest import FAST, SCANPY, write_zarr

import provenance
from provenance._cli import main

if TYPE_CHECKING:
    from anndata import AnnData

pytest.importorskip("prov", reason="the export extra (anndata-provenance[export])")
pytest.importorskip("rocrate", reason="the export extra (anndata-provenance[export])")
pytest.importorskip("cryptography", reason="the sign extra (anndata-provenance[sign])")

from prov.model import ProvActivity, ProvDocument, ProvEntity, ProvMembership, ProvUsage

ORCID = "https://orcid.org/0000-0002-1825-0097"
CONTEXT = "https://w3id.org/ro/crate/1.1/context"
# Not arguments of sc.tl.leiden: what the package's params models add about a call.
ANNOTATIONS = {"unknown", "passed", "not_in_effect", "python_random_state", "other_args", "method"}


@pytest.fixture(scope="module")
def signed(_pbmc_master: AnnData, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A recording signed by a lab key, as an object and as .h5ad and .zarr files."""
    from provenance._util.signing import keygen

    d = tmp_path_factory.mktemp("truth")
    key = keygen(d / "lab.key")
    adata = _pbmc_master.copy()
    with provenance.record(adata, sign_with=key.private):
        sc.pp.neighbors(adata, n_neighbors=10)
        sc.tl.leiden(adata, key_added="L", resolution=1.0, **FAST)
        sc.tl.leiden(adata, key_added="L", resolution=0.5, **FAST)
    (d / "a").mkdir()
    adata.write_h5ad(d / "a" / "rec.h5ad")
    write_zarr(adata, d / "a" / "rec.zarr")
    return {"adata": adata, "h5ad": d / "a" / "rec.h5ad", "zarr": d / "a" / "rec.zarr", "d": d}


def _cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _attrs(record: Any) -> dict[str, Any]:
    return {f"{k.namespace.prefix}:{k.localpart}": v for k, v in record.attributes}


def _activities(doc: ProvDocument) -> dict[str, dict[str, Any]]:
    return {str(a.identifier.localpart): _attrs(a) for a in doc.get_records(ProvActivity)}


def _function(name: str) -> Any:
    """``"scanpy.tl.leiden"`` -> ``sc.tl.leiden``."""
    _, module, attr = name.split(".")
    return getattr(getattr(sc, module), attr)


def test_parameters_are_the_arguments_of_the_call(signed):
    doc = provenance.to_prov(signed["adata"])
    acts = _activities(doc)
    assert sorted(acts) == ["L/v1", "L/v2", "neighbors/v1"]
    for run, attrs in acts.items():
        params = {k.removeprefix("param:") for k in attrs if k.startswith("param:")}
        signature = set(inspect.signature(_function(attrs["ap:function"])).parameters)
        assert params and params <= signature - {"adata"}, run
    leiden = acts["L/v2"]
    assert not {f"param:{a}" for a in ANNOTATIONS} & set(leiden)
    assert leiden["param:resolution"] == 0.5
    # What the record adds about the call is under its own name, not a parameter.
    if SCANPY >= (1, 10):  # directed=None passed, resolved by the igraph flavor to False
        assert json.loads(leiden["param:directed"].value) is None
        assert json.loads(leiden["ap:resolved_arguments"].value) == {"directed": False}
    else:  # scanpy 1.9's leiden has no flavor argument: leidenalg ran
        assert "param:flavor" not in leiden
        assert leiden["ap:backend"] == "leidenalg"
    assert all(a["ap:record_digest_valid"] is True for a in acts.values())


def test_signatures_are_exported_and_not_claimed_checked(signed, tmp_path):
    rec = provenance.latest(signed["adata"], "L")
    assert rec.signature is not None
    leiden = _activities(provenance.to_prov(signed["h5ad"]))["L/v2"]
    assert leiden["ap:signature_key_id"] == rec.signature.key_id
    assert leiden["ap:signature"] == rec.signature.value
    assert leiden["ap:signature_checked"] is False
    crate = provenance.to_ro_crate(signed["h5ad"], tmp_path / "c", copy=False)
    (action,) = [a for a in crate.get_by_type("CreateAction") if a.id == f"urn:uuid:{rec.id}"]
    assert f"by key {rec.signature.key_id}" in action["description"]
    assert "does not check signatures" in action["description"]


def test_an_edited_record_is_not_exported_silently(signed, capsys):
    adata = signed["adata"].copy()
    history = [str(x) for x in adata.uns["L"]["provenance"]["history"]]
    edited = json.loads(history[-1])
    edited["params"]["resolution"] = 2.0  # digest and signature left as they were
    history[-1] = json.dumps(edited)
    adata.uns["L"]["provenance"]["history"] = history
    path = signed["d"] / "edited.h5ad"
    adata.write_h5ad(path)
    with pytest.raises(provenance.InvalidRecordError, match=r"'L' version 2 does not match"):
        provenance.to_prov(path)
    out = signed["d"] / "edited.prov.json"
    rc, _, err = _cli(capsys, "export", path, "--format", "prov-json", "--out", out)
    assert rc == 1 and "edited after it was recorded" in err and "--allow-invalid" in err
    assert not out.exists()
    rc, _, err = _cli(capsys, "export", path, "--format", "ro-crate", "--out", out.with_suffix(""))
    assert rc == 1 and not out.with_suffix("").exists()
    rc, text, err = _cli(capsys, "export", path, "--format", "prov-json", "--allow-invalid")
    assert rc == 0 and "marked invalid" in err and "'L' version 2" in err
    acts = _activities(ProvDocument.deserialize(content=text, format="json"))
    assert acts["L/v2"]["ap:record_digest_valid"] is False
    assert acts["L/v1"]["ap:record_digest_valid"] is True
    assert acts["L/v2"]["param:resolution"] == 2.0  # what the record says, marked
    crate_dir = signed["d"] / "edited-crate"
    rc, _, err = _cli(
        capsys, "export", path, "--format", "ro-crate", "--out", crate_dir, "--allow-invalid"
    )
    assert rc == 0 and "marked INVALID" in err
    meta = json.loads((crate_dir / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    invalid = [e for e in meta["@graph"] if str(e.get("description", "")).startswith("INVALID")]
    assert [e["name"] for e in invalid] == ["scanpy.tl.leiden -> L (version 2)"]


def test_same_file_same_bytes_and_a_namesake_other_identifiers(signed, tmp_path, capsys):
    path = signed["h5ad"]
    crates = [tmp_path / "one", tmp_path / "two"]
    for out in crates:
        rc, _, err = _cli(capsys, "export", path, "--format", "ro-crate", "--out", out)
        assert rc == 0 and "no --license, no --date-published" in err
        assert "will not validate" in err
    for name in ("ro-crate-metadata.json", "prov.json"):
        assert (crates[0] / name).read_bytes() == (crates[1] / name).read_bytes()
    meta = json.loads((crates[0] / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    root = next(e for e in meta["@graph"] if e["@id"] == "./")
    assert "datePublished" not in root and "license" not in root
    data = next(e for e in meta["@graph"] if e["@id"] == "rec.h5ad")
    assert data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data["contentSize"] == str(path.stat().st_size)

    # Another file of the same name, other records: other identifiers.
    other = tmp_path / "b" / "rec.h5ad"
    other.parent.mkdir()
    adata = signed["adata"].copy()
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="L", resolution=0.3, **FAST)
    adata.write_h5ad(other)
    namespaces = [provenance.to_prov(p).get_registered_namespaces() for p in (path, other)]
    uris = [{n.prefix: n.uri for n in ns}["provenance"] for ns in namespaces]
    assert uris[0] != uris[1] and "rec.h5ad" not in uris[0]
    # A copy of the file is the same history: the same identifiers.
    assert provenance.to_prov(signed["adata"], name="rec.h5ad") == provenance.to_prov(path)


def test_zarr_store_lists_the_sha256_of_its_files(signed, tmp_path):
    store = signed["zarr"]
    provenance.to_ro_crate(store, tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    by_id = {e["@id"]: e for e in meta["@graph"]}
    data = by_id["rec.zarr/"]
    assert "sha256" not in data and "rec.zarr.sha256" in data["description"]
    listed = by_id["rec.zarr.sha256"]
    manifest = tmp_path / "c" / "rec.zarr.sha256"
    assert listed["sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    lines = manifest.read_text(encoding="utf-8").splitlines()
    files = sorted(p for p in store.rglob("*") if p.is_file())
    assert len(lines) == len(files) > 0
    for line in lines:
        digest, _, rel = line.partition("  ")
        assert hashlib.sha256((tmp_path / "c" / rel).read_bytes()).hexdigest() == digest


def test_crate_options_are_checked(signed, tmp_path, capsys):
    path, out = signed["h5ad"], tmp_path / "c"
    for bad, msg in [
        (["--license", "not a licence"], "neither an SPDX"),
        (["--agent", "Josiah"], "must be a URL"),
        (["--date-published", "yesterday"], "not an ISO 8601 date"),
        (["--agent-name", "J. C."], "give --agent URL too"),
    ]:
        rc, _, err = _cli(capsys, "export", path, "--format", "ro-crate", "--out", out, *bad)
        assert rc == 2 and msg in err, bad
    rc, _, err = _cli(capsys, "export", path, "--format", "prov-n", "--license", "MIT")
    assert rc == 2 and "--license applies to --format ro-crate only" in err


# --- rocrate-validator, offline ---------------------------------------------------------------


def _fill_cache(cache: Path) -> None:
    """Put the RO-Crate 1.1 context, as the ``rocrate`` package ships it, in the validator's
    HTTP cache under its URL, fetched from a local HTTP server (no network)."""
    import functools
    import threading

    import requests
    import requests_cache
    import rocrate

    data = Path(rocrate.__file__).parent / "data"
    handler = functools.partial(_QuietHandler, directory=str(data))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/ro-crate.jsonld"
        response = requests.get(url, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    response.raise_for_status()
    assert json.loads(response.content)["@context"]["CreateAction"]
    response.url = CONTEXT
    response.headers["Content-Type"] = "application/ld+json"
    response.request = requests.Request("GET", CONTEXT).prepare()
    session = requests_cache.CachedSession(str(cache), backend="sqlite")
    session.cache.save_response(response)
    session.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Files of a directory, without a log line on stderr per request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def validate(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``validate(crate_dir, severity) -> [(severity, check id, message)]``, offline."""
    pytest.importorskip("rocrate_validator", reason="roc-validator (the validate extra)")
    from rocrate_validator import models, services
    from rocrate_validator.utils.document_loader import uninstall_document_loader
    from rocrate_validator.utils.http import HttpRequester

    cache = tmp_path_factory.mktemp("validator") / "http_cache"
    _fill_cache(cache)

    def run(crate: Path, severity: str = "RECOMMENDED") -> list[tuple[str, str, str]]:
        settings = models.ValidationSettings(
            rocrate_uri=str(crate),
            profile_identifier="process-run-crate-0.5",
            requirement_severity=models.Severity[severity],
            offline=True,
            cache_path=cache,
        )
        result = services.validate(settings)
        issues = [(i.severity.name, i.check.identifier, i.message) for i in result.get_issues()]
        assert result.passed() == (not issues)
        return issues

    yield run
    HttpRequester.reset()
    uninstall_document_loader()


# pyshacl (under rocrate-validator) builds rdflib graphs with a class rdflib deprecates.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_crate_passes_the_process_run_crate_profile_offline(signed, validate, tmp_path, capsys):
    from rocrate.model.contextentity import ContextEntity

    path, out = signed["h5ad"], tmp_path / "crate"
    rc, _, err = _cli(
        capsys, "export", path, "--format", "ro-crate", "--out", out, "--license", "CC-BY-4.0",
        "--agent", ORCID, "--agent-name", "Josiah Carberry", "--date-published", "2026-12-07",
    )  # fmt: skip
    assert rc == 0 and "will not validate" not in err
    # Who wrote and publishes the crate: the depositor adds them (docs/depositing.md).
    from rocrate.rocrate import ROCrate

    crate = ROCrate(out)
    org = crate.add(
        ContextEntity(
            crate,
            "https://ror.org/05gq02987",
            properties={"@type": "Organization", "name": "Brown University", "url": "https://brown.edu"},
        )
    )  # fmt: skip
    person = crate.get(ORCID)
    person["affiliation"] = org
    crate.root_dataset["author"] = person
    crate.root_dataset["publisher"] = org
    crate.write(out)
    assert validate(out) == []
    meta = json.loads((out / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    actions = [e for e in meta["@graph"] if e["@type"] == "CreateAction"]
    assert len(actions) == 3
    for a in actions:
        assert a["actionStatus"] == "http://schema.org/CompletedActionStatus"
        assert a["agent"] == {"@id": ORCID}
        assert a["endTime"].endswith("+00:00") and "." not in a["endTime"]

    # Without a licence and a date (the records know neither), the same profile fails where
    # RO-Crate 1.1 says MUST: the CLI says so on stderr.
    bare = tmp_path / "bare"
    provenance.to_ro_crate(path, bare)
    issues = {c: m for _, c, m in validate(bare, "REQUIRED")}
    assert sorted(issues) == ["ro-crate-1.1_8.3", "ro-crate-1.1_8.4"]
    assert "`license`" in issues["ro-crate-1.1_8.3"]
    assert "datePublished" in issues["ro-crate-1.1_8.4"]


# --- records that cannot be read (a tampered signature, an extra field, a cut record) -----------


def _sig_none(rec: dict[str, Any]) -> str:
    rec["signature"]["algorithm"] = "none"
    return json.dumps(rec)


def _sig_extra(rec: dict[str, Any]) -> str:
    rec["signature"]["note"] = "added"
    return json.dumps(rec)


def _cut(rec: dict[str, Any]) -> str:
    text = json.dumps(rec)
    return text[: len(text) // 2]


@pytest.fixture(scope="module")
def markers(signed: dict[str, Any]) -> AnnData:
    """The signed recording, then markers of the Leiden key's version 2 (recorded)."""
    adata = signed["adata"].copy()
    with provenance.record(adata):
        sc.tl.rank_genes_groups(adata, "L", method="t-test", n_genes=5)
    return adata


@pytest.mark.parametrize("tamper", [_sig_none, _sig_extra, _cut])
def test_an_unreadable_latest_record_is_refused_or_marked(markers, tamper, tmp_path, capsys):
    adata = markers.copy()
    history = [str(x) for x in adata.uns["L"]["provenance"]["history"]]
    history[-1] = tamper(json.loads(history[-1]))
    adata.uns["L"]["provenance"]["history"] = history
    path = tmp_path / "c1.h5ad"
    adata.write_h5ad(path)
    with pytest.raises(provenance.InvalidRecordError, match=r"'L' version 2 cannot be read"):
        provenance.to_prov(path)

    # Refused: exit 1, one plain line for the key, nothing written.
    out, crate_dir = tmp_path / "c1.prov.json", tmp_path / "crate"
    for fmt, dest in (("prov-json", out), ("ro-crate", crate_dir)):
        rc, _, err = _cli(capsys, "export", path, "--format", fmt, "--out", dest)
        assert rc == 1 and not dest.exists(), fmt
        (line,) = err.splitlines()
        assert line.startswith("provenance export: error: ") and "'L' version 2" in line
        assert "--allow-invalid" in line and "provenance verify" in line

    # --allow-invalid: what can be read, the gap marked; one plain warning line.
    rc, _, err = _cli(capsys, "export", path, "--format", "prov-json", "--out", out,
                      "--allow-invalid")  # fmt: skip
    assert rc == 0
    (line,) = err.splitlines()
    assert line.startswith("provenance export: warning: ") and "'L' version 2" in line
    assert ".py" not in err and "ProvenanceWarning" not in err
    doc = ProvDocument.deserialize(content=out.read_text(encoding="utf-8"), format="json")
    acts = _activities(doc)
    assert sorted(acts) == ["L/v1", "neighbors/v1", "rank_genes_groups/v1"]
    entities = {str(e.identifier.localpart): e for e in doc.get_records(ProvEntity)}
    members = {
        str(r.get_attribute("prov:entity").pop().localpart) for r in doc.get_records(ProvMembership)
    }
    # The file holds v2's labels, made by a record that cannot be read: no member for L.
    assert members and not any(m.startswith("L/") for m in members)
    assert "L version 2" in str(_attrs(entities["file"])["ap:unreadable_records"])
    used = {
        (str(u.get_attribute("prov:activity").pop().localpart),
         str(u.get_attribute("prov:entity").pop().localpart))
        for u in doc.get_records(ProvUsage)
    }  # fmt: skip
    assert ("rank_genes_groups/v1", "L/v2/labels") in used
    assert _attrs(entities["L/v2/labels"])["ap:record_readable"] is False
    assert "cannot be read" in str(_attrs(entities["L/v2/labels"])["prov:label"])

    rc, _, err = _cli(capsys, "export", path, "--format", "ro-crate", "--out", crate_dir,
                      "--no-copy", "--allow-invalid")  # fmt: skip
    assert rc == 0 and ".py" not in err
    assert sum(line.startswith("provenance export: warning: ") for line in err.splitlines()) == 1
    meta = json.loads((crate_dir / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    by_id = {e["@id"]: e for e in meta["@graph"]}
    actions = {e["name"]: e for e in meta["@graph"] if e["@type"] == "CreateAction"}
    names = list(actions)
    assert "scanpy.tl.leiden -> L (version 2)" not in names and len(names) == 3
    assert "isPartOf" not in by_id["#L/v1/labels"]
    assert "record_readable=False" in by_id["#L/v2/labels"]["description"]
    assert "L version 2" in by_id["./"]["description"]
    rgg = actions["scanpy.tl.rank_genes_groups -> rank_genes_groups (version 1)"]
    assert {"@id": "#L/v2/labels"} in _as_list(rgg["object"])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
