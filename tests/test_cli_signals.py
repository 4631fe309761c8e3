"""No orphan worker, ever: SIGTERM and SIGHUP stop ``verify DIR -j N`` as Ctrl-C does (workers
ended, one line, exit 128 + signum), and workers end by themselves when the run dies however
it dies (SIGKILL included), forked or spawned. Real processes, real signals; the processes of
a run are found by a token in their environment, through /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from _audit_data import drop_unrecorded, sweep
from _procs import open_data_file, processes

from provenance._cli.signals import Terminated, stop_on_signals

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

FILES = 200  # hard links: free; enough that a run is still going when it is stopped


@pytest.fixture(scope="module")
def many(_pbmc_master, tmp_path_factory) -> Path:
    """A directory of FILES recorded files (hard links of one): a run of several seconds."""
    d = tmp_path_factory.mktemp("signals")
    drop_unrecorded(sweep(_pbmc_master.copy())).write_h5ad(d / "f00.h5ad")
    for i in range(1, FILES):
        os.link(d / "f00.h5ad", d / f"f{i:02d}.h5ad")
    return d


def _reading(pid: int) -> bool:
    """Whether process ``pid`` has a .h5ad file open (is auditing one)."""
    return open_data_file(pid) is not None


def _default_signals() -> None:
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _start(directory: Path, jobs: int, *, spawn: bool = False) -> tuple[subprocess.Popen[str], str]:
    """``verify DIR -j JOBS`` with its output in pipes, as a CI step or ``communicate`` holds
    them; once every worker is auditing a file. ``spawn``: a second thread in the run, so that its
    pool spawns its workers (it forks only while single-threaded)."""
    token = f"provenance-signals-{os.getpid()}-{time.time_ns()}"
    code = "import sys\nfrom provenance._cli.commands import main\nsys.exit(main(sys.argv[1:]))"
    if spawn:
        thread = "threading.Thread(target=threading.Event().wait, daemon=True).start()"
        code = f"import threading\n{thread}\n{code}"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "verify", str(directory), "-j", str(jobs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PROVENANCE_TEST_TOKEN": token},
        # The run as a shell starts it: a test run under nohup (SIGHUP ignored, inherited)
        # would otherwise start it with SIGHUP ignored, which it rightly keeps ignored.
        preexec_fn=_default_signals,
    )
    deadline = time.monotonic() + 60
    while sum(_reading(pid) for pid in processes(token, but=proc.pid)) < jobs - 1:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"no worker was seen auditing a file: {err}")
        time.sleep(0.01)
    return proc, token


def _sockets(pid: int) -> set[str]:
    """The sockets process ``pid`` holds (``socket:[inode]``: one per end of a pipe)."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if (target := os.readlink(f"/proc/{pid}/fd/{fd}")).startswith("socket:"):
                found.add(target)
    return found


def _gone(token: str, within: float) -> list[int]:
    """The processes with ``token`` still alive after up to ``within`` seconds (and SIGKILLed
    then, so that a failing test leaves none behind)."""
    deadline = time.monotonic() + within
    while (left := processes(token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def _communicate(proc: subprocess.Popen[str], token: str) -> tuple[str, str]:
    """The run's output, once nothing holds its pipes any more (a failure if that takes 15 s:
    a worker outlived the run; then every process of the run is SIGKILLed)."""
    try:
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        left = _gone(token, within=0)
        proc.communicate()
        pytest.fail(f"its pipes were still open 15 s after the run ended: held by {left}")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_stopping_signal_ends_the_run_and_its_workers(many, sig, status):
    proc, token = _start(many, 2)
    assert len(processes(token)) == 2  # the run and its worker
    os.kill(proc.pid, sig)
    out, err = _communicate(proc, token)  # no process holds the pipes any more
    assert proc.returncode == status, err
    assert err == f"provenance: terminated ({sig.name})\n"  # one line, no traceback
    assert "files:" not in out  # stopped, not finished: no summary
    assert _gone(token, within=2.0) == []


@pytest.mark.parametrize("spawn", [False, True], ids=["forked", "spawned"])
def test_workers_end_when_the_run_is_killed(many, spawn):
    proc, token = _start(many, 3, spawn=spawn)
    workers = [pid for pid in processes(token, but=proc.pid) if _reading(pid)]
    assert len(workers) == 2
    if not spawn:  # a forked worker closes its copies of the run's ends of the pipes, so
        # that, idle, it reads EOF when the run dies (where no parent-death signal exists)
        assert all(_sockets(pid).isdisjoint(_sockets(proc.pid)) for pid in workers)
    for pid in workers:  # stopped, a worker reads nothing, EOF neither: only the kernel
        os.kill(pid, signal.SIGSTOP)  # can end it (the parent-death signal it asked for)
    os.kill(proc.pid, signal.SIGKILL)  # nothing of the run's own code runs after this
    _, err = _communicate(proc, token)  # the workers no longer hold its pipes
    assert proc.returncode == -signal.SIGKILL
    assert err == ""  # nor wrote to them (a traceback of a worker that lost its parent)
    assert _gone(token, within=3.0) == []


def test_stop_on_signals_raises_and_restores():
    """In this process: SIGTERM raises Terminated inside the block; SIGHUP, ignored (as under
    nohup), stays ignored; the handlers are the default again after it."""
    term = signal.getsignal(signal.SIGTERM)
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    caught: Terminated | None = None
    still_ignored = False
    try:
        with stop_on_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)  # ignored
            assert callable(signal.getsignal(signal.SIGTERM))  # else the kill below ends pytest
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # not reached: the handler raises at once
    except Terminated as e:
        caught = e
        still_ignored = signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # after the block
    finally:
        signal.signal(signal.SIGHUP, before)
    assert caught is not None and caught.signum == signal.SIGTERM and caught.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is term and still_ignored  # as it was before
