"""Showing results where they are looked at: a Jupyter kernel, a terminal, a pipe."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from provenance._util.display import Displayable

from .terminal import encodable, terminal_width

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from anndata import AnnData

__all__ = ["display", "show"]


def _in_kernel() -> bool:
    # IPython is only imported if the process already runs it.
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _use_rich(stream: TextIO) -> bool:
    """Rich on a terminal: ``NO_COLOR`` or ``TERM=dumb`` say no; ``TTY_COMPATIBLE=0/1`` and
    ``FORCE_COLOR`` (as rich >= 14 reads them) say whether the stream is a terminal."""
    env = os.environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    if env.get("TTY_COMPATIBLE") in ("0", "1"):
        return env["TTY_COMPATIBLE"] == "1"
    if "FORCE_COLOR" in env:
        return env["FORCE_COLOR"] != ""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def display(obj: Any, *, file: TextIO | None = None) -> None:
    """Show a report or diff: HTML in a Jupyter kernel, rich on a terminal, else plain text.

    Output fits the terminal's width (``COLUMNS``, else the terminal's size, else 80) and its
    encoding (characters it cannot write become ASCII).
    """
    if file is None and _in_kernel() and hasattr(obj, "_repr_html_"):
        from IPython.display import display as ipython_display

        # IPython is untyped where it is installed (and absent from the type check where not).
        ipy_display: Callable[..., object] = ipython_display
        ipy_display(obj)
        return
    stream = file if file is not None else sys.stdout
    if hasattr(obj, "__rich__") and _use_rich(stream):
        from rich.console import Console

        # force_terminal: rich < 14 does not read TTY_COMPATIBLE, which _use_rich honours.
        Console(file=stream, width=terminal_width(stream), force_terminal=True).print(obj)
        return
    enc = getattr(stream, "encoding", None)
    if isinstance(obj, Displayable):
        text = obj.to_text(width=terminal_width(stream), encoding=enc)
    else:
        text = encodable(str(obj), enc)
    print(text, file=stream)


def show(
    adata_or_path: AnnData | str | Any,
    key: str | Sequence[str] | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
    trusted_keys: Sequence[str | Path] | None = None,
) -> None:
    """Print the audit: HTML in Jupyter, a rich table in a terminal, plain text otherwise.

    On a path only ``uns`` and the length of the ``obs`` index are read (labels and graphs
    are not compared; use :func:`audit` or ``provenance verify`` for that). An AnnData in
    memory is audited in full.

    Parameters
    ----------
    adata_or_path
        An AnnData object, or the path of an ``.h5ad`` file or ``.zarr`` store.
    key
        Show this key (or these keys) only, with the full history: every version's
        parameters, graph and result, and what changed from the version before.
    storage_options
        For a URL (``https://``, ``s3://``, ``gs://``): the options of its fsspec filesystem,
        as :func:`audit` takes.
    trusted_keys
        A trust policy, as :func:`audit` takes: each signature is then shown as
        ``(trusted)``, ``(untrusted)`` or ``(invalid)``; without it, ``(not checked)``.

    Examples
    --------
    >>> provenance.show(adata)                 # every clustering key
    Provenance audit — OK: AnnData object, 700 cells: 4 clustering keys, 0 errors, 1 warning
    Checked: records and history chains; labels and graphs against the records.
    Not checked: the graphs' input matrices (no --representation); re-runs of the
      clusterings (no --deep); signatures (no --trusted-key); rollback against a
      ledger (no --ledger).
    <BLANKLINE>
    key         status   method  versions  resolution  flavor  clusters
    louvain     warning  -       0         1           -       -
    leiden_0.5  ok       leiden  1         0.5         igraph  ...
    leiden_1.0  ok       leiden  2         1           igraph  ...
    leiden_0.8  ok       leiden  2         0.8         igraph  ...
    (random_state, graph, recorded: left out at 80 columns; see --json, or a wider terminal)
    <BLANKLINE>
    Findings
      [warning] louvain: no_record: obs['louvain'] and uns['louvain']['params']: labels
      without a provenance record, ...
    >>> provenance.show("pbmc.h5ad", "leiden_1.0")   # one key's history, from uns alone
    Provenance audit — OK: pbmc.h5ad, 700 cells: 1 clustering key, 0 errors, 0 warnings
    Checked: records and history chains.
    Not checked: labels and graphs (only uns was read: provenance verify compares
      them); ...
    History of leiden_1.0 (2 versions, oldest first)
      v1  ...  scanpy.tl.leiden  ...
          params:  directed=false flavor=igraph n_iterations=2 random_state=1
                   resolution=1 use_weights=true
    ...
          changed: random_state: 1 → 0; ...
    """
    from provenance._audit.audit import audit

    is_path = isinstance(adata_or_path, str | os.PathLike)
    report = audit(
        adata_or_path,
        key,
        check_data=not is_path,
        storage_options=storage_options,
        trusted_keys=trusted_keys,
    )
    display(report)
