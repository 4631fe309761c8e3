"""What a pipeline replay calls and how: the registered function of a step's record, its
recorded arguments rebuilt, the software that differs, and reading a file whole."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ReplayError, UnreadableFileError
from provenance._targets.decode import decode_argument
from provenance._targets.registry import step_target
from provenance._util.software import package_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from anndata import AnnData

    from .result import StepStatus

__all__ = [
    "Missing",
    "concat_reason",
    "holds_counts",
    "made_on",
    "read_for_pipeline",
    "registered_function",
    "step_kwargs",
    "step_software",
]


class Missing(Exception):
    """A step cannot run: an input is gone, or the call cannot be rebuilt."""

    def __init__(self, reason: str, status: StepStatus = "not_run") -> None:
        super().__init__(reason)
        self.status = status


def read_for_pipeline(path: str | Path) -> AnnData:
    """The AnnData in an ``.h5ad`` file or ``.zarr`` store, whole: a pipeline replay reads
    the matrices its first steps read (``layers['counts']``, ``X``) and the columns of
    ``obs``/``var``. anndata reads data only; nothing named in the file is imported or run.

    Raises
    ------
    UnreadableFileError
        A URL (download it first), a missing path, or not an AnnData anndata can read.
    """
    import anndata

    from provenance._storage.remote import is_url

    if is_url(path):
        msg = f"{path}: a pipeline replay reads the whole file; download it and replay the copy."
        raise UnreadableFileError(msg)
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError(f"{path}: no such file or directory.")
    try:
        return anndata.read_zarr(path) if path.is_dir() else anndata.read_h5ad(path)
    except Exception as e:
        msg = f"{path}: cannot be read as AnnData ({type(e).__name__}: {e})."
        raise UnreadableFileError(msg) from e


def registered_function(name: str) -> Callable[..., Any]:
    """The registered target's own function for ``name``, never one named in a file alone."""
    target = step_target(name)
    if target is None:
        msg = (
            f"refused: {name[:120]!r} is no registered step's function; replay calls only the "
            "functions of registered targets and never imports one a file names"
        )
        raise Missing(msg)
    func = target.load()
    if func is None:
        raise Missing(f"{target.function} is not installed ({target.module}.{target.attr})")
    while getattr(func, "__provenance_wrapper__", False) and hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return func


def step_kwargs(rec: Any, func: Callable[..., Any]) -> dict[str, Any]:
    """The recorded arguments of a step, rebuilt for the installed ``func`` (``copy=False``:
    the replay changes its scratch object in place, as the recorded call changed the user's).

    An argument recorded as scanpy's "not passed" marker is left out (the default applies);
    one recorded only as a digest (an array mask), or by its repr, cannot be rebuilt: the step
    is then inconclusive.
    """
    params = inspect.signature(func).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    out: dict[str, Any] = {}
    for name, value in rec.arguments.items():
        if _not_passed(value):
            continue  # scanpy's marker of an argument not passed: the default applies
        if name not in params and not var_kw:
            continue  # another version's parameter; the rows say so through software
        try:
            out[name] = decode_argument(value, what=f"argument {name}", classes={})
        except ReplayError as e:
            raise Missing(f"inconclusive: {e}", "inconclusive") from None
    if "copy" in params:
        out["copy"] = False
    return out


def _not_passed(value: Any) -> bool:
    """scanpy's ``_empty`` marker (``scanpy._utils.Empty``), recorded by its repr."""
    return (
        isinstance(value, dict)
        and value.get("$type") == "object"
        and str(value.get("class", "")).endswith("Empty")
        and value.get("repr") == "_empty"
    )


def step_software(rec: Any) -> dict[str, tuple[str | None, str | None]] | None:
    """``{dist: (recorded, installed)}`` where they differ; ``None``: the record names none."""
    if rec.software is None:
        return None
    return {
        dist: (recorded, installed)
        for dist, recorded in sorted(rec.software.packages.items())
        if dist != "anndata-provenance" and (installed := package_version(dist)) != recorded
    }


def holds_counts(value: Any) -> bool:
    """Whether a matrix holds non-negative integers (one pass, in chunks: no full-size
    temporary)."""
    import numpy as np
    from scipy import sparse

    data = np.asarray(value.data if sparse.issparse(value) else value).reshape(-1)
    if data.dtype.kind == "u":
        return True
    if data.dtype.kind not in "if":
        return False
    step = 1 << 22
    for start in range(0, data.size, step):
        chunk = data[start : start + step]
        if chunk.min() < 0 or (chunk.dtype.kind == "f" and not np.all(np.mod(chunk, 1) == 0)):
            return False
    return True


def made_on(rec: Any) -> str:
    """How many cells a record was made on, readable."""
    from provenance._storage.carried import cells_of

    cells = cells_of(rec)
    return "cells unknown" if cells is None else f"{cells[0]} cells"


def concat_reason(rec: Any) -> str:
    """Why a concatenation is not run: what it joined are other objects."""
    parts = ", ".join(
        f"{p.label if p.label is not None else n}: {p.n_obs} cells" for n, p in enumerate(rec.parts)
    )
    return (
        f"its inputs are {len(rec.parts)} other objects ({parts}), not in this one: "
        "the replay starts from what it made"
    )
