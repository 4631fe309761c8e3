"""adopt keeps only what provably describes a column (issue 16 items 5 and 6)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import scanpy as sc
from conftest import FAST, SCANPY, write_zarr

import provenance
from provenance import adopt
from provenance._cli import main

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData


def _as_scanpy_19_left_it(adata: AnnData) -> None:
    """``leiden()`` at 1.0, then ``leiden(key_added="leiden_0.3", resolution=0.3)``, unrecorded.

    scanpy <= 1.9 writes both runs' params to ``uns["leiden"]``, so the 0.3 run's are what is
    left there, and ``uns["leiden_0.3"]`` does not exist. Newer scanpy writes them under
    ``key_added``: they are moved where scanpy 1.9 put them.
    """
    sc.tl.leiden(adata, **FAST)
    sc.tl.leiden(adata, key_added="leiden_0.3", resolution=0.3, **FAST)
    if SCANPY >= (1, 10):
        adata.uns["leiden"] = {"params": dict(adata.uns.pop("leiden_0.3")["params"])}
    assert adata.uns["leiden"]["params"]["resolution"] == 0.3
    assert "leiden_0.3" not in adata.uns


def _codes(report: provenance.AuditReport, key: str) -> list[str]:
    return [f.code for e in report.entries if e.key == key for f in e.findings]


def _read(path: Path) -> AnnData:
    import anndata as ad

    return ad.read_zarr(path) if path.suffix == ".zarr" else ad.read_h5ad(path)


# --- item 5: adopt invents no provenance -----------------------------------------------------


def test_adopt_leaves_fixed_key_params_that_may_belong_to_another_run(pbmc):
    _as_scanpy_19_left_it(pbmc)
    assert "legacy_params" in _codes(provenance.audit(pbmc), "leiden")
    with pytest.warns(provenance.ProvenanceWarning, match="not adopting 'leiden'"):
        adopted = adopt(pbmc)
    assert [r.key for r in adopted] == ["louvain"]  # its params sit beside its labels
    assert provenance.history(pbmc, "leiden") == []
    codes = _codes(provenance.audit(pbmc), "leiden")
    assert "legacy_params" in codes and "no_record" in codes  # the finding stays
    with pytest.raises(provenance.ProvenanceError, match="not adopting 'leiden'"):
        adopt(pbmc, keys=["leiden"])


@pytest.mark.parametrize("suffix", [".h5ad", ".zarr"])
def test_cli_adopt_keeps_the_legacy_finding_in_files(pbmc, tmp_path, suffix, capsys):
    _as_scanpy_19_left_it(pbmc)
    path, out = tmp_path / f"old{suffix}", tmp_path / f"adopted{suffix}"
    if suffix == ".zarr":
        write_zarr(pbmc, path)
    else:
        pbmc.write_h5ad(path)
    with pytest.warns(provenance.ProvenanceWarning, match="not adopting 'leiden'"):
        assert main(["adopt", str(path), "--out", str(out)]) == 0
    assert "adopted 'louvain'" in capsys.readouterr().out
    assert provenance.history(_read(out), "leiden") == []
    assert "legacy_params" in _codes(provenance.audit(out), "leiden")


@pytest.mark.skipif(SCANPY < (1, 12), reason="scanpy < 1.12 stores no uns[key]['modularity']")
def test_adopt_keeps_scanpy_modularity(pbmc, tmp_path):
    sc.tl.leiden(pbmc, key_added="plain", **FAST)
    modularity = float(pbmc.uns["plain"]["modularity"])
    path = tmp_path / "m.h5ad"
    pbmc.write_h5ad(path)
    (rec,) = [r for r in adopt(pbmc) if r.key == "plain"]
    assert rec.result.modularity == pytest.approx(modularity)
    assert pbmc.uns["plain"]["modularity"] == modularity  # scanpy's own value stays too
    assert main(["adopt", str(path), "--out", str(tmp_path / "o.h5ad")]) == 0
    (rec,) = provenance.history(_read(tmp_path / "o.h5ad"), "plain")
    assert rec.result.modularity == pytest.approx(modularity)


def _write_h5mu(adata: AnnData, path: Path) -> None:
    """An ``.h5mu`` as mudata lays it out (root ``encoding-type`` MuData, ``mod/<name>``)."""
    import h5py

    try:
        from anndata.io import write_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import write_elem
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"] = "MuData"
        f.attrs["encoding-version"] = "0.1.0"
        write_elem(f, "obs", adata.obs[[]])
        write_elem(f, "var", adata.var[[]])
        write_elem(f.create_group("mod"), "rna", adata)


def test_cli_adopt_on_h5mu_says_what_to_do(pbmc, tmp_path, capsys):
    path = tmp_path / "multi.h5mu"
    _write_h5mu(pbmc, path)
    before = path.read_bytes()
    assert main(["adopt", str(path), "--out", str(tmp_path / "o.h5mu")]) == 2
    err = capsys.readouterr().err
    assert "MuData" in err and ".h5ad, .zarr" in err
    assert "provenance.adopt(mdata.mod[" in err
    assert "No read method registered" not in err
    assert path.read_bytes() == before and not (tmp_path / "o.h5mu").exists()


# --- item 6: a replay of an adopted record says what it cannot know --------------------------


def _adopted_default_leiden(pbmc: AnnData) -> None:
    sc.tl.leiden(pbmc, **FAST)  # the default key: its params provably describe obs["leiden"]
    assert {r.key for r in adopt(pbmc)} == {"leiden", "louvain"}


def test_replay_of_an_adopted_record_says_unknown(pbmc):
    _adopted_default_leiden(pbmc)
    result = provenance.replay(pbmc, "leiden", force=True)
    assert result.software is None and result.graph_matches is None
    text = str(result)
    assert "installed versions match the record" not in text
    assert "DIFFERS from the record" not in text
    assert "software   unknown" in text and "graph not checked" in text
    d = result.to_dict()
    assert d["software"] is None and d["graph_matches"] is None
    assert "unknown" in result._repr_html_()


def test_cli_replay_of_an_adopted_file_says_unknown(pbmc, tmp_path, capsys):
    _adopted_default_leiden(pbmc)
    path = tmp_path / "a.h5ad"
    pbmc.write_h5ad(path)
    main(["replay", str(path), "leiden", "--force"])
    out = capsys.readouterr().out
    lines = {line.split(maxsplit=1)[0]: line for line in out.splitlines() if line.strip()}
    assert "unknown" in lines["software"] and "unknown" in lines["graph"]
    assert "match the record" not in out and "DIFFERS from the record" not in out
    json.dumps(provenance.replay(pbmc, "leiden", force=True).to_dict())  # JSON-safe
