"""The ledger of seals: ``provenance seal`` and ``verify --ledger`` against rollback and deletion.

One recorded, signed object (neighbors, ``leiden`` in two versions, ``leiden_b``) is written
as ``.h5ad`` and ``.zarr`` once; each test changes a copy as an editor of files would, and
checks the verdict and the exit status through the command line. The ledger itself is attacked
too: an edited, deleted or foreign line, a cut-short end, two sealers at once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import scanpy as sc
from conftest import FAST, write_zarr

import provenance
from provenance._cli import main
from provenance._storage.codec import encode_history, history_texts
from provenance._storage.index import INDEX_KEY, read_index, update_index
from provenance._util.jsonsafe import canonical_json
from provenance._util.ledger import parse
from provenance._util.signing import keygen, load_public_keys

if TYPE_CHECKING:
    from anndata import AnnData


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, _pbmc_master: AnnData) -> dict[str, Any]:
    """The keys, the recorded object (and ``leiden``'s v1 as it was), its files, sealed."""
    d = tmp_path_factory.mktemp("ledger")
    lab, other = keygen(d / "lab.key"), keygen(d / "other.key")
    adata = _pbmc_master.copy()
    del adata.obs["louvain"]
    adata.uns.pop("louvain", None)
    with provenance.record(adata, sign_with=lab.private):
        sc.pp.neighbors(adata)
        sc.tl.leiden(adata, key_added="leiden", random_state=0, **FAST)
        v1 = adata.obs["leiden"].copy(), json.loads(json.dumps(adata.uns["leiden"]["params"]))
        sc.tl.leiden(adata, key_added="leiden", resolution=0.5, random_state=0, **FAST)
        sc.tl.leiden(adata, key_added="leiden_b", resolution=2.0, random_state=0, **FAST)
    h5ad, zarr = d / "pbmc.h5ad", d / "pbmc.zarr"
    adata.write_h5ad(h5ad)
    write_zarr(adata, zarr)
    ledger = d / "seals.jsonl"
    for path in (h5ad, zarr):
        assert main(["seal", str(path), "--key", str(lab.private), "--ledger", str(ledger)]) == 0
    return {"dir": d, "lab": lab, "other": other, "adata": adata, "v1": v1, "h5ad": h5ad,
            "zarr": zarr, "ledger": ledger}  # fmt: skip


def verify(world: dict[str, Any], path: Path, ledger: Path | str | None = None) -> int:
    ledger = world["ledger"] if ledger is None else ledger
    pub = str(world["lab"].public)
    return main(["verify", str(path), "--trusted-key", pub, "--ledger", str(ledger)])


def audit(world: dict[str, Any], subject: Any, ledger: Path | None = None) -> Any:
    return provenance.audit(
        subject, trusted_keys=[world["lab"].public], ledger=ledger or world["ledger"]
    )


def codes(report: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in report.findings:
        out.setdefault(f.code, set()).add(f"{f.key}:{f.details.get('cause')}")
    return out


def write(adata: AnnData, path: Path) -> Path:
    if path.suffix == ".zarr":
        write_zarr(adata, path)
    else:
        adata.write_h5ad(path)
    return path


@pytest.mark.parametrize("suffix", [".h5ad", ".zarr"])
def test_sealed_file_passes_and_says_when_it_was_sealed(world, suffix, capsys):
    path = world["h5ad" if suffix == ".h5ad" else "zarr"]
    assert verify(world, path) == 0
    report = audit(world, path)
    assert report.ok and not report.findings
    check = report.checks.ledger
    # Both files hold the same records: the latest seal naming them is the zarr's, the 2nd.
    assert check.entries == 2 and check.seal == 2
    assert check.signer == world["lab"].key_id and check.sealed_at.endswith("Z")
    capsys.readouterr()
    assert main(["verify", str(path), "--json", "--trusted-key", str(world["lab"].public),
                 "--ledger", str(world["ledger"])]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["checks"]["ledger"]["seal"] == check.seal


def rolled_back(world: dict[str, Any]) -> AnnData:
    """The world's object with ``leiden``'s v2 dropped, v1 kept with its signature, and the
    index, scanpy's params and the labels put back to v1's: the file alone is consistent."""
    adata = world["adata"].copy()
    texts = history_texts(adata.uns["leiden"]["provenance"], key="leiden")
    labels, params = world["v1"]
    adata.uns["leiden"] = {"params": params, "provenance": encode_history(texts[:1])}
    adata.obs["leiden"] = labels
    update_index(adata.uns, provenance.latest(adata, "leiden"))
    return adata


@pytest.mark.parametrize("suffix", [".h5ad", ".zarr"])
def test_rollback_to_a_signed_older_version_is_rolled_back(world, suffix, tmp_path):
    # The attack.
    path = write(rolled_back(world), tmp_path / f"rolled{suffix}")
    plain = provenance.audit(path, trusted_keys=[world["lab"].public])
    assert plain.ok, [f.code for f in plain.findings]  # what the issue found: nothing
    report = audit(world, path)
    assert codes(report) == {"rolled_back": {"leiden:older"}}
    (f,) = report.findings
    assert f.details["sealed_version"] == 2 and f.details["found_version"] == 1
    assert f.details["seal"] == report.checks.ledger.seal
    assert verify(world, path) == 1


def test_a_rewritten_sealed_version_is_rolled_back(world, tmp_path):
    # The sealed v2 replaced by another v2 (re-run from v1 with other arguments).
    adata = world["adata"].copy()
    texts = history_texts(adata.uns["leiden"]["provenance"], key="leiden")
    adata.uns["leiden"]["provenance"] = encode_history(texts[:1])
    update_index(adata.uns, provenance.latest(adata, "leiden"))
    with provenance.record(adata, sign_with=world["lab"].private):
        sc.tl.leiden(adata, key_added="leiden", resolution=0.3, random_state=0, **FAST)
    assert codes(audit(world, adata)) == {"rolled_back": {"leiden:rewritten"}}


def delete_key(adata: AnnData, key: str) -> AnnData:
    """``adata`` without ``key``'s labels, ``uns`` entry and index entry."""
    del adata.obs[key], adata.uns[key]
    index = read_index(adata.uns)
    del index[key]
    adata.uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})
    return adata


def test_a_deleted_sealed_key_and_its_index_entry_is_history_lost(world, tmp_path):
    path = write(delete_key(world["adata"].copy(), "leiden_b"), tmp_path / "deleted.h5ad")
    assert provenance.audit(path, trusted_keys=[world["lab"].public]).ok  # unseen without
    report = audit(world, path)
    assert codes(report) == {"history_lost": {"leiden_b:sealed"}}
    assert report["leiden_b"].findings[0].details["sealed_version"] == 1
    assert verify(world, path) == 1


def test_a_deleted_sealed_neighbors_step_is_history_lost(world, tmp_path):
    adata = world["adata"].copy()
    del adata.uns["neighbors"]
    index = read_index(adata.uns)
    del index["neighbors"]
    adata.uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})
    path = write(adata, tmp_path / "no_neighbors.zarr")
    report = audit(world, path)
    found = codes(report)
    assert found["history_lost"] == {"neighbors:sealed"}
    assert report.step("neighbors").kind == "neighbors"
    assert set(found) == {"history_lost", "parent_missing"}  # the clusterings name it
    assert verify(world, path) == 1


