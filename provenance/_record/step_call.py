"""One recorded step around a clustering (neighbors, markers, dendrogram, PAGA).

What is written is the target's (:class:`~provenance._targets.steps.StepTarget`): the
arguments as bound, and the fields :meth:`~provenance._targets.steps.StepTarget.describe`
reads after the call. The history is kept as for a clustering (``history_call``).
"""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError, ProvenanceWarning
from provenance._schema.models import Software
from provenance._storage.codec import decode_step
from provenance._util.software import software_info

from .history_call import HistoryCall, bad_key, restore

if TYPE_CHECKING:
    from anndata import AnnData

    from provenance._schema.models import StepRecord
    from provenance._targets.steps import StepTarget

    from .blocks import Recording

__all__ = ["StepCall"]

# What tells two runs apart besides what they did: when, by which software, and where the
# record stands in the history. An identical re-run adds no version.
_NOT_COMPARED = {
    "id",
    "version",
    "previous",
    "digest",
    "software",
    "started_at",
    "finished_at",
    "duration_s",
}


class StepCall(HistoryCall):
    """One recorded step: the history of its ``uns`` key kept, its record appended."""

    def __init__(
        self,
        target: StepTarget,
        named: dict[str, Any],
        var_kw: dict[str, Any],
        block: Recording,
    ) -> None:
        adata: AnnData = named[next(iter(named))]
        super().__init__(adata, target.written_key(named), copy=target.copies(named), block=block)
        self.target = target
        self.named = named
        self.last: StepRecord | None = None
        try:
            self.arguments = target.arguments(named, var_kw)
            self._read_history()
            self.lost = self._lost_versions(adata.uns)
        except ProvenanceError as e:
            self.error = e
        except Exception as e:
            self.error = ProvenanceError(f"cannot describe the call: {e}")
        why = bad_key(self.key)
        if why is not None:
            self.error = ProvenanceError(why)
        self._start_clock()

    def _decode(self, text: str, *, index: int) -> StepRecord:
        return decode_step(text, key=self.key, index=index)

    def rollback(self) -> None:
        """Put ``uns[key]`` back as it was before a call that raised (a warning if it cannot)."""
        if self.copy:
            return  # the object passed in is not modified by scanpy with copy=True
        try:
            restore(self.adata.uns, self.key, self.old_entry)
        except Exception as e:
            msg = f"could not put uns[{self.key!r}] back after the failed call: {e}"
            warnings.warn(msg, ProvenanceWarning, stacklevel=4)

    def finish(self, result: Any) -> StepRecord | None:
        """Write the record onto the object scanpy modified; return it (``None``: the same
        step again, nothing new to record)."""
        duration = time.perf_counter() - self.t0
        finished_at = datetime.now(UTC)
        out = result if self.copy else self.adata
        if out is None:
            msg = "copy=True but the call returned None"
            raise ProvenanceError(msg)
        uns = out.uns
        entry = uns.get(self.key)
        if not isinstance(entry, dict):
            msg = f"scanpy wrote no dict to uns[{self.key!r}] (found {type(entry).__name__})"
            raise ProvenanceError(msg)
        self._keep_history(entry)
        if self.error is not None:
            raise self.error
        target = self.target
        names_digest = self.block._names_digest(out.obs_names)
        fields = target.describe(out, self.named, key=self.key, names_digest=names_digest)
        version, previous = self._link()
        rec = target.record_model.create(
            kind=target.kind,
            version=version,
            key=self.key,
            function=target.function,
            arguments=self.arguments,
            software=Software.model_validate(software_info(())),
            started_at=self.started_at,
            finished_at=finished_at,
            duration_s=duration,
            n_obs=out.n_obs,
            obs_names_digest=names_digest,
            previous=previous,
            **fields,
        )
        last = self.last
        if last is not None and _same_step(last, rec):
            return None
        self._append(uns, entry, rec)
        return rec


def _same_step(a: StepRecord, b: StepRecord) -> bool:
    """Whether two records describe the same run (see ``_NOT_COMPARED``)."""
    return a.model_dump(mode="json", exclude=_NOT_COMPARED) == b.model_dump(
        mode="json", exclude=_NOT_COMPARED
    )
