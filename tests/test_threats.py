"""The threat model (``provenance/_audit/threats.py``): every attack, performed.

One file is recorded, signed with the lab's key and sealed in a ledger, once for the module,
as ``.h5ad`` and ``.zarr``. Each attack is made on a copy of that file by someone who edits
files but does not hold the lab's key (he recomputes every digest he can, with the package's
own functions), and every level of the table runs ``provenance verify`` in-process on it: the
exit code and every finding of ``verify --json`` must be exactly the row's. The clean file
passes every level.
"""

from __future__ import annotations

import copy
import json
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from _audit_data import drop_unrecorded
from conftest import ANNDATA, FAST, write_zarr

import provenance
from provenance._audit.catalogue import CATALOGUE
from provenance._audit.threats import EXIT, LEVELS, THREATS
from provenance._cli import main
from provenance._storage.codec import decode_any, encode_history, encode_record, history_texts
from provenance._storage.index import INDEX_KEY, read_index, update_index
from provenance._util.jsonsafe import canonical_json, digest

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

    from provenance._audit.threats import Threat


@dataclass(frozen=True)
class Lab:
    """The lab's file, signed and sealed, and what the attacker knows of it."""

    files: dict[str, Path]
    """The clean file by format (``h5ad``, ``zarr``)."""
    public: Path
    """The lab's public key (the verifier's ``--trusted-key``)."""
    attacker: Path
    """The attacker's own private key."""
    ledger: Path
    """The ledger the file was sealed in."""
    v1: tuple[pd.Series, dict[str, Any]]
    """``leiden``'s labels and what scanpy wrote to ``uns['leiden']`` (params; scanpy 1.12:
    modularity) at version 1: a re-run gives them back."""


@pytest.fixture(scope="module")
def lab(_pbmc_master: AnnData, tmp_path_factory: pytest.TempPathFactory) -> Lab:
    from provenance._util.signing import keygen

    d = tmp_path_factory.mktemp("threats")
    key, attacker = keygen(d / "lab.key"), keygen(d / "attacker.key")
    ledger = d / "lab.ledger"
    adata = drop_unrecorded(_pbmc_master.copy())
    with provenance.record(adata, sign_with=key.private):
        sc.pp.neighbors(adata)
        sc.tl.leiden(adata, key_added="leiden", resolution=1.0, random_state=0, **FAST)
        sc.tl.leiden(adata, key_added="coarse", resolution=0.3, random_state=0, **FAST)
    v1 = adata.obs["leiden"].copy(), scanpy_entry(adata, "leiden")
    adata.write_h5ad(d / "first.h5ad")
    provenance.seal(d / "first.h5ad", key=key.private, ledger=ledger)
    with provenance.record(adata, sign_with=key.private):
        sc.tl.leiden(adata, key_added="leiden", resolution=0.8, random_state=0, **FAST)
        sc.tl.rank_genes_groups(adata, "leiden", method="t-test")
    files = {"h5ad": d / "clean.h5ad", "zarr": d / "clean.zarr"}
    adata.write_h5ad(files["h5ad"])
    write_zarr(adata, files["zarr"])
    for path in files.values():
        provenance.seal(path, key=key.private, ledger=ledger)
    return Lab(files, key.public, attacker.private, ledger, v1)


# --- what the attacker does, with the package's own functions --------------------------------


def histories(adata: AnnData) -> dict[str, list[dict[str, Any]]]:
    """Every history in ``uns``, as JSON objects, oldest first."""
    return {
        key: [json.loads(t) for t in history_texts(value["provenance"], key=key)]
        for key, value in adata.uns.items()
        if isinstance(value, Mapping) and isinstance(value.get("provenance"), Mapping)
    }


def store(adata: AnnData, key: str, objs: list[dict[str, Any]]) -> None:
    """``objs`` as ``key``'s history, the index pointed at its latest record."""
    adata.uns[key]["provenance"] = encode_history([canonical_json(o) for o in objs])
    update_index(adata.uns, decode_any(canonical_json(objs[-1]), key=key, index=len(objs) - 1))


