"""One switch for a whole notebook: ``%load_ext provenance`` and ``provenance.start()/stop()``.

The cells run in a real IPython ``InteractiveShell`` (sync cells, top-level ``await`` cells,
threads started from a cell) clustering pbmc68k_reduced with scanpy.
"""

from __future__ import annotations

import atexit
import threading

import pytest
import scanpy as sc
from conftest import FAST

import provenance
from provenance import ProvenanceError, ProvenanceWarning
from provenance._record import session as session_mod

pytest.importorskip("IPython")

from IPython.core.interactiveshell import InteractiveShell

LEIDEN = sc.tl.leiden


def _leiden(key: str, obj: str = "adata", seed: int = 0) -> str:
    """A cell's line clustering ``obj`` fast into ``key``."""
    return f"sc.tl.leiden({obj}, key_added={key!r}, random_state={seed}, **{FAST!r})"


def _recorded(adata, key: str) -> list[int]:
    return [r.version for r in provenance.history(adata, key)]


def _unrecorded(adata, key: str) -> bool:
    """``key`` was clustered and holds no record (scanpy < 1.10 writes no ``uns[key]``)."""
    return key in adata.obs and "provenance" not in adata.uns.get(key, {})


@pytest.fixture(autouse=True)
def _session_off():
    """Recording is off after every test here, even a failing one: no other test sees it."""
    yield
    if session_mod._session is not None:
        provenance.stop()


@pytest.fixture
def shell(pbmc, tmp_path, monkeypatch):
    """A fresh ``InteractiveShell`` singleton holding ``adata`` (pbmc) and ``sc``; torn down.

    Its profile lives in ``tmp_path`` and its history in memory. Teardown releases the shell's
    namespaces, event loop and ``sys.modules`` entry, and clears the singleton, so no other
    test sees any of it.
    """
    from IPython.core.async_helpers import get_asyncio_loop
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    # An activated virtualenv other than the one running pytest makes the shell put that
    # venv's site-packages on sys.path (and warn): the shell runs in this interpreter, as is.
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance(config=config)
    sh.user_ns.update(adata=pbmc, sc=sc, provenance=provenance)
    try:
        yield sh
    finally:
        sh.atexit_operations()  # clears the namespaces, closes the history
        atexit.unregister(sh.atexit_operations)
        sh.cleanup()  # gives sys.modules["__main__"] back
        InteractiveShell.clear_instance()
        get_asyncio_loop().close()  # the loop top-level ``await`` cells ran on


def _run(sh, cell: str):
    result = sh.run_cell(cell)
    if result.error_before_exec is not None or result.error_in_exec is not None:
        raise AssertionError(f"cell failed: {cell!r}") from (
            result.error_before_exec or result.error_in_exec
        )
    return result


def test_load_ext_records_every_cell_until_unload(shell, pbmc, capsys):
    _run(shell, "%load_ext provenance")
    assert "recording is on for this session" in capsys.readouterr().out
    assert sc.tl.leiden is not LEIDEN
    _run(shell, _leiden("a"))
    _run(shell, _leiden("b"))
    _run(shell, _leiden("a", seed=1))  # another cell, the same key: version 2
    assert _recorded(pbmc, "a") == [1, 2]
    assert _recorded(pbmc, "b") == [1]

    _run(shell, "%provenance status")
    status = capsys.readouterr().out
    assert "recording since" in status and "3 records written" in status
    assert "a v2  scanpy.tl.leiden" in status and "b v1  scanpy.tl.leiden" in status

    _run(shell, "%unload_ext provenance")
    assert capsys.readouterr().out.strip() == "provenance: recording is off; 3 records written."
    assert sc.tl.leiden is LEIDEN  # unpatched: the original function again
    _run(shell, _leiden("c"))
    assert _unrecorded(pbmc, "c")
    # The magic goes with the extension.
    assert shell.run_cell("%provenance status").error_in_exec is not None


def test_reload_and_double_load_keep_one_session(shell, pbmc, capsys):
    _run(shell, "%load_ext provenance")
    first = session_mod._session
    _run(shell, "%load_ext provenance")  # IPython: already loaded, nothing runs again
    assert session_mod._session is first
    _run(shell, _leiden("a"))
    _run(shell, "%reload_ext provenance")  # unload + load: a new session
    assert session_mod._session is not None and session_mod._session is not first
    _run(shell, _leiden("a", seed=1))
    assert _recorded(pbmc, "a") == [1, 2]
    _run(shell, "%unload_ext provenance")
    assert sc.tl.leiden is LEIDEN and session_mod._session is None


def test_session_reaches_async_cells_and_threads(shell, pbmc):
    # Turned on inside an ``await`` cell: IPython runs it as an asyncio task in a copy of the
    # context, so a block kept in a context variable would be gone in the next cell.
    _run(shell, "import asyncio\nawait asyncio.sleep(0)\nsession = provenance.start()")
    _run(shell, _leiden("sync"))
    _run(shell, "await asyncio.sleep(0)\n" + _leiden("async"))
    # A thread started before recording was on, and one started from a cell.
    started = threading.Event()
    go = threading.Event()

    def early():
        started.set()
        go.wait(60)
        sc.tl.leiden(pbmc, key_added="early", **FAST)

    worker = threading.Thread(target=early)
    worker.start()
    started.wait(60)
    shell.user_ns["go"] = go
    _run(
        shell,
        "import threading\n"
        f"t = threading.Thread(target=lambda: {_leiden('thread')})\n"
        "t.start(); t.join()\n"
        "go.set()",
    )
    worker.join(60)
    assert not worker.is_alive()
    for key in ("sync", "async", "thread", "early"):
        assert _recorded(pbmc, key) == [1], key
    records = provenance.stop()
    assert sorted(r.key for r in records) == ["async", "early", "sync", "thread"]
    assert shell.user_ns["session"].records == records
    assert sc.tl.leiden is LEIDEN


