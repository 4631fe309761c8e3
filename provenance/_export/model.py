"""What an export says, before it is written in a format: the runs (one per record), the data
they used and made, and how they derive from each other.

``collect`` builds an :class:`Export` from a file's records; ``prov`` writes it as W3C PROV,
``rocrate`` as a Process Run Crate. Both formats say the same things because both are written
from this one model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datetime import datetime

    from pydantic import JsonValue

    from .gaps import Gap

__all__ = ["Export", "Item", "ItemKind", "Run", "Signed", "Software"]

ItemKind = Literal["labels", "graph", "representation", "result", "record", "data"]


@dataclass(frozen=True)
class Item:
    """A piece of data a run used or made: a graph, labels, a representation, a result."""

    id: str
    """Local identifier, unique in the export (``"L/v2/labels"``): the formats prefix it."""
    kind: ItemKind
    """What it is."""
    label: str
    """Human-readable name (``"obs['L'], version 2"``)."""
    digest: str | None
    """The fingerprint the record holds of it (``"xxh3_128:..."``)."""
    attrs: dict[str, str | int | float | bool]
    """Further facts (``obsp_key``, ``n_clusters``, ...), by term."""


@dataclass(frozen=True)
class Software:
    """One distribution at one version, as a record names it."""

    name: str
    """Distribution name (``"scanpy"``)."""
    version: str | None
    """Its version; ``None`` when the record does not say (adopted records)."""


@dataclass(frozen=True)
class Signed:
    """A record's signature, as stored: an export shows it, it does not check it."""

    algorithm: str
    """``"ed25519"``."""
    key_id: str
    """The id of the key that signed (``"ed25519:<16 hex>"``)."""
    value: str
    """Base64 of the signature of the record's digest."""


@dataclass(frozen=True)
class Run:
    """One recorded call: one version of one key's history."""

    id: str
    """Local identifier (``"L/v2"``)."""
    key: str
    """The key of the history (``"<mod>:<key>"`` in a MuData's modality)."""
    version: int
    """The record's version in that history."""
    kind: str
    """``"clustering"``, ``"neighbors"``, or a result's kind (``"rank_genes_groups"``...)."""
    function: str
    """The function called (``"scanpy.tl.leiden"``)."""
    record_id: str
    """The record's UUID."""
    digest: str
    """The record's digest."""
    previous: str | None
    """The digest of the version before, if any."""
    origin: str
    """``"recorded"``, or ``"adopted"`` (reconstructed after the fact)."""
    started: datetime | None
    """UTC time the call started."""
    finished: datetime | None
    """UTC time the call returned."""
    params: dict[str, JsonValue]
    """The arguments of the call, as the function received them (defaults bound), JSON-safe:
    nothing else (see :mod:`provenance._export.arguments`)."""
    notes: dict[str, JsonValue]
    """What the record says of the call beyond its arguments, by name
    (:data:`~provenance._export.arguments.NOTES`)."""
    tool: Software
    """The distribution whose function ran (scanpy, muon)."""
    software: tuple[Software, ...]
    """Every distribution the record names, by name."""
    python: str | None
    """Python version, when recorded."""
    platform: str | None
    """Operating system and machine, when recorded."""
    used: tuple[str, ...]
    """Ids of the items it read."""
    made: tuple[str, ...]
    """Ids of the items it wrote."""
    source: str | None = None
    """The expression a result read, where known (``"raw"``, ``"X"``)."""
    signature: Signed | None = None
    """The record's signature, unchecked (``None``: unsigned)."""
    digest_valid: bool = True
    """Whether the record's digest matches its content (``False``: edited after it was
    recorded; exported only when asked, marked)."""

    @property
    def label(self) -> str:
        """``"scanpy.tl.leiden -> L (version 2)"``."""
        return f"{self.function} -> {self.key} (version {self.version})"


@dataclass(frozen=True)
class Export:
    """Everything the records of one object or file say, ready to be written."""

    name: str
    """The data file's name (its last path component), or a name given for an object."""
    source: str
    """What was read (a path or URL as given, or a description of the object)."""
    runs: tuple[Run, ...]
    """One per readable record: by key (parents before children, as the lineage orders
    them), then by version."""
    items: dict[str, Item]
    """Every item a run used or made, by id, in order of first mention."""
    derived: tuple[tuple[str, str], ...]
    """``(made, used)``: an item computed from another."""
    revisions: tuple[tuple[str, str], ...]
    """``(newer, older)``: the same output of consecutive versions of one key."""
    current: tuple[str, ...]
    """Items the latest version of each key made: what the file holds now, per its records."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Keys with stored records that could not be read, and how many: left out."""
    gaps: tuple[Gap, ...] = ()
    """The records that could not be read, per key (exported only when asked, marked)."""
    records_digest: str = ""
    """sha256 over the digests of the runs' records, in order: what the identifiers of a
    document are derived from, so two files of one name with other records differ."""
