"""Token buckets per client, and the 429 they produce on job submission over HTTP."""

from __future__ import annotations

import pytest

from tests.service.conftest import make_settings, start_server, tryon_files
from vto.errors import RateLimited
from vto.service.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(per_min=6, burst=2, clock=clock)  # one token every 10 s
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.take("b") == 0  # another client has its own bucket
    clock.now += 4
    assert limiter.take("a") == pytest.approx(6.0)  # refused attempts cost nothing
    clock.now += 6
    assert limiter.take("a") == 0
    clock.now += 3600  # a long pause refills only up to the burst
    assert [limiter.take("a") for _ in range(3)][:2] == [0, 0]
    with pytest.raises(RateLimited) as info:
        limiter.check("a")
    assert info.value.status == 429 and info.value.retry_after_s == 10


def test_default_burst_is_a_minute_of_tokens_and_buckets_are_bounded():
    clock = Clock()
    limiter = RateLimiter(per_min=3, max_clients=10, clock=clock)
    assert [limiter.take("x") for _ in range(4)][:3] == [0, 0, 0]
    for n in range(50):
        limiter.take(f"client-{n}")
        clock.now += 60  # every earlier client is full again: dropped when over the bound
    assert len(limiter._buckets) <= 11
    with pytest.raises(ValueError):
        RateLimiter(per_min=0)


def _submit(client, **headers):
    return client.post("/v1/tryon", files=tryon_files(), data={"n_steps": "1"}, headers=headers)


def test_submissions_over_the_limit_are_429_per_api_key(tmp_path, tiny_checkpoint, tiny_engine):
    keys = ["key-one-123456", "key-two-123456"]
    running = start_server(make_settings(tmp_path, tiny_checkpoint, api_keys=keys,
                                         rate_limit_per_min=2), tiny_engine)
    try:
        running.wait_ready()
        with running.client() as c:
            one = {"X-API-Key": keys[0]}
            assert [_submit(c, **one).status_code for _ in range(2)] == [202, 202]
            r = _submit(c, **one)
            assert r.status_code == 429, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert 1 <= int(r.headers["retry-after"]) <= 30
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


def test_without_keys_the_client_address_is_limited(tmp_path, tiny_checkpoint, tiny_engine):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, rate_limit_per_min=60,
                                         rate_limit_burst=1), tiny_engine)
    try:
        running.wait_ready()
        with running.client() as c:
            assert _submit(c).status_code == 202
            r = _submit(c)
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            # the seed's synchronous route shares the bucket
            assert c.post("/vto", files={"person_image": ("p.png", b"x", "image/png")},
                          data={"clothe_id": "1"}).status_code == 429
    finally:
        running.stop()
