"""Building the parser of the one command being run.

argparse makes a help formatter (and looks up its translations) for every argument it adds,
which for the dozen subcommands is much of the start-up of a short command such as
``provenance show``. When the command is known, only its parser is built; the others are
not added, so ``provenance --help``, a mistyped command and the documentation build the whole
parser (:func:`provenance._cli.commands.build_parser` without ``only``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["OneCommand", "command_of"]


def command_of(argv: list[str]) -> str | None:
    """The subcommand named in ``argv``: its first argument that is not an option (the
    top-level options, ``--debug`` and ``--version``, take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


class _Unbuilt:
    """A subcommand's parser that is not built: whatever is added to it is dropped."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


class OneCommand:
    """The subcommands (argparse's ``add_subparsers()``), where only ``name`` is built."""

    def __init__(self, subparsers: Any, name: str) -> None:
        self._subparsers = subparsers
        self._name = name
        self.built = False

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self._name:
            return _Unbuilt()
        self.built = True
        return self._subparsers.add_parser(name, **kwargs)
