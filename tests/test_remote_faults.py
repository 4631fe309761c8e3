"""Remote reads that give up with a reason, against real local servers that misbehave.

A local HTTP server (``benchmarks/_http.py``) that stalls, trickles, answers 401/403/404,
serves no byte ranges or ignores ``Range``, and lists a directory as HTML; moto's S3 server
holding a prefix of two files. Each case must end with its reason, naming the URL, within
its timeout (2 s here). Nothing is patched.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import FAST, write_zarr

import provenance
from provenance._cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator

_spec = importlib.util.spec_from_file_location(
    "_http", Path(__file__).resolve().parent.parent / "benchmarks" / "_http.py"
)
assert _spec is not None and _spec.loader is not None
_http = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_http)

TIMEOUT = 2.0
SLACK = 2.5  # seconds past the timeout a loaded 2-core machine may take to tell it
ZARR_AT_URL = int(importlib.metadata.version("zarr").split(".")[0]) >= 3
NAMES = ("stall", "slow", "denied", "login", "noranges", "ignored")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small recorded .h5ad under several names, and a tree ``lab/`` to list."""
    import scanpy as sc

    root = tmp_path_factory.mktemp("faults")
    adata = sc.datasets.pbmc68k_reduced()
    with provenance.record(adata):
        sc.pp.neighbors(adata, n_neighbors=10, random_state=0)
        sc.tl.leiden(adata, key_added="leiden_a", resolution=0.5, **FAST)
    adata.write_h5ad(root / "ok.h5ad")
    for name in NAMES:
        shutil.copy(root / "ok.h5ad", root / f"{name}.h5ad")
    (root / "lab" / "day2").mkdir(parents=True)
    shutil.copy(root / "ok.h5ad", root / "lab" / "a.h5ad")
    shutil.copy(root / "ok.h5ad", root / "lab" / "day2" / "b.h5ad")
    (root / "lab" / "notes.txt").write_text("not data\n")
    if ZARR_AT_URL:
        write_zarr(adata, root / "lab" / "c.zarr")
        write_zarr(adata, root / "slow.zarr")
    return root


@pytest.fixture(scope="module")
def http(files: Path) -> Iterator[Any]:
    with _http.serve(files) as server:
        server.stall.add("stall.h5ad")
        server.trickle.update({"slow.h5ad": 1000, "slow.zarr": 1000})  # 1 kB/s
        server.status.update({"denied.h5ad": 403, "login.h5ad": 401})
        server.no_ranges.add("noranges.h5ad")
        server.ignore_range.add("ignored.h5ad")
        server.listing = True
        # Warm up (imports, fsspec's loop and session): the timings below are the reads'.
        assert main(["show", server.url("ok.h5ad")]) == 0
        yield server


