"""CLI edges: errors as JSON when ``--json`` is asked for; ``adopt`` never rewrites unasked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import scanpy as sc
from conftest import FAST

import provenance
from provenance._cli import main


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


# --- a zarr v3 store from anndata 0.13 with structured arrays in uns -------------------------

STRUCTURED = Path(__file__).parent / "data" / "stable-3.12" / "structured.zarr"


def _zarr_major() -> int:
    from importlib.metadata import version

    return int(version("zarr").split(".")[0])


def _zarr_parses_the_struct() -> bool:
    import warnings

    import zarr

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarr 3.4: "Missing 'endian' for structured dtype"
            zarr.open_group(str(STRUCTURED / "uns" / "rank_genes_groups"), mode="r")["names"]
    except Exception:  # any failure: this zarr cannot read the element
        return False
    return True


def test_structured_arrays_in_uns_do_not_hide_the_clustering(capsys):
    """``uns["rank_genes_groups"]`` holds zarr v3 ``struct`` arrays, which zarr 3.1 cannot parse:
    the audit does not need them, so show and verify work; zarr 2 gets its own message."""
    if _zarr_major() < 3:
        code = main(["show", str(STRUCTURED)])
        assert code == 2
        assert "install zarr >= 3" in capsys.readouterr().err
        return
    for command in ("show", "verify"):
        code = main([command, str(STRUCTURED), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, out + err
        d = json.loads(out)
        assert [e["key"] for e in d["entries"]] == ["leiden_s"] and d["ok"], d
        assert "install zarr" not in out + err
    assert provenance.audit(STRUCTURED)["leiden_s"].checked


def test_an_element_zarr_cannot_parse_is_named_with_the_versions(tmp_path, capsys):
    """Where the audit does need such an element, the message names it and the versions."""
    if _zarr_major() < 3 or _zarr_parses_the_struct():
        pytest.skip("this zarr reads zarr v3 structured arrays (or no zarr v3 at all)")
    import shutil
    from importlib.metadata import version

    store = tmp_path / "s.zarr"
    shutil.copytree(STRUCTURED, store)
    # The clustering's own params replaced by one of rank_genes_groups' structured arrays.
    shutil.rmtree(store / "uns" / "leiden_s" / "params")
    shutil.copytree(
        store / "uns" / "rank_genes_groups" / "names", store / "uns" / "leiden_s" / "params"
    )
    code = main(["show", str(store), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (entry,) = json.loads(out)["entries"]
    (finding,) = [f for f in entry["findings"] if f["code"] == "invalid_record"]
    msg = finding["message"]
    assert "uns['leiden_s']['params']" in msg and "data type" in msg
    assert f"zarr {version('zarr')}" in msg and f"anndata {version('anndata')}" in msg