def test_strict_error_is_the_cells_error(shell, pbmc):
    _run(shell, _leiden("a"))  # unrecorded: no session yet
    _run(shell, "provenance.start(strict=True)")
    _run(shell, _leiden("b"))
    pbmc.uns["b"]["provenance"]["history"][0] = '{"truncated": '  # a damaged history
    result = shell.run_cell(_leiden("b"))
    assert isinstance(result.error_in_exec, ProvenanceError)
    assert "uns['b']['provenance'] cannot be read" in str(result.error_in_exec)
    assert pbmc.uns["b"]["provenance"]["history"][0] == '{"truncated": '  # refused, unchanged
    # The session stays on after a failing cell.
    _run(shell, _leiden("c"))
    assert _recorded(pbmc, "c") == [1]
    assert [r.key for r in provenance.stop()] == ["b", "c"]


def test_magic_turns_recording_on_and_off(shell, pbmc, capsys):
    _run(shell, "%load_ext provenance")
    _run(shell, "%provenance off")
    assert "recording is off; 0 records written" in capsys.readouterr().out
    assert sc.tl.leiden is LEIDEN
    _run(shell, _leiden("off"))
    assert _unrecorded(pbmc, "off")
    _run(shell, "%provenance")
    assert "recording is off" in capsys.readouterr().out
    _run(shell, "%provenance on")
    out = capsys.readouterr().out
    assert "(strict on, from PROVENANCE_STRICT=1); 0 records written." in out
    _run(shell, _leiden("on"))
    assert _recorded(pbmc, "on") == [1]
    _run(shell, "%provenance sideways")
    assert capsys.readouterr().out.strip() == "usage: %provenance on | off | status"
    _run(shell, "%provenance off")
    _run(shell, "%unload_ext provenance")  # already off: says so, no warning
    assert "recording is off" in capsys.readouterr().out
    assert session_mod._session is None


def test_load_ext_after_off_turns_recording_back_on(shell, pbmc, capsys, monkeypatch):
    _run(shell, "%load_ext provenance")
    _run(shell, "%provenance off")
    capsys.readouterr()
    _run(shell, "%load_ext provenance")  # a notebook re-run from its first cell
    out = capsys.readouterr().out
    assert out.startswith("provenance: recording is on again for this session")
    assert session_mod._session is not None and sc.tl.leiden is not LEIDEN
    _run(shell, _leiden("again"))
    assert _recorded(pbmc, "again") == [1]
    _run(shell, "%load_ext provenance")  # already on: IPython's "already loaded" alone
    assert "recording is on again" not in capsys.readouterr().out
    monkeypatch.delenv("PROVENANCE_STRICT")
    _run(shell, "%provenance status")
    assert "(strict off: the default, PROVENANCE_STRICT is not set)" in capsys.readouterr().out
    _run(shell, "%unload_ext provenance")
    assert "recording is off; 1 record written" in capsys.readouterr().out
    _run(shell, _leiden("unloaded"))  # unloaded: the cell hook went with the extension
    assert _unrecorded(pbmc, "unloaded") and session_mod._session is None
    assert "_on_load_ext_again" not in str(shell.events.callbacks["pre_run_cell"])


def test_start_stop_one_liner(pbmc):
    try:
        session = provenance.start()
        assert provenance.start() is session  # idempotent: a re-run first cell changes nothing
        assert provenance.start(strict=None) is session
        with pytest.raises(ProvenanceError, match=r"already on .*call provenance\.stop\(\) first"):
            provenance.start(strict=True)
        sc.tl.leiden(pbmc, key_added="a", **FAST)
        other = pbmc[:300].copy()
        with provenance.record(pbmc) as block:  # a block inside the session keeps its own
            sc.tl.leiden(pbmc, key_added="b", **FAST)
            sc.tl.leiden(other, key_added="o", **FAST)  # not the block's: the session's
        assert [r.key for r in block.records] == ["b"]
        assert sc.tl.leiden is not LEIDEN  # the session still holds the patch
        assert repr(session) == "<provenance session recording: on, 2 records>"
    finally:
        records = provenance.stop()
    assert [r.key for r in records] == ["a", "o"]
    assert _recorded(pbmc, "a") == _recorded(pbmc, "b") == _recorded(other, "o") == [1]
    assert sc.tl.leiden is LEIDEN
    assert session.closed and repr(session).startswith("<provenance session recording: off")
    with pytest.warns(ProvenanceWarning, match=r"not on, nothing to stop.*provenance\.start\(\)"):
        assert provenance.stop() == []
    sc.tl.leiden(pbmc, key_added="after", **FAST)
    assert _unrecorded(pbmc, "after")


def test_start_reads_strict_from_the_environment(pbmc, monkeypatch):
    monkeypatch.setenv("PROVENANCE_STRICT", "0")
    provenance.start()
    try:
        sc.tl.leiden(pbmc, key_added="a", **FAST)
        pbmc.uns["a"]["provenance"]["history"][0] = '{"truncated": '
        with pytest.warns(ProvenanceWarning, match="kept unchanged"):
            sc.tl.leiden(pbmc, key_added="a", **FAST)
        monkeypatch.setenv("PROVENANCE_STRICT", "1")
        with pytest.raises(ProvenanceError, match="cannot be read"):
            sc.tl.leiden(pbmc, key_added="a", **FAST)
    finally:
        provenance.stop()
