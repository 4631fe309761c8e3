"""The ``provenance`` command line: ``python -m provenance --help``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

from provenance._base.errors import UsageError as _UsageError

from .batch import add_many_arguments
from .keys import add_keygen, add_policy, add_trusted_key, policy_options, show_options
from .one_command import OneCommand, command_of
from .signals import Terminated, stop_on_signals

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out)
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    from provenance._schema.jsonschema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def _print(text: object, *, file: TextIO | None = None) -> None:
    """Print ``text`` in what the stream's encoding can write (ASCII stand-ins otherwise)."""
    from provenance._render.terminal import encodable

    stream = file if file is not None else sys.stdout
    print(encodable(str(text), getattr(stream, "encoding", None)), file=stream)


def _cmd_replay(args: argparse.Namespace) -> int:
    from provenance._replay.replay import read_for_replay, read_mudata, replay

    opts = args.storage_options
    if args.pipeline and args.force:
        msg = "--force has no effect with --pipeline (it rebuilds the graph, never trusts it)."
        raise _UsageError(msg)
    data = read_mudata(args.path, storage_options=opts)  # None unless the file holds a MuData
    if data is None and args.pipeline:
        from provenance._replay.calls import read_for_pipeline

        data = read_for_pipeline(args.path)
    elif data is None:
        data = read_for_replay(args.path, args.key, storage_options=opts)
    if args.pipeline:
        steps = replay(data, args.key, version=args.version, pipeline=True)
        _print_json(steps.to_dict()) if args.json else _print(steps)
        if steps.clustering is None:  # nothing to compare: cannot replay
            return EXIT_UNREADABLE
        return EXIT_OK if steps.identical else EXIT_FINDINGS
    result = replay(data, args.key, version=args.version, force=args.force)
    _print_json(result.to_dict()) if args.json else _print(result)
    return EXIT_OK if result.identical else EXIT_FINDINGS


def _cmd_adopt(args: argparse.Namespace) -> int:
    from provenance._compare.adopt import adopt_file

    if args.out is None and not args.in_place:
        # An audit tool does not change the file it was given unless told to.
        msg = (
            f"adopt writes a file: give --out NEW_PATH, or --in-place to rewrite {args.path} "
            "itself."
        )
        raise _UsageError(msg)
    if args.out is not None and args.in_place:
        msg = "give either --out or --in-place, not both."
        raise _UsageError(msg)
    records = adopt_file(args.path, out=args.out, keys=args.key or None)
    target = args.out or args.path
    for rec in records:
        _print(f"adopted {rec.key!r} ({rec.method}, unknown: {', '.join(rec.params.unknown)})")
    _print(f"{len(records)} key(s) adopted; written to {target}")
    return EXIT_OK


def _print_json(obj: dict[str, object]) -> None:
    enc = getattr(sys.stdout, "encoding", None) or "utf-8"
    # Non-ASCII text as \u escapes where the output cannot write it: still the same JSON.
    ascii_only = not enc.lower().replace("-", "").startswith("utf")
    text = json.dumps(obj, indent=2, ensure_ascii=ascii_only)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not UTF-8: \udcXX, os.fsencode's bytes
        text = json.dumps(obj, indent=2, ensure_ascii=True)
    print(text)


def _location(text: str) -> str | Path:
    """A PATH argument: a URL (``scheme://...``) stays a string, anything else is a local path."""
    return text if "://" in text else Path(text)


def _audit_options(args: argparse.Namespace) -> dict[str, object]:
    """The keyword arguments of :func:`~provenance.audit` that ``verify``'s options set."""
    return {
        "check_representation": args.representation,
        "trusted_keys": args.trusted_keys,
        "storage_options": args.storage_options,
        "deep": args.deep,
        **policy_options(args),
    }


def _many(args: argparse.Namespace) -> int | None:
    """Several files or a directory: the table of :mod:`.batch`, and its exit status. One file
    (``None``): ``args.path`` becomes that one location, for today's one-file output."""
    from .batch import one_path, run_many

    if args.dask is not None and args.jobs is not None:
        raise _UsageError("give either -j (local processes) or --dask (a cluster), not both.")
    one = one_path(args.path)
    if one is not None:  # with --dask, audited on the cluster (batch_dask.audit_path)
        args.path = one
        return None
    options = _audit_options(args) if args.command == "verify" else show_options(args)
    try:
        return run_many(args, args.command, options=options, print_json=_print_json)
    except _UsageError as e:  # e.g. a directory without data files: JSON too, if asked for
        if args.json:
            one = args.path[0] if len(args.path) == 1 else None
            _json_error(args.command, one, str(e), "UsageError")
        raise


