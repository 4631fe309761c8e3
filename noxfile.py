"""Test matrix for anndata-provenance: ``nox`` runs everything CI needs, ``nox -s legacy`` one.

Sessions: the five test environments below (pytest also runs the docstrings' Examples as
doctests), ``scanpy-tests`` (scanpy's own tests of the recorded functions, from the installed
scanpy's sdist, must pass with ``provenance.record(strict=True)`` around each test wherever they
pass without it; with issue 24's test files 418 s of CPU, 14 min wall on a 2-core machine
shared with six other jobs: plain run 4.5 min, recorded run 7.5 min), ``lint`` (ruff check +
ruff format --check, mypy --strict on the package) and ``docs`` (the Sphinx build with -W,
executing the tutorial). ``quick`` is the edit-test loop (stable-3.11's pins, the suite without
its slowest files), not run by CI.

The muon and louvain sessions run the test files of their backend (those that name muon,
mudata or vtraag); the whole suite runs on the same scanpy/anndata pins in the stable sessions.
The benchmark scripts' smoke test runs in stable-3.11.

Each session builds its environment from scratch, installs this project together with the
pins that define the environment (one resolve, so the pins win or the install fails loudly),
prints the versions it is about to test, then runs pytest. Extra arguments go to pytest:
``nox -s minimal -- -x -k record``.

Run it with ``pip install nox uv``: with uv one session installs in ~4-6 s from a warm uv cache
(~14 s cold); without uv nox falls back to virtualenv + pip at ~42-47 s warm, ~55-72 s cold.

Pins measured on Python 3.11.7 / 3.12.1 on a 2-core machine:

- stable-3.11  newest that installs on 3.11 (scanpy 1.11.x, anndata 0.12.x, zarr 3).
- stable-3.12  scanpy 1.12.x, anndata 0.13.x, zarr 3 (only installable on Python >= 3.12).
- legacy       scanpy 1.9.8 + anndata 0.10.x: needs numpy<2 (scanpy 1.9.8 uses np.float_),
               pandas<3 (anndata 0.10 cannot write pandas 3 string arrays) and zarr<3
               (anndata 0.10 cannot write through zarr 3).
- louvain      the vtraag backend: louvain 0.8.2 needs igraph 0.11.8 / leidenalg 0.10.2, and
               imports pkg_resources, which setuptools >= 81 no longer ships.
- minimal      every floor declared in pyproject.toml, exactly. numpy 1.24.0 is excluded by
               seaborn (scanpy 1.9.8 dependency), hence 1.24.1; zarr 2.16 breaks with
               numcodecs >= 0.16 (cbuffer_sizes removed), hence numcodecs 0.12.1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "no"
nox.options.error_on_missing_interpreters = True

# uv must not try to download a Python build (only package registries are reachable).
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


def _expose_pyenv_pythons(minors: tuple[str, ...] = ("3.11", "3.12")) -> None:
    """Let nox and uv find python3.11 *and* python3.12 behind pyenv shims.

    A pyenv shim answers only for the versions pyenv has selected; any other ``python3.X`` on
    PATH exits 127. Selecting the newest installed patch release of each wanted minor (3.11
    first, so plain ``python3`` is unchanged) fixes that for this process and its children.
    A ``PYENV_VERSION`` that is already set is respected.
    """
    if os.environ.get("PYENV_VERSION") or shutil.which("pyenv") is None:
        return
    try:
        bare = subprocess.run(
            ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return
    picked = []
    for minor in minors:
        patches = [v for v in bare if re.fullmatch(rf"{re.escape(minor)}\.\d+", v)]
        if patches:
            picked.append(max(patches, key=lambda v: int(v.rsplit(".", 1)[1])))
    if picked:
        os.environ["PYENV_VERSION"] = ":".join(picked)


_expose_pyenv_pythons()

# The distributions whose versions each session prints (and a bug report needs).
_REPORTED = [
    "scanpy",
    "anndata",
    "numpy",
    "pandas",
    "scipy",
    "zarr",
    "numcodecs",
    "h5py",
    "igraph",
    "leidenalg",
    "louvain",
    "muon",
    "mudata",
    "pydantic",
    "xxhash",
    "rich",
    "fsspec",
    "s3fs",
    "moto",
    "prov",
    "rocrate",
    "roc-validator",
    "cryptography",
    "numba",
    "setuptools",
    "pytest",
]

_PRINT_VERSIONS = f"""
import platform
from importlib.metadata import PackageNotFoundError, version
print("python", platform.python_version())
for name in {_REPORTED!r}:
    try:
        v = version(name)
    except PackageNotFoundError:
        v = "-"
    print(f"{{name:<11}} {{v}}")
