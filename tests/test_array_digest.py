"""``array_digest`` hashes every dense layout as its C-ordered bytes, without a whole copy."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from provenance._util import fingerprint
from provenance._util.fingerprint import array_digest


@pytest.mark.parametrize(
    "view",
    [
        np.asfortranarray,
        lambda a: a[::2],
        lambda a: a[:, 1::3],
        lambda a: a.astype(">f8"),
        lambda a: np.asfortranarray(a.astype(">f4"))[::3],
        lambda a: a.reshape(30, 20, 7).transpose(2, 0, 1),
        lambda a: np.asfortranarray(a > 0.5),
    ],
)
def test_any_layout_digests_as_its_c_ordered_copy(
    view: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = np.random.default_rng(0).random((600, 7))
    x = view(a)  # type: ignore[operator]
    expected = array_digest(np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("<")))
    assert array_digest(x) == expected
    monkeypatch.setattr(fingerprint, "_DENSE_BLOCK", 100)  # many blocks of a few rows
    assert array_digest(x) == expected


def test_fortran_matrix_is_not_copied_whole() -> None:
    # obsm["X_pca"] and varm["PCs"] come out of scanpy's PCA Fortran-ordered.
    f = np.asfortranarray(np.random.default_rng(1).random((200_000, 40)))  # 64 MB
    tracemalloc.start()
    try:
        digest = array_digest(f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24e6, f"{peak / 1e6:.0f} MB traced while hashing a 64 MB array"
    assert digest == array_digest(np.ascontiguousarray(f))
