"""Reports that say what was checked (issue 25): ``checks`` in the JSON of one file and of
many, the "Checked:" / "Not checked:" lines of the text and HTML reports, the word beside a
signature in ``show``, and ``verify DIR --html`` as one page a reviewer can open.

One signed recording (a Leiden run on pbmc68k_reduced's own graph) written to real files; the
fields the trust and ledger lanes fill (``replayed``, ``unverified``, ``ledger``) are rendered
from the dataclass values.
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING

import pytest
import scanpy as sc
from _audit_data import drop_unrecorded
from conftest import ANNDATA, FAST

import provenance
from provenance._audit.checked import Checks, LedgerCheck
from provenance._cli import main
from provenance._render.checked import checks_from_dict, checks_lines
from provenance._storage.codec import decode_record, encode_history, encode_record, history_texts
from provenance._storage.index import update_index

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

ODD = "a&<b>.h5ad"  # a name that must be escaped in HTML


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide enough for tmp_path paths: a line says what it says unwrapped."""
    monkeypatch.setenv("COLUMNS", "250")


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def files(_pbmc_master: AnnData, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two labs' keys; a directory with a clean signed file (an odd name) and the same file
    with labels edited after recording (labels_changed: it fails verify)."""
    from provenance._util.signing import keygen

    root = tmp_path_factory.mktemp("reports")
    lab, other = keygen(root / "lab.key"), keygen(root / "other.key")
    adata = drop_unrecorded(_pbmc_master.copy())
    with provenance.record(adata, sign_with=lab.private):
        sc.tl.leiden(adata, key_added="L", **FAST)
    d = root / "dir"
    d.mkdir()
    adata.write_h5ad(d / ODD)
    labels = adata.obs["L"].copy()
    labels.iloc[:20] = labels.cat.categories[-1]  # reassigned by hand
    adata.obs["L"] = labels
    adata.write_h5ad(d / "edited.h5ad")
    return {"dir": d, "good": d / ODD, "bad": d / "edited.h5ad", "lab": lab.public,
            "other": other.public, "lab_id": lab.key_id}  # fmt: skip


# --- JSON ----------------------------------------------------------------------------------------


def test_verify_json_says_what_it_checked(files, capsys):
    good, lab = files["good"], files["lab"]
    code, plain = run(capsys, "verify", good, "--json")
    assert code == 0
    checks = json.loads(plain)["checks"]
    assert checks["data"] and checks["chain"] and not checks["deep"]
    assert checks["trusted_key_ids"] == [] and not checks["require_signed"]
    assert checks["ledger"] is None
    code, trusted = run(capsys, "verify", good, "--json", "--trusted-key", lab, "--require-signed")
    assert code == 0 and trusted != plain
    checks = json.loads(trusted)["checks"]
    assert checks["trusted_key_ids"] == [files["lab_id"]] and checks["require_signed"]
    code, deep = run(capsys, "verify", good, "--json", "--deep")
    assert code == 0 and deep not in (plain, trusted)
    checks = json.loads(deep)["checks"]
    assert checks["deep"] is True and checks["replayed"] == ["L"] and checks["unverified"] == []
    code, shown = run(capsys, "show", good, "--json")
    assert json.loads(shown)["checks"]["data"] is False  # show compares no data


def test_many_files_json_carries_the_policy_and_each_files_checks(files, capsys):
    code, plain = run(capsys, "verify", files["dir"], "--json", "-j", "1")
    assert code == 1
    code, doc_text = run(
        capsys, "verify", files["dir"], "--json", "-j", "1", "--trusted-key", files["lab"]
    )
    doc = json.loads(doc_text)
    assert code == 1 and json.loads(plain)["checks"]["trusted_key_ids"] == []
    assert doc["checks"] == {
        "chain": True,
        "data": True,
        "representation": False,
        "deep": False,
        "allow_unreplayable": False,
        "trusted_key_ids": [files["lab_id"]],
        "require_signed": False,
        "ledger": None,
    }
    for f in doc["files"]:
        assert f["report"]["checks"]["trusted_key_ids"] == [files["lab_id"]]
        assert "html" not in f  # the page's fragments stay out of the JSON
    code, shown = run(capsys, "show", files["dir"], "--json", "-j", "1")
    assert json.loads(shown)["checks"]["data"] is False


def test_many_files_with_a_ledger(files, capsys, tmp_path):
    ledger = tmp_path / "lab.ledger"
    provenance.seal(files["good"], key=files["lab"].with_suffix(""), ledger=ledger)
    args = ("verify", files["dir"], "-j", "1", "--trusted-key", files["lab"], "--ledger", ledger)
    _, out = run(capsys, *args, "--json")
    doc = json.loads(out)
    assert doc["checks"]["ledger"] == {"location": str(ledger)}  # the run's: no seal named
    by_name = {f["path"].rsplit("/", 1)[-1]: f["report"]["checks"]["ledger"] for f in doc["files"]}
    assert by_name[ODD]["sealed_at"] is not None and by_name[ODD]["seal"] == 1
    _, out = run(capsys, *args)
    assert f"ledger {ledger}." in " ".join(out.split())


# --- the lines -----------------------------------------------------------------------------------


def test_text_says_what_was_and_was_not_checked(files, capsys):
    code, out = run(capsys, "verify", files["good"])
    assert code == 0
    assert "Checked: records and history chains; labels and graphs against the records." in out
    flat = " ".join(out.split())
    assert (
        "signatures (no --trusted-key)" in flat and "re-runs of the clusterings (no --deep)" in flat
    )
    code, out = run(capsys, "verify", files["good"], "--trusted-key", files["lab"], "--deep")
    flat = " ".join(out.split())
    assert f"signatures against {files['lab_id']}." in flat  # not "(required)"
    assert "deep re-run of 1 key;" in flat
    assert (
        "no --trusted-key" not in flat
        and "that every record is signed (no --require-signed)" in flat
    )
    code, out = run(capsys, "show", files["good"])
    flat = " ".join(out.split())
    assert "Checked: records and history chains." in flat
    assert "labels and graphs (only uns was read" in flat and "provenance verify --deep" in flat


def test_lines_render_every_field_of_checks():
    checks = Checks(
        deep=True,
        replayed=("leiden_a", "leiden_b", "leiden_c"),
        unverified=("leiden_x",),
        trusted_key_ids=("ed25519:ab12cd34ef56ab78",),
        require_signed=True,
        ledger=LedgerCheck(
            "lab.ledger", entries=4, sealed_at="2026-12-07T20:31:05+00:00", seal=3, signer="k"
        ),
    )
    checked, missing = checks_lines(checks)
    assert checked == (
        "Checked: records and history chains; labels and graphs against the records; deep "
        "re-run of 3 keys (1 not re-run: leiden_x); signatures against ed25519:ab12cd34ef56ab78 "
        "(required); ledger lab.ledger (sealed 2026-12-07 20:31 UTC, seal 3 by k)."
    )
    assert missing == (
        "Not checked: the graphs' input matrices (no --representation); leiden_x: could not "
        "be re-run."
    )
    assert checks_from_dict(checks.to_dict()) == checks  # the JSON form reads back
    allowed = Checks(deep=True, unverified=("x",), allow_unreplayable=True, ledger=LedgerCheck("l"))
    text = " ".join(checks_lines(allowed))
    assert "(1 not re-run, accepted by --allow-unreplayable: x)" in text
    assert "ledger l (no seal of this file among its 0 seals)" in text
    policy = checks_lines(Checks(deep=True, replayed=("a",), ledger=LedgerCheck("l")), policy=True)
    assert "deep re-run of the clusterings; ledger l." in policy[0]


# --- signatures ----------------------------------------------------------------------------------


def _signed_line(out: str) -> str:
    return " ".join(
        next(ln for ln in out.splitlines() if "scanpy.tl.leiden, signed by" in ln).split()
    )


def test_show_says_whether_a_signature_was_checked(files, capsys):
    good, lab_id = files["good"], files["lab_id"]
    _, out = run(capsys, "show", good, "--key", "L")
    assert f"signed by {lab_id} (not checked)" in _signed_line(out)
    _, out = run(capsys, "show", good, "--key", "L", "--trusted-key", files["lab"])
    assert f"signed by {lab_id} (trusted)" in _signed_line(out)
    code, out = run(capsys, "show", good, "--key", "L", "--trusted-key", files["other"])
    assert code == 0 and f"signed by {lab_id} (untrusted)" in _signed_line(out)
    assert "untrusted_signer" in out


def test_a_forged_signature_reads_invalid_in_text_and_html(files):
    import anndata as ad

    adata = ad.read_h5ad(files["good"])
    texts = history_texts(adata.uns["L"]["provenance"], key="L")
    rec = decode_record(texts[-1], key="L", index=0)
    forged = rec.model_copy(update={"params": rec.params.model_copy(update={"resolution": 3.0})})
    forged = forged.model_copy(update={"digest": forged.expected_digest()})  # signature kept
    adata.uns["L"]["provenance"] = encode_history([encode_record(forged)])
    update_index(adata.uns, forged)
    report = provenance.audit(adata, "L", trusted_keys=[files["lab"]])
    assert "signature_invalid" in [f.code for f in report["L"].findings]
    assert f"signed by {files['lab_id']} (invalid)" in " ".join(report.to_text(width=200).split())
    shown = f'signed by {files["lab_id"]} <span class="prov-error">(invalid)</span>'
    assert shown in report._repr_html_()
    assert "(not checked)" in provenance.audit(adata, "L").to_text(width=200)


@pytest.mark.skipif(ANNDATA < (0, 12), reason="adata.provenance needs anndata >= 0.12")
def test_the_accessor_shows_the_word_too(files, capsys):
    import anndata as ad

    adata = ad.read_h5ad(files["good"])
    adata.provenance.show("L")
    assert "(not checked)" in capsys.readouterr().out
    adata.provenance.show("L", trusted_keys=[files["lab"]])
    out = capsys.readouterr().out
    assert "(trusted)" in out and f"signatures against {files['lab_id']}" in " ".join(out.split())


# --- HTML ----------------------------------------------------------------------------------------


def test_verify_html_of_one_file_has_the_checks_line(files, capsys, tmp_path):
    out = tmp_path / "one.html"
    code, _ = run(capsys, "verify", files["good"], "--trusted-key", files["lab"], "--html", out)
    page = out.read_text(encoding="utf-8")
    assert code == 0 and f"signatures against {files['lab_id']}" in page
    assert '<p class="prov-checks">' in page and "Not checked:</strong>" in page


def test_verify_html_of_a_directory_is_one_page_naming_every_file(files, capsys, tmp_path):
    out = tmp_path / "archive.html"
    code, table = run(capsys, "verify", files["dir"], "-j", "1", "--html", out)
    assert code == 1 and "Not checked:" in table  # the table says the run's checks too
    page = out.read_text(encoding="utf-8")
    rows = re.findall(r'<tr><td class="prov-num">(\d)</td>.*?href="#file-\1">(.*?)</a>.*?'
                      r'prov-pill prov-\w+">(.*?)</span>', page)  # fmt: skip
    names = {html.unescape(name).rsplit("/", 1)[-1]: status for _, name, status in rows}
    assert names == {ODD: "ok", "edited.h5ad": "findings"}
    assert 'id="file-1"' in page and 'id="file-2"' in page
    assert ODD not in page and html.escape(ODD) in page  # escaped everywhere
    assert "labels_changed" in page  # each file's own report follows
    assert page.count("Checked:</strong>") == 3  # the run's policy, then each report's
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched
