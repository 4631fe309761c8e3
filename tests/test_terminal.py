"""The CLI's output in real terminals: widths, encodings, wide characters.

Every case runs ``python -m provenance`` in a subprocess, as a user's shell would: the plain
path (stdout piped, or ``NO_COLOR``) and the rich path (a terminal, told by rich's
``TTY_COMPATIBLE=1``, or a real pseudo-terminal), at ``COLUMNS=60`` and ``80``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import scanpy as sc
from _audit_data import RECORDED, sweep
from conftest import FAST, FAST_FLAVOR
from rich.cells import cell_len

import provenance
from provenance._render.text import to_text

ROOT = Path(__file__).resolve().parent.parent
CJK = "細胞クラスタ"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A cell cut down to a few characters and an ellipsis ("m…", "random_stat…").
CUT = re.compile(r"(?:^|[\s│┃|])[^\s│┃|]{1,12}(…|\.\.\.)(?=$|[\s│┃|])")
# leiden_1.0's second version; the flavor is what FAST runs (scanpy 1.9 has leidenalg only).
PARAMS = (f"flavor={FAST_FLAVOR}", "n_iterations=-1", "random_state=42", "resolution=1")


@pytest.fixture(scope="module")
def path(_pbmc_master, tmp_path_factory) -> Path:
    """A recorded sweep, one clustering with merged clusters (error), pbmc's own Louvain
    (warning)."""
    a = sweep(_pbmc_master.copy())
    col = a.obs["leiden_0.5"]
    a.obs["leiden_0.5"] = col.astype(str).replace({"1": "0"}).astype("category")
    p = tmp_path_factory.mktemp("terminal") / "sweep.h5ad"
    a.write_h5ad(p)
    return p


@pytest.fixture(scope="module")
def cjk_path(_pbmc_master, tmp_path_factory) -> Path:
    a = _pbmc_master.copy()
    with provenance.record(a):
        sc.tl.leiden(a, key_added=CJK, **FAST)
        sc.tl.leiden(a, key_added="leiden_x", resolution=0.5, **FAST)
    p = tmp_path_factory.mktemp("terminal") / "cjk.h5ad"
    a.write_h5ad(p)
    return p


def cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "PYTHONIOENCODING")
    }
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), base.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "provenance", *map(str, args)],
        capture_output=True,
        env=base | (env or {}),
        check=False,
    )


MODES = {
    "plain-piped": {},
    "plain-no-color": {"NO_COLOR": "1", "TTY_COMPATIBLE": "1"},
    "rich": {"TTY_COMPATIBLE": "1", "TERM": "xterm-256color"},
}


def _lines(out: bytes) -> list[str]:
    return ANSI.sub("", out.decode("utf-8")).splitlines()


def _assert_fits(lines: list[str], width: int) -> None:
    for line in lines:
        assert cell_len(line) <= width, f"{cell_len(line)} > {width}: {line!r}"
        assert not CUT.search(line), f"a cell cut short: {line!r}"


@pytest.mark.parametrize("width", [60, 80])
@pytest.mark.parametrize("mode", list(MODES))
def test_verify_fits_the_width(path, mode, width):
    res = cli("verify", path, env={**MODES[mode], "COLUMNS": str(width)})
    assert res.returncode == 1, res.stderr  # the merged clusters are an error
    lines = _lines(res.stdout)
    assert ("\x1b[" in res.stdout.decode()) == (mode == "rich")
    _assert_fits(lines, width)
    _assert_facts("\n".join(lines))


def _assert_facts(text: str) -> None:
    """Every key, its status, flavor and resolution, and the findings' codes are shown."""
    for key in (*RECORDED, "louvain"):
        assert re.search(rf"(^|\s){re.escape(key)}\s", text, re.M), key
    # Whole words: "igraph" is not the end of "louvain_igraph", nor "0.5" of "leiden_0.5".
    for word in ("ok", "error", "warning", "igraph", "0.5", "labels_changed", "no_record"):
        assert re.search(rf"\b{re.escape(word)}\b", text), word
    assert "NOT OK" in text


