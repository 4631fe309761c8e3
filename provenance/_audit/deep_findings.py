"""The findings of deep verification: what a re-run of a latest record says about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalogue import Finding

__all__ = ["Outcome", "cannot_replay", "replay_finding"]


@dataclass(frozen=True)
class Outcome:
    """What one re-run gave (small and picklable: it comes back from a worker)."""

    key: str
    identical: bool = False
    ari: float = 0.0
    nmi: float = 0.0
    n_clusters_recorded: int = 0
    n_clusters_replayed: int = 0
    call: str = ""
    version: int = 0
    reproduces_record: bool = False
    software: dict[str, tuple[str | None, str | None]] | None = None
    error: str | None = None


def cannot_replay(key: str, cause: str, why: str, *, allowed: bool) -> Finding:
    """A key deep verification could not re-run: ``unverified`` (an error), or
    ``not_replayable`` (a warning) when that is ``allowed`` (``allow_unreplayable``)."""
    if allowed:
        return Finding(
            "not_replayable",
            key,
            f"obs[{key!r}]: deep verification cannot re-run its latest record: {why}. "
            "Accepted (--allow-unreplayable): its labels are not checked against it.",
            {"cause": cause, "reason": why},
        )
    fix = _FIXES.get(cause, "fix the cause")
    return Finding(
        "unverified",
        key,
        f"obs[{key!r}]: deep verification cannot re-run its latest record: {why}. Its "
        "labels are not checked against it, and whoever edits a file can make a record "
        f"unreplayable, so deep verification does not pass it. To verify it, {fix}; to "
        "accept it unchecked, pass --allow-unreplayable (allow_unreplayable=True).",
        {"cause": cause, "reason": why},
    )


# What makes a key replayable again, by cause (not_replayable's causes).
_FIXES = {
    "no_record": "re-run the clustering inside provenance.record(adata), or delete the column "
    "if it is not a result",
    "graph_changed": "restore the recorded graph",
    "graph_missing": "restore the recorded graph",
    "graph_not_checkable": "re-cluster on a graph stored in obsp inside provenance.record()",
    "subset_or_reordered": "audit the object that was clustered, not this subset",
    "parent_changed": "restore the restrict_to parent's labels",
    "backend_missing": "install the backend named",
    "nondeterministic": "re-cluster with a fixed random_state inside provenance.record()",
    "mudata_root": "audit the MuData in memory",
}


def _inconclusive(key: str, msg: str, details: dict[str, Any], *, allowed: bool) -> Finding:
    """An inconclusive re-run: the warning ``replay_inconclusive`` when ``allowed``
    (``allow_unreplayable``), else ``unverified`` (cause ``inconclusive``): whoever edits a
    file can name other versions in a record to make its check inconclusive."""
    if allowed:
        return Finding("replay_inconclusive", key, msg, details)
    msg += (
        " Deep verification does not pass a key it could not check; to accept it unchecked, "
        "pass --allow-unreplayable (allow_unreplayable=True)."
    )
    return Finding("unverified", key, msg, {**details, "cause": "inconclusive"})


def replay_finding(
    out: Outcome, deciding: tuple[str, ...], *, allowed: bool = False
) -> Finding | None:
    """What a re-run says: nothing when identical; ``replay_differs`` when it differs though
    the packages that decide the partition (``deciding``) are the recorded versions, else
    ``replay_inconclusive`` (another version alone can give another partition; ``unverified``
    unless ``allowed``); when the call failed, :func:`cannot_replay` (``allowed``:
    ``allow_unreplayable``)."""
    if out.error is not None:
        return cannot_replay(out.key, "replay_failed", out.error.rstrip("."), allowed=allowed)
    if out.identical:
        return None
    from provenance._replay.result import software_json

    gave = (
        f"re-running version {out.version}, {out.call}, on the recorded graph gives another "
        f"partition (ARI {out.ari:.3f}, NMI {out.nmi:.3f}; {out.n_clusters_recorded} clusters "
        f"in obs, {out.n_clusters_replayed} replayed)"
    )
    details: dict[str, Any] = {
        "version": out.version,
        "call": out.call,
        "ari": out.ari,
        "nmi": out.nmi,
        "n_clusters_recorded": out.n_clusters_recorded,
        "n_clusters_replayed": out.n_clusters_replayed,
        "reproduces_record": out.reproduces_record,
        "software": software_json(out.software),
    }
    if out.software is None:
        msg = (
            f"obs[{out.key!r}]: {gave}, but the record names no software versions, so whether "
            f"scanpy and its backends ({', '.join(deciding) or 'unknown'}) are the ones that "
            "made the labels cannot be told: the check is inconclusive. Re-cluster inside "
            "provenance.record(adata) for a record that can be verified."
        )
        return _inconclusive(out.key, msg, {**details, "deciding": None}, allowed=allowed)
    differ = {k: v for k, v in out.software.items() if k in deciding}
    if differ:
        versions = "; ".join(
            f"{k} {r or 'not recorded'} recorded, {i or 'not installed'} installed"
            for k, (r, i) in sorted(differ.items())
        )
        pins = [f"'{k}=={r}'" for k, (r, _) in sorted(differ.items()) if r is not None]
        install = f"pip install {' '.join(pins)}" if pins else None
        how = (
            f" To make it conclusive, verify under the recorded versions: {install}."
            if install
            else ""
        )
        msg = (
            f"obs[{out.key!r}]: {gave}, but the packages that decide the partition are not "
            f"the recorded versions ({versions}), and another version alone can give another "
            f"partition: the check is inconclusive, not a sign of a forged record.{how}"
        )
        details |= {"deciding": software_json(differ), "install": install}
        return _inconclusive(out.key, msg, details, allowed=allowed)
    other = ""
    if out.software:
        changed = ", ".join(f"{k} {r} → {i}" for k, (r, i) in sorted(out.software.items()))
        other = (
            f" scanpy and the backends that decide the partition are the recorded versions "
            f"(other software differs: {changed})."
        )
    return Finding(
        "replay_differs",
        out.key,
        f"obs[{out.key!r}]: {gave}: the labels did not come from the call the record "
        f"describes.{other} Do not trust the record; re-run the clustering inside "
        "provenance.record(adata).",
        details,
    )
