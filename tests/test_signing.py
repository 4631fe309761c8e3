"""Signed records (schema 1.4): keygen, record(sign_with=...), verify --trusted-key.

The chain the issue asks for, on real files: keygen -> a signed recording -> verify with the
public key passes -> a careful forgery (the record edited with its digest, the index and
scanpy's params recomputed, so a plain verify passes) fails with ``signature_invalid``; an
unsigned record under a trust policy is ``unsigned`` (``signature_missing`` after a signed
one); another lab's key is
``untrusted_signer``. Without a trust policy nothing changes, and a file with signed records
reads without ``cryptography``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anndata as ad
import pytest
import scanpy as sc
from _audit_data import drop_unrecorded
from conftest import ANNDATA, FAST, write_zarr

import provenance
from provenance import ProvenanceError
from provenance._cli import main
from provenance._storage.codec import (
    decode_any,
    decode_record,
    decode_step,
    encode_history,
    encode_record,
    history_texts,
)
from provenance._storage.index import update_index
from provenance._util.jsonsafe import canonical_json

if TYPE_CHECKING:
    from anndata import AnnData

V13 = Path(__file__).parent / "data" / "schema-1.3" / "lineage.h5ad"


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def codes(report: provenance.AuditReport) -> dict[str, list[str]]:
    """Finding codes by key, clusterings and steps, keys without findings left out."""
    found = {e.key: [f.code for f in e.findings] for e in (*report.entries, *report.steps)}
    return {k: v for k, v in found.items() if v}


def entry_of(report: provenance.AuditReport, key: str) -> provenance.AuditEntry:
    return next(e for e in report.entries if e.key == key)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two labs' key pairs, made by the library (the CLI is tested on its own below)."""
    from provenance._util.signing import keygen

    d = tmp_path_factory.mktemp("keys")
    return {"lab": keygen(d / "lab.key").private, "other": keygen(d / "other.key").private}


def pub(private: Path) -> Path:
    return private.with_name(private.name + ".pub")


def recorded(pbmc: AnnData, *, sign_with: Path | None) -> AnnData:
    drop_unrecorded(pbmc)
    with provenance.record(pbmc, sign_with=sign_with):
        sc.pp.neighbors(pbmc)
        sc.tl.leiden(pbmc, key_added="L", resolution=1.0, **FAST)
        sc.tl.leiden(pbmc, key_added="L", resolution=0.8, **FAST)
        sc.tl.rank_genes_groups(pbmc, "L", method="t-test")
    return pbmc


def forge(adata: AnnData, key: str, *, resolution: float) -> None:
    """What a careful forger does: edit the latest record, then recompute with the package's
    own functions everything a plain verify compares (digest, index, scanpy's params)."""
    texts = history_texts(adata.uns[key]["provenance"], key=key)
    rec = decode_record(texts[-1], key=key, index=len(texts) - 1)
    params = rec.params.model_copy(update={"resolution": resolution})
    forged = rec.model_copy(update={"params": params})
    forged = forged.model_copy(update={"digest": forged.expected_digest()})
    adata.uns[key]["provenance"] = encode_history([*texts[:-1], encode_record(forged)])
    update_index(adata.uns, forged)
    adata.uns[key]["params"]["resolution"] = resolution
    # The markers name the record by digest (else parent_missing): point them at the forgery.
    texts = history_texts(adata.uns["rank_genes_groups"]["provenance"], key="rank_genes_groups")
    obj = json.loads(texts[-1])
    for use in obj["uses"]:
        if use["record"] and use["record"]["digest"] == rec.digest:
            use["record"]["digest"] = forged.digest
    markers = decode_step(canonical_json(obj), key="rank_genes_groups", index=len(texts) - 1)
    markers = markers.model_copy(update={"digest": markers.expected_digest()})
    adata.uns["rank_genes_groups"]["provenance"] = encode_history(
        [*texts[:-1], encode_record(markers)]
    )
    update_index(adata.uns, markers)


# --- keygen ----------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads_and_refuses_to_overwrite(
    tmp_path, capsys
):
    out = tmp_path / "lab.key"
    code, text, _ = run(capsys, "keygen", "--out", out)
    assert code == 0
    key_id = text.split("key id:", 1)[1].split()[0]
    assert key_id.startswith("ed25519:") and len(key_id) == len("ed25519:") + 16
    assert str(out) in text and str(pub(out)) in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in out.read_bytes() and b"PUBLIC KEY" in pub(out).read_bytes()
    before = out.read_bytes()
    code, _, err = run(capsys, "keygen", "--out", out)
    assert code == 2 and "exists" in err and "--force" in err and str(out) in err
    assert out.read_bytes() == before  # the key records were signed with is kept
    code, text, _ = run(capsys, "keygen", "--out", out, "--force")
    assert code == 0 and out.read_bytes() != before
    assert text.split("key id:", 1)[1].split()[0] != key_id
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


