"""Durable webhook deliveries: rows survive a restart, are retried with backoff, fail for good
after the attempts, and a real server delivers signed messages to a loopback receiver."""

from __future__ import annotations

import json
import threading
import time

import httpx

from tests.service.conftest import tryon_files
from vto.service.deliveries import WebhookDeliverer, WebhookOutbox
from vto.service.job_table import JobTable
from vto.service.jobs import JobStatus
from vto.service.webhooks import WebhookSender, new_secret, verify


def finished_job(table: JobTable, url: str):
    job, _ = table.reserve(owner="", params={"seed": 1}, request_hash="h", webhook_url=url)
    table.mark_queued(job.id, {})
    table.claim_id(job.id, "w")
    return table.finish(job.id, "w", JobStatus.SUCCEEDED, result={"seed": 1})


def test_a_delivery_survives_a_restart_and_is_retried_until_it_lands(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    table = JobTable(url)
    job = finished_job(table, "https://hooks.example.com/x")
    WebhookOutbox(url).enqueue(job, "job.completed")
    WebhookOutbox(url).enqueue(job, "job.completed")  # a re-run does not announce twice
    answers = iter([500, 204])
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(next(answers))

    outbox = WebhookOutbox(url)  # "after a restart": a new process reads the same rows
    sender = WebhookSender(new_secret(), resolve=lambda host: ["93.184.216.34"],
                           transport=httpx.MockTransport(handler))
    deliverer = WebhookDeliverer(outbox, sender, attempts=3, backoff_s=0.0)
    assert deliverer.deliver_due() == 1
    row = outbox.get(f"{job.id}.job.completed")
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP 500")
    assert deliverer.deliver_due() == 1
    assert outbox.get(f"{job.id}.job.completed")["status"] == "delivered"
    assert deliverer.deliver_due() == 0 and len(sent) == 2
    assert json.loads(sent[0].content)["data"]["status"] == "succeeded"


def test_a_refused_target_fails_at_once_and_attempts_are_bounded(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    table = JobTable(url)
    outbox = WebhookOutbox(url)
    inside = finished_job(table, "http://internal.example/x")
    outbox.enqueue(inside, "job.completed")
    down = finished_job(table, "https://down.example/x")
    outbox.enqueue(down, "job.completed")

    def resolve(host: str) -> list[str]:
        return ["10.0.0.5"] if host.startswith("internal") else ["93.184.216.34"]

    sender = WebhookSender(new_secret(), resolve=resolve,
                           transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    deliverer = WebhookDeliverer(outbox, sender, attempts=2, backoff_s=0.0)
    while deliverer.deliver_due():
        pass
    assert outbox.get(f"{inside.id}.job.completed")["status"] == "failed"
    gone = outbox.get(f"{down.id}.job.completed")
    assert (gone["status"], gone["attempts"]) == ("failed", 2)


def test_the_server_delivers_signed_webhooks_with_retries(server):
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[dict, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((dict(self.headers), body))
            # the first 'completed' delivery fails: the deliverer must retry
            first = sum(b"job.completed" in b for _, b in received) == 1 and b"job.completed" in body
            self.send_response(500 if first else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Receiver)  # loopback; the test server allows it
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
        with server.client() as c:
            job = c.post("/v1/tryon", files=tryon_files(), data={"webhook_url": url},
                         headers={"Prefer": "wait=30"}).json()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and sum(
                b"job.completed" in body for _, body in received) < 2:
            time.sleep(0.05)
        secret = (server.services.settings.data_dir / "webhook_secret").read_text()
        completed = [(h, b) for h, b in received if b"job.completed" in b]
        assert len(completed) == 2  # one failed attempt, one retry
        headers, body = completed[-1]
        assert verify(secret, headers, body)
        assert headers["webhook-id"] == f"{job['id']}.job.completed"
        assert json.loads(body)["data"]["status"] == "succeeded"
        assert any(b"job.started" in b for _, b in received)
    finally:
        httpd.shutdown()