def _cmd_show(args: argparse.Namespace) -> int:
    from provenance._render.show import display

    from .batch_dask import audit_path

    if (code := _many(args)) is not None:
        return code
    # show reads uns alone: labels and graphs are compared by verify.
    report = audit_path(args, check_data=False, print_json=_print_json, **show_options(args))
    if args.json:
        _print_json(report.to_dict())
    else:
        display(report)
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from provenance._render.show import display

    from .batch_dask import audit_path

    if (code := _many(args)) is not None:
        return code

    report = audit_path(args, print_json=_print_json, **_audit_options(args))
    failed = not report.ok or (args.strict and bool(report.warnings))
    if args.html is not None:  # the report as a page, with the pipeline view's picture
        from provenance._render.html import html_page
        from provenance._util.atomic import write_text_atomic

        write_text_atomic(args.html, html_page(report))
    if args.json:
        _print_json({**report.to_dict(), "strict": args.strict, "passed": not failed})
    else:
        display(report)
        if report.ok and failed:
            n = len(report.warnings)
            _print(f"verify --strict: {n} warning{'s' * (n != 1)} count as failures.")
    return EXIT_FINDINGS if failed else EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from provenance._compare.diff import diff, parse_spec

    d = diff(
        args.path,
        parse_spec(args.a),
        parse_spec(args.b),
        all=args.all,
        storage_options=args.storage_options,
    )
    if args.json:
        _print_json(d.to_dict())
    else:
        _print(d)
    return EXIT_OK


