"""The export formats' libraries, imported when an export is made (never by ``import
provenance``), with an error that says which extra installs them."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["EXTRA", "require"]

EXTRA = "anndata-provenance[export]"
"""The extra that installs prov, rdflib and rocrate."""


def require(module: str, what: str) -> Any:
    """Import ``module`` for ``what`` (``"provenance.to_prov"``), or raise an ImportError that
    names the package and the extra to install.

    Examples
    --------
    >>> require("prov.model", "provenance.to_prov").ProvDocument.__name__
    'ProvDocument'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        package = module.partition(".")[0]
        msg = f"{what} needs {package!r}, which is not installed: pip install '{EXTRA}'."
        raise ImportError(msg, name=e.name) from e