@pytest.mark.parametrize("width", [60, 80])
@pytest.mark.parametrize("mode", ["plain-piped", "rich"])
def test_history_fits_the_width(path, mode, width):
    res = cli("show", path, "--key", "leiden_1.0", env={**MODES[mode], "COLUMNS": str(width)})
    assert res.returncode == 0, res.stderr
    lines = _lines(res.stdout)
    _assert_fits([ln for ln in lines if "xxh3_128:" not in ln], width)  # digests abbreviated
    assert all(cell_len(ln) <= width for ln in lines)
    words = " ".join(lines).split()
    for p in PARAMS:  # every parameter whole, never "random_stat…"
        assert p in words, p
    assert "History" in words and "leiden_1.0" in words


def test_a_real_terminal_gets_rich_at_its_width(path):
    """Through a pseudo-terminal sized 70 columns, with no COLUMNS: the width of the tty."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 70, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    env["PYTHONPATH"] = str(ROOT)
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "provenance", "verify", str(path)],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, err = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 1, err
    out = b"".join(chunks).replace(b"\r\n", b"\n")
    assert b"\x1b[" in out
    lines = _lines(out)
    _assert_fits(lines, 70)
    _assert_facts("\n".join(lines))


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
@pytest.mark.parametrize("mode", ["plain-piped", "rich"])
def test_an_output_that_cannot_encode_unicode_gets_ascii(path, cjk_path, encoding, mode):
    env = {**MODES[mode], "PYTHONIOENCODING": encoding, "COLUMNS": "100"}
    res = cli("verify", path, env=env)
    assert res.returncode == 1, res.stderr  # findings, not "unreadable input" (2)
    out = res.stdout.decode(encoding)  # cp1252 writes "—" but neither "→" nor box lines
    assert re.search("Provenance audit [-—] NOT OK", out)
    assert "labels_changed" in out and "merged, split" in out
    res = cli("show", path, "--key", "leiden_1.0", env=env)
    assert res.returncode == 0, res.stderr
    assert "n_iterations: 2 -> -1" in res.stdout.decode(encoding)
    # A key the encoding cannot write is escaped, not an error; --json stays valid JSON.
    res = cli("show", cjk_path, env=env)
    assert res.returncode == 0, res.stderr
    escaped = CJK.encode("ascii", "backslashreplace").decode()
    assert escaped in res.stdout.decode(encoding)
    res = cli("show", cjk_path, "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert CJK in {e["key"] for e in json.loads(res.stdout.decode(encoding))["entries"]}


def _columns_at(line: str, values: list[str]) -> list[int]:
    """The display column where each of ``values`` starts in ``line``."""
    out, start = [], 0
    for v in values:
        i = line.index(v, start)
        out.append(cell_len(line[:i]))
        start = i + len(v)
    return out


def test_wide_characters_keep_the_plain_table_aligned(cjk_path):
    res = cli("show", cjk_path, env={"COLUMNS": "120"})
    assert res.returncode == 0, res.stderr
    lines = _lines(res.stdout)
    header = next(ln for ln in lines if ln.startswith("key "))
    rows = [ln for ln in lines if ln.startswith((CJK, "leiden_x"))]
    assert len(rows) == 2
    want = _columns_at(header, ["status", "method", "versions", "resolution"])
    for row in rows:
        res = "1" if row.startswith(CJK) else "0.5"
        assert _columns_at(row, ["ok", "leiden", "1", res]) == want
    # In memory too, and the CJK key sets the width of the key column.
    report = provenance.audit(cjk_path, check_data=False)
    text = to_text(report, width=120).splitlines()
    header = next(ln for ln in text if ln.startswith("key "))
    assert _columns_at(header, ["status"])[0] == cell_len(CJK) + 2