# --- the chain the issue asks for ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
def test_signed_then_forged_fails_only_under_the_trust_policy(pbmc, keys, tmp_path, capsys, fmt):
    adata = recorded(pbmc, sign_with=keys["lab"])
    lab_id = provenance.latest(adata, "L").signature.key_id
    for rec in (*provenance.history(adata, "L"), *provenance.step_history(adata, "neighbors")):
        assert rec.schema_version == provenance.SCHEMA_VERSION == "1.6"
        assert rec.signature is not None and rec.signature.key_id == lab_id
        # The signature is outside the digest: the chain is what it would be unsigned.
        assert rec.expected_digest() == rec.digest
        assert rec.model_copy(update={"signature": None}).expected_digest() == rec.digest
    path = tmp_path / f"signed.{fmt}"
    forged_path = tmp_path / f"forged.{fmt}"
    write = (lambda a, p: a.write_h5ad(p)) if fmt == "h5ad" else write_zarr
    read = ad.read_h5ad if fmt == "h5ad" else ad.read_zarr
    write(adata, path)

    code, out, _ = run(capsys, "verify", path, "--trusted-key", pub(keys["lab"]), "--strict")
    assert code == 0, out
    assert provenance.audit(path, trusted_keys=[pub(keys["lab"])]).findings == ()

    forged = read(path)
    forge(forged, "L", resolution=2.0)
    write(forged, forged_path)
    assert provenance.latest(read(forged_path), "L").params.resolution == 2.0
    # The forgery passes every check that needs no key ...
    code, out, _ = run(capsys, "verify", forged_path, "--strict")
    assert code == 0, out
    # ... and fails the signature: the record changed after it was signed.
    code, out, _ = run(capsys, "verify", forged_path, "--trusted-key", pub(keys["lab"]))
    assert code == 1 and "signature_invalid" in out and "changed after" in out
    report = provenance.audit(forged_path, trusted_keys=[pub(keys["lab"])])
    # The markers re-pointed at the forged record changed after they were signed too.
    assert codes(report) == {"L": ["signature_invalid"], "rank_genes_groups": ["signature_invalid"]}
    assert report["L"].findings[0].details == {"versions": [2]}


def test_a_stripped_or_resigned_forgery_is_caught_too(pbmc, keys, tmp_path, capsys):
    from provenance._record.history_call import sign
    from provenance._util.signing import load_signer

    adata = recorded(pbmc, sign_with=keys["lab"])
    trust = [pub(keys["lab"])]
    stripped = adata.copy()
    forge(stripped, "L", resolution=2.0)
    texts = history_texts(stripped.uns["L"]["provenance"], key="L")
    rec = decode_record(texts[-1], key="L", index=1)
    bare = rec.model_copy(update={"signature": None})
    stripped.uns["L"]["provenance"] = encode_history([texts[0], encode_record(bare)])
    rgg = history_texts(stripped.uns["rank_genes_groups"]["provenance"], key="rank_genes_groups")
    markers = decode_step(rgg[-1], key="rank_genes_groups", index=0)
    bare_markers = markers.model_copy(update={"signature": None})
    stripped.uns["rank_genes_groups"]["provenance"] = encode_history([encode_record(bare_markers)])
    report = provenance.audit(stripped, trusted_keys=trust)
    # L's v2 follows a signed v1: an error under any trust policy; the markers' only version
    # is unsigned, a warning that --require-signed makes an error.
    assert codes(report) == {"L": ["signature_missing"], "rank_genes_groups": ["unsigned"]}
    assert report["L"].findings[0].details == {
        "versions": [2],
        "cause": "after_signed",
        "signed": 1,
    }
    stripped.write_h5ad(tmp_path / "stripped.h5ad")
    code, out, _ = run(capsys, "verify", tmp_path / "stripped.h5ad", "--trusted-key", trust[0])
    assert code == 1 and ": signature_missing:" in out
    assert "version 1 before it is" in " ".join(out.split())

    # Re-signed with the forger's own key: not a key the verifier trusts.
    resigned = sign(bare, load_signer(keys["other"]))
    stripped.uns["L"]["provenance"] = encode_history([texts[0], encode_record(resigned)])
    assert codes(provenance.audit(stripped, trusted_keys=trust)) == {
        "L": ["untrusted_signer"],
        "rank_genes_groups": ["unsigned"],
    }


