"""The ``scanpy-tests`` nox session's two steps around pytest: extract, then compare.

``python harness.py extract SDIST DEST``
    Unpack from scanpy's sdist only what the test files of the recorded functions need: the
    files themselves, ``tests/conftest.py``, ``pyproject.toml`` (scanpy's pytest configuration:
    its plugin ``testing.scanpy._pytest``, markers, warning filters), the small data files in
    ``tests/_data/`` and the expected images of ``test_paga.py``. Prints the test files' paths.
``python harness.py compare PLAIN RECORDED --min-records N``
    Compare the outcomes ``recording_plugin.py`` wrote for the run without and the run with
    recording. Exit 1 if a test that passed without recording does not pass with it (or is
    missing), if fewer than ``N`` records were written, or if a patched function was never
    recorded (its calls in these files all bypassed the recorder). Tests that fail, skip or
    xfail without recording are reported, not held against the recorder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath

TEST_FILES = (
    "test_neighbors.py",
    "test_rank_genes_groups.py",
    "test_filter_rank_genes_groups.py",
    "test_dendrogram.py",
    "test_paga.py",
    "test_clustering.py",
    "test_neighbors_key_added.py",
    "test_embedding.py",
    "test_preprocessing.py",
    "test_normalization.py",
    "test_highly_variable_genes.py",
    "test_scaling.py",
    "test_pca.py",
    "test_combat.py",
    "external/test_scanorama_integrate.py",
)
"""scanpy's tests of the functions the lineage records (issue 14), and of clustering.
``test_neighbors.py`` tests scanpy's ``Neighbors`` class; ``test_neighbors_key_added.py`` is
the one that calls ``sc.pp.neighbors`` (and clusters and runs PAGA on its graphs);
``test_embedding.py`` calls ``sc.tl.umap`` (issue 23), ``tsne``, ``diffmap`` and
``draw_graph`` (issue 24). The transforms of issue 24: ``test_preprocessing.py``
(filter_cells/genes, log1p, regress_out, scale), ``test_normalization.py``
(normalize_total), ``test_highly_variable_genes.py``, ``test_scaling.py``, ``test_pca.py``,
``test_combat.py``, and ``external/test_scanorama_integrate.py``. Not scanpy's
``external/test_harmony_integrate.py``: it downloads pbmc3k, which fails offline, and then
harmony_integrate would be patched but never recorded. Paths are relative to ``tests/``."""


_WHOLE = "compares whole objects made by two calls"
DIFFERS_BY_THE_RECORD: dict[str, str] = {
    "test_preprocessing.py::test_log1p_rep": _WHOLE,
    "test_preprocessing.py::test_scale_rep": _WHOLE,
    "test_preprocessing.py::test_regress_out_view": _WHOLE,
    "test_normalization.py::test_normalize_total_rep": _WHOLE,
    "test_normalization.py::test_normalize_total_view": _WHOLE,
    "test_combat.py::test_combat_obs_names": _WHOLE,
}
"""Tests that cannot pass under recording, by ``file::function``, and why. Each compares two
whole AnnData objects, ``uns`` included (``anndata.tests.helpers.assert_equal``), each made by
a call of its own (``layer=`` against ``obsm=``, a view against its parent, or the same call
twice): under recording each object holds its own call's record, and two records differ at
least by their times. A failure of one of them is reported, not held against the recorder;
every other test that passes without recording must pass with it."""


def _differs_by_the_record(test: str) -> str | None:
    file, _, name = test.partition("::")
    key = f"{file.rsplit('/', 1)[-1]}::{name.partition('[')[0]}"
    return DIFFERS_BY_THE_RECORD.get(key)


def _wanted(rel: PurePosixPath) -> bool:
    parts = rel.parts
    if parts in {("pyproject.toml",), ("tests", "conftest.py")}:
        return True
    if parts[0] == "tests" and len(parts) in (2, 3) and "/".join(parts[1:]) in TEST_FILES:
        return True
    if parts[:2] == ("tests", "_data"):
        return len(parts) == 3  # the pickles and arrays beside the tests, not the 10x trees
    return parts[:2] == ("tests", "_images") and parts[2].startswith("paga")


def extract(sdist: Path, dest: Path) -> list[Path]:
    """Unpack what the test files need from ``sdist`` into ``dest``; the test files' paths."""
    with tarfile.open(sdist) as tar:
        members = []
        for m in tar.getmembers():
            rel = PurePosixPath(*PurePosixPath(m.name).parts[1:])  # drop "scanpy-X.Y.Z/"
            if m.isfile() and rel.parts and _wanted(rel):
                m.name = str(rel)
                members.append(m)
        # The "data" filter (no links out, no absolute paths) exists from Python 3.11.4 on.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(dest, members=members, **safe)
    files = [dest / "tests" / name for name in TEST_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        msg = f"{sdist.name} has no tests/{', tests/'.join(missing)}; update TEST_FILES."
        raise SystemExit(msg)
    return files


def _file(test: str) -> str:
    return test.split("::", 1)[0].rsplit("/", 1)[-1]


def compare(plain: dict, recorded: dict, *, min_records: int) -> list[str]:
    """Print the per-file summary; return the failures (empty: the recorder broke nothing)."""
    before, after = plain["outcomes"], recorded["outcomes"]
    failures, notes = [], []
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for test in sorted(before.keys() | after.keys()):
        was, now = before.get(test, "missing"), after.get(test, "not run")
        row = rows[_file(test)]
        row["tests"] += 1
        row[f"without: {was}"] += 1
        row["passed with"] += now == "passed"
        if was == "passed" and now != "passed" and _differs_by_the_record(test):
            notes.append(f"{test}: {now} with recording ({_differs_by_the_record(test)})")
        elif was == "passed" and now != "passed":
            failures.append(f"{test}: passed without recording, {now} with it")
        elif was != now and not (was != "passed" and now == "not run"):
            notes.append(f"{test}: {was} without recording, {now} with it")
    for test, counts in recorded["records"].items():
        rows[_file(test)]["records"] += sum(counts.values())

    print(f"{'file':<34} {'tests':>5} {'passed':>7} {'passed':>6} {'records':>7}  not passed")
    print(f"{'':<34} {'':>5} {'without':>7} {'with':>6} {'(with)':>7}  without recording")
    for file, row in sorted(rows.items()):
        other = ", ".join(
            f"{n} {k.removeprefix('without: ')}"
            for k, n in sorted(row.items())
            if k.startswith("without: ") and k != "without: passed"
        )
        print(
            f"{file:<34} {row['tests']:>5} {row['without: passed']:>7} {row['passed with']:>6} "
            f"{row['records']:>7}  {other or '-'}"
        )
    per_function = recorded["records_per_function"]
    total = sum(per_function.values())
    print(f"\npatched while recording: {', '.join(recorded['patched']) or 'nothing'}")
    for function in sorted(per_function.keys() | set(recorded["patched"])):
        print(f"  {function}: {per_function.get(function, 0)} records")
    print(f"  total: {total} records, written by {len(recorded['records'])} tests")
    if recorded["records_outside_tests"]:
        print(f"  outside any test: {recorded['records_outside_tests']}")
    for note in notes:
        print(f"note: {note}")

    if not recorded["recording"] or plain["recording"]:
        failures.append("the second run must record and the first must not")
    if total < min_records:
        failures.append(f"only {total} records were written (at least {min_records} expected)")
    failures += [
        f"{f} was patched but never recorded: no test here calls it through the recorder"
        for f in recorded["patched"]
        if not per_function.get(f) and f not in NO_SCANPY_TEST
    ]
    return failures


NO_SCANPY_TEST = {
    # scanpy 1.11's only subsample test passes an ndarray (not an object of a pipeline, so
    # not recorded); tests/test_objects.py records it on AnnData objects.
    "scanpy.pp.subsample": "scanpy's tests call it on an ndarray only",
    # anndata's function: scanpy's tests do not concatenate; tests/test_objects.py does.
    "anndata.concat": "anndata's function, which scanpy's tests do not call",
}
"""Recorded functions scanpy's own tests never call on an AnnData: patched, not recorded here,
and tested by this project's own tests instead."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    ex = sub.add_parser("extract")
    ex.add_argument("sdist", type=Path)
    ex.add_argument("dest", type=Path)
    cmp = sub.add_parser("compare")
    cmp.add_argument("plain", type=Path)
    cmp.add_argument("recorded", type=Path)
    cmp.add_argument("--min-records", type=int, required=True)
    args = parser.parse_args(argv)
    if args.step == "extract":
        for f in extract(args.sdist, args.dest):
            print(f)
        return 0
    plain, recorded = (
        json.loads(p.read_text(encoding="utf-8")) for p in (args.plain, args.recorded)
    )
    failures = compare(plain, recorded, min_records=args.min_records)
    passed = sum(o == "passed" for o in plain["outcomes"].values())
    if failures:
        print(f"\nFAILED: {len(failures)} problem(s) with recording active:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print(f"\nOK: every test that passed without recording ({passed}) passed with it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
