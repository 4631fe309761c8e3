"""PATHs given as URLs: ``show``/``verify`` and friends over real HTTP and S3 servers.

The files are real recordings of pbmc68k_reduced with a large ``obsm`` (tens of MB of random
float32), served by a local HTTP server with ``Range`` support (``benchmarks/_http.py``) and
by moto's S3 server through s3fs. Both servers count the bytes they send, so the tests check
what a remote read fetches: ``show`` a small fraction of the file, ``verify`` more, never
``obsm`` or ``X``. No client is patched.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import FAST, write_zarr

import provenance
from provenance._cli import main

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from anndata import AnnData

_spec = importlib.util.spec_from_file_location(
    "_http", Path(__file__).resolve().parent.parent / "benchmarks" / "_http.py"
)
assert _spec is not None and _spec.loader is not None
_http = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_http)

BIG_OBSM = (700, 8000)  # float32: 22 MB, more than 10x the rest of the file
FORMATS = ("h5ad", "zarr3", "zarr2")

# zarr 2 (anndata < 0.11) cannot read a store at a URL: test_zarr_at_a_url_needs_zarr_3 checks
# the error it gives, and the tests of a zarr store over a URL take the .h5ad there instead.
ZARR_AT_URL = int(importlib.metadata.version("zarr").split(".")[0]) >= 3
URL_FORMATS = FORMATS if ZARR_AT_URL else ("h5ad",)
URL_FORMATS_2 = ("h5ad", "zarr3") if ZARR_AT_URL else ("h5ad",)
STORE = "zarr3" if ZARR_AT_URL else "h5ad"  # the format of the one-file tests below


def _name(fmt: str, *, edited: bool = False) -> str:
    stem = "edited" if edited else "pbmc"
    return f"{stem}.h5ad" if fmt == "h5ad" else f"{stem}.{fmt}.zarr"


def _write(adata: AnnData, root: Path, fmt: str, *, edited: bool = False) -> None:
    path = root / _name(fmt, edited=edited)
    if fmt == "h5ad":
        adata.write_h5ad(path)
    else:
        write_zarr(adata, path, zarr_format=int(fmt[-1]))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the recorded file in each format, and a copy with edited labels."""
    import numpy as np
    import scanpy as sc

    root = tmp_path_factory.mktemp("remote")
    adata = sc.datasets.pbmc68k_reduced()
    with provenance.record(adata):
        sc.pp.neighbors(adata, n_neighbors=10, random_state=0)
        sc.tl.leiden(adata, key_added="leiden_a", resolution=0.5, **FAST)
        sc.tl.leiden(adata, key_added="leiden_b", resolution=1.0, **FAST)
    adata.obsm["X_big"] = np.random.default_rng(0).random(BIG_OBSM, dtype=np.float32)
    edited = adata.copy()
    labels = edited.obs["leiden_a"].to_numpy().copy()
    labels[:5] = labels[5]  # five cells moved to another cluster after the recording
    edited.obs["leiden_a"] = labels
    for fmt in FORMATS:
        _write(adata, root, fmt)
    _write(edited, root, "h5ad", edited=True)
    _write(edited, root, "zarr3", edited=True)
    return root


@pytest.fixture(scope="module")
def http(files: Path) -> Iterator[Any]:
    with _http.serve(files) as server:
        yield server


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _json(text: str, location: str, local: Path) -> Any:
    """The report, with the URL it names replaced by the local path, to compare the two."""
    return json.loads(text.replace(location.rstrip("/"), str(local)))


def _touched(paths: Iterable[str], *elements: str) -> list[str]:
    return [p for p in paths if any(f"/{e}/" in p or p.endswith(f"/{e}") for e in elements)]