def _cmd_lineage(args: argparse.Namespace) -> int:
    from provenance._compare.lineage import lineage
    from provenance._render.show import display

    lin = lineage(args.path, storage_options=args.storage_options)
    if args.json:
        _print_json(lin.to_dict())
    elif args.dot:
        _print(lin.to_dot().rstrip("\n"))
    else:
        display(lin)
    return EXIT_OK if lin.ok else EXIT_FINDINGS


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (also used to generate the CLI reference); ``only``: build only
    that subcommand's parser (the one being run), or the whole parser if there is none."""
    from provenance._version import __version__

    from .export import add_export
    from .remote import add_storage_options
    from .seal import add_seal

    parser = _Parser(
        prog="provenance",
        description="How was each clustering in this AnnData file made, and can it be trusted?",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub: Any = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    if only is not None:
        sub = OneCommand(sub, only)

    p = sub.add_parser(
        "demo", help="record a clustering sweep on pbmc68k_reduced, write, read back"
    )
    p.add_argument("--out", type=Path, default=None, help="directory for demo.h5ad/demo.zarr")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "replay",
        help="re-run a recorded clustering (--pipeline: and every step before it) and compare "
        "(exit 0 identical, 1 differs, 2 cannot)",
    )
    p.add_argument("path", type=_location, help=".h5ad file or .zarr store")
    add_storage_options(p)
    p.add_argument("key", help="the obs column / uns key of a recorded clustering")
    p.add_argument(
        "--version",
        type=int,
        default=-1,
        dest="version",
        help="record version: 1-based, or negative from the end (default -1: the latest)",
    )
    p.add_argument(
        "--force", action="store_true", help="replay even if the graph changed since recording"
    )
    p.add_argument(
        "--pipeline",
        action="store_true",
        help="re-run every recorded step the clustering depends on, from the earliest "
        "recorded input the file holds, and compare every digest (reads the whole file)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_replay)

    p = sub.add_parser(
        "show", help="how each clustering in a .h5ad/.h5mu/.zarr was made (reads only uns)"
    )
    add_many_arguments(p, location=_location)
    add_storage_options(p)
    p.add_argument(
        "--key", default=None, help="one key, with its full history ('<mod>:<key>' in a MuData)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_trusted_key(p, show=True)
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser(
        "verify",
        help="check records against labels and graphs (exit 0 ok, 1 findings, 2 unreadable)",
    )
    add_many_arguments(p, location=_location)
    add_storage_options(p)
    p.add_argument(
        "--key", default=None, help="verify this key only ('<mod>:<key>' in a MuData's modality)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    p.add_argument(
        "--html", type=Path, metavar="OUT.html", help="also write the report as an HTML page"
    )
    p.add_argument(
        "--representation",
        action="store_true",
        help="also read the matrix each recorded neighbors graph was computed from (obsm/X, "
        "never read otherwise) and check it against the record",
    )
    add_trusted_key(p)
    p.add_argument(
        "--deep",
        action="store_true",
        help="also re-run each recorded clustering and compare it with its labels (about "
        "one clustering's time per key); a key it cannot re-run fails verification",
    )
    add_policy(p)
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("diff", help="compare two clusterings: KEY or KEY@VERSION (-1: latest)")
    p.add_argument("path", type=_location, help=".h5ad or .h5mu file, or .zarr store")
    add_storage_options(p)
    p.add_argument("a", help="KEY or KEY@VERSION ('<mod>:<key>' in a MuData's modality)")
    p.add_argument("b", help="KEY or KEY@VERSION")
    p.add_argument("--all", action="store_true", help="list equal fields too")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=_cmd_diff)

    p = sub.add_parser(
        "lineage",
        help="graphs, clusterings and the results computed from them; which are stale "
        "(exit 0 ok, 1 stale or errors, 2 unreadable)",
    )
    p.add_argument("path", type=_location, help=".h5ad or .h5mu file, or .zarr store")
    add_storage_options(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the nodes and edges as JSON")
    out.add_argument("--dot", action="store_true", help="print a Graphviz DOT graph")
    p.set_defaults(func=_cmd_lineage)

    p = sub.add_parser(
        "adopt", help="give clusterings made without this package reconstructed records"
    )
    p.add_argument("path", type=_location, help=".h5ad file or .zarr store")
    p.add_argument("--key", action="append", help="adopt only this key (repeatable)")
    p.add_argument("--out", type=Path, help="write the adopted copy here (PATH is not changed)")
    p.add_argument(
        "--in-place", action="store_true", help="rewrite PATH itself (replaced atomically)"
    )
    p.set_defaults(func=_cmd_adopt)

    add_export(sub)

    p = sub.add_parser("schema", help="print the JSON Schema of ClusteringRecord")
    p.set_defaults(func=_cmd_schema)
    add_keygen(sub)
    add_seal(sub)
    if isinstance(sub, OneCommand) and not sub.built:  # not a command: argparse says so
        return build_parser()
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as a JSON object on stdout when ``--json`` was asked for."""

    json_errors = False  # set by main() for the command line being parsed

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            command = self.prog.removeprefix("provenance").strip() or None
            _json_error(command, None, message, "UsageError")
        super().error(message)


def _json_error(command: str | None, path: object, message: str, kind: str) -> None:
    """The error as JSON on stdout, for scripts that asked for ``--json``."""
    _print_json(
        {
            "error": message,
            "error_type": kind,
            "command": command,
            "path": None if path is None else str(path),
            "exit_code": EXIT_UNREADABLE,
        }
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Errors go to stderr as one line (exit 2); with ``--json`` they are also printed on stdout
    as ``{"error", "error_type", "command", "path", "exit_code"}``, so a script reading stdout
    gets JSON.
    """
    if argv is None:  # run as a program (``provenance``, ``python -m provenance``)
        import os

        # pydantic plugins observe a program's own validation, not this command's reading; to
        # find them is to scan every installed package's metadata. Unless the user says.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    given = sys.argv[1:] if argv is None else argv
    parser = build_parser(only=command_of(given))
    _Parser.json_errors = "--json" in given
    args = parser.parse_args(argv)
    try:
        with stop_on_signals():  # SIGTERM, SIGHUP: as Ctrl-C, the -j workers ended
            return int(args.func(args))
    except Terminated as e:
        print(f"provenance: terminated ({e.name})", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("provenance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `provenance show f.h5ad | head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except _UsageError as e:
        _print(f"provenance {args.command}: error: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    except Exception as e:
        if args.debug:
            raise
        if getattr(args, "json", False):
            path = getattr(args, "path", None)
            if isinstance(path, list):  # show/verify take several: the one, or none named
                path = path[0] if len(path) == 1 else None
            _json_error(args.command, path, str(e), type(e).__name__)
        _print(f"provenance {args.command}: error: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