def test_unsigned_records_are_a_warning_under_a_trust_policy_only(pbmc, keys, tmp_path, capsys):
    adata = recorded(pbmc, sign_with=None)
    assert provenance.latest(adata, "L").signature is None
    path = tmp_path / "unsigned.h5ad"
    adata.write_h5ad(path)
    # No trust policy: nothing about signatures, as before signing existed.
    assert provenance.audit(path).findings == ()
    code, out, _ = run(capsys, "verify", path, "--strict")
    assert code == 0 and ": unsigned:" not in out
    report = provenance.audit(path, trusted_keys=[pub(keys["lab"])])
    assert report.ok
    assert codes(report) == {
        "L": ["unsigned"],
        "neighbors": ["unsigned"],
        "rank_genes_groups": ["unsigned"],
    }
    assert entry_of(report, "L").findings[0].details == {"versions": [1, 2]}
    code, out, _ = run(capsys, "verify", path, "--trusted-key", pub(keys["lab"]))
    assert code == 0 and ": unsigned:" in out
    code, _, _ = run(capsys, "verify", path, "--trusted-key", pub(keys["lab"]), "--strict")
    assert code == 1


def test_another_labs_key_is_an_untrusted_signer(pbmc, keys, tmp_path, capsys):
    adata = recorded(pbmc, sign_with=keys["other"])
    path = tmp_path / "other.h5ad"
    adata.write_h5ad(path)
    code, out, _ = run(capsys, "verify", path, "--trusted-key", pub(keys["lab"]))
    assert code == 1 and "untrusted_signer" in out
    report = provenance.audit(path, trusted_keys=[pub(keys["lab"])])
    other_id = provenance.latest(adata, "L").signature.key_id
    assert codes(report) == {
        "L": ["untrusted_signer"],
        "neighbors": ["untrusted_signer"],
        "rank_genes_groups": ["untrusted_signer"],
    }
    assert entry_of(report, "L").findings[0].details == {"versions": [1, 2], "key_id": other_id}
    # Trusting both labs (the option repeats): every record checks out.
    code, out, _ = run(
        capsys,
        "verify",
        path,
        "--trusted-key",
        pub(keys["lab"]),
        "--trusted-key",
        pub(keys["other"]),
    )
    assert code == 0, out


def test_json_report_carries_the_signature_findings(pbmc, keys, tmp_path, capsys):
    adata = recorded(pbmc, sign_with=keys["lab"])
    forge(adata, "L", resolution=2.0)
    adata.write_h5ad(tmp_path / "f.h5ad")
    code, out, _ = run(
        capsys, "verify", tmp_path / "f.h5ad", "--trusted-key", pub(keys["lab"]), "--json"
    )
    d = json.loads(out)
    assert code == 1 and d["passed"] is False
    entry = next(e for e in d["entries"] if e["key"] == "L")
    assert [(f["code"], f["severity"]) for f in entry["findings"]] == [
        ("signature_invalid", "error")
    ]
    assert entry["history"][-1]["signature"]["algorithm"] == "ed25519"


# --- recording: the key, from the argument or the environment --------------------------------


def test_the_environment_variable_signs_blocks_and_sessions(pbmc, keys, monkeypatch):
    drop_unrecorded(pbmc)
    monkeypatch.setenv("PROVENANCE_SIGNING_KEY", str(keys["lab"]))
    with provenance.record(pbmc):
        sc.pp.neighbors(pbmc)
        sc.tl.leiden(pbmc, key_added="L", **FAST)
    provenance.start()
    try:
        sc.tl.leiden(pbmc, key_added="S", **FAST)
    finally:
        provenance.stop()
    # An explicit key wins over the environment.
    with provenance.record(pbmc, sign_with=keys["other"]):
        sc.tl.leiden(pbmc, key_added="O", **FAST)
    monkeypatch.delenv("PROVENANCE_SIGNING_KEY")
    trust = [pub(keys["lab"])]
    report = provenance.audit(pbmc, trusted_keys=trust)
    assert codes(report) == {"O": ["untrusted_signer"]}
    ids = {k: provenance.latest(pbmc, k).signature.key_id for k in ("L", "S", "O")}
    assert ids["L"] == ids["S"] != ids["O"]
    assert provenance.step_history(pbmc, "neighbors")[0].signature.key_id == ids["L"]


