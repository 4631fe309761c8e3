"""One recorded ``anndata.concat``: the parts described before it, the record written on the
new object it returns.

Unlike a call on one object, ``concat`` changes none of its arguments and returns a new
object whose ``uns`` holds nothing of the parts' (``uns_merge=None``) or one part's entries
(``uns_merge="first"``). The record goes under ``uns["concat"]`` of the result: appended to a
``concat`` history merged in from a part, else the first version of a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError
from provenance._schema.models import ConcatRecord, Software
from provenance._storage.codec import decode_step
from provenance._storage.slots import snapshot
from provenance._util.software import software_info

from .history_call import HistoryCall

if TYPE_CHECKING:
    from provenance._schema.models import ConcatPart, StepRecord
    from provenance._targets.anndata_concat import AnndataConcat

    from .blocks import Recording

__all__ = ["ConcatCall"]


class ConcatCall(HistoryCall):
    """One recorded concatenation: its parts, then its record on the result."""

    def __init__(
        self,
        target: AnndataConcat,
        named: dict[str, Any],
        var_kw: dict[str, Any],
        block: Recording,
    ) -> None:
        # The object whose history is kept is the result: HistoryCall's part starts in finish.
        self.block = block
        self.target = target
        self.error: ProvenanceError | None = None
        self.parts: list[ConcatPart] = []
        try:
            self.arguments = target.arguments(named, var_kw)
            self.parts = target.parts(named)
        except ProvenanceError as e:
            self.error = e
        except Exception as e:
            self.error = ProvenanceError(f"cannot describe the call: {e}")
        self._start_clock()

    def _decode(self, text: str, *, index: int) -> StepRecord:
        return decode_step(text, key=self.key, index=index)

    def rollback(self) -> None:
        """Nothing to put back: ``concat`` changes none of the objects it joins."""

    def finish(self, result: Any) -> ConcatRecord | None:
        """Write the record onto the object ``concat`` returned; return it."""
        self.copy = True
        out = self._stop_clock(result)
        error = self.error
        HistoryCall.__init__(self, out, self.target.default_key, copy=False, block=self.block)
        if error is not None:
            raise error
        self._read_history()  # a history uns_merge brought from a part
        self.lost = self._lost_versions(out.uns)
        uns = out.uns
        if not isinstance(uns.get(self.key), dict):
            uns[self.key] = {}
        entry = self._written_entry(uns)
        self._keep_history(entry)
        version, previous = self._link()
        target = self.target
        rec = ConcatRecord.create(
            version=version,
            key=self.key,
            function=target.function,
            arguments=self.arguments,
            software=Software.model_validate(software_info(target.packages)),
            started_at=self.started_at,
            finished_at=self.finished_at,
            duration_s=self.duration,
            n_obs=int(out.n_obs),
            obs_names_digest=self.block._names_digest(out.obs_names),
            previous=previous,
            reads={},
            writes=snapshot(out),  # a new object: every slot is of its making
            parts=self.parts,
        )
        return self._append(uns, entry, rec)
