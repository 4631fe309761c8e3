"""Runtime settings read from the environment."""

from __future__ import annotations

import os

from .errors import ProvenanceError

__all__ = ["max_history", "max_record_bytes", "strict"]

_TRUE = {"1", "true", "yes", "on"}


def strict() -> bool:
    """Whether recording errors raise instead of warning (``PROVENANCE_STRICT=1``)."""
    return os.environ.get("PROVENANCE_STRICT", "").strip().lower() in _TRUE


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        msg = f"environment variable {name}={raw!r} must be a positive integer; unset it or fix it."
        raise ProvenanceError(msg)
    return value


def max_history() -> int:
    """Most versions a key's history may hold (``PROVENANCE_MAX_HISTORY``, default 10 000)."""
    return _positive_int("PROVENANCE_MAX_HISTORY", 10_000)


def max_record_bytes() -> int:
    """Largest encoded record accepted (``PROVENANCE_MAX_RECORD_BYTES``, default 1 MiB)."""
    return _positive_int("PROVENANCE_MAX_RECORD_BYTES", 1 << 20)