@pytest.mark.parametrize("fmt", URL_FORMATS)
def test_show_over_http_fetches_uns_only(
    fmt: str, files: Path, http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    local = files / _name(fmt)
    code, want, _ = _run(["show", str(local), "--json"], capsys)
    assert code == 0
    http.reset()
    url = http.url(_name(fmt))
    code, got, err = _run(["show", url, "--json"], capsys)
    assert code == 0, err
    assert _json(got, url, local) == json.loads(want)
    assert {"leiden_a", "leiden_b"} <= {e["key"] for e in json.loads(got)["entries"]}
    # The file is mostly obsm: what show fetched is a small fraction of it.
    assert 0 < http.bytes_served < 0.05 * _size(local), (http.bytes_served, _size(local))
    if fmt != "h5ad":  # a zarr store's requests name the elements: none of the data
        paths = [p for _, p, _ in http.settled_log()]
        assert not _touched(paths, "obsm", "X", "obsp", "var", "layers"), paths


@pytest.mark.parametrize("fmt", URL_FORMATS)
def test_verify_over_http_reads_labels_and_graphs_not_obsm(
    fmt: str, files: Path, http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    local = files / _name(fmt)
    code, want, _ = _run(["verify", str(local), "--json"], capsys)
    assert code == 0
    url = http.url(_name(fmt))
    http.reset()
    _run(["show", url, "--json"], capsys)
    show_bytes = http.bytes_served
    http.reset()
    code, got, err = _run(["verify", url, "--json"], capsys)
    assert code == 0, err
    assert _json(got, url, local) == json.loads(want)
    assert json.loads(got)["passed"] is True
    # verify reads the labels, obs_names and the graph too: more than show, far less than obsm.
    assert show_bytes < http.bytes_served < 0.15 * _size(local), (show_bytes, http.bytes_served)
    if fmt != "h5ad":
        paths = [p for _, p, _ in http.settled_log()]
        assert _touched(paths, "obsp"), paths
        assert not _touched(paths, "obsm", "X", "layers"), paths


def test_verify_representation_over_http_reads_only_that_matrix(
    files: Path, http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """--representation reads the recorded neighbors' X_pca, still not the large X_big."""
    url = http.url(_name(STORE))
    http.reset()
    code, out, err = _run(["verify", url, "--representation", "--json"], capsys)
    assert code == 0, err
    if STORE != "h5ad":  # a zarr store's requests name the elements
        paths = [p for _, p, _ in http.settled_log()]
        assert _touched(paths, "obsm/X_pca"), paths
        assert not _touched(paths, "obsm/X_big", "X"), paths
    neighbors = next(s for s in json.loads(out)["steps"] if s["key"] == "neighbors")
    assert neighbors["status"] == "ok"


@pytest.mark.parametrize("fmt", URL_FORMATS_2)
def test_verify_over_http_finds_edited_labels(
    fmt: str, files: Path, http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["verify", http.url(_name(fmt, edited=True)), "--json"], capsys)
    assert code == 1
    report = json.loads(out)
    entry = next(e for e in report["entries"] if e["key"] == "leiden_a")
    assert "labels_changed" in [f["code"] for f in entry["findings"]]


def test_diff_and_lineage_over_http(
    files: Path, http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http.url(_name(STORE))
    code, out, err = _run(["diff", url, "leiden_a", "leiden_b", "--json"], capsys)
    assert code == 0, err
    rows = {r["field"]: (r["a"], r["b"]) for r in json.loads(out)["rows"]}
    assert rows["resolution"] == (0.5, 1.0)
    local = files / _name(STORE)
    _, want, _ = _run(["lineage", str(local), "--json"], capsys)
    code, got, err = _run(["lineage", url, "--json"], capsys)
    assert code == 0, err
    assert _json(got, url, local) == json.loads(want)


def test_replay_over_http(files: Path, http: Any, capsys: pytest.CaptureFixture[str]) -> None:
    http.reset()
    code, out, err = _run(["replay", http.url(_name("h5ad")), "leiden_a"], capsys)
    assert code == 0, (out, err)
    assert http.bytes_served < 0.15 * _size(files / _name("h5ad"))


@pytest.mark.skipif(ZARR_AT_URL, reason="zarr >= 3 reads stores at URLs: the tests above")
def test_zarr_at_a_url_needs_zarr_3(http: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(["show", http.url(_name("zarr3"))], capsys)
    assert code == 2
    assert "needs zarr >= 3" in err


def test_missing_url_is_a_clear_error(http: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("absent.h5ad", "absent.zarr"):
        url = http.url(name)
        code, _out, err = _run(["verify", url], capsys)
        assert code == 2
        assert f"{url.rstrip('/')}: not found (HTTP 404)" in err


def test_bad_storage_options_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for text in ("{anon: true}", "[1, 2]"):
        with pytest.raises(SystemExit) as exc:
            main(["show", "s3://bucket/pbmc.h5ad", "--storage-options", text])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "--storage-options" in err


def test_adopt_refuses_a_url(http: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["adopt", http.url(_name("h5ad")), "--in-place"], capsys)
    assert code == 2
    assert "local files only" in err


def test_without_fsspec_says_which_extra(http: Any) -> None:
    """A Python where fsspec cannot be imported (as if not installed) names the extra."""
    code = (
        "import sys; sys.modules['fsspec'] = None\n"
        "from provenance._cli import main\n"
        f"raise SystemExit(main(['show', {http.url(_name('h5ad'))!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 2
    assert "anndata-provenance[remote]" in proc.stderr


# --- S3: moto's server, through s3fs ------------------------------------------------------


class _Counting:
    """A WSGI wrapper counting the body bytes the S3 server sends for GETs."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.bytes_served = 0
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = self.app(environ, start_response)
        if environ["REQUEST_METHOD"] != "GET":
            return body  # type: ignore[no-any-return]
        chunks = list(body)
        with self.lock:
            self.bytes_served += sum(len(c) for c in chunks)
            self.paths.append(environ.get("PATH_INFO", ""))
        return chunks


@pytest.fixture(scope="module")
def s3(files: Path) -> Iterator[tuple[str, _Counting]]:
    """moto's S3 server on a free port, holding the files in bucket ``data``."""
    import boto3
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    app = _Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="data")
    for path in files.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), "data", path.relative_to(files).as_posix())
    try:
        yield endpoint, app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.parametrize("fmt", URL_FORMATS_2)
def test_show_and_verify_over_s3(
    fmt: str, files: Path, s3: tuple[str, _Counting], capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint, counter = s3
    opts = json.dumps({"endpoint_url": endpoint})
    local = files / _name(fmt)
    url = f"s3://data/{_name(fmt)}"
    for command, fraction in (("show", 0.05), ("verify", 0.15)):
        _, want, _ = _run([command, str(local), "--json"], capsys)
        counter.bytes_served = 0
        code, got, err = _run([command, url, "--storage-options", opts, "--json"], capsys)
        assert code == 0, err
        assert _json(got, url, local) == json.loads(want)
        assert 0 < counter.bytes_served < fraction * _size(local), counter.bytes_served
    counter.paths.clear()
    _run(["verify", url, "--storage-options", opts], capsys)
    if fmt != "h5ad":
        assert not _touched(counter.paths, "obsm", "X"), counter.paths


def test_s3_endpoint_from_the_environment(files: Path, s3: tuple[str, _Counting]) -> None:
    """AWS_ENDPOINT_URL is read by botocore: no flag needed (a fresh process, as a user's)."""
    endpoint, _ = s3
    proc = subprocess.run(
        [sys.executable, "-m", "provenance", "verify", f"s3://data/{_name('h5ad', edited=True)}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "AWS_ENDPOINT_URL": endpoint},
    )
    assert proc.returncode == 1, proc.stderr
    assert "labels_changed" in proc.stdout or "labels changed" in proc.stdout.lower()


def test_api_takes_storage_options(files: Path, s3: tuple[str, _Counting]) -> None:
    endpoint, _ = s3
    url = f"s3://data/{_name(STORE)}"
    report = provenance.audit(url, storage_options={"endpoint_url": endpoint})
    assert report.ok
    assert report.source == url
    assert report.n_obs == 700
    assert set(report.clustering_keys) >= {"leiden_a", "leiden_b"}
    d = provenance.diff(url, "leiden_a", "leiden_b", storage_options={"endpoint_url": endpoint})
    assert not d.identical
