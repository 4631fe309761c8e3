"""Every row of the verdict table (``provenance/_audit/verdicts.py``), on a real scanpy run.

Each row's case (``tests/verdict_cases.py``) changes the recorded routine workflow; the audit's
findings must be exactly the row's: a finding the row does not name fails the row as much as
a missing one (a false accusation is as wrong as a miss). The table must also be complete: a
finding code of the catalogue in no row, or a recorded step kind without rows for its edits,
deletion and re-runs, fails here.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pytest
from conftest import SCANPY
from packaging.requirements import Requirement
from verdict_cases import CASES, Pipeline, routine_workflow

import provenance
from provenance._audit.catalogue import CATALOGUE
from provenance._audit.verdicts import CHANGES, STEP_CHANGES, THINGS, VERDICTS
from provenance._cli import main

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

    from provenance._audit.verdicts import Verdict

# sc.tl.dendrogram of the workflow calls DataFrame.set_index(inplace=True), which pandas 3.1
# deprecates; scanpy 1.9 groups without observed= and sums a DataFrame with axis=None (its
# wilcoxon): scanpy's notices, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The behavior of DataFrame.sum with axis=None"),
    # The table is of the stacks users run now. scanpy 1.9's sc.tl.paga and
    # filter_rank_genes_groups fail on the legacy environment's scipy/pandas, with or without
    # recording, so its workflow cannot be made there (tests/test_lineage.py says the same).
    pytest.mark.skipif(SCANPY < (1, 10), reason="scanpy 1.9's paga fails on the legacy pins"),
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.set_index"),
    pytest.mark.filterwarnings("ignore:The default of observed=False is deprecated"),
]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from provenance._util.signing import keygen

    d = tmp_path_factory.mktemp("verdict-keys")
    return keygen(d / "lab.key").private, keygen(d / "other.key").private


@pytest.fixture(scope="module")
def workflow(_pbmc_master: AnnData, keys: tuple[Path, Path]) -> AnnData:
    return routine_workflow(_pbmc_master.copy(), sign_with=keys[0])


def applies(row: Verdict) -> bool:
    """Whether the installed software meets the row's ``only`` requirement."""
    if not row.only:
        return True
    req = Requirement(row.only)
    return req.specifier.contains(version(req.name), prereleases=True)


def found(report: provenance.AuditReport) -> dict[str, list[Any]]:
    """``"code@key"`` -> the findings of that code on that key."""
    out: dict[str, list[Any]] = {}
    for f in report.findings:
        out.setdefault(f"{f.code}@{f.key}", []).append(f)
    return out


def wanted(row: Verdict) -> dict[str, list[str | None]]:
    """``"code@key"`` -> the causes the row names for it (``None``: any)."""
    out: dict[str, list[str | None]] = {}
    for e in row.expect:
        code, _, rest = e.partition("@")
        key, _, cause = rest.partition(":")
        out.setdefault(f"{code}@{key}", []).append(cause or None)
    return out


def _id(row: Verdict) -> str:
    return f"{row.thing}-{row.case}{'-' + '-'.join(row.audit) if row.audit else ''}"


@pytest.mark.parametrize("row", VERDICTS, ids=[_id(r) for r in VERDICTS])
def test_verdict(row: Verdict, workflow: AnnData, keys: tuple[Path, Path], tmp_path: Path) -> None:
    if not applies(row):
        pytest.skip(f"the row holds where {row.only}")
    p = Pipeline(workflow, tmp_path, *keys)
    subject = CASES[row.case](p)
    options: dict[str, Any] = {
        "deep": "deep" in row.audit,
        "check_representation": "representation" in row.audit,
        "check_data": "uns_only" not in row.audit,
    }
    if "trusted" in row.audit:
        options["trusted_keys"] = [f"{keys[0]}.pub"]
    if "ledger" in row.audit:  # the case seals into it (tests/verdict_cases.py)
        options["ledger"] = p.ledger
    if "required" in row.audit:
        options["require_signed"] = True
    if "allow_unreplayable" in row.audit:
        options["allow_unreplayable"] = True
    if "file" in row.audit:
        path = tmp_path / "verdict.h5ad"
        subject.write_h5ad(path)
        subject = path
    report = provenance.audit(subject, **options)
    got, want = found(report), wanted(row)
    messages = "\n".join(f"{f.code}@{f.key}: {f.message}" for f in report.findings)
    assert set(got) == set(want), f"found {sorted(got)}, the table says {sorted(want)}\n{messages}"
    for name, causes in want.items():
        if None not in causes:  # the causes of the code's findings on the key, all of them
            have = {str(f.details.get("cause")) for f in got[name]}
            assert have == set(map(str, causes)), f"{name}: causes {have}\n{messages}"
    if row.routine:
        assert report.ok, [f.message for f in report.errors]
    if "file" in row.audit:
        args = ["verify", str(path)]
        if "trusted" in row.audit:
            args += ["--trusted-key", f"{keys[0]}.pub"]
        if "required" in row.audit:
            args.append("--require-signed")
        args += [
            f"--{o.replace('_', '-')}" for o in ("deep", "allow_unreplayable") if o in row.audit
        ]
        if "ledger" in row.audit:
            args += ["--ledger", str(p.ledger)]
        assert main(args) == (0 if report.ok else 1)


def test_every_case_is_used_and_every_row_has_a_case() -> None:
    used = {r.case for r in VERDICTS}
    assert used <= set(CASES), sorted(used - set(CASES))
    assert set(CASES) <= used, sorted(set(CASES) - used)


def test_rows_name_known_things_changes_and_codes() -> None:
    codes = {s.code for s in CATALOGUE}
    for row in VERDICTS:
        assert row.thing in THINGS, row
        assert row.how in CHANGES, row
        for e in row.expect:
            code, _, rest = e.partition("@")
            assert code in codes and rest, e
        assert row.seen or not row.expect, "a change the audit cannot see has no findings"
        assert row.seen or row.note, "an unseen change says what would see it"


def test_every_finding_code_has_a_row() -> None:
    tabled = {e.partition("@")[0] for r in VERDICTS for e in r.expect}
    missing = [s.code for s in CATALOGUE if s.code not in tabled]
    assert not missing, f"finding codes with no row in the verdict table: {missing}"


def test_every_recorded_step_kind_has_rows_for_its_changes() -> None:
    from provenance._targets.registry import recorded_functions

    kinds = {t.kind for t in recorded_functions() if t.kind != "clustering"}
    have = {(r.thing, r.how) for r in VERDICTS}
    missing = [(k, c) for k in sorted(kinds) for c in STEP_CHANGES if (k, c) not in have]
    assert not missing, f"recorded step kinds without rows: {missing}"