def test_work_after_sealing_passes_and_a_renamed_copy_keeps_its_seal(world, tmp_path):
    adata = world["adata"].copy()
    with provenance.record(adata, sign_with=world["lab"].private):
        sc.tl.leiden(adata, key_added="leiden", resolution=0.8, random_state=0, **FAST)
        sc.tl.leiden(adata, key_added="leiden_new", random_state=0, **FAST)
    path = write(adata, tmp_path / "later.h5ad")
    assert verify(world, path) == 0
    renamed = tmp_path / "renamed elsewhere.h5ad"
    shutil.copyfile(world["h5ad"], renamed)
    report = audit(world, renamed)
    assert report.ok and report.checks.ledger.seal is not None


def test_a_file_no_seal_names_is_not_sealed(world, pbmc):
    adata = pbmc
    with provenance.record(adata, sign_with=world["lab"].private):
        sc.tl.leiden(adata, key_added="other", random_state=0, **FAST)
    report = audit(world, adata)
    assert [(f.code, f.key) for f in report.errors] == [("not_sealed", INDEX_KEY)]
    assert report.checks.ledger.seal is None and report.checks.ledger.entries == 2


def test_seal_refuses_a_file_that_fails_its_audit(world, tmp_path, capsys):
    adata = world["adata"].copy()
    adata.obs["leiden"] = adata.obs["leiden_b"].to_numpy()  # labels swapped in
    path = write(adata, tmp_path / "forged.h5ad")
    ledger = tmp_path / "l.jsonl"
    assert main(["seal", str(path), "--key", str(world["lab"].private), "--ledger",
                 str(ledger)]) == 1  # fmt: skip
    assert "not sealed" in capsys.readouterr().err and not ledger.exists()


