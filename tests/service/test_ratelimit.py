"""Rate limits per client (in process or shared through Redis), and the 429 they produce on
submissions over HTTP."""

from __future__ import annotations

import pytest

from tests.service.conftest import make_settings, start_server, tryon_files
from vto.errors import RateLimited
from vto.service.ratelimit import RateLimiter


def test_a_burst_then_the_rate_per_client():
    limiter = RateLimiter(per_min=6, burst=2)  # 2 per 20 s
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimited) as info:
        limiter.check("a")
    assert info.value.status == 429 and 1 <= info.value.retry_after_s <= 20
    limiter.check("b")  # another client has its own window
    with pytest.raises(ValueError):
        RateLimiter(per_min=0)


def test_replicas_share_the_counters_through_redis():
    """Two limiters (two API processes) on one Redis count together; memory ones do not."""
    import uuid

    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, db=12).ping()
    except redis.ConnectionError:
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    client = f"client-{uuid.uuid4().hex}"
    uri = "redis://127.0.0.1:6379/12"
    one, two = RateLimiter(per_min=2, storage_uri=uri), RateLimiter(per_min=2, storage_uri=uri)
    one.check(client)
    two.check(client)
    with pytest.raises(RateLimited):
        one.check(client)
    local_one, local_two = RateLimiter(per_min=1), RateLimiter(per_min=1)
    local_one.check(client)
    local_two.check(client)  # separate processes without Redis count separately


def test_an_unreachable_store_lets_submissions_through():
    limiter = RateLimiter(per_min=1, storage_uri="redis://127.0.0.1:9/0")
    for _ in range(3):
        limiter.check("a")


def _submit(client, **headers):
    return client.post("/v1/tryon", files=tryon_files(), data={"n_steps": "1"}, headers=headers)


def test_submissions_over_the_limit_are_429_per_api_key(tmp_path, tiny_checkpoint):
    keys = ["key-one-123456", "key-two-123456"]
    running = start_server(make_settings(tmp_path, tiny_checkpoint, api_keys=keys,
                                         rate_limit_per_min=2))
    try:
        running.wait_ready()
        with running.client() as c:
            one = {"X-API-Key": keys[0]}
            assert [_submit(c, **one).status_code for _ in range(2)] == [202, 202]
            r = _submit(c, **one)
            assert r.status_code == 429, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert 1 <= int(r.headers["retry-after"]) <= 60  # 2 a minute: the window is a minute
            assert r.json()["type"] == "urn:vto:problem:rate-limited"
            assert _submit(c, Authorization=f"Bearer {keys[1]}").status_code == 202
            # reads are not limited; a missing key is 401 before any bucket is touched
            assert c.get("/v1/garments", headers=one).status_code == 200
            assert _submit(c).status_code == 401
            schema = c.get("/openapi.json").json()["paths"]
            for path in ("/v1/tryon", "/vto", "/generate"):
                declared = schema[path]["post"]["responses"]["429"]
                assert "Retry-After" in declared["headers"]
    finally:
        running.stop()


def test_without_keys_the_client_address_is_limited(tmp_path, tiny_checkpoint):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, rate_limit_per_min=60,
                                         rate_limit_burst=1))
    try:
        running.wait_ready()
        with running.client() as c:
            assert _submit(c).status_code == 202
            r = _submit(c)
            assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 2
            # the seed's synchronous route shares the bucket
            assert c.post("/vto", files={"person_image": ("p.png", b"x", "image/png")},
                          data={"clothe_id": "1"}).status_code == 429
    finally:
        running.stop()
