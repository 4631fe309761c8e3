"""The export's items for the slots a transform (``sc.pp``) or a concatenation read and wrote.

Such a record names its inputs and outputs by slot (``X``, ``obsm['X_pca']``,
``var['highly_variable']``) and digest only: each becomes a ``"data"`` item, linked by digest
to the run that made it, so an export reads counts -> normalize_total -> log1p -> pca ->
neighbors as the records do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .model import Item

if TYPE_CHECKING:
    from collections.abc import Iterator

    from provenance._schema.models import SlotDigest

__all__ = ["SLOT_KINDS", "read_item", "written_items"]

SLOT_KINDS = ("transform", "concat")
"""Record kinds whose inputs and outputs are their ``reads``/``writes`` alone."""


def _attrs(slot: str, d: SlotDigest, prefix: str) -> dict[str, str | int | float | bool]:
    attrs: dict[str, str | int | float | bool] = {
        "slot": slot,
        "shape": "x".join(str(n) for n in d.shape),
        "dtype": d.dtype,
        "sparse": d.sparse,
    }
    return {"modality": prefix[:-1], **attrs} if prefix else attrs


def _where(slot: str, prefix: str) -> str:
    return f"mdata[{prefix[:-1]!r}].{slot}" if prefix else slot


def written_items(run: str, prefix: str, key: str, rec: Any) -> Iterator[Item]:
    """One item per slot ``rec`` wrote (``run`` is the run's id, ``"pca/v1"``)."""
    for slot, d in rec.writes.items():
        label = f"{_where(slot, prefix)}, made by {key} version {rec.version}"
        yield Item(
            f"{run}/{quote(slot, safe='')}", "data", label, d.digest, _attrs(slot, d, prefix)
        )


def read_item(slot: str, d: SlotDigest, prefix: str) -> Item:
    """The item of a slot a run read that no recorded run made (the pipeline's input)."""
    item_id = f"{quote(prefix + slot, safe='')}/{d.digest.partition(':')[2][:16]}"
    return Item(
        item_id,
        "data",
        f"{_where(slot, prefix)} (not made by a record)",
        d.digest,
        _attrs(slot, d, prefix),
    )
