"""A trust policy that means it (issue 25): ``verify --require-signed``, an unsigned version
after a signed one, and ``--deep`` that never passes a key it could not re-run.

Real files of a real signed recording of pbmc68k_reduced (a seeded leiden on its graph and
markers; an unseeded leiden added), verified through the CLI; the verdict table (``tests/test_verdicts.py``)
holds the same findings on the routine workflow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anndata as ad
import pytest
import scanpy as sc
from _audit_data import drop_unrecorded
from conftest import FAST, write_zarr

import provenance
from provenance._cli import main
from provenance._storage.codec import encode_history, history_texts
from provenance._util.jsonsafe import canonical_json

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData


def verify(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main(["verify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The lab's private key and its public key file."""
    from provenance._util.signing import keygen

    pair = keygen(tmp_path_factory.mktemp("trust-keys") / "lab.key")
    return pair.private, pair.public


@pytest.fixture(scope="module")
def signed(_pbmc_master: AnnData, lab: tuple[Path, Path]) -> AnnData:
    adata = drop_unrecorded(_pbmc_master.copy())
    with provenance.record(adata, sign_with=lab[0]):
        sc.tl.leiden(adata, key_added="L", random_state=0, **FAST)
        sc.tl.rank_genes_groups(adata, "L", method="t-test")
    return adata


@pytest.fixture(scope="module")
def signed_file(signed: AnnData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trust") / "signed.h5ad"
    signed.write_h5ad(path)
    return path


def strip_signature(adata: AnnData, key: str) -> None:
    """Remove the signature of ``key``'s latest record (outside the digest: the chain holds)."""
    texts = history_texts(adata.uns[key]["provenance"], key=key)
    obj = json.loads(texts[-1])
    obj["signature"] = None
    adata.uns[key]["provenance"] = encode_history([*texts[:-1], canonical_json(obj)])


def test_require_signed_passes_a_fully_signed_file_and_fails_a_stripped_record(
    signed: AnnData, signed_file: Path, lab: tuple[Path, Path], tmp_path: Path, capsys: Any
) -> None:
    pub = lab[1]
    code, out, _ = verify(capsys, signed_file, "--trusted-key", pub, "--require-signed")
    assert code == 0, out
    report = provenance.audit(signed_file, trusted_keys=[pub], require_signed=True)
    assert report.findings == ()
    assert report.checks is not None and report.checks.require_signed

    stripped = signed.copy()
    strip_signature(stripped, "rank_genes_groups")
    path = tmp_path / "stripped.h5ad"
    stripped.write_h5ad(path)
    # Its only version: a warning under the key alone, an error when signatures are required.
    code, out, _ = verify(capsys, path, "--trusted-key", pub)
    assert code == 0 and ": unsigned:" in out
    code, out, _ = verify(capsys, path, "--trusted-key", pub, "--require-signed", "--json")
    d = json.loads(out)
    assert code == 1 and d["passed"] is False
    (f,) = next(s for s in d["steps"] if s["key"] == "rank_genes_groups")["findings"]
    assert (f["code"], f["severity"]) == ("signature_missing", "error")
    assert f["details"] == {"versions": [1], "cause": "required"}
    assert "'rank_genes_groups'" in f["message"] and "sign_with=" in f["message"]


def test_an_unsigned_version_after_a_signed_one_fails_without_require_signed(
    signed: AnnData, lab: tuple[Path, Path], tmp_path: Path, capsys: Any
) -> None:
    adata = signed.copy()
    with provenance.record(adata):  # a re-run without the key: v2 unsigned after a signed v1
        sc.tl.leiden(adata, key_added="L", random_state=0, resolution=0.5, **FAST)
        sc.tl.rank_genes_groups(adata, "L", method="t-test")
    path = tmp_path / "appended.zarr"
    write_zarr(adata, path)
    code, out, _ = verify(capsys, path)
    assert code == 0  # no trust policy: signatures are not checked
    code, out, _ = verify(capsys, path, "--trusted-key", lab[1])
    assert code == 1 and "L: signature_missing:" in out
    assert "version 2 of 'L' is not signed" in " ".join(out.split())
    report = provenance.audit(ad.read_zarr(path), trusted_keys=[lab[1]])
    for entry in (report["L"], report.step("rank_genes_groups")):
        (f,) = entry.findings
        assert f.code == "signature_missing"
        assert f.details == {"versions": [2], "cause": "after_signed", "signed": 1}


def test_policy_options_without_the_option_they_qualify_are_usage_errors(
    signed_file: Path, lab: tuple[Path, Path], capsys: Any
) -> None:
    code, _, err = verify(capsys, signed_file, "--require-signed")
    assert code == 2 and "--require-signed needs --trusted-key" in err
    code, _, err = verify(capsys, signed_file, "--allow-unreplayable")
    assert code == 2 and "--allow-unreplayable qualifies --deep" in err
    with pytest.raises(ValueError, match="require_signed=True needs trusted_keys"):
        provenance.audit(signed_file, require_signed=True)
    with pytest.raises(ValueError, match="allow_unreplayable=True qualifies deep=True"):
        provenance.audit(signed_file, allow_unreplayable=True)


def test_deep_never_passes_a_key_it_could_not_rerun(
    signed: AnnData, tmp_path: Path, capsys: Any
) -> None:
    adata = signed.copy()
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="U", random_state=None, **FAST)  # type: ignore[arg-type]
    path = tmp_path / "unseeded.h5ad"
    adata.write_h5ad(path)
    assert verify(capsys, path)[0] == 0
    code, out, _ = verify(capsys, path, "--deep", "--json")
    d = json.loads(out)
    assert code == 1 and d["checks"]["unverified"] == ["U"] and d["checks"]["replayed"] == ["L"]
    (f,) = next(e for e in d["entries"] if e["key"] == "U")["findings"]
    assert (f["code"], f["details"]["cause"]) == ("unverified", "nondeterministic")
    assert "--allow-unreplayable" in f["message"]
    code, out, _ = verify(capsys, path, "--deep", "--allow-unreplayable", "--json")
    d = json.loads(out)
    assert code == 0 and d["checks"]["unverified"] == ["U"] and d["checks"]["allow_unreplayable"]
    (f,) = next(e for e in d["entries"] if e["key"] == "U")["findings"]
    assert (f["code"], f["severity"]) == ("not_replayable", "warning")
    assert verify(capsys, path, "--deep", "--allow-unreplayable", "--strict")[0] == 1
