"""500 submissions at once against `vto serve`: every answer is 202 or 503 with Retry-After
(never another 5xx, never a dropped connection), and every accepted job finishes, once."""

from __future__ import annotations

import asyncio

import httpx

from tests.reliability.conftest import settle
from tests.service.conftest import tryon_files

SUBMISSIONS = 500


def test_500_concurrent_submissions(serve, summary_row):
    server = serve(queue_max=48, lease_s=10)
    server.wait_ready()
    files = tryon_files()

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=SUBMISSIONS, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, timeout=180, limits=limits,
                                     event_hooks={"response": [summary_row.async_hook]}) as c:
            return await asyncio.gather(*(c.post("/v1/tryon", files=files,
                                                 data={"seed": str(n)})
                                          for n in range(SUBMISSIONS)))

    answers = asyncio.run(burst())
    statuses = {r.status_code for r in answers}
    assert statuses <= {202, 503}, statuses
    assert all(int(r.headers["retry-after"]) >= 1 for r in answers if r.status_code == 503)
    accepted = [r.json()["id"] for r in answers if r.status_code == 202]
    assert len(accepted) >= 48
    with server.client(summary_row) as c:
        counts = settle(c, accepted, server.data / "storage" / "results", timeout_s=240)
    summary_row.jobs(**counts)
    assert counts == {"accepted": len(accepted), "completed": len(accepted), "lost": 0,
                      "duplicated": 0}, server.tail()
