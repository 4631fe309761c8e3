"""The ``provenance`` command line: ``python -m provenance --help``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(args.out)
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from ._schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to generate the CLI reference)."""
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="provenance",
        description="How was each clustering in this AnnData file made, and can it be trusted?",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "demo", help="record a clustering sweep on pbmc68k_reduced, write, read back"
    )
    p.add_argument("--out", type=Path, default=None, help="directory for demo.h5ad/demo.zarr")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("schema", help="print the JSON Schema of ClusteringRecord")
    p.set_defaults(func=_cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("provenance: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(f"provenance {args.command}: error: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
