"""The threat model: every attack of an editor of files, and the verdict at each level of trust.

:data:`THREATS` (the rows of ``threats.toml`` beside this module) states what ``provenance
verify`` says about a recorded, signed and sealed file after someone who can edit files, but
does not hold the lab's private key, changed it. Each row names the attack and, for each level
of :data:`LEVELS` (a command line, each adding options to the one before it), whether the
command passes (exit 0), fails (exit 1) or refuses to judge (exit 2: the ledger itself fails
its checks), and every finding of ``verify --json``, as ``"code@key"`` (``"code@key:cause"``
where ``details["cause"]`` tells causes of one code apart).

From it come the tests (``tests/test_threats.py`` performs every attack on a real ``.h5ad``
and ``.zarr`` file and runs the command of every level, comparing the exit code and the
findings exactly) and the table of ``docs/concepts.md`` (the ``provenance-threats``
directive). The verdicts are those the design promises; a row is never weakened to match what
the code does.

Nothing in the package imports this module: it is data for the tests and the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LEVELS", "THREATS", "Level", "Outcome", "Threat", "threats_doc"]

Level = Literal["chain", "deep", "trusted", "required", "ledger"]
LEVELS: dict[Level, tuple[str, ...]] = {
    "chain": (),
    "deep": ("--deep",),
    "trusted": ("--trusted-key", "{pub}", "--deep"),
    "required": ("--trusted-key", "{pub}", "--deep", "--require-signed"),
    "ledger": ("--trusted-key", "{pub}", "--deep", "--require-signed", "--ledger", "{ledger}"),
}
"""Each level's options of ``provenance verify FILE`` (``{pub}``: the lab's public key,
``{ledger}``: the ledger the file was sealed in before the attack)."""

Verdict = Literal["pass", "fail", "refused"]
EXIT: dict[Verdict, int] = {"pass": 0, "fail": 1, "refused": 2}
"""The exit code of each verdict."""


@dataclass(frozen=True)
class Outcome:
    """What one level says about one attack."""

    verdict: Verdict
    """``pass`` (exit 0), ``fail`` (exit 1) or ``refused`` (exit 2)."""
    findings: tuple[str, ...] = ()
    """Every finding of ``verify --json``: ``"code@key"`` or ``"code@key:cause"``."""


@dataclass(frozen=True)
class Threat:
    """One row: an attack on a signed and sealed file, and its verdict at each level."""

    name: str
    """The attack's name: a function of ``tests/test_threats.py`` performs it."""
    attack: str
    """What the attacker does, in words (Markdown inline)."""
    outcomes: dict[Level, Outcome]
    """The verdict at each level of :data:`LEVELS`."""
    note: str = ""
    """Why the verdict is what it is, where that is not plain."""


def load(path: Path | None = None) -> tuple[Threat, ...]:
    """The rows of ``threats.toml`` (beside this module), in its order."""
    import tomllib
    from pathlib import Path

    path = path or Path(__file__).with_name("threats.toml")
    with path.open("rb") as f:
        rows = tomllib.load(f)["threat"]
    out = []
    for r in rows:
        outcomes = {
            lv: Outcome(r[lv]["verdict"], tuple(r[lv].get("findings", ()))) for lv in LEVELS
        }
        rest = {k: v for k, v in r.items() if k not in LEVELS}
        out.append(Threat(**rest, outcomes=outcomes))
    return tuple(out)


THREATS: tuple[Threat, ...] = load()
"""Every row of the table."""

_HEADERS: dict[Level, str] = {
    "chain": "``verify``",
    "deep": "``--deep``",
    "trusted": "``--trusted-key``",
    "required": "``--require-signed``",
    "ledger": "``--ledger``",
}


def threats_doc() -> str:
    """The table as reST, for ``docs/concepts.md``: each code links to ``docs/findings.md``.

    A cell reads "pass", **fail** or **refused**, then every finding of that level (the
    warnings of a level that passes too).
    """
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 30 14 14 14 14 14",
        "",
        "   * - Attack",
        *(f"     - {h}" for h in _HEADERS.values()),
    ]
    for t in THREATS:
        lines.append(f"   * - {_rst(t.attack)}")
        if t.note:  # a paragraph of its own in the cell
            lines += ["", f"       {_rst(t.note)}", ""]
        for lv in LEVELS:
            o = t.outcomes[lv]
            cell = "pass" if o.verdict == "pass" else f"**{o.verdict}**"
            found = _findings(o.findings)
            lines.append(f"     - {cell}" + (f": {found}" if found else ""))
    return "\n".join(lines) + "\n"


def _findings(expected: tuple[str, ...]) -> str:
    """``code (key, key: cause)``, one code after the other, each linked to its section."""
    by_code: dict[str, list[str]] = {}
    for e in expected:
        code, _, where = e.partition("@")
        key, _, cause = where.partition(":")
        by_code.setdefault(code, []).append(f"{key}: {cause}" if cause else key)
    return "; ".join(
        f":ref:`{code} <finding-{code}>` ({', '.join(keys)})" for code, keys in by_code.items()
    )


def _rst(text: str) -> str:
    """Markdown inline code (single backticks) as reST inline literals."""
    import re

    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)