@pytest.fixture
def three(world: dict[str, Any], tmp_path: Path) -> Path:
    """A ledger of three seals (the world's two, and a third of the ``.h5ad``)."""
    ledger = tmp_path / "three.jsonl"
    shutil.copyfile(world["ledger"], ledger)
    provenance.seal(world["h5ad"], key=world["lab"].private, ledger=ledger)
    assert len(ledger.read_bytes().splitlines()) == 3
    return ledger


def _lines(ledger: Path) -> list[bytes]:
    return ledger.read_bytes().split(b"\n")[:-1]


@pytest.mark.parametrize(
    ("attack", "line", "words"),
    [
        ("edit", 2, "signature by"),
        ("delete", 2, "seq 3, not 2"),
        ("reorder", 2, "seq 3, not 2"),
        ("untrusted", 4, "not a trusted key"),
        ("truncate", 3, "incomplete"),
        ("not_json", 1, "not a JSON line"),
    ],
)
def test_a_broken_ledger_is_never_believed(world, three, attack, line, words, capsys):
    lines = _lines(three)
    if attack == "edit":  # a later sealed_at, signature kept
        obj = json.loads(lines[1])
        obj["sealed_at"] = "2099-01-01T00:00:00Z"
        lines[1] = canonical_json(obj).encode()
    elif attack == "delete":
        del lines[1]
    elif attack == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    elif attack == "not_json":
        lines[0] = lines[0][:-1]
    if attack == "untrusted":  # a key rotation the verifier was not told about
        provenance.seal(world["h5ad"], key=world["other"].private, ledger=three, new_signer=True)
    elif attack == "truncate":
        three.write_bytes(b"\n".join(lines)[:-5])  # the last line cut short
    else:
        three.write_bytes(b"\n".join(lines) + b"\n")
    capsys.readouterr()
    assert verify(world, world["h5ad"], three) == 2
    err = capsys.readouterr().err
    assert f"line {line}," in err and words in err and "not believed" in err, err
    assert err.count("Restore") == 1, err  # one instruction
    with pytest.raises(provenance.LedgerError, match=f"line {line},"):
        audit(world, world["h5ad"], three)
    if attack != "untrusted":  # the sealer checks the chain and its own key's signatures
        before = three.read_bytes()
        with pytest.raises(provenance.LedgerError, match=f"line {line},"):
            provenance.seal(world["h5ad"], key=world["lab"].private, ledger=three)
        assert three.read_bytes() == before


def test_seal_refuses_to_append_to_a_broken_chain(world, three):
    lines = _lines(three)
    del lines[0]
    three.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(provenance.LedgerError, match="line 1,"):
        provenance.seal(world["h5ad"], key=world["lab"].private, ledger=three)
    assert len(_lines(three)) == 2  # nothing appended


def test_a_missing_ledger_is_an_error_not_an_empty_one(world, tmp_path, capsys):
    assert verify(world, world["h5ad"], tmp_path / "nowhere.jsonl") == 2
    assert "does not exist" in capsys.readouterr().err
    # A ledger is believed only with the keys its seals must be signed by.
    assert main(["verify", str(world["h5ad"]), "--ledger", str(world["ledger"])]) == 2
    assert "needs --trusted-key" in capsys.readouterr().err


def test_a_file_without_records_is_not_sealed(world, pbmc, tmp_path, capsys):
    path = write(pbmc, tmp_path / "plain.h5ad")
    ledger = tmp_path / "l.jsonl"
    assert main(["seal", str(path), "--key", str(world["lab"].private), "--ledger",
                 str(ledger)]) == 1  # fmt: skip
    assert "nothing to seal" in capsys.readouterr().err and not ledger.exists()


