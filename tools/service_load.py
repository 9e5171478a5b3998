"""Bounded loopback load figures for a running `vto serve` (for notes, not for CI).

    python tools/service_load.py --url http://127.0.0.1:8384 --person P --garment G --mask M

Prints: job submissions per second (sequential POST /v1/tryon with a user mask), GET
/v1/jobs/{id} per second (sequential, one client), and the time from submit to the first SSE
progress event and to the first denoising-step event. Every loop is bounded in count and time;
the URL must be a loopback address.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx


def submit(client: httpx.Client, files: dict[str, bytes], steps: int) -> str:
    response = client.post("/v1/tryon", files={k: (f"{k}.png", v, "image/png") for k, v in files.items()},
                           data={"model_type": "hd", "category": "upper_body", "n_steps": str(steps),
                                 "seed": "1"})
    response.raise_for_status()
    return response.json()["id"]


def first_events(client: httpx.Client, job_id: str, started: float, limit_s: float) -> tuple[float, float]:
    """Seconds to the first progress event and to the first one with step >= 1."""
    first = step = float("nan")
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=limit_s) as stream:
        event = None
        for line in stream.iter_lines():
            if time.perf_counter() - started > limit_s:
                break
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "progress":
                progress = json.loads(line.split(":", 1)[1]).get("progress") or {}
                now = time.perf_counter() - started
                if first != first:
                    first = now
                if int(progress.get("step") or 0) >= 1:
                    return first, now
            elif line.startswith("data:") and event == "completed":
                break
    return first, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8384")
    parser.add_argument("--person", type=Path, required=True)
    parser.add_argument("--garment", type=Path, required=True)
    parser.add_argument("--mask", type=Path, required=True)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--reads", type=int, default=500)
    args = parser.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("only loopback targets")
    files = {"person_image": args.person.read_bytes(), "garment_image": args.garment.read_bytes(),
             "mask": args.mask.read_bytes()}
    with httpx.Client(base_url=args.url, timeout=30) as client:
        started = time.perf_counter()
        job = submit(client, files, steps=2)
        to_progress, to_step = first_events(client, job, started, limit_s=120)
        print(f"submit -> first progress event: {to_progress * 1000:.0f} ms; "
              f"-> first denoising step: {to_step:.2f} s")
        t0 = time.perf_counter()
        for _ in range(args.reads):
            client.get(f"/v1/jobs/{job}").raise_for_status()
        print(f"GET /v1/jobs/{{id}}: {args.reads / (time.perf_counter() - t0):.0f} req/s (1 client)")
        t0 = time.perf_counter()
        ids = [submit(client, files, steps=1) for _ in range(args.submissions)]
        print(f"POST /v1/tryon: {len(ids) / (time.perf_counter() - t0):.1f} req/s (1 client, "
              f"{sum(len(v) for v in files.values()) // 1024} KiB of uploads each)")
        for job_id in ids:  # leave the server idle again
            client.post(f"/v1/jobs/{job_id}/cancel")


if __name__ == "__main__":
    main()