def test_an_identical_rerun_with_a_key_signs_a_new_version(pbmc, keys):
    drop_unrecorded(pbmc)
    with provenance.record(pbmc):
        sc.pp.neighbors(pbmc)
        sc.tl.leiden(pbmc, key_added="L", **FAST)
    for _ in range(2):  # the second signed re-run is identical to the first: no version
        with provenance.record(pbmc, sign_with=keys["lab"]):
            sc.pp.neighbors(pbmc)
            sc.tl.leiden(pbmc, key_added="L", **FAST)
    lab_id = provenance.latest(pbmc, "L").signature.key_id
    sigs = [r.signature for r in provenance.history(pbmc, "L")]
    assert sigs[0] is None and [s.key_id for s in sigs[1:]] == [lab_id]
    steps = provenance.step_history(pbmc, "neighbors")
    assert [s.signature is not None for s in steps] == [False, True]
    # The signed v2s vouch for the unsigned v1s through the hash chain (a digest covers
    # ``previous``): a history started before signing is signed by re-running with the key.
    report = provenance.audit(pbmc, trusted_keys=[pub(keys["lab"])], require_signed=True)
    assert codes(report) == {}


@pytest.mark.parametrize("bad", ["missing", "public", "garbage"])
def test_a_bad_key_fails_at_record_entry_before_any_clustering(pbmc, keys, tmp_path, bad):
    path = {
        "missing": tmp_path / "nope.key",
        "public": pub(keys["lab"]),
        "garbage": tmp_path / "garbage.key",
    }[bad]
    (tmp_path / "garbage.key").write_text("not a key\n")
    before = set(pbmc.obs.columns), set(pbmc.uns)
    ran = False
    with pytest.raises(ProvenanceError, match=str(path)), provenance.record(pbmc, sign_with=path):
        ran = True
    assert not ran and (set(pbmc.obs.columns), set(pbmc.uns)) == before


def test_a_bad_key_in_the_environment_names_the_variable(pbmc, tmp_path, monkeypatch):
    monkeypatch.setenv("PROVENANCE_SIGNING_KEY", str(tmp_path / "gone.key"))
    with pytest.raises(ProvenanceError, match=r"gone\.key.*PROVENANCE_SIGNING_KEY"):
        provenance.record(pbmc).__enter__()
    with pytest.raises(ProvenanceError, match="PROVENANCE_SIGNING_KEY"):
        provenance.start()
    with pytest.warns(provenance.ProvenanceWarning, match="not on"):
        provenance.stop()  # the failed start left recording off


def test_bad_trusted_keys_are_refused_with_their_path(keys, tmp_path, capsys):
    adata = tmp_path / "any.h5ad"
    ad.AnnData(obs={"x": [1, 2]}).write_h5ad(adata)
    code, _, err = run(capsys, "verify", adata, "--trusted-key", tmp_path / "gone.pub")
    assert code == 2 and "gone.pub" in err and "does not exist" in err
    code, _, err = run(capsys, "verify", adata, "--trusted-key", keys["lab"])
    assert code == 2 and "is a private key" in err
    with pytest.raises(TypeError, match="list of public key paths"):
        provenance.audit(adata, trusted_keys=str(pub(keys["lab"])))  # type: ignore[arg-type]


# --- compatibility ---------------------------------------------------------------------------


def _v13_texts(key: str) -> list[str]:
    """A key's history in the 1.3 file, read with h5py: anndata 0.10 cannot read the file
    (anndata 0.12 wrote it, with the ``null`` encoding 0.10 does not know)."""
    import h5py

    with h5py.File(V13, "r") as f:
        return [str(t, "utf-8") for t in f["uns"][key]["provenance"]["history"][()]]


def test_a_1_3_file_reads_and_audits_as_before(keys):
    report = provenance.audit(V13)
    assert report.ok and report.findings == ()
    for key in ("L", "neighbors", "rank_genes_groups"):
        texts = _v13_texts(key)
        assert {json.loads(t)["schema_version"] for t in texts} == {"1.3"}
        for i, t in enumerate(texts):
            rec = decode_any(t, key=key, index=i)
            assert rec.schema_version == provenance.SCHEMA_VERSION and rec.signature is None
            assert rec.expected_digest() == rec.digest  # upgraded, still the written digest
    texts = _v13_texts("L")
    assert [decode_any(t, key="L", index=i).params.random_state for i, t in enumerate(texts)] == [
        0,
        1,
    ]
    trusted = provenance.audit(V13, trusted_keys=[pub(keys["lab"])])
    assert codes(trusted) == {
        "L": ["unsigned"],
        "neighbors": ["unsigned"],
        "rank_genes_groups": ["unsigned"],
    }


