"""What a replay says about its call: the arguments' meaning, determinism, software, the call."""

from __future__ import annotations

import inspect
import platform
from typing import TYPE_CHECKING, Any

from provenance._util.software import package_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from provenance._schema.models import ClusteringRecord
    from provenance._targets.base import Target

__all__ = ["argument_notes", "call_text", "deterministic", "software_diff"]


def argument_notes(rec: ClusteringRecord) -> list[str]:
    """What the rebuilt call's arguments mean: values resolved by the function, ignored ones."""
    p = rec.params
    notes = []
    if p.passed:
        resolved = ", ".join(
            f"{name}={getattr(p, name, None)!r} (passed as {value!r})"
            for name, value in sorted(p.passed.items())
        )
        notes.append(f"rebuilt with the values that ran: {resolved}")
    if p.not_in_effect:
        notes.append(
            f"not in effect with flavor={p.flavor!r} (the backend ignores them, so their "
            f"values cannot change the labels): {', '.join(p.not_in_effect)}"
        )
    return notes


def deterministic(rec: ClusteringRecord, target: Target, notes: list[str]) -> bool:
    """Whether the recorded call is repeatable from its record; if not, a note says why."""
    p = rec.params
    if target.draws_python_random(p.flavor) and p.python_random_state is None:
        notes.append(
            f"{target.function}(flavor={p.flavor!r}) ignores random_state: it draws from "
            "Python's global `random` module, whose state this record lacks, so replays of it "
            "can differ"
        )
        return False
    if p.random_state is None:
        notes.append("random_state was None: the recorded call was not seeded")
        return False
    if getattr(p, "seeded", True) is False:
        notes.append(
            f"random_state={p.random_state!r} did not seed {rec.function} (muon 0.1.9 seeds "
            "only a non-zero random_state), so replays of it can differ"
        )
        return False
    return True


def software_diff(rec: ClusteringRecord) -> dict[str, tuple[str | None, str | None]] | None:
    """``{name: (recorded, installed)}`` for what differs; ``None``: the record has none."""
    if rec.software is None:
        return None
    out: dict[str, tuple[str | None, str | None]] = {}
    if rec.software.python != platform.python_version():
        out["python"] = (rec.software.python, platform.python_version())
    for dist, recorded in sorted(rec.software.packages.items()):
        installed = package_version(dist)
        if installed != recorded:
            out[dist] = (recorded, installed)
    return out


def call_text(rec: ClusteringRecord, kwargs: dict[str, Any], func: Callable[..., Any]) -> str:
    """The rebuilt call; arguments left at the installed function's defaults are omitted."""
    sig = inspect.signature(func).parameters
    always = {"resolution", "random_state", "flavor", "n_iterations"}
    shown = []
    for name, value in kwargs.items():
        if name in ("copy", "key_added", "adjacency"):
            continue
        default = sig[name].default if name in sig else inspect.Parameter.empty
        if name not in always and _same(value, default):
            continue
        if isinstance(value, type):
            text = f"{value.__module__}.{value.__qualname__}"
        elif type(value).__name__ in ("RandomState", "Generator"):
            text = f"<recorded {type(value).__name__}>"
        else:
            text = repr(value)
            text = text if len(text) <= 60 else text[:57] + "..."
        shown.append(f"{name}={text}")
    if getattr(rec.params, "adjacency", None) is not None:
        shown.append("adjacency=<graph>")
    shown.append(f"key_added={rec.params.key_added!r}")
    return f"{rec.function}(adata, {', '.join(shown)})"


def _same(value: Any, default: Any) -> bool:
    from collections.abc import Mapping

    if isinstance(value, Mapping) and isinstance(default, Mapping):
        return dict(value) == dict(default)  # {} and scanpy's MappingProxyType({})
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # e.g. arrays: show them
        return False
