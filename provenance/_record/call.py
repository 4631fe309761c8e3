"""One recorded call: the snapshot taken before it, the record written after it."""

from __future__ import annotations

import copy as _copy
import math
import numbers
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceWarning
from provenance._schema.models import ClusteringRecord, ResultInfo, Software
from provenance._storage.codec import decode_record
from provenance._storage.graph import graph_info, locate_graph, same_graph
from provenance._targets.steps import graph_origin
from provenance._util.fingerprint import HASH_ALGORITHM, label_digests
from provenance._util.jsonsafe import python_random_state
from provenance._util.software import software_info

from .history_call import MISSING as _MISSING
from .history_call import HistoryCall, put, restore

if TYPE_CHECKING:
    from anndata import AnnData

    from provenance._schema.models import GraphInfo
    from provenance._targets.base import Target

    from .blocks import Recording

__all__ = ["Call"]


class Call(HistoryCall):
    """One recorded clustering: what to snapshot before it, what to write after it."""

    def __init__(
        self,
        target: Target,
        named: dict[str, Any],
        var_kw: dict[str, Any],
        block: Recording,
    ) -> None:
        adata: AnnData = named[next(iter(named))]
        key = target.written_key(named["key_added"], restrict_to=named.get("restrict_to"))
        super().__init__(adata, key, copy=bool(named.get("copy", False)), block=block)
        self.target = target
        self.named = named
        self.last: ClusteringRecord | None = None
        self.var_kw = var_kw
        self._prepare(self._describe)
        uns = adata.uns
        self.old_column = self.adata.obs.get(self.key, _MISSING)
        fixed = target.fixed_key
        # scanpy <= 1.9 and muon write the params to a fixed key whatever key_added is: the
        # recorder puts that key back as it was (the params go to the key written), so a
        # clustering made inside record() leaves nothing there to mistake for another run's.
        self.legacy = fixed is not None and fixed != self.key and target.writes_fixed_key()
        self.old_fixed = uns.get(fixed, _MISSING) if self.legacy else _MISSING
        self._start_clock()

    def _describe(self) -> None:
        target = self.target
        self.params = target.record_params(self.named, self.var_kw)
        if target.draws_python_random(getattr(self.params, "flavor", None)):
            self.params = self.params.model_copy(
                update={"python_random_state": python_random_state()}
            )

    def _reads(self) -> list[str]:
        return self.target.reads(self.adata, self.named)

    def _decode(self, text: str, *, index: int) -> ClusteringRecord:
        return decode_record(text, key=self.key, index=index)

    def rollback(self) -> None:
        """Put ``obs`` and ``uns`` back as they were before a call that raised.

        Writes only what scanpy changed (so a view is not turned into a copy), and never
        masks the exception of the call: a failure here is a warning.
        """
        if self.copy:
            return  # the object passed in is not modified by scanpy with copy=True
        try:
            adata = self.adata
            restore(adata.uns, self.key, self.old_entry)
            if self.legacy and self.target.fixed_key is not None:
                restore(adata.uns, self.target.fixed_key, self.old_fixed)
            if self.old_column is _MISSING:
                if self.key in adata.obs:
                    del adata.obs[self.key]
            elif not adata.obs[self.key].equals(self.old_column):
                adata.obs[self.key] = self.old_column
        except Exception as e:
            msg = f"could not put uns/obs[{self.key!r}] back after the failed call: {e}"
            warnings.warn(msg, ProvenanceWarning, stacklevel=4)

    def finish(self, result: Any) -> ClusteringRecord | None:
        """Write the record onto the object scanpy modified; return it."""
        out = self._stop_clock(result)
        uns = out.uns
        if self.legacy:
            self._move_fixed_key(out)
        made = self.target.uns_entry(out, self.key, self.params)
        if made is not None:  # the function writes no uns[key] (muon): the record's own entry
            uns[self.key] = made
        entry = self._written_entry(uns)
        self._keep_history(entry)
        if self.error is not None:
            raise self.error
        last = self.last
        named = self.named
        layers = self.target.layers(out, named, self.params)
        graph = None if layers is not None else graph_info(out, **self.target.graph_args(named))
        labels = label_digests(
            out.obs[self.key],
            out.obs_names,
            names_digest=self.block._names_digest(out.obs_names),
        )
        modularity = entry.get("modularity")
        result_info = ResultInfo(
            n_obs=out.n_obs,
            n_clusters=len(labels["categories"]),
            hash_algorithm=HASH_ALGORITHM,
            modularity=_finite(modularity),
            **labels,
        )
        if (
            last is not None
            and self._signed_alike(last)
            and _same_call(last.params, self.params)
            and last.result.labels_digest == result_info.labels_digest
            and (
                last.layers == layers
                if layers is not None
                else self._same_graph(last.graph, graph, out)
            )
        ):
            return None  # the same clustering again: nothing new to record
        version, previous = self._link()
        # The neighbors record of the graph, through the steps that changed it in place since
        # (scanpy 1.11's sc.tl.umap): neighbors -> umap -> this clustering.
        neighbors, graph_steps = graph_origin(out, graph)
        rec = ClusteringRecord.create(
            version=version,
            key=self.key,
            method=self.target.method,
            function=self.target.function,
            params=self.params,
            software=Software.model_validate(
                software_info(self.target.backends(getattr(self.params, "flavor", None)))
            ),
            started_at=self.started_at,
            finished_at=self.finished_at,
            duration_s=self.duration,
            graph=graph,
            layers=layers,
            result=result_info,
            previous=previous,
            neighbors=neighbors,
            graph_steps=graph_steps,
            **self._chain(out),
        )
        return self._append(uns, entry, rec)

    def _same_graph(self, then: GraphInfo | None, now: GraphInfo | None, out: AnnData) -> bool:
        """Whether ``now`` is the graph ``then`` describes, across hash algorithms.

        A record made before an algorithm change holds another digest of the same graph;
        an identical re-run must still add no version.
        """
        if now is None:
            return then is None
        if then is None or then.hash_algorithm == now.hash_algorithm:
            return then is not None and then.digest == now.digest
        named = self.named
        matrix, _, _ = locate_graph(out, **self.target.graph_args(named))
        return same_graph(then, now, matrix)

    def _move_fixed_key(self, out: AnnData) -> None:
        """scanpy <= 1.9, muon: move the params from the fixed key to the key written, and put
        the fixed key back as it was."""
        fixed = self.target.fixed_key
        assert fixed is not None
        written = out.uns.get(fixed)
        if isinstance(written, Mapping) and "params" in written:
            out.uns[self.key] = {"params": written["params"]}
        old = self.old_fixed
        if self.copy and old is not _MISSING:  # a copy of the sentinel would be written to uns
            old = _copy.deepcopy(old)
        put(out.uns, fixed, old)


# What the identical-rerun check ignores: how arguments were spelled (``passed``: scanpy
# 1.11's flavor="leidenalg" and 1.12's flavor=None are the same run) and Python's RNG state,
# which differs on every call.
_NOT_COMPARED: dict[str, Any] = {"python_random_state": None, "passed": {}}


def _same_call(a: Any, b: Any) -> bool:
    """Equal effective parameters (see ``_NOT_COMPARED``)."""
    return bool(a.model_copy(update=_NOT_COMPARED) == b.model_copy(update=_NOT_COMPARED))


def _finite(value: Any) -> float | None:
    """A finite real number (numpy scalars too) as float, else ``None``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        f = float(value)
        return f if math.isfinite(f) else None
    return None