"""


def _tests_mentioning(*patterns: str) -> tuple[str, ...]:
    """The test files whose source matches one of ``patterns`` (regular expressions).

    The backend sessions (muon, louvain) run the tests of their backend: the rest of the suite
    runs on the same scanpy/anndata pins in the stable sessions, and running it again costs CI
    most of its time limit.
    """
    rx = re.compile("|".join(patterns), re.IGNORECASE)
    files = sorted(Path("tests").glob("test_*.py"))
    return tuple(str(f) for f in files if rx.search(f.read_text(encoding="utf-8")))


# The benchmark scripts' smoke test runs in stable-3.11 only: the scripts measure scanpy's
# igraph flavor (absent before scanpy 1.10), and nine of them take minutes of CPU.
_NO_BENCHMARKS = ("--ignore=tests/test_benchmarks.py",)


def _run(session: nox.Session, extras: str, *pins: str, pytest_args: tuple[str, ...] = ()) -> None:
    # One resolve of the project and its pins: a pin that contradicts pyproject.toml fails
    # here instead of being silently upgraded by a second install.
    # uv does not precompile bytecode (pip does), so under pytest's "error" filter a first
    # import can turn a library's invalid-escape DeprecationWarning/SyntaxWarning into a
    # SyntaxError (leidenalg 0.10.2); pyproject's filterwarnings must name it.
    session.install("-e", f".[{extras}]", *pins)
    script = os.path.join(session.create_tmp(), "print_versions.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(_PRINT_VERSIONS)
    session.run("python", script)
    session.run("pytest", *pytest_args, *session.posargs)


_STABLE_311 = ("scanpy>=1.11,<1.12", "anndata>=0.12,<0.13", "zarr>=3")


@nox.session(name="stable-3.11", python="3.11")
def stable_311(session: nox.Session) -> None:
    """Newest releases installable on Python 3.11: scanpy 1.11.x, anndata 0.12.x."""
    _run(session, "test,external,validate", *_STABLE_311)


# The edit-test loop (``nox -s quick``): stable-3.11's environment and the suite without the
# integration files that take most of its time. Seconds are each file's share of one
# stable-3.11 pytest run (`pytest --durations`, 1514 s on a 2-core machine at load 9-11,
# 2026-12-07); the whole suite runs in stable-3.11 and in CI. A subset of stable-3.11, so CI
# does not run it (.ci/run lists it among the sessions it skips on purpose).
_QUICK_SKIPPED = (
    "tests/test_benchmarks.py",  # every benchmark script in --quick mode (minutes of CPU)
    "tests/test_terminal.py",  # 217 s: the CLI in real terminals (pty) at several widths
    "tests/test_verdicts.py",  # 122 s: the verdict table, one damaged file per row
    "tests/test_remote.py",  # 83 s: HTTP Range and moto S3 servers
    "tests/test_cli_many.py",  # 81 s: directories and worker processes (-j)
    "tests/test_cli_dask_kill.py",  # 10-25 s: a cluster of worker processes, killed for real
    "tests/test_external.py",  # 39 s: harmonypy, scanorama, bbknn
    "tests/test_ipython.py",  # 32 s: a real IPython shell per test
    "tests/test_late_import.py",  # 29 s: fresh interpreters importing muon late
    "tests/test_fix_output.py",  # 31 s: replay reports in terminals of several widths
    "tests/test_muon_audit.py",  # muon: not installed on these pins (the muon sessions)
    "tests/test_muon_record.py",
    "tests/test_muon_wnn.py",
)


@nox.session(python="3.11")
def quick(session: nox.Session) -> None:
    """The edit-test loop: stable-3.11's pins, the suite without its slowest integration files.

    Measured on a 2-core machine with the install from a warm uv cache (2026-12-07): 224 s at
    load 3-4 (163 s of CPU), 440 s at load 4-7 and 790 s at load 8-13 (the first run, which
    also compiles numba's code). The whole suite runs in stable-3.11 (``nox -s stable-3.11``)
    and in CI.
    """
    # numba's compiled code (umap and pynndescent, behind sc.pp.neighbors and sc.tl.umap) kept
    # between runs: each run builds a new environment, which would compile it again (15 s of
    # CPU for pbmc68k_reduced's neighbors + umap).
    session.env["NUMBA_CACHE_DIR"] = os.path.abspath(os.path.join(".nox", "numba-cache"))
    _run(
        session,
        "test,external",
        *_STABLE_311,
        pytest_args=("--durations=10", *(f"--ignore={path}" for path in _QUICK_SKIPPED)),
    )


@nox.session(name="stable-3.12", python="3.12")
def stable_312(session: nox.Session) -> None:
    """scanpy 1.12.x, anndata 0.13.x and zarr 3 on Python 3.12."""
    _run(
        session,
        "test,external,validate",
        "scanpy>=1.12,<1.13",
        "anndata>=0.13,<0.14",
        "zarr>=3",
        pytest_args=_NO_BENCHMARKS,
    )


@nox.session(python="3.11")
def legacy(session: nox.Session) -> None:
    """scanpy 1.9.8 (fixed uns keys) on anndata 0.10.x."""
    _run(
        session,
        "test,validate",
        "scanpy==1.9.8",
        "anndata>=0.10,<0.11",
        "numpy<2",
        "pandas<3",
        "zarr<3",
    )


@nox.session(name="muon-3.11", python="3.11")
def muon_311(session: nox.Session) -> None:
    """muon 0.1.9 (the last for Python 3.11) and mudata 0.3, on scanpy 1.11."""
    _run(
        session,
        "test,muon",
        "scanpy>=1.11,<1.12",
        "anndata>=0.12,<0.13",
        "zarr>=3",
        "muon==0.1.9",
        "mudata>=0.3,<0.4",
        pytest_args=_tests_mentioning("muon", "mudata"),
    )


@nox.session(name="muon-3.12", python="3.12")
def muon_312(session: nox.Session) -> None:
    """muon 0.2.0 and mudata 0.4 (Python >= 3.12), on scanpy 1.12."""
    _run(
        session,
        "test,muon",
        "scanpy>=1.12,<1.13",
        "anndata>=0.13,<0.14",
        "zarr>=3",
        "muon==0.2.0",
        "mudata>=0.4,<0.5",
        pytest_args=_tests_mentioning("muon", "mudata"),
    )


@nox.session(python="3.11")
def louvain(session: nox.Session) -> None:
    """The vtraag Louvain backend (sc.tl.louvain(flavor="vtraag"), and muon's louvain).

    Python 3.11 only: louvain 0.8.2 has no cp312 wheel (built from source it takes ~20 min).
    """
    _run(
        session,
        "test,louvain,muon",
        "scanpy>=1.11,<1.12",
        "muon==0.1.9",
        "mudata>=0.3,<0.4",
        "louvain==0.8.2",
        "igraph==0.11.8",
        "leidenalg==0.10.2",
        "setuptools<81",  # louvain imports pkg_resources
        pytest_args=_tests_mentioning("vtraag", "muon", "mudata"),
    )


@nox.session(python="3.11")
def minimal(session: nox.Session) -> None:
    """The floors declared in pyproject.toml, exactly."""
    _run(
        session,
        "test",
        "scanpy==1.9.8",
        "anndata==0.10.5",
        "pydantic==2.11.0",
        "numpy==1.24.1",
        "scipy==1.10.0",
        "pandas==1.5.0",
        "h5py==3.8.0",
        "zarr==2.16.0",
        "numcodecs==0.12.1",
        "xxhash==3.4.1",
        "rich==13.0.0",
        "leidenalg==0.10.2",
        "igraph==0.10.8",
        "prov==2.0.1",
        "rdflib==6.0.0",
        "rocrate==0.15.0",
        "cryptography==41.0.0",
        "fsspec==2024.6.0",
        "s3fs==2024.6.0",
        "aiohttp==3.10.11",
        "requests==2.31.0",
        "moto[server]==5.2.4",
        "boto3==1.34.106",
        "dask==2024.6.0",
        "distributed==2024.6.0",
    )


_HARNESS = "tests/scanpy_under_recording"
# Fewer records than this means recording was not really active around scanpy's tests
# (scanpy 1.11.5 on the stable-3.11 pins: 60 leiden/louvain records, by 23 tests).
_MIN_RECORDS = 40
# Not run. test_distances_all[pynndescent] fails on these pins (scanpy 1.11.5 calls
# csr_array.getnnz, gone in scipy 1.17) after 2-5 min of pynndescent's numba compilation, and
# calls no recorded function (it drives the Neighbors class, not sc.pp.neighbors).
# test_paga_compare downloads pbmc3k_processed (not marked `internet` by scanpy): no network.
_DESELECT = (
    "tests/test_neighbors.py::test_distances_all[pynndescent]",
    "tests/test_paga.py::test_paga_compare",
)


# Not run either, to stay inside CI's time (the new test files hold 1,121 tests): the dask
# array variants (the recorder digests in-memory arrays only; a dask slot is never hashed),
# and the tests of functions nothing records (sc.pp.sample, downsample_counts, the
# experimental Pearson residuals). 334 tests of the transforms and integrations remain.
_NOT_RUN = "not dask and not test_sample and not pearson_residuals and not downsample"


@nox.session(name="scanpy-tests", python="3.11")
def scanpy_tests(session: nox.Session) -> None:
    """scanpy's own tests of the recorded functions pass under record() where they pass without.

    On the stable-3.11 pins, plus what those test files need from scanpy's ``test`` extra
    (pytest-mock; dask for the dask array types; louvain for sc.tl.louvain). The test files come
    from the sdist of the scanpy just installed, downloaded here and never committed. They run
    twice with scanpy's own pytest configuration: plainly, then the tests that passed again with
    ``provenance.record(strict=True)`` around each (tests/scanpy_under_recording/).
    """
    session.install(
        "-e",
        ".[test,louvain]",
        *_STABLE_311,
        "scanpy[dask]",
        "pytest-mock",
        # scanpy's tests/external/test_scanorama_integrate.py (offline). Not harmonypy (its
        # test downloads pbmc3k) nor bbknn (no scanpy test): a patched function that no test
        # records fails the comparison.
        "scanorama>=1.7",
        "setuptools<81",  # louvain imports pkg_resources
        "pip",  # for `pip download` (uv has no such command)
    )
    tmp = session.create_tmp()
    script = os.path.join(tmp, "print_versions.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(_PRINT_VERSIONS)
    session.run("python", script)
    get_version = "from importlib.metadata import version; print(version('scanpy'))"
    scanpy = session.run("python", "-c", get_version, silent=True).strip()
    sdists = os.path.join(tmp, "sdist")
    pip_download = ["python", "-m", "pip", "download", "--quiet", "--no-deps"]
    session.run(*pip_download, "--no-binary", ":all:", f"scanpy=={scanpy}", "--dest", sdists)
    sdist = os.path.join(sdists, f"scanpy-{scanpy}.tar.gz")
    root = os.path.join(tmp, f"scanpy-{scanpy}")
    shutil.rmtree(root, ignore_errors=True)
    harness = os.path.abspath(_HARNESS)
    harness_py = ["python", os.path.join(harness, "harness.py")]
    files = session.run(*harness_py, "extract", sdist, root, silent=True).split()

    # scanpy's own pytest configuration, rootdir and conftest (its plugin comes with scanpy).
    pytest = ["pytest", "-c", os.path.join(root, "pyproject.toml"), "--rootdir", root]
    pytest += ["-p", "recording_plugin", "-p", "no:randomly"]  # one order for both runs
    pytest += ["-q", "-rfE", "--tb=short", "--durations=5"]
    pytest += [f"--deselect={test}" for test in _DESELECT]
    pytest += ["-k", _NOT_RUN]
    plain, recorded = (os.path.join(tmp, f"outcomes-{run}.json") for run in ("plain", "recorded"))
    env = {"PYTHONPATH": harness}
    session.log(f"scanpy {scanpy}'s tests, without recording")
    run = [*pytest, f"--provenance-outcomes={plain}", *session.posargs, *files]
    session.run(*run, env=env, success_codes=[0, 1])  # failures are compared below
    session.log(f"scanpy {scanpy}'s tests that passed, with recording around each")
    run = [*pytest, f"--provenance-outcomes={recorded}", "--provenance-record"]
    run += [f"--provenance-only-passed={plain}", *session.posargs, *files]
    session.run(*run, env=env, success_codes=[0, 1])
    session.run(*harness_py, "compare", plain, recorded, f"--min-records={_MIN_RECORDS}")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree; mypy --strict on the package."""
    # The project is installed for its dependencies' types (pydantic's plugin, numpy's stubs);
    # mypy is pinned: a new release may add checks, which should be a deliberate upgrade.
    # The sign extra too: cryptography ships its own types, which the signing code is checked
    # against (the other extras' libraries are untyped and listed in [tool.mypy]'s overrides).
    session.install("-e", ".[sign]", "ruff>=0.8", "mypy==2.4.1")
    session.run("ruff", "--version")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--version")
    session.run("mypy")  # [tool.mypy] in pyproject.toml: strict, packages = ["provenance"]


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The documentation, warnings as errors, tutorial executed (docs/Makefile)."""
    session.install("-e", ".[docs]")
    python = os.path.join(session.bin, "python")
    build = os.path.join(session.create_tmp(), "docs_build")
    session.run(
        "make", "-C", "docs", "html", f"PYTHON={python}", f"BUILDDIR={build}", external=True
    )