@pytest.mark.skipif(ANNDATA < (0, 11), reason="anndata 0.10 cannot read the 1.3 file (see above)")
def test_a_1_3_history_takes_signed_versions(keys, tmp_path):
    # A signed 1.4 version appended to a 1.3 history: the chain holds across versions.
    adata = ad.read_h5ad(V13)
    with provenance.record(adata, sign_with=keys["lab"]):
        sc.tl.leiden(adata, key_added="L", random_state=2, **FAST)
    written = tmp_path / "mixed.h5ad"
    adata.write_h5ad(written)
    texts = history_texts(ad.read_h5ad(written).uns["L"]["provenance"], key="L")
    assert [json.loads(t)["schema_version"] for t in texts] == [
        "1.3",
        "1.3",
        provenance.SCHEMA_VERSION,
    ]
    mixed = provenance.audit(written, trusted_keys=[pub(keys["lab"])])
    assert codes(mixed) == {  # L's signed v3 vouches for its 1.3 versions through the chain
        "neighbors": ["unsigned"],
        # The 1.3 markers were computed from version 2's labels: the audit still says so.
        "rank_genes_groups": ["stale_result", "unsigned"],
    }


_WITHOUT_CRYPTOGRAPHY = """
import sys
sys.modules["cryptography"] = None  # import cryptography now raises ImportError
import provenance
from provenance._cli import main
path, pub, key = sys.argv[1:]
report = provenance.audit(path)
print("@audit", report.ok, [f.code for f in report.findings])
import anndata
print("@signed", provenance.latest(anndata.read_h5ad(path), "L").signature.key_id)
print("@verify", main(["verify", path]))
print("@trusted", main(["verify", path, "--trusted-key", pub]))
try:
    provenance.record(sign_with=key).__enter__()
except provenance.ProvenanceError as e:
    print("@record", e)
print("@loaded", "cryptography" in sys.modules and sys.modules["cryptography"] is not None)
"""


def test_a_signed_file_reads_without_cryptography(pbmc, keys, tmp_path):
    path = tmp_path / "signed.h5ad"
    recorded(pbmc, sign_with=keys["lab"]).write_h5ad(path)
    args = [str(path), str(pub(keys["lab"])), str(keys["lab"])]
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_CRYPTOGRAPHY, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PROVENANCE_SIGNING_KEY": ""},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = dict(
        line[1:].split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("@")
    )
    assert lines["audit"] == "True []"
    assert lines["signed"].startswith("ed25519:")
    assert lines["verify"] == "0"
    assert lines["trusted"] == "2"  # a trust policy needs the extra ...
    assert "anndata-provenance[sign]" in proc.stderr  # ... and says which
    assert "anndata-provenance[sign]" in lines["record"]
    assert lines["loaded"] == "False"


def test_import_provenance_does_not_import_cryptography():
    code = "import sys, provenance; print('cryptography' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "False"


def test_a_version_appended_without_the_key_is_covered_by_a_later_signed_one(pbmc, keys):
    drop_unrecorded(pbmc)
    with provenance.record(pbmc, sign_with=keys["lab"]):
        sc.pp.neighbors(pbmc)
        sc.tl.leiden(pbmc, key_added="L", **FAST)
    with provenance.record(pbmc):  # forgot the key
        sc.tl.leiden(pbmc, key_added="L", resolution=0.5, **FAST)
    trusted = [pub(keys["lab"])]
    report = provenance.audit(pbmc, trusted_keys=trusted)
    assert codes(report) == {"L": ["signature_missing"]}
    assert report["L"].findings[0].details["cause"] == "after_signed"
    with provenance.record(pbmc, sign_with=keys["lab"]):  # re-run with it: v3 vouches for v2
        sc.tl.leiden(pbmc, key_added="L", resolution=0.5, **FAST)
    assert [r.signature is None for r in provenance.history(pbmc, "L")] == [False, True, False]
    assert codes(provenance.audit(pbmc, trusted_keys=trusted, require_signed=True)) == {}
