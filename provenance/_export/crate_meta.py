"""What a crate says beyond the records: its licence, who ran the calls, when it was published,
and the digests of the data file.

The records know none of the first three; the depositor states them (``--license``,
``--agent``, ``--date-published``), and without them the crate says nothing rather than
something made up. The data file's digests are computed from its bytes when it is local: a
file's ``sha256`` and ``contentSize``; a ``.zarr`` store (a directory) gets a manifest of its
files' sha256 in ``sha256sum`` format, itself a file of the crate with its own ``sha256``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "agent_entity",
    "check_date",
    "file_sha256",
    "license_entity",
    "write_manifest",
]

_SPDX = "https://spdx.org/licenses/"
_SPDX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")
_CHUNK = 1 << 20


def license_entity(license_id: str) -> dict[str, Any]:
    """The licence's contextual entity: an SPDX id (``CC-BY-4.0``) becomes its SPDX URL, a URL
    stays itself.

    Examples
    --------
    >>> license_entity("CC-BY-4.0")["@id"]
    'https://spdx.org/licenses/CC-BY-4.0'
    """
    text = license_id.strip()
    if "://" in text:
        return {"@id": text, "@type": "CreativeWork", "name": text}
    if not _SPDX_ID.match(text):
        msg = (
            f"--license {license_id!r} is neither an SPDX licence id (e.g. CC-BY-4.0, MIT) "
            "nor a URL."
        )
        raise ValueError(msg)
    return {
        "@id": f"{_SPDX}{text}",
        "@type": "CreativeWork",
        "name": text,
        "identifier": text,
        "description": f"The SPDX licence {text}.",
    }


def agent_entity(agent: str, name: str | None) -> dict[str, Any]:
    """A person the depositor names as having run the recorded calls (an ORCID or URL)."""
    if "://" not in agent:
        msg = f"--agent {agent!r} must be a URL identifying a person (an ORCID)."
        raise ValueError(msg)
    entity: dict[str, Any] = {"@id": agent, "@type": "Person"}
    if name:
        entity["name"] = name
    return entity


def check_date(text: str) -> str:
    """An ISO 8601 date or date-time (``2026-12-07``), as given; ``"today"`` is today (UTC)."""
    from datetime import UTC

    if text == "today":
        return datetime.now(UTC).date().isoformat()
    try:
        if "T" in text:
            datetime.fromisoformat(text)
        else:
            date.fromisoformat(text)
    except ValueError:
        msg = f"--date-published {text!r} is not an ISO 8601 date (2026-12-07) or date-time."
        raise ValueError(msg) from None
    return text


def file_sha256(path: Path) -> str:
    """The sha256 (hex) of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(store: Path, name: str, out: Path) -> tuple[Path, int]:
    """Write ``out`` listing the sha256 of every file of the directory ``store`` as
    ``sha256sum`` does (``<hex>  <name>/<relative path>``, sorted by path), so
    ``sha256sum -c`` in the crate checks the copy; return it and the number of files."""
    lines = []
    for p in sorted(store.rglob("*"), key=lambda q: q.relative_to(store).as_posix()):
        if p.is_file():
            lines.append(f"{file_sha256(p)}  {name}/{p.relative_to(store).as_posix()}\n")
    out.write_text("".join(lines), encoding="utf-8")
    return out, len(lines)
