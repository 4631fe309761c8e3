"""Real clusterings for the audit tests: a recorded sweep on pbmc68k_reduced."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import scanpy as sc
from conftest import FAST

import provenance
from provenance._storage.codec import encode_history, history_texts
from provenance._util.jsonsafe import canonical_json

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from anndata import AnnData

RECORDED = ("leiden_0.5", "leiden_1.0", "louvain_igraph")


def codes(report: provenance.AuditReport, key: str) -> list[str]:
    """The finding codes of one key."""
    return [f.code for f in report[key].findings]


def only(report: provenance.AuditReport, key: str, code: str) -> provenance.Finding:
    """The one finding of ``code`` for ``key`` (fails if there are none or several)."""
    found = [f for f in report[key].findings if f.code == code]
    assert len(found) == 1, report[key].findings
    return found[0]


def sweep(adata: AnnData) -> AnnData:
    """Record Leiden at two resolutions, Louvain, and a second version of ``leiden_1.0``."""
    with provenance.record(adata):
        for r in (0.5, 1.0):
            sc.tl.leiden(adata, resolution=r, key_added=f"leiden_{r}", **FAST)
        sc.tl.louvain(adata, key_added="louvain_igraph", flavor="igraph")
        sc.tl.leiden(
            adata,
            resolution=1.0,
            key_added="leiden_1.0",
            **{**FAST, "n_iterations": -1},
            random_state=42,
        )
    return adata


def drop_unrecorded(adata: AnnData) -> AnnData:
    """Remove pbmc68k_reduced's own unrecorded Louvain clustering (a fully recorded object)."""
    del adata.obs["louvain"]
    del adata.uns["louvain"]
    adata.uns.pop("louvain_colors", None)
    return adata


def edit_history(adata: AnnData, key: str, edit: Callable[[list[str]], list[str]]) -> None:
    """Rewrite the stored JSON strings of ``key``'s history with ``edit``."""
    texts = history_texts(adata.uns[key]["provenance"], key=key)
    adata.uns[key]["provenance"] = encode_history(edit(texts))


def edit_record(adata: AnnData, key: str, index: int, change: Callable[[Any], None]) -> None:
    """Change one field of one stored record (its digest left as it was)."""

    def edit(texts: list[str]) -> list[str]:
        obj = json.loads(texts[index])
        change(obj)
        texts[index] = canonical_json(obj)
        return texts

    edit_history(adata, key, edit)


def forget(adata: AnnData, key: str, *, entry: bool = False) -> None:
    """Delete ``key``'s history and its ``uns["provenance_index"]`` entry, as a user who
    removes a record on purpose would (``entry``: the whole ``uns[key]``)."""
    from provenance._storage.index import INDEX_KEY

    if entry:
        del adata.uns[key]
    else:
        del adata.uns[key]["provenance"]
    index = json.loads(adata.uns[INDEX_KEY])
    del index["keys"][key]
    adata.uns[INDEX_KEY] = json.dumps(index)