def forge(
    adata: AnnData,
    edits: dict[str, Callable[[list[dict[str, Any]]], None]],
    *,
    signatures: str | Path = "strip",
) -> None:
    """What a careful forger does: edit histories (``edits``: key -> an edit of its records),
    then recompute every digest the edit changed, every ``previous`` after it, every record
    that names a changed record by digest (markers, clusterings naming their neighbors, ...),
    and the index. The changed records' signatures are kept (``"keep"``: now of another
    digest), removed (``"strip"``) or made with the attacker's key (a path)."""
    hist = histories(adata)
    for key, edit in edits.items():
        edit(hist[key])
    renamed: dict[str, str] = {}
    changed: set[str] = set()
    while True:
        before = len(renamed)
        for key, objs in hist.items():
            for i, obj in enumerate(objs):
                text = canonical_json(obj)
                for old, new in renamed.items():
                    text = text.replace(old, new)
                obj = objs[i] = json.loads(text)
                if i:
                    obj["previous"] = objs[i - 1]["digest"]
                body = {k: v for k, v in obj.items() if k not in ("digest", "signature")}
                if digest(body) != obj["digest"]:
                    renamed[obj["digest"]] = obj["digest"] = digest(body)
                    changed.add(key)
                    _sign(obj, key, i, signatures)
        if len(renamed) == before:
            break
    for key in changed:
        store(adata, key, hist[key])


def _sign(obj: dict[str, Any], key: str, index: int, signatures: str | Path) -> None:
    if "signature" not in obj or signatures == "keep":
        return  # a 1.3 record has no signature field
    obj["signature"] = None
    if signatures != "strip":
        from provenance._record.history_call import sign
        from provenance._util.signing import load_signer

        rec = decode_any(canonical_json(obj), key=key, index=index)
        obj.update(json.loads(encode_record(sign(rec, load_signer(signatures)))))


def latest(**params: Any) -> Callable[[list[dict[str, Any]]], None]:
    """An edit: these parameters of the latest record."""

    def edit(objs: list[dict[str, Any]]) -> None:
        objs[-1]["params"].update(params)

    return edit


def scanpy_entry(adata: AnnData, key: str) -> dict[str, Any]:
    """A copy of what scanpy wrote to ``uns[key]``: all but the history."""
    return copy.deepcopy({k: v for k, v in adata.uns[key].items() if k != "provenance"})


def forget(adata: AnnData, key: str) -> None:
    """``uns[key]`` and its index entry deleted."""
    del adata.uns[key]
    index = read_index(adata.uns)
    del index[key]
    adata.uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})


def roll_back(adata: AnnData, lab: Lab) -> None:
    """``leiden`` back at its signed version 1, the markers made from version 2 gone."""
    objs = histories(adata)["leiden"][:1]
    adata.obs["leiden"] = lab.v1[0]
    adata.uns["leiden"].update(copy.deepcopy(lab.v1[1]))
    store(adata, "leiden", objs)
    forget(adata, "rank_genes_groups")


# --- the attacks: one function per row of the table ------------------------------------------

Attack = Callable[[Any, Lab, Any], None]
ATTACKS: dict[str, Attack] = {}


def attack(f: Attack) -> Attack:
    ATTACKS[f.__name__] = f
    return f


@attack
def clean(adata: AnnData, lab: Lab, ledger: Path) -> None:
    pass


@attack
def forge_keep_signature(adata: AnnData, lab: Lab, ledger: Path) -> None:
    forge(adata, {"leiden": latest(resolution=2.0)}, signatures="keep")
    adata.uns["leiden"]["params"]["resolution"] = 2.0


@attack
def strip_signature(adata: AnnData, lab: Lab, ledger: Path) -> None:
    forge(adata, {"leiden": latest(resolution=2.0)})
    adata.uns["leiden"]["params"]["resolution"] = 2.0


@attack
def forge_unseeded(adata: AnnData, lab: Lab, ledger: Path) -> None:
    forge(adata, {"leiden": latest(resolution=2.0, random_state=None)})
    adata.uns["leiden"]["params"]["resolution"] = 2.0
    del adata.uns["leiden"]["params"]["random_state"]


@attack
def forge_versions(adata: AnnData, lab: Lab, ledger: Path) -> None:
    def other_versions(objs: list[dict[str, Any]]) -> None:
        latest(resolution=2.0)(objs)
        versions = {"scanpy": "1.10.4", "igraph": "0.9.11", "leidenalg": "0.9.1"}
        objs[-1]["software"]["packages"].update(versions)

    forge(adata, {"leiden": other_versions})
    adata.uns["leiden"]["params"]["resolution"] = 2.0


@attack
def attacker_key(adata: AnnData, lab: Lab, ledger: Path) -> None:
    forge(adata, {"leiden": latest(resolution=2.0)}, signatures=lab.attacker)
    adata.uns["leiden"]["params"]["resolution"] = 2.0


