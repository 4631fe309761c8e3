"""pytest plugin: scanpy's own tests, with ``provenance.record(strict=True)`` around each one.

The ``scanpy-tests`` nox session loads it (``-p recording_plugin``) into both of its runs of
scanpy's test files; the second run adds ``--provenance-record`` and
``--provenance-only-passed``:

``--provenance-outcomes=PATH``
    Write each test's outcome (``passed``, ``failed``, ``error``, ``skipped``, ``xfailed``,
    ``xpassed``) and what was recorded to ``PATH`` as JSON, for ``harness.py compare``.
``--provenance-only-passed=PATH``
    Deselect the tests that did not pass in the run whose outcomes ``PATH`` holds: they are
    not held against the recorder, so running them again under it would only cost time.
``--provenance-record``
    Record. One untargeted strict block is opened in ``pytest_configure`` and held for the
    whole session, and one more around each test (setup, call and teardown), inside it. The
    outer block keeps the recorded functions patched from before the test modules are imported,
    so a name bound at import (``from scanpy.tools import rank_genes_groups``,
    ``pytest.param(sc.tl.leiden)``) is the recording wrapper too; each test's records are
    counted from its own block. Nothing here names a recorded function: whatever targets the
    installed package registers are recorded.

Strict: a call that cannot be recorded raises ``ProvenanceError`` inside the test, which then
fails, so a recording failure is a test failure the comparison shows. Proof that recording was
active is in the JSON: the targets that were patched, and the records each test's block wrote.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

# When a test's setup, call and teardown reports disagree, the worst one is its outcome.
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 2, "failed": 3, "error": 4}


def _outcome(report: pytest.TestReport) -> str:
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed"
        return report.outcome
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") else "skipped"
    return "passed"


def _by_function(records: list[Any]) -> dict[str, int]:
    """Count records by the function they record (a record kind without one: its class)."""
    return dict(Counter(getattr(r, "function", None) or type(r).__name__ for r in records))


def _patched_functions() -> list[str]:
    """The registered targets whose function is, right now, the recorder's wrapper."""
    from provenance._targets.registry import recorded_functions

    patched = []
    for target in recorded_functions():
        module = target.patch_module()
        attr = getattr(module, target.attr, None) if module is not None else None
        if getattr(attr, "__provenance_wrapper__", False):
            patched.append(target.function)
    return patched


class _Run:
    """One run's outcomes and records; with ``recording``, the blocks too."""

    def __init__(self, config: pytest.Config) -> None:
        self.recording: bool = config.getoption("--provenance-record")
        self.path: str | None = config.getoption("--provenance-outcomes")
        self.only_passed: str | None = config.getoption("--provenance-only-passed")
        self.outcomes: dict[str, str] = {}
        self.records: dict[str, dict[str, int]] = {}  # test id -> function -> records
        self.outside_tests: dict[str, int] = {}  # written by the outer block: not in a test
        self.patched: list[str] = []
        self._outer = ExitStack()

    def open(self) -> None:
        import provenance

        block = self._outer.enter_context(provenance.record(strict=True))
        self._outer.callback(lambda: self.outside_tests.update(_by_function(block.records)))
        self.patched = _patched_functions()
        if not self.patched:
            msg = "provenance.record() is open but no recorded function is patched"
            raise pytest.UsageError(msg)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[Any]) -> None:
        if not self.only_passed:
            return
        before = json.loads(Path(self.only_passed).read_text(encoding="utf-8"))["outcomes"]
        keep = [i for i in items if before.get(i.nodeid, "passed") == "passed"]
        if len(keep) < len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        if not self.recording:
            return (yield)
        import provenance

        with provenance.record(strict=True) as block:
            try:
                return (yield)
            finally:
                if block.records:
                    self.records[item.nodeid] = _by_function(block.records)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        new, old = _outcome(report), self.outcomes.get(report.nodeid)
        if old is None or _RANK[new] > _RANK[old]:
            self.outcomes[report.nodeid] = new

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a test file that no longer imports is never a silent pass
            self.outcomes[f"{report.nodeid}::<collection>"] = "error"

    def pytest_sessionfinish(self) -> None:
        self._outer.close()
        if self.path:
            text = json.dumps(self.as_json(), indent=1, sort_keys=True)
            Path(self.path).write_text(text + "\n", encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.recording:
            return
        tr = terminalreporter
        tr.section("provenance.record(strict=True) around every test")
        tr.line(f"patched: {', '.join(self.patched)}")
        for function, n in sorted(self.as_json()["records_per_function"].items()):
            tr.line(f"{function}: {n} records")
        tr.line(f"{len(self.records)} tests wrote records")

    def as_json(self) -> dict[str, Any]:
        per_function: Counter[str] = Counter(self.outside_tests)
        for counts in self.records.values():
            per_function.update(counts)
        return {
            "recording": self.recording,
            "patched": self.patched,
            "outcomes": self.outcomes,
            "records": self.records,
            "records_outside_tests": self.outside_tests,
            "records_per_function": dict(per_function),
        }


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("provenance", "anndata-provenance: scanpy's tests under record()")
    group.addoption("--provenance-record", action="store_true", help="record around each test")
    group.addoption("--provenance-outcomes", metavar="PATH", help="write outcomes as JSON")
    group.addoption(
        "--provenance-only-passed",
        metavar="PATH",
        help="run only the tests that passed in the run whose outcomes PATH holds",
    )


def pytest_configure(config: pytest.Config) -> None:
    run = _Run(config)
    if run.recording:
        run.open()  # before the test modules are imported (collection comes after configure)
    config.pluginmanager.register(run, "provenance-run")
