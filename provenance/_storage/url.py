"""Telling a URL from a local path, without importing what reading one needs (fsspec)."""

from __future__ import annotations

import re

__all__ = ["is_url"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(obj: object) -> bool:
    """Whether ``obj`` is a URL string (``scheme://...``), as opposed to a local path.

    Examples
    --------
    >>> is_url("s3://bucket/pbmc.h5ad"), is_url("pbmc.h5ad"), is_url("file:///tmp/x.h5ad")
    (True, False, True)
    """
    return isinstance(obj, str) and _URL.match(obj) is not None