@attack
def downgrade(adata: AnnData, lab: Lab, ledger: Path) -> None:
    def to_1_3(objs: list[dict[str, Any]]) -> None:
        objs[-1]["params"]["resolution"] = 2.0
        for obj in objs:  # the fields schema 1.4 - 1.6 added, signature among them
            for field in ("signature", "graph_steps", "reads", "writes", "parent"):
                del obj[field]
            obj["schema_version"] = "1.3"

    forge(adata, {"leiden": to_1_3})
    adata.uns["leiden"]["provenance"]["schema_version"] = "1.3"
    adata.uns["leiden"]["params"]["resolution"] = 2.0
    assert provenance.latest(adata, "leiden").params.resolution == 2.0  # reads as 1.3


@attack
def reinsert_old(adata: AnnData, lab: Lab, ledger: Path) -> None:
    objs = histories(adata)["leiden"]
    store(adata, "leiden", [*objs, objs[0]])
    adata.obs["leiden"] = lab.v1[0]
    adata.uns["leiden"].update(copy.deepcopy(lab.v1[1]))


@attack
def move_record(adata: AnnData, lab: Lab, ledger: Path) -> None:
    store(adata, "coarse", histories(adata)["leiden"])
    adata.obs["coarse"] = adata.obs["leiden"].copy()
    adata.uns["coarse"].update(scanpy_entry(adata, "leiden"))


@attack
def swap_labels(adata: AnnData, lab: Lab, ledger: Path) -> None:
    leiden, coarse = adata.obs["leiden"].copy(), adata.obs["coarse"].copy()
    adata.obs["leiden"], adata.obs["coarse"] = coarse, leiden


@attack
def rollback(adata: AnnData, lab: Lab, ledger: Path) -> None:
    roll_back(adata, lab)


@attack
def delete_neighbors(adata: AnnData, lab: Lab, ledger: Path) -> None:
    forget(adata, "neighbors")


@attack
def delete_record(adata: AnnData, lab: Lab, ledger: Path) -> None:
    del adata.uns["coarse"]["provenance"]
    index = read_index(adata.uns)
    del index["coarse"]
    adata.uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})
    codes = adata.obs["coarse"].cat.codes.to_numpy()
    shuffled = np.random.default_rng(0).permutation(codes)
    adata.obs["coarse"] = pd.Categorical.from_codes(shuffled, adata.obs["coarse"].cat.categories)


@attack
def append_unsigned(adata: AnnData, lab: Lab, ledger: Path) -> None:
    with provenance.record(adata, sign_with=None):
        sc.tl.leiden(adata, key_added="leiden", resolution=2.0, random_state=0, **FAST)
        sc.tl.rank_genes_groups(adata, "leiden", method="t-test")


@attack
def forge_neighbors(adata: AnnData, lab: Lab, ledger: Path) -> None:
    def thirty(objs: list[dict[str, Any]]) -> None:
        objs[-1]["arguments"]["n_neighbors"] = 30

    forge(adata, {"neighbors": thirty})
    adata.uns["neighbors"]["params"]["n_neighbors"] = 30
    assert all(r.signature is None for r in provenance.history(adata, "leiden"))


@attack
def edit_ledger(adata: AnnData, lab: Lab, ledger: Path) -> None:
    v1, v2 = (r.digest for r in provenance.history(adata, "leiden"))
    roll_back(adata, lab)
    lines = ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    assert v2 in lines[-1]
    lines[-1] = lines[-1].replace(v2, v1)
    ledger.write_text("".join(lines), encoding="utf-8")


@attack
def truncate_ledger(adata: AnnData, lab: Lab, ledger: Path) -> None:
    roll_back(adata, lab)
    lines = ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    ledger.write_text(lines[0], encoding="utf-8")


# --- the table, performed --------------------------------------------------------------------


