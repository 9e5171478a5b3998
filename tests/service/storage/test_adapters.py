"""One suite for every Storage adapter: local directory, S3 over real HTTP (moto server), memory."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from vto.errors import InputNotFound, InvalidInput, Unavailable
from vto.service.storage import (Janitor, LocalStorage, MemoryStorage, Storage, check_key,
                                 make_storage)
from vto.service.storage.s3 import S3Storage

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3(endpoint: str, **kw) -> S3Storage:
    import boto3

    bucket = f"vto-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket=bucket)
    return S3Storage(bucket, endpoint_url=endpoint, access_key="test", secret_key="test", **kw)


@pytest.fixture(params=["local", "s3", "memory"])
def storage(request, tmp_path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    if request.param == "s3":
        return _s3(request.getfixturevalue("moto_endpoint"), prefix="deploy-a")
    return MemoryStorage()


def test_adapters_satisfy_the_protocol(storage):
    assert isinstance(storage, Storage)


def test_put_get_overwrite_exists_delete(storage):
    assert not storage.exists("results/j1/0.png")
    storage.put("results/j1/0.png", PNG, "image/png")
    assert storage.exists("results/j1/0.png")
    assert storage.get("results/j1/0.png") == PNG
    storage.put("results/j1/0.png", b"second", "image/png")  # re-run overwrites, no duplicate
    assert storage.get("results/j1/0.png") == b"second"
    assert [k for k, _ in storage.list_keys("results/")] == ["results/j1/0.png"]
    storage.delete("results/j1/0.png")
    assert not storage.exists("results/j1/0.png")
    storage.delete("results/j1/0.png")  # deleting twice is fine


def test_missing_key_is_input_not_found(storage):
    with pytest.raises(InputNotFound):
        storage.get("results/nope/0.png")


@pytest.mark.parametrize("key", ["../etc/passwd", "/etc/passwd", "a/../../b", "a//b", ".hidden",
                                 "a/./b", "a\\b", "", "x" * 600, "a/b/", "a\x00b"])
def test_unsafe_keys_are_refused(storage, key):
    with pytest.raises(InvalidInput):
        storage.put(key, b"x", "text/plain")
    with pytest.raises(InvalidInput):
        storage.get(key)


def test_list_and_delete_prefix(storage):
    for key in ["results/a/0.png", "results/a/1.png", "results/ab/0.png", "inputs/a/person.png"]:
        storage.put(key, key.encode(), "image/png")
    listed = dict(storage.list_keys("results/"))
    assert sorted(listed) == ["results/a/0.png", "results/a/1.png", "results/ab/0.png"]
    now = datetime.now(timezone.utc)
    for modified in listed.values():
        assert modified.tzinfo is not None and abs(modified - now) < timedelta(minutes=5)
    assert sorted(k for k, _ in storage.list_keys("results/a")) == [
        "results/a/0.png", "results/a/1.png", "results/ab/0.png"]
    assert storage.delete_prefix("results/a/") == 2
    assert sorted(k for k, _ in storage.list_keys("")) == ["inputs/a/person.png", "results/ab/0.png"]
    assert storage.delete_prefix("results/zzz/") == 0


def test_janitor_deletes_expired_results_only(storage, tmp_path):
    storage.put("results/old/0.png", PNG, "image/png")
    storage.put("inputs/old/person.png", PNG, "image/png")
    temp = tmp_path / "tmp"
    (temp / "job").mkdir(parents=True)
    stale, fresh = temp / "job" / "stale.png", temp / "fresh.png"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    janitor = Janitor(storage, retention_s=3600, temp_dirs=[temp])

    assert janitor.sweep() == 1  # only the stale temp file; results are seconds old
    assert storage.exists("results/old/0.png") and fresh.exists() and not stale.exists()

    storage.put("results/new/0.png", PNG, "image/png")
    later = datetime.now(timezone.utc) + timedelta(seconds=3700)
    removed = janitor.sweep(now=later)
    assert removed >= 3  # both old objects, the new one (also past retention then) and fresh.png
    assert not storage.exists("results/old/0.png")
    assert not storage.exists("inputs/old/person.png")
    assert not fresh.exists()


def test_janitor_keeps_young_objects():
    clock = [1_000_000.0]
    storage = MemoryStorage(clock=lambda: clock[0])
    storage.put("results/a/0.png", b"a", "image/png")
    clock[0] += 500
    storage.put("results/b/0.png", b"b", "image/png")
    janitor = Janitor(storage, retention_s=600)
    assert janitor.sweep(now=clock[0] + 200) == 1
    assert [k for k, _ in storage.list_keys("results/")] == ["results/b/0.png"]


def test_janitor_spares_what_keep_names():
    storage = MemoryStorage(clock=lambda: 0.0)
    storage.put("inputs/waiting/person.png", b"p", "image/png")
    storage.put("inputs/done/person.png", b"p", "image/png")
    janitor = Janitor(storage, retention_s=60)
    assert janitor.sweep(now=3600, keep=lambda key: key.split("/")[1] == "waiting") == 1
    assert [k for k, _ in storage.list_keys("inputs/")] == ["inputs/waiting/person.png"]


# --- adapter specifics ----------------------------------------------------------------------

def test_local_writes_are_atomic_and_stay_under_root(tmp_path):
    store = LocalStorage(tmp_path / "store")
    store.put("results/j/0.png", PNG, "image/png")
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert files == [tmp_path / "store" / "results" / "j" / "0.png"]  # no temp file left
    # a symlink pointing out of the root is not followed
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("s")
    (tmp_path / "store" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidInput):
        store.get("link/secret")
    store.delete("results/j/0.png")
    assert not (tmp_path / "store" / "results").exists()  # empty job dirs are pruned


def test_local_and_memory_have_no_url(tmp_path):
    assert LocalStorage(tmp_path).url("results/j/0.png", 60) is None
    assert MemoryStorage().url("results/j/0.png", 60) is None


def test_s3_presigned_url_serves_the_bytes(moto_endpoint):
    store = _s3(moto_endpoint)
    store.put("results/j/0.png", PNG, "image/png")
    url = store.url("results/j/0.png", expires_s=123)
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]  # SigV4, not legacy SigV2
    assert query["X-Amz-Expires"] == ["123"]
    assert urlparse(url).path == f"/{store.bucket}/results/j/0.png"  # path-style
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"


def test_s3_prefix_isolates_deployments(moto_endpoint):
    import boto3

    a = _s3(moto_endpoint, prefix="a")
    b = S3Storage(a.bucket, endpoint_url=moto_endpoint, access_key="test", secret_key="test",
                  prefix="b/")
    a.put("results/j/0.png", b"A", "image/png")
    b.put("results/j/0.png", b"B", "image/png")
    assert a.get("results/j/0.png") == b"A" and b.get("results/j/0.png") == b"B"
    raw = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    keys = sorted(o["Key"] for o in raw.list_objects_v2(Bucket=a.bucket)["Contents"])
    assert keys == ["a/results/j/0.png", "b/results/j/0.png"]
    assert b.delete_prefix("") == 1 and a.exists("results/j/0.png")


def test_s3_missing_bucket_is_unavailable(moto_endpoint):
    store = S3Storage("no-such-bucket-vto", endpoint_url=moto_endpoint, access_key="test",
                      secret_key="test")
    with pytest.raises(Unavailable, match="does not exist"):
        store.put("results/j/0.png", b"x", "image/png")
    with pytest.raises(Unavailable):
        store.check()


def test_s3_unreachable_endpoint_is_unavailable():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = S3Storage("b", endpoint_url=f"http://127.0.0.1:{port}", access_key="x",
                      secret_key="y")
    import boto3
    from botocore.config import Config

    store._client = boto3.client(  # no retries, so the test stays fast
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1))
    with pytest.raises(Unavailable, match="cannot reach S3"):
        store.get("results/j/0.png")


def test_make_storage(tmp_path):
    assert isinstance(make_storage("local", root=tmp_path), LocalStorage)
    assert isinstance(make_storage("memory"), MemoryStorage)
    with pytest.raises(InvalidInput):
        make_storage("ftp")


def test_check_key_accepts_server_keys():
    for key in ["results/0f3a-b/0.png", "inputs/j_1/person.png", "a.b-c_d"]:
        assert check_key(key) == key
