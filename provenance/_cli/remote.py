"""``--storage-options JSON``: the fsspec options of a PATH given as a URL."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_storage_options", "parse_storage_options"]

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


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--storage-options JSON`` (``args.storage_options``: a dict or ``None``)."""
    parser.add_argument(
        _FLAG,
        type=parse_storage_options,
        default=None,
        metavar="JSON",
        help="for a URL PATH (https://, s3://, gs://): fsspec storage options as a JSON object, "
        'e.g. \'{"anon": true}\' or \'{"endpoint_url": "http://localhost:9000"}\'; '
        "FSSPEC_* and AWS_* environment variables apply too",
    )
