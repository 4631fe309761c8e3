"""``representation_changed``: the matrix a neighbors graph was computed from, checked on request.

A neighbors record holds a digest of the whole representation it read (``obsm["X_pca"]``, a
``use_rep`` matrix, or ``X``). Re-running PCA after ``sc.pp.neighbors`` leaves a graph that
no longer follows from the matrix beside it. Reading that matrix is what the audit avoids by
default (it can be most of a file), so this check runs only when asked:
``provenance.audit(..., check_representation=True)``, ``provenance verify --representation``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from provenance._schema.models import NeighborsRecord
from provenance._storage.matrices import read_representation
from provenance._storage.mudata import SEP
from provenance._util.fingerprint import array_digest

from .catalogue import Finding

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .report import StepEntry

__all__ = ["check_representations"]


def check_representations(
    obj: Any,
    steps: tuple[StepEntry, ...],
    *,
    modalities: tuple[str, ...] = (),
    storage_options: Mapping[str, Any] | None = None,
) -> tuple[StepEntry, ...]:
    """``steps`` with a ``representation_changed`` finding on each neighbors step whose
    latest record's representation is gone or hashes differently now.

    ``obj`` is what the audit read (an object or a path); ``modalities`` the MuData's, whose
    keys are named ``"<mod>:<key>"``.
    """
    out = []
    for entry in steps:
        rec = entry.history[-1] if entry.history else None
        if isinstance(rec, NeighborsRecord) and rec.representation is not None:
            mod, sep, _ = entry.key.partition(SEP)
            modality = mod if sep and mod in modalities else None
            finding = _check(obj, entry.key, rec, modality, storage_options)
            if finding is not None:
                findings = sorted((*entry.findings, finding), key=lambda f: f.severity != "error")
                entry = dataclasses.replace(entry, findings=tuple(findings))
        out.append(entry)
    return tuple(out)


def _check(
    obj: Any,
    key: str,
    rec: NeighborsRecord,
    modality: str | None,
    storage_options: Mapping[str, Any] | None = None,
) -> Finding | None:
    rep = rec.representation
    assert rep is not None
    where = "X" if rep.name == "X" else f"obsm[{rep.name!r}]"
    if modality is not None:
        where = f"mod[{modality!r}].{where}"
    matrix = read_representation(obj, rep.name, modality=modality, storage_options=storage_options)
    rerun = f"re-run sc.pp.neighbors inside provenance.record(adata) (uns[{key!r}])"
    if matrix is None:
        return Finding(
            "representation_changed",
            key,
            f"uns[{key!r}]: the graph was computed from {where}, which is gone; its source "
            f"cannot be checked. Restore {where}, or {rerun}.",
            {"cause": "missing", "representation": rep.name},
        )
    now = array_digest(matrix)
    if now == rep.digest:
        return None
    rows = int(getattr(matrix, "shape", (rep.n_obs,))[0])
    size = f" ({rep.n_obs} rows then, {rows} now)" if rows != rep.n_obs else ""
    return Finding(
        "representation_changed",
        key,
        f"uns[{key!r}]: the graph was computed from {where} as it was at "
        f"{_when(rec)}, and {where} changed since{size} (a PCA re-run after "
        f"sc.pp.neighbors?): the graph no longer follows from the matrix beside it. "
        f"Restore that matrix, or {rerun} and the clusterings made from it.",
        {"cause": "changed", "representation": rep.name, "recorded": rep.digest, "now": now},
    )


def _when(rec: NeighborsRecord) -> str:
    t = rec.finished_at or rec.started_at
    return t.strftime("%Y-%m-%d %H:%MZ") if t is not None else f"version {rec.version}"
