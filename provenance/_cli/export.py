"""``provenance export PATH --format prov-json|prov-n|prov-o|ro-crate [--out FILE_OR_DIR]``.

Exit 0: written; 1: a record does not match its own digest (edited after it was recorded) or
cannot be read (invalid, newer schema, an unreadable history), nothing written unless
``--allow-invalid``; 2: unreadable file or usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import UsageError

if TYPE_CHECKING:
    import argparse

    from provenance._export.model import Export

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
    p.add_argument(
        "--license",
        default=None,
        metavar="ID",
        help="ro-crate: the crate's licence, an SPDX id (CC-BY-4.0) or a URL; RO-Crate requires "
        "one (a crate without it does not validate)",
    )
    p.add_argument(
        "--agent",
        default=None,
        metavar="URL",
        help="ro-crate: the person who ran the recorded calls (an ORCID URL), each action's "
        "agent; the records do not say who ran them",
    )
    p.add_argument("--agent-name", default=None, metavar="NAME", help="ro-crate: --agent's name")
    p.add_argument(
        "--date-published",
        default=None,
        metavar="DATE",
        help="ro-crate: the crate's datePublished (ISO 8601, or 'today'); none by default, so "
        "the same file gives the same bytes",
    )
    p.add_argument(
        "--allow-invalid",
        action="store_true",
        help="export records that do not match their own digest (edited after they were "
        "recorded), marked invalid, and leave out records that cannot be read, marked, "
        "instead of exiting 1",
    )
    p.set_defaults(func=_cmd_export)


def _location(text: str) -> str | Path:
    """A URL (``scheme://...``) stays a string, anything else is a local path."""
    return text if "://" in text else Path(text)


def _cmd_export(args: argparse.Namespace) -> int:
    import warnings

    from provenance._base.errors import InvalidRecordError, ProvenanceWarning

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            # The export's own warnings (records left out) as plain lines, as the other
            # commands print theirs: not Python's form, which names a source line.
            warnings.simplefilter("always", ProvenanceWarning)
            return _crate(args) if args.fmt == "ro-crate" else _prov(args)
    except InvalidRecordError as e:
        for line in str(e).splitlines():  # one per key
            print(f"provenance export: error: {line}", file=sys.stderr)
        return 1
    finally:
        for w in caught:
            if issubclass(w.category, ProvenanceWarning):
                print(f"provenance export: warning: {w.message}", file=sys.stderr)
            else:  # someone else's: shown as it would have been
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _prov(args: argparse.Namespace) -> int:
    crate_only = {
        "--no-copy": not args.copy,
        "--license": args.license is not None,
        "--agent": args.agent is not None,
        "--agent-name": args.agent_name is not None,
        "--date-published": args.date_published is not None,
    }
    used = [flag for flag, given in crate_only.items() if given]
    if used:
        msg = f"{', '.join(used)} appl{'ies' if len(used) == 1 else 'y'} to --format ro-crate only."
        raise UsageError(msg)
    from provenance._export.collect import collect
    from provenance._export.prov import document, serialize

    export = collect(args.path, name=args.name, allow_invalid=args.allow_invalid)
    _say_invalid(export)
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
    from provenance._base.errors import InvalidRecordError
    from provenance._export.rocrate import INVALID_MARK, to_ro_crate

    if args.agent_name is not None and args.agent is None:
        msg = "--agent-name names the --agent: give --agent URL too."
        raise UsageError(msg)
    try:
        crate = to_ro_crate(
            args.path,
            args.out,
            copy=args.copy,
            name=args.name,
            license_id=args.license,
            agent=args.agent,
            agent_name=args.agent_name,
            date_published=args.date_published,
            allow_invalid=args.allow_invalid,
        )
    except ValueError as e:
        if isinstance(e, InvalidRecordError):
            raise
        raise UsageError(str(e)) from None
    actions = list(crate.get_by_type("CreateAction"))
    print(f"wrote an RO-Crate with {len(actions)} action(s) to {args.out}", file=sys.stderr)
    invalid = [a for a in actions if str(a.get("description", "")).startswith(INVALID_MARK)]
    if invalid:
        print(
            f"warning: {len(invalid)} action(s) describe records edited after they were "
            "recorded (marked INVALID in their description).",
            file=sys.stderr,
        )
    missing = [
        f"no --{o}"
        for o in ("license", "date-published")
        if getattr(args, o.replace("-", "_")) is None
    ]
    if missing:
        # RO-Crate 1.1 requires both; the records know neither, and an export-time date would
        # make two exports of one file differ.
        print(
            f"note: {', '.join(missing)}: RO-Crate 1.1 requires a license and a datePublished; "
            "the crate will not validate (rocrate-validator) until it has them.",
            file=sys.stderr,
        )
    if not actions:
        _empty(args.path)
    return 0


def _say_invalid(export: Export) -> None:
    """Say on stderr which records were exported although edited (``--allow-invalid``)."""
    bad = [f"{r.key!r} version {r.version}" for r in export.runs if not r.digest_valid]
    if bad:
        print(
            "warning: exported as asked, marked invalid (ap:record_digest_valid false): the "
            f"record of {', '.join(bad)} does not match its own digest.",
            file=sys.stderr,
        )


def _empty(path: object) -> None:
    """Say so when there was nothing to export (on stderr: stdout may be the document)."""
    print(f"note: {path} holds no readable record; the export describes none.", file=sys.stderr)
