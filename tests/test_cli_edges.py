"""CLI edges: errors as JSON when ``--json`` is asked for; ``adopt`` never rewrites unasked."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import pytest
import scanpy as sc
from conftest import FAST

import provenance
from provenance._cli import main

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def recorded(_pbmc_master, tmp_path_factory) -> Path:
    a = _pbmc_master.copy()
    with provenance.record(a):
        sc.tl.leiden(a, key_added="leiden_a", **FAST)
    path = tmp_path_factory.mktemp("edges") / "rec.h5ad"
    a.write_h5ad(path)
    return path


def _json_error(capsys, argv: list[str]) -> tuple[dict, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    d = json.loads(out)  # stdout is JSON, nothing else
    assert d["exit_code"] == 2
    assert err.startswith(f"provenance {argv[0]}: error:")  # people still read stderr
    return d, err


@pytest.mark.parametrize("command", ["show", "verify"])
def test_unreadable_file_is_a_json_error(command, tmp_path, capsys):
    missing = tmp_path / "missing.h5ad"
    d, _ = _json_error(capsys, [command, str(missing), "--json"])
    assert d["path"] == str(missing) and d["command"] == command
    assert "no such file" in d["error"] and d["error_type"] == "UnreadableFileError"


def test_unknown_key_and_bad_version_are_json_errors(recorded, capsys):
    d, _ = _json_error(capsys, ["verify", str(recorded), "--key", "nope", "--json"])
    assert "'nope' is neither in obs nor in uns" in d["error"]
    assert d["error_type"] == "UnknownKeyError" and d["path"] == str(recorded)
    d, _ = _json_error(capsys, ["diff", str(recorded), "leiden_a@5", "leiden_a", "--json"])
    assert "version 5 does not exist" in d["error"] and d["command"] == "diff"


def test_usage_error_with_json_is_json(capsys):
    with pytest.raises(SystemExit) as e:
        main(["verify", "--json"])
    assert e.value.code == 2
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert d["error_type"] == "UsageError" and "path" in d["error"] and d["exit_code"] == 2
    assert "usage:" in err


def test_without_json_errors_stay_plain(tmp_path, capsys):
    assert main(["show", str(tmp_path / "missing.h5ad")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "no such file" in err


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_adopt_does_not_rewrite_the_input_unless_asked(pbmc, tmp_path, capsys):
    path = tmp_path / "old.h5ad"
    pbmc.write_h5ad(path)  # pbmc68k_reduced's own Louvain: adoptable
    before = _digest(path)
    assert main(["adopt", str(path)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "--in-place" in err
    assert _digest(path) == before
    out = tmp_path / "adopted.h5ad"
    assert main(["adopt", str(path), "--out", str(out), "--in-place"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["adopt", str(path), "--out", str(out)]) == 0
    assert _digest(path) == before and out.exists()
    assert provenance.audit(out)["louvain"].history[0].origin == "adopted"
    assert main(["adopt", str(path), "--in-place"]) == 0
    assert _digest(path) != before
    assert provenance.audit(path)["louvain"].history[0].origin == "adopted"
