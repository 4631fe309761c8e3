"""Terminal layout: display width, word wrap, and text an output's encoding can write."""

from __future__ import annotations

import os
import sys
from typing import TextIO

__all__ = [
    "DEFAULT_WIDTH",
    "MIN_WIDTH",
    "cell_len",
    "encodable",
    "ljust",
    "printable",
    "terminal_width",
    "wrap",
]

MIN_WIDTH = 20
DEFAULT_WIDTH = 80

# Characters the renderings use, with ASCII stand-ins for outputs that cannot encode them.
_ASCII_STANDINS = {
    "—": "-",
    "–": "-",
    "→": "->",
    "←": "<-",
    "…": "...",
    "·": "-",
    "≥": ">=",
    "≤": "<=",
    "×": "x",
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
}
_ASCII = str.maketrans(_ASCII_STANDINS)


# One column each in every rich release (printable ASCII, and the punctuation the renderings
# use): text made of these alone is measured without importing rich, which a command printing
# plain text (``provenance show f.h5ad > out.txt``) would otherwise import for this alone.
_ONE_CELL = frozenset(map(chr, range(0x20, 0x7F))) | frozenset(_ASCII_STANDINS)


def cell_len(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide CJK characters count two)."""
    if _ONE_CELL.issuperset(text):
        return len(text)
    from rich.cells import cell_len as _cell_len

    return _cell_len(text)


def encodable(text: str, encoding: str | None) -> str:
    """``text`` as ``encoding`` can write it: ASCII stand-ins, then ``\\uXXXX`` escapes.

    Nothing changes when the encoding can write ``text`` (UTF-8 always can).
    """
    if not encoding:
        return text
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = text.translate(_ASCII)
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know: write ASCII
        return text.translate(_ASCII).encode("ascii", "backslashreplace").decode("ascii")
    return text


def terminal_width(stream: TextIO | None = None) -> int:
    """``COLUMNS`` if set, else the width of the terminal ``stream`` writes to, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        width = os.get_terminal_size((stream or sys.stdout).fileno()).columns
    except (AttributeError, ValueError, OSError):  # not a terminal, or no file descriptor
        width = 0
    return width or DEFAULT_WIDTH


def ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


def _chop(word: str, width: int) -> list[str]:
    """A word longer than ``width`` columns, cut into pieces that fit."""
    pieces, cur, n = [], "", 0
    for ch in word:
        w = cell_len(ch)
        if cur and n + w > width:
            pieces.append(cur)
            cur, n = "", 0
        cur += ch
        n += w
    return [*pieces, cur] if cur else pieces


def wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """Word-wrap ``text`` to ``width`` terminal columns; ``first``/``rest`` prefix the lines.

    Widths are display widths (wide characters count two); a word longer than a line is cut.
    """
    rest = first if rest is None else rest
    width = max(width, MIN_WIDTH)
    if "\n" not in text and cell_len(first + text) <= width:
        return [(first + text).rstrip()]  # fits: spacing kept as written
    lines: list[str] = []
    prefix = first
    cur, n = "", 0
    for word in text.split():
        room = width - cell_len(prefix)
        w = cell_len(word)
        if cur and n + 1 + w <= room:
            cur, n = f"{cur} {word}", n + 1 + w
            continue
        if cur:
            lines.append(prefix + cur)
            prefix = rest
            room = width - cell_len(prefix)
        if w <= room:
            cur, n = word, w
            continue
        pieces = _chop(word, max(room, 1))
        for piece in pieces[:-1]:
            lines.append(prefix + piece)
            prefix = rest
        cur, n = pieces[-1], cell_len(pieces[-1])
    lines.append(prefix + cur)
    return [line.rstrip() for line in lines]


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with control and other unprintable characters escaped as Python writes them
    (``\\n``, ``\\x1b``); a byte of a name that is not valid UTF-8 (a lone surrogate from
    ``os.fsdecode``) as ``\\xNN``, the byte itself. The characters in ``keep`` (``"\\n"`` for
    a message shown in a ``<pre>``) are left as they are.

    Examples
    --------
    >>> printable("a\\nb\\x1b[31m.h5ad")
    'a\\\\nb\\\\x1b[31m.h5ad'
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if ch.isprintable() or ch in keep:
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        else:
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
    return "".join(out)
