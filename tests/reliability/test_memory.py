"""Memory of the API process under concurrent large uploads: 12 requests at once, each with
three 6000x6000 JPEGs (person, garment, mask), must not grow the `vto serve` process by more
than 1 GB at its peak (the global decode budget: vto.service.uploads). Every answer is 202 or
503 with Retry-After (a request that waited too long for the budget)."""

from __future__ import annotations

import asyncio
import io

import httpx
from PIL import Image, ImageDraw

from tests.reliability.conftest import proc_status
from tests.service.conftest import tryon_files

SIDE = 6000
REQUESTS = 12
MAX_GROWTH_MB = 1024


def big_jpegs() -> dict[str, tuple[str, bytes, str]]:
    """A person, a garment and a mask, 6000x6000 each, as JPEG (a few hundred kB each)."""
    gradient = Image.linear_gradient("L").resize((SIDE, SIDE))
    photo = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90),
                                gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))
    ImageDraw.Draw(photo).ellipse((1500, 500, 4500, 5500), outline=(250, 20, 20), width=40)
    mask = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(mask).rectangle((1500, 1500, 4500, 4500), fill=255)

    def jpeg(image: Image.Image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=80)
        return buffer.getvalue()

    person = jpeg(photo)
    return {"person_image": ("person.jpg", person, "image/jpeg"),
            "garment_image": ("garment.jpg", jpeg(photo.rotate(90)), "image/jpeg"),
            "mask": ("mask.jpg", jpeg(mask), "image/jpeg")}


def test_api_memory_under_12_requests_of_three_6000px_jpegs(serve, summary_row, monkeypatch):
    # The worker never finishes loading: jobs stay queued and only the API process works.
    monkeypatch.setenv("VTO_FAKE_LOAD_S", "3600")
    server = serve(engine_factory="tests.service.fakes:slow_loading", queue_max=100,
                   max_body_bytes=25 * 1024 * 1024)
    server.wait_ready(path="/health")
    files = big_jpegs()
    with server.client(summary_row) as c:  # warm up every code path with small images
        assert c.post("/v1/tryon", files=tryon_files()).status_code == 202
    before_mb = proc_status(server.pid, "VmRSS") / 1024

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=300,
                                     event_hooks={"response": [summary_row.async_hook]}) as c:
            return await asyncio.gather(*(c.post("/v1/tryon", files=files)
                                          for _ in range(REQUESTS)))

    answers = asyncio.run(burst())
    peak_mb = proc_status(server.pid, "VmHWM") / 1024
    summary_row.rss_before_mb, summary_row.rss_after_mb = before_mb, peak_mb
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {202, 503}, [r.text for r in answers if r.status_code not in (202, 503)]
    assert 202 in statuses
    assert all(int(r.headers["retry-after"]) >= 1 for r in answers if r.status_code == 503)
    accepted = statuses.count(202)
    summary_row.jobs(accepted=accepted + 1, completed=0, lost=0, duplicated=0)
    summary_row.completed = summary_row.lost = summary_row.duplicated = None  # never run
    assert peak_mb - before_mb <= MAX_GROWTH_MB, (before_mb, peak_mb, server.tail())
