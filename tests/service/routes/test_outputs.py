"""Outputs over HTTP: ETag, byte ranges (206/416), If-Range, If-None-Match, HEAD; the same on
the seed's /result route."""

from __future__ import annotations

import pytest

from tests.service.conftest import tryon_files, wait_for
from vto.service.routes.outputs import byte_range


@pytest.mark.parametrize("header, expected", [
    (None, None), ("", None), ("bytes=0-9", (0, 9)), ("bytes=10-", (10, 99)),
    ("bytes=-10", (90, 99)), ("bytes=-500", (0, 99)), ("bytes=95-500", (95, 99)),
    ("bytes=100-", False), ("bytes=-0", False), ("bytes=0-1,5-6", None), ("items=0-1", None),
    ("bytes=5-2", None), ("bytes=-", None), ("bytes=a-b", None), ("bytes = 1 - 2", (1, 2)),
])
def test_byte_range(header, expected):
    assert byte_range(header, 100) == expected


def test_ranges_on_an_output(server):
    with server.client() as c:
        job = c.post("/v1/tryon", files=tryon_files(), headers={"Prefer": "wait=30"}).json()
        assert job["status"] == "succeeded", job
        url = job["outputs"][0]["url"]
        whole = c.get(url)
        data, etag = whole.content, whole.headers["etag"]
        assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
        assert etag.startswith('"') and len(data) > 100

        part = c.get(url, headers={"Range": "bytes=10-49"})
        assert part.status_code == 206 and part.content == data[10:50]
        assert part.headers["content-range"] == f"bytes 10-49/{len(data)}"
        assert part.headers["content-length"] == "40"
        assert c.get(url, headers={"Range": "bytes=-16"}).content == data[-16:]
        assert c.get(url, headers={"Range": f"bytes={len(data) - 5}-"}).content == data[-5:]

        beyond = c.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(data)}"
        assert beyond.headers["content-type"] == "application/problem+json"
        assert beyond.json()["type"] == "urn:vto:problem:range-not-satisfiable"

        several = c.get(url, headers={"Range": "bytes=0-1,5-6"})
        assert several.status_code == 200 and several.content == data  # ignored, as allowed
        stale = c.get(url, headers={"Range": "bytes=0-9", "If-Range": '"another"'})
        assert stale.status_code == 200 and stale.content == data
        fresh = c.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
        assert fresh.status_code == 206 and fresh.content == data[:10]
        assert c.get(url, headers={"If-None-Match": etag}).status_code == 304

        head = c.head(url, headers={"Range": "bytes=0-9"})
        assert head.status_code == 206 and head.content == b""
        assert head.headers["content-length"] == "10"

        legacy = c.get(f"/result/{job['id']}_0.png", headers={"Range": "bytes=0-7"})
        assert legacy.status_code == 206 and legacy.content == data[:8] == b"\x89PNG\r\n\x1a\n"
