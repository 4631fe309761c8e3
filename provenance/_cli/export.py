"""``provenance export PATH --format prov-json|prov-n|prov-o|ro-crate [--out FILE_OR_DIR]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import UsageError

if TYPE_CHECKING:
    import argparse

__all__ = ["FORMATS", "add_export"]

FORMATS = ("prov-json", "prov-n", "prov-o", "ro-crate")
"""The formats ``export`` writes: the PROV serializations, and an RO-Crate directory."""


def add_export(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``export`` command to the CLI's subcommands."""
    p = subparsers.add_parser(
        "export",
        help="write the records as W3C PROV (prov-json, prov-n, prov-o) or an RO-Crate "
        "(a Process Run Crate directory holding the data file)",
    )
    p.add_argument("path", type=_location, help=".h5ad or .h5mu file, or .zarr store")
    p.add_argument("--format", required=True, choices=FORMATS, dest="fmt", help="what to write")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="PROV: the file to write (default: stdout); ro-crate: the crate's directory "
        "(required)",
    )
    p.add_argument(
        "--no-copy",
        dest="copy",
        action="store_false",
        help="ro-crate: describe the data file without copying it into the crate (put it "
        "beside ro-crate-metadata.json before depositing)",
    )
    p.add_argument(
        "--name", default=None, help="the name the provenance gives the data (default: PATH's)"
    )
    p.set_defaults(func=_cmd_export)


def _location(text: str) -> str | Path:
    """A URL (``scheme://...``) stays a string, anything else is a local path."""
    return text if "://" in text else Path(text)


def _cmd_export(args: argparse.Namespace) -> int:
    if args.fmt == "ro-crate":
        return _crate(args)
    if not args.copy:
        msg = "--no-copy applies to --format ro-crate only."
        raise UsageError(msg)
    from provenance._export.collect import collect
    from provenance._export.prov import document, serialize

    export = collect(args.path, name=args.name)
    text = serialize(document(export), args.fmt)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    if not export.runs:
        _empty(args.path)
    return 0


def _crate(args: argparse.Namespace) -> int:
    if args.out is None:
        msg = "--format ro-crate writes a directory: give --out DIR."
        raise UsageError(msg)
    if args.out.exists() and not args.out.is_dir():
        msg = f"--out {args.out} exists and is not a directory; a crate is a directory."
        raise UsageError(msg)
    from provenance._export.rocrate import to_ro_crate

    crate = to_ro_crate(args.path, args.out, copy=args.copy, name=args.name)
    actions = list(crate.get_by_type("CreateAction"))
    print(f"wrote an RO-Crate with {len(actions)} action(s) to {args.out}", file=sys.stderr)
    if not actions:
        _empty(args.path)
    return 0


def _empty(path: object) -> None:
    """Say so when there was nothing to export (on stderr: stdout may be the document)."""
    print(f"note: {path} holds no readable record; the export describes none.", file=sys.stderr)