def verify(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, dict[str, Any]]:
    """``provenance verify --json ARGS`` in-process: its exit code and its JSON (or ``{}``)."""
    code = main(["verify", "--json", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {"stderr": err})


def findings(report: dict[str, Any]) -> set[str]:
    """Every finding of a ``verify --json`` report as ``"code@key"``, with its cause."""
    return {
        f"{f['code']}@{f['key']}" + (f":{f['details']['cause']}" if "cause" in f["details"] else "")
        for e in (*report.get("entries", ()), *report.get("steps", ()))
        for f in e["findings"]
    }


def matches(found: set[str], expected: tuple[str, ...]) -> bool:
    """Whether ``found`` is exactly ``expected`` (an expected code without a cause takes the
    finding's cause, whatever it is)."""
    bare = {e for e in expected if e.count(":") == 0}
    plain = {f if f.split(":", 1)[0] not in bare else f.split(":", 1)[0] for f in found}
    return plain == set(expected)


def _performed(threat: Threat, fmt: str, lab: Lab, tmp_path: Path) -> tuple[Path, Path]:
    """The attacked file and the ledger as the attacker left them."""
    ledger = tmp_path / "lab.ledger"
    shutil.copy(lab.ledger, ledger)
    src = lab.files[fmt]
    adata = ad.read_h5ad(src) if fmt == "h5ad" else ad.read_zarr(src)
    ATTACKS[threat.name](adata, lab, ledger)
    path = tmp_path / f"attacked.{fmt}"
    if fmt == "h5ad":
        adata.write_h5ad(path)
    else:
        rewrite_zarr(src, path, adata)
    return path, ledger


def rewrite_zarr(src: Path, path: Path, adata: AnnData) -> None:
    """A copy of the store at ``src`` with ``adata``'s ``uns`` and ``obs``: an editor of a store
    rewrites what he changes, not the matrices (a third of the time of a whole write)."""
    import zarr

    try:
        from anndata.io import write_elem
    except ImportError:  # anndata 0.10
        from anndata.experimental import write_elem

    shutil.copytree(src, path)
    if ANNDATA >= (0, 11):  # zarr 3: consolidated metadata would refuse the edit
        group = zarr.open_group(path, mode="r+", use_consolidated=False)
    else:
        group = zarr.open_group(path, mode="r+")
    with warnings.catch_warnings():  # zarr's and anndata's notices, as write_zarr silences them
        warnings.filterwarnings("ignore", message=".*will be the default", category=UserWarning)
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        if hasattr(zarr.errors, "UnstableSpecificationWarning"):
            warnings.filterwarnings("ignore", category=zarr.errors.UnstableSpecificationWarning)
        write_elem(group, "uns", dict(adata.uns))
        write_elem(group, "obs", adata.obs)
        zarr.consolidate_metadata(path)


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
@pytest.mark.parametrize("threat", THREATS, ids=[t.name for t in THREATS])
def test_threat(
    threat: Threat, fmt: str, lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, ledger = _performed(threat, fmt, lab, tmp_path)
    # Where --deep adds nothing to the attack (the deep column says what the chain does), the
    # levels above it run without it: the same verdict, a re-run less.
    deep = threat.outcomes["deep"] != threat.outcomes["chain"]
    wrong = []
    for level, options in LEVELS.items():
        if level in ("trusted", "required", "ledger") and not deep:
            options = tuple(o for o in options if o != "--deep")
        args = [str(path), *(o.format(pub=lab.public, ledger=ledger) for o in options)]
        expected = threat.outcomes[level]
        code, report = verify(capsys, args)
        found = findings(report)
        if code != EXIT[expected.verdict] or not matches(found, expected.findings):
            wrong.append(
                f"{level}: exit {code}, {sorted(found)}; the table says exit "
                f"{EXIT[expected.verdict]}, {sorted(expected.findings)}: verify "
                + " ".join(args)
                + (f"\n  {report['stderr'].strip()}" if "stderr" in report else "")
            )
    assert not wrong, "\n".join(wrong)


def test_every_row_has_its_attack_and_names_known_codes() -> None:
    assert [t.name for t in THREATS] == list(ATTACKS)
    severity = {s.code: s.severity for s in CATALOGUE}
    for t in THREATS:
        for level, o in t.outcomes.items():
            codes = [e.partition("@")[0] for e in o.findings]
            assert all(c in severity for c in codes), (t.name, level, codes)
            errors = any(severity[c] == "error" for c in codes)
            # exit 1 exactly when an error is found (no --strict); refused: no report at all
            assert (o.verdict == "fail") == errors or (o.verdict == "refused" and not codes), (
                t.name,
                level,
            )
    assert all(o.verdict == "pass" and not o.findings for o in THREATS[0].outcomes.values())


def test_the_table_is_in_the_concepts_page() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "concepts.md").read_text(encoding="utf-8")
    assert "```{provenance-threats}" in page and "(threat-model)=" in page