def test_concurrent_sealers_keep_the_chain(world, tmp_path):
    ledger = tmp_path / "shared.jsonl"
    code = (
        "import sys, provenance\n"
        "for _ in range(4):\n"
        "    provenance.seal(sys.argv[1], key=sys.argv[2], ledger=sys.argv[3])\n"
    )
    args = [str(world["h5ad"]), str(world["lab"].private), str(ledger)]
    env = {**os.environ, "PYTHONPATH": str(Path(provenance.__file__).parent.parent)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    trusted = load_public_keys([world["lab"].public])
    seals = parse(ledger.read_bytes(), str(ledger), trusted)
    assert [s.seq for s in seals] == list(range(1, 9))


def test_a_ledger_at_a_url(world, tmp_path):
    url = f"memory://ledger-test/{tmp_path.name}/seals.jsonl"
    first = provenance.seal(world["h5ad"], key=world["lab"].private, ledger=url)
    second = provenance.seal(world["zarr"], key=world["lab"].private, ledger=url)
    assert (first.seq, second.seq) == (1, 2) and second.previous is not None
    report = audit(world, world["h5ad"], url)  # type: ignore[arg-type]
    assert report.ok and report.checks.ledger.seal == 2 and report.checks.ledger.location == url


def test_seal_refuses_a_rolled_back_file_unless_forced(world, tmp_path, capsys):
    # The reviewer's attack: a copy of an earlier sealed state, sealed again, then passes.
    ledger = tmp_path / "l.jsonl"
    shutil.copyfile(world["ledger"], ledger)
    before = ledger.read_bytes()
    path = write(delete_key(rolled_back(world), "leiden_b"), tmp_path / "rb.h5ad")
    lab = str(world["lab"].private)
    assert main(["seal", str(path), "--key", lab, "--ledger", str(ledger)]) == 1
    err = capsys.readouterr().err
    assert "older than the ledger's latest seal of it (seal 2" in err, err
    assert "'leiden' is at version 1, sealed at 2" in err and "'leiden_b' is gone" in err
    assert "--force" in err and "rolled_back on 'leiden'" in err
    assert ledger.read_bytes() == before  # nothing appended
    with pytest.raises(provenance.SealRefusedError) as refused:
        provenance.seal(path, key=lab, ledger=ledger)
    assert codes(refused.value.report) == {
        "rolled_back": {"leiden:older"},
        "history_lost": {"leiden_b:sealed"},
    }
    assert verify(world, path, ledger) == 1  # still told
    # A deliberate restore: sealed on request, and then the state files are compared with.
    assert main(["seal", str(path), "--key", lab, "--ledger", str(ledger), "--force"]) == 0
    assert verify(world, path, ledger) == 0
    assert len(_lines(ledger)) == 3


def test_seal_with_a_key_new_to_the_ledger_is_refused_unless_new_signer(world, tmp_path, capsys):
    ledger = tmp_path / "l.jsonl"
    shutil.copyfile(world["ledger"], ledger)
    before = ledger.read_bytes()
    lab, other = world["lab"], world["other"]
    seal = ["seal", str(world["h5ad"]), "--key", str(other.private), "--ledger", str(ledger)]
    assert main(seal) == 1
    err = capsys.readouterr().err
    assert lab.key_id in err and other.key_id in err and "--new-signer" in err, err
    assert ledger.read_bytes() == before  # no lockout
    assert verify(world, world["h5ad"], ledger) == 0
    # A deliberate rotation: verifiers must trust both keys.
    assert main([*seal, "--new-signer"]) == 0
    assert verify(world, world["h5ad"], ledger) == 2
    both = ["--trusted-key", str(lab.public), "--trusted-key", str(other.public)]
    assert main(["verify", str(world["h5ad"]), *both, "--ledger", str(ledger)]) == 0


def test_line_endings_and_blank_lines_of_the_ledger(world, three, capsys):
    lines = _lines(three)
    three.write_bytes(b"".join(line + b"\r\n" for line in lines))  # git's autocrlf
    capsys.readouterr()
    assert verify(world, world["h5ad"], three) == 2
    err = capsys.readouterr().err
    assert "CRLF line endings" in err and "`three.jsonl -text`" in err, err
    assert "chain" not in err.replace("the chain hashes", "")  # no accusation
    with pytest.raises(provenance.LedgerError, match="CRLF"):
        provenance.seal(world["h5ad"], key=world["lab"].private, ledger=three)
    # A blank line at the end is harmless to verify; sealing after it would break the ledger.
    three.write_bytes(b"\n".join(lines) + b"\n\n")
    assert verify(world, world["h5ad"], three) == 0
    with pytest.raises(provenance.LedgerError, match="ends with a blank line"):
        provenance.seal(world["h5ad"], key=world["lab"].private, ledger=three)
    # Between seals it is an error, naming the line.
    three.write_bytes(b"\n".join([lines[0], b"", *lines[1:]]) + b"\n")
    capsys.readouterr()
    assert verify(world, world["h5ad"], three) == 2
    assert "line 2, is blank" in capsys.readouterr().err
