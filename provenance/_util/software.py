"""Versions of the software involved in a clustering, read once per process."""

from __future__ import annotations

import functools
import platform

__all__ = ["package_version", "software_info"]

_CORE = ("anndata-provenance", "scanpy", "anndata", "numpy", "scipy", "pandas")


@functools.cache
def package_version(dist: str) -> str | None:
    """Installed version of a distribution, ``None`` if it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@functools.cache
def _platform() -> tuple[str, str]:
    return platform.python_version(), f"{platform.system()}-{platform.machine()}"


@functools.cache
def software_info(backends: tuple[str, ...]) -> dict[str, object]:
    """Python, platform and package versions, with the given backend distributions."""
    python, plat = _platform()
    packages = {}
    for dist in (*_CORE, *backends):
        v = package_version(dist)
        if v is not None:
            packages[dist] = v
    return {"python": python, "platform": plat, "packages": packages}
