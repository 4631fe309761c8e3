"""``anndata.concat``: an object made by joining recorded objects (a :class:`ConcatRecord`).

Its first argument is a list (or a mapping) of objects, not one AnnData, and it returns a new
object: ``_record/concat_call.py`` records it, after the call, on the result. The record keeps
the call's arguments, every slot of the result with its digest (``writes``), and the parts:
their labels, sizes, ``obs_names`` digests and the latest record of every key each carried.
``anndata.concat`` drops ``uns`` by default (``uns_merge=None``), and with it the parts'
histories: the record is how the result remembers what it was made of, and the first records
made on it name it as their parent (``_record/parents.py``). ``sc.concat`` is the same
function, patched with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._schema.models import ConcatPart, ConcatRecord
from provenance._storage.carried import carried
from provenance._util.fingerprint import obs_names_digest

from .steps import StepTarget

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["AnndataConcat"]


def _objects(data: Any) -> list[tuple[str | None, Any]]:
    """``(label, object)`` of each object ``concat`` is given, in order (a mapping's keys)."""
    if isinstance(data, Mapping):
        return [(str(k), v) for k, v in data.items()]
    if isinstance(data, list | tuple):
        return [(None, v) for v in data]
    return []


class AnndataConcat(StepTarget):
    """``anndata.concat(adatas, *, axis, join, merge, uns_merge, label, keys, ...)``."""

    module = "anndata"
    attr = "concat"
    function = "anndata.concat"
    kind = "concat"
    default_key = "concat"
    record_model = ConcatRecord
    writes_uns = False
    also_in = ("scanpy",)
    defaults: ClassVar[Mapping[str, Any]] = {
        "join": "inner",
        "merge": None,
        "uns_merge": None,
        "label": None,
        "keys": None,
        "index_unique": None,
        "fill_value": None,
        "pairwise": False,
    }

    def records_call(self, data: Any) -> bool:
        objs = _objects(data)
        return bool(objs) and all(hasattr(o, "obs") and hasattr(o, "uns") for _, o in objs)

    def watched_objects(self, data: Any) -> tuple[Any, ...]:
        return tuple(o for _, o in _objects(data))

    def written_key(self, named: Mapping[str, Any]) -> str:
        return self.default_key

    def copies(self, named: Mapping[str, Any]) -> bool:
        return True  # a new object

    def parts(self, named: Mapping[str, Any]) -> list[ConcatPart]:
        """The objects joined, as :class:`ConcatPart`, before the call."""
        objs = _objects(named[next(iter(named))])
        keys = named.get("keys")
        labels = [str(k) for k in keys] if keys is not None else None
        out = []
        for i, (label, obj) in enumerate(objs):
            if labels is not None and i < len(labels):
                label = labels[i]
            out.append(
                ConcatPart(
                    label=label if label is not None else str(i),
                    n_obs=int(obj.n_obs),
                    obs_names_digest=obs_names_digest(obj.obs_names),
                    records=[c.ref() for c in carried(obj.uns)],
                )
            )
        return out

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        return {"parts": self.parts(named)}
