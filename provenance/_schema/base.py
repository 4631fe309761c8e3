"""What every schema version shares: the frozen base model, digest strings, record methods.

A version module (``v1_0``, ``v1_1``, ...) defines its fields; what a record *does* (its digest,
building a new one) is the same in every version and lives here.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PrivateAttr

from provenance._util.jsonsafe import digest as _digest

__all__ = ["Digest", "FrozenModel", "RandomStateValue", "RecordBase"]

Digest = Annotated[str, Field(pattern=r"^[a-z0-9_]+:[0-9a-f]+$", max_length=200)]
RandomStateValue = int | dict[str, JsonValue] | None


class FrozenModel(BaseModel):
    """Base of every model: frozen, no unknown fields, field docstrings as descriptions."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False
    )


class RecordBase(FrozenModel):
    """Methods of a record in any schema version (the fields are each version's own)."""

    # A record upgraded from an older schema version was hashed in the form it was written
    # in: (that digest, the digest of the upgraded content it stands for). Set on upgrade
    # (``_schema/convert.py``), never serialized.
    _written: tuple[str, str] | None = PrivateAttr(default=None)

    def expected_digest(self) -> str:
        """Recompute the digest from the content (compare with the record's ``digest``).

        The stored one is :attr:`~provenance.ClusteringRecord.digest`. A record upgraded on
        read from an older schema version is checked in the form it was written in, so
        upgrading never breaks its digest while any edit still does.
        """
        content = self._content_digest()
        if self._written is not None and self._written[1] == content:
            return self._written[0]
        return content

    def _content_digest(self) -> str:
        """sha256 of the canonical JSON of this record as it is now, without ``digest`` and
        ``signature`` (1.4: the signature is of the digest, so it cannot be in it)."""
        # A version without ``signature`` (< 1.4) has no such field to leave out.
        return _digest(self.model_dump(mode="json", exclude={"digest", "signature"}))

    def _as_written(self, digest: str) -> Self:
        """Remember that this (upgraded) content was hashed as ``digest`` when written."""
        self._written = (digest, self._content_digest())
        return self

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """Build a record with a new id, computing its digest."""
        fields.setdefault("id", str(uuid.uuid4()))
        draft = cls.model_validate({**fields, "digest": "sha256:0"})
        return draft.model_copy(update={"digest": draft.expected_digest()})
