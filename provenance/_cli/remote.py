"""``--storage-options JSON``, ``--timeout SECONDS`` and ``--allow-download``: how a PATH
given as a URL is read. The last two are storage options of this package (``timeout``,
``allow_download``), merged into ``args.storage_options`` whatever the order of the flags."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_storage_options", "parse_storage_options", "parse_timeout"]

_FLAG = "--storage-options"


def parse_storage_options(text: str) -> dict[str, Any]:
    """The JSON object of ``--storage-options``; anything else is a usage error naming the flag.

    Examples
    --------
    >>> parse_storage_options('{"anon": true}')
    {'anon': True}
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"not valid JSON ({e.msg} at character {e.pos}): {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not isinstance(value, dict):
        msg = f"expected a JSON object such as '{{\"anon\": true}}', got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def parse_timeout(text: str) -> float | None:
    """Seconds, or ``None`` for no limit (``0`` or ``none``).

    Examples
    --------
    >>> parse_timeout("2.5"), parse_timeout("none"), parse_timeout("0")
    (2.5, None, None)
    """
    if text.strip().lower() in ("none", "0", "0.0"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        msg = f"expected seconds > 0, or 0 / none for no limit, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return seconds


class _Merge(argparse.Action):
    """Store into ``args.storage_options``, merged with what other flags put there."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        merged = dict(getattr(namespace, "storage_options", None) or {})
        if self.dest == "storage_options":
            mine = {k: merged[k] for k in ("timeout", "allow_download") if k in merged}
            merged = {**merged, **values, **mine}
        else:
            merged[self.dest] = True if self.nargs == 0 else values
        namespace.storage_options = merged


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--storage-options JSON``, ``--timeout`` and ``--allow-download``
    (``args.storage_options``: a dict or ``None``)."""
    parser.set_defaults(storage_options=None)
    parser.add_argument(
        "--timeout",
        type=parse_timeout,
        action=_Merge,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="for a URL PATH: the time one file's requests may wait on the server, in all, "
        "before the file is given up with an error naming it (default 60; 0 or none: no limit)",
    )
    parser.add_argument(
        "--allow-download",
        action=_Merge,
        nargs=0,
        dest="allow_download",
        default=argparse.SUPPRESS,
        help="for a URL PATH whose server does not serve byte ranges: download the whole file "
        "to a temporary file and read it (by default refused, with a message)",
    )
    parser.add_argument(
        _FLAG,
        type=parse_storage_options,
        action=_Merge,
        dest="storage_options",
        default=argparse.SUPPRESS,
        metavar="JSON",
        help="for a URL PATH (https://, s3://, gs://): fsspec storage options as a JSON object, "
        'e.g. \'{"anon": true}\' or \'{"endpoint_url": "http://localhost:9000"}\'; '
        "FSSPEC_* and AWS_* environment variables apply too",
    )
