"""Runtime settings read from the environment."""

from __future__ import annotations

import os

__all__ = ["max_history", "max_record_bytes", "strict"]

_TRUE = {"1", "true", "yes", "on"}


def strict() -> bool:
    """Whether recording errors raise instead of warning (``PROVENANCE_STRICT=1``)."""
    return os.environ.get("PROVENANCE_STRICT", "").strip().lower() in _TRUE


def max_history() -> int:
    """Most versions a key's history may hold (``PROVENANCE_MAX_HISTORY``, default 10 000)."""
    return int(os.environ.get("PROVENANCE_MAX_HISTORY", "10000"))


def max_record_bytes() -> int:
    """Largest encoded record accepted (``PROVENANCE_MAX_RECORD_BYTES``, default 1 MiB)."""
    return int(os.environ.get("PROVENANCE_MAX_RECORD_BYTES", str(1 << 20)))