def _verify(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    code = main(["verify", *argv])
    elapsed = time.monotonic() - t0
    out, err = capsys.readouterr()
    return code, out, err, elapsed


@pytest.mark.parametrize(
    "name", ["stall.h5ad", "slow.h5ad", *(["slow.zarr"] if ZARR_AT_URL else [])]
)
def test_a_server_that_stalls_or_trickles_times_out(
    name: str, http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http.url(name)
    code, _, err, elapsed = _verify([url, "--timeout", str(TIMEOUT)], capsys)
    assert code == 2
    assert f"{url}: timed out after 2 s" in err
    assert "--timeout" in err
    assert elapsed < TIMEOUT + SLACK, elapsed


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("denied", "access denied (HTTP 403)"),
        ("login", "no valid credentials (HTTP 401)"),
        ("absent", "not found (HTTP 404)"),
    ],
)
def test_http_statuses_are_told_apart(
    name: str, said: str, http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http.url(f"{name}.h5ad")
    code, out, err, elapsed = _verify([url, "--timeout", str(TIMEOUT), "--json"], capsys)
    assert code == 2
    assert f"{url}: {said}" in err
    assert "no such file or store" not in err
    assert json.loads(out)["error_type"] == "RemoteReadError"
    assert elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("noranges", "Accept-Ranges: none"),
        ("ignored", "it answered a Range request with the whole file"),
    ],
)
def test_a_server_without_ranges_is_said_and_can_be_downloaded(
    name: str, why: str, files: Path, http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http.url(f"{name}.h5ad")
    code, _, err, _ = _verify([url, "--timeout", str(TIMEOUT)], capsys)
    assert code == 2
    # An older fsspec (2024.6) reads before it looks at Accept-Ranges: the whole file says it.
    whole = "it answered a Range request with the whole file"
    assert any(f"{url}: the server does not serve byte ranges ({w})" in err for w in (why, whole))
    assert "--allow-download" in err
    assert "zarr" not in err and "NoneType" not in err
    http.reset()
    code, out, err, _ = _verify([url, "--allow-download", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["passed"] is True
    assert http.bytes_served >= (files / f"{name}.h5ad").stat().st_size  # the whole file


def test_the_api_raises_a_classified_error(http: Any) -> None:
    url = http.url("stall.h5ad")
    t0 = time.monotonic()
    with pytest.raises(provenance.RemoteTimeoutError) as exc:
        provenance.audit(url, storage_options={"timeout": 1})
    assert time.monotonic() - t0 < 1 + SLACK
    assert exc.value.reason == "timed_out"
    assert isinstance(exc.value, TimeoutError)
    assert isinstance(exc.value, provenance.UnreadableFileError)
    with pytest.raises(provenance.RemoteReadError) as denied:
        provenance.audit(http.url("denied.h5ad"))
    assert denied.value.reason == "access_denied"


def test_an_http_listing_is_audited_like_a_directory(
    http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [http.url("lab/"), "--timeout", str(TIMEOUT), "-j", "1", "--json"]
    code, out, err, _ = _verify(argv, capsys)
    assert code == 0, (out, err)
    doc = json.loads(out)
    want = ["lab/a.h5ad", *(["lab/c.zarr"] if ZARR_AT_URL else []), "lab/day2/b.h5ad"]
    assert [f["path"] for f in doc["files"]] == [http.url(p) for p in want]
    assert all(f["ok"] for f in doc["files"])


def test_deep_over_http_fetches_the_graph_once(
    http: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http.url("ok.h5ad")
    http.reset()
    assert _verify([url], capsys)[0] == 0
    plain = http.bytes_served
    http.reset()
    # pbmc68k's shipped louvain has no record to re-run: accepted, the leiden key re-run.
    code, out, err, _ = _verify([url, "--deep", "--allow-unreplayable", "--json"], capsys)
    assert code == 0, (out, err)
    assert json.loads(out)["checks"]["replayed"] == ["leiden_a"]
    assert http.bytes_served < 1.05 * plain, (http.bytes_served, plain)


# --- S3: a prefix on moto's server ------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(files: Path) -> Iterator[str]:
    """moto's S3 server on a free port: bucket ``lab`` holding ``run1/`` (two files) and
    ``other.h5ad``."""
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
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="lab")
    for key in ("run1/a.h5ad", "run1/deeper/b.h5ad", "other.h5ad"):
        client.upload_file(str(files / "ok.h5ad"), "lab", key)
    client.put_object(Bucket="lab", Key="run1/readme.txt", Body=b"not data")
    try:
        yield endpoint
    finally:
        server.shutdown()
        thread.join(timeout=10)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_an_s3_prefix_is_audited_like_a_directory(
    s3: str, capsys: pytest.CaptureFixture[str]
) -> None:
    opts = json.dumps({"endpoint_url": s3})
    argv = ["s3://lab/run1/", "--storage-options", opts, "-j", "1", "--json"]
    code, out, err, _ = _verify(argv, capsys)
    assert code == 0, (out, err)
    doc = json.loads(out)
    assert [f["path"] for f in doc["files"]] == [
        "s3://lab/run1/a.h5ad",
        "s3://lab/run1/deeper/b.h5ad",
    ]
    assert all(f["ok"] for f in doc["files"])
    # Without the trailing /, the prefix is not taken for a file: the message says what to do.
    code, _, err, _ = _verify(["s3://lab/run1", "--storage-options", opts], capsys)
    assert code == 2
    assert "end the URL with /" in err
    code, _, err, _ = _verify(["s3://lab/run1/absent.h5ad", "--storage-options", opts], capsys)
    assert code == 2
    assert "s3://lab/run1/absent.h5ad: not found" in err


def test_s3_without_credentials_says_so(
    s3: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # A filesystem of its own: not one made earlier with the credentials.
    opts = json.dumps({"endpoint_url": s3, "skip_instance_cache": True})
    argv = ["s3://lab/other.h5ad", "--storage-options", opts, "--timeout", str(TIMEOUT)]
    code, _, err, elapsed = _verify(argv, capsys)
    assert code == 2
    assert "s3://lab/other.h5ad: no valid credentials (NoCredentialsError)" in err
    assert "AWS_ACCESS_KEY_ID" in err
    assert elapsed < TIMEOUT + SLACK


# --- S3: a policy that denies, credentials refused (moto enforcing IAM) ----------------------

DENIED = "s3://lab/iam/denied.h5ad"
IAM_FILES = [DENIED, "s3://lab/iam/open.h5ad", "s3://lab/iam/sub/open.h5ad"]


@pytest.fixture(scope="module")
def s3_user(s3: str, files: Path) -> dict[str, str]:
    """``iam/`` in bucket ``lab`` (three files), and an IAM user whose policy allows listing
    the bucket and reading its objects, but denies reading ``iam/denied.h5ad``: its keys."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3)
    for url in IAM_FILES:
        client.upload_file(str(files / "ok.h5ad"), "lab", url.removeprefix("s3://lab/"))
    iam = boto3.client("iam", endpoint_url=s3)
    iam.create_user(UserName="auditor")
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    # AWS's actions (s3:ListBucket; s3:GetObject, which HEAD needs too), and the names of the
    # operations that newer moto checks instead (s3:ListObjectsV2, s3:HeadObject).
    read, listing = ["s3:GetObject", "s3:HeadObject"], ["s3:ListBucket", "s3:ListObjectsV2"]
    policy = [
        {"Effect": "Allow", "Action": listing, "Resource": "arn:aws:s3:::lab"},
        {"Effect": "Allow", "Action": read, "Resource": "arn:aws:s3:::lab/*"},
        {"Effect": "Deny", "Action": read, "Resource": "arn:aws:s3:::lab/iam/denied.h5ad"},
    ]
    document = json.dumps({"Version": "2012-10-17", "Statement": policy})
    iam.put_user_policy(UserName="auditor", PolicyName="audit", PolicyDocument=document)
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


@pytest.fixture
def iam_enforced(s3: str, s3_user: dict[str, str]) -> Iterator[None]:
    """moto checks each request's signature and the user's policy (by default it refuses
    nothing: INITIAL_NO_AUTH_ACTION_COUNT, set to 0 in the server), until the test ends."""
    import requests

    said = requests.post(f"{s3}/moto-api/reset-auth", data=b"0", timeout=10).json()
    try:
        yield
    finally:
        before = str(said["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]).encode()
        requests.post(f"{s3}/moto-api/reset-auth", data=before, timeout=10)


def _s3_verify(
    s3: str, paths: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    opts = json.dumps({"endpoint_url": s3, "skip_instance_cache": True})
    argv = [*paths, "--storage-options", opts, "--timeout", str(TIMEOUT), "-j", "1", "--json"]
    code, out, err, _ = _verify(argv, capsys)
    assert err == ""
    return code, json.loads(out)


RAW = ("Traceback", "ClientError", "botocore", "An error occurred", "PermissionError")


@pytest.mark.usefixtures("iam_enforced")
def test_s3_access_denied_by_a_policy_is_that_files_row(
    s3: str,
    s3_user: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in s3_user.items():
        monkeypatch.setenv(name, value)
    code, doc = _s3_verify(s3, ["s3://lab/iam/"], capsys)
    assert code == 2
    rows = {f["path"]: f for f in doc["files"]}
    assert list(rows) == IAM_FILES  # listed (s3:ListBucket): every object its own row
    assert [f["status"] for f in rows.values()] == ["access_denied", "ok", "ok"]
    denied = rows[DENIED]
    assert denied["exit_code"] == 2 and denied["error_type"] == "RemoteReadError"
    assert denied["reason"] == "access_denied"  # the class, for scripts (docs/remote.md)
    assert all("reason" not in f for f in rows.values() if f["status"] == "ok")
    # HEAD's 403 has no body: a one-byte GET tells a denial from refused credentials.
    assert denied["error"].startswith(f"{DENIED}: access denied (AccessDenied): the server ")
    assert "a policy of the user or the bucket allowing s3:GetObject on it" in denied["error"]
    assert "not found" not in denied["error"]
    assert not any(raw in denied["error"] for raw in RAW)
    summary = doc["summary"]
    assert (summary["ok"], summary["access_denied"], summary["files"]) == (2, 1, 3)
    # Alone, the one-file error says the same.
    opts = json.dumps({"endpoint_url": s3, "skip_instance_cache": True})
    code, _, err, _ = _verify([DENIED, "--storage-options", opts], capsys)
    assert code == 2
    assert f"{DENIED}: access denied (AccessDenied)" in err


@pytest.mark.parametrize(
    ("who", "code_name"),
    [("unknown key", "InvalidAccessKeyId"), ("wrong secret", "SignatureDoesNotMatch")],
)
@pytest.mark.usefixtures("iam_enforced")
def test_s3_credentials_refused_are_said_on_each_row(
    who: str,
    code_name: str,
    s3: str,
    s3_user: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = "AKIAUNKNOWN000000000" if who == "unknown key" else s3_user["AWS_ACCESS_KEY_ID"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not the secret")
    paths = ["s3://lab/iam/open.h5ad", DENIED, "s3://lab/iam/"]  # two files, a prefix
    code, doc = _s3_verify(s3, paths, capsys)
    assert code == 2
    assert [f["path"] for f in doc["files"]] == paths  # one row per path
    for row in doc["files"]:
        assert row["status"] == "access_denied" and row["exit_code"] == 2
        assert row["reason"] == "credentials"
        assert (
            f"credentials refused ({code_name}): the server knows no such access key, or "
            in (row["error"])
        )
        assert "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in row["error"]
        assert "access denied (" not in row["error"] and "not found" not in row["error"]
        assert not any(raw in row["error"] for raw in RAW)
    assert doc["files"][2]["error"].startswith("s3://lab/iam/: cannot list it: ")
    assert doc["summary"]["access_denied"] == 3 and doc["exit_code"] == 2
