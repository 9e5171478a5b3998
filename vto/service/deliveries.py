"""Durable webhook deliveries: a row per message, retried with backoff, surviving restarts.

Workers (in any process) :meth:`WebhookOutbox.enqueue` a message when a job starts or ends:
one insert in the shared database. The API process runs a :class:`WebhookDeliverer` thread
that claims due rows with a short lease (so several API replicas never send one message
twice at once), sends each through :class:`~vto.service.webhooks.WebhookSender` (signed,
pinned to the checked address), and records the outcome: delivered, retried later
(``backoff_s · 2^attempt``), or failed after ``attempts``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import JSON, Column, Float, Integer, String, Table, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from vto.service.db import db_errors, make_engine, metadata
from vto.service.jobs import Job
from vto.service.webhooks import WebhookSender, host_of

log = logging.getLogger(__name__)

webhooks = Table(
    "vto_webhooks", metadata,
    Column("id", String(96), primary_key=True),       # webhook-id: "{job_id}.{event}"
    Column("job_id", String(32), nullable=False, index=True),
    Column("url", String(2048), nullable=False),
    Column("event", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),      # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", Float, nullable=False),
    Column("lease_until", Float, nullable=True),
    Column("last_error", String(256), nullable=True),
    Column("created_at", Float, nullable=False),
)


def job_payload(job: Job) -> dict[str, Any]:
    return {"id": job.id, "status": job.status.value, "error": job.error,
            "outputs": [{"index": o["index"], "content_type": o.get("content_type")}
                        for o in job.outputs],
            "seed": (job.result or {}).get("seed", job.params.get("seed"))}


class WebhookOutbox:
    """The webhook table: enqueue (workers), claim and settle (the deliverer)."""

    def __init__(self, database: str | Engine) -> None:
        self.db = make_engine(database) if isinstance(database, str) else database
        with db_errors():
            metadata.create_all(self.db)

    def close(self) -> None:
        self.db.dispose()

    def enqueue(self, job: Job, event: str) -> None:
        """One message per (job, event): a re-run does not announce ``job.started`` twice."""
        assert job.webhook_url
        row = dict(id=f"{job.id}.{event}", job_id=job.id, url=job.webhook_url, event=event,
                   payload=job_payload(job), status="pending", attempts=0, next_at=time.time(),
                   created_at=time.time())
        try:
            with db_errors(), self.db.begin() as conn:
                conn.execute(insert(webhooks).values(**row))
        except IntegrityError:
            log.debug("webhook %s already queued", row["id"])

    def claim_due(self, limit: int, lease_s: float) -> list[dict[str, Any]]:
        now = time.time()
        due = (select(webhooks.c.id).where(
            webhooks.c.status == "pending", webhooks.c.next_at <= now,
            (webhooks.c.lease_until.is_(None)) | (webhooks.c.lease_until < now))
            .order_by(webhooks.c.next_at).limit(limit))
        if self.db.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        with db_errors(), self.db.begin() as conn:
            rows = conn.execute(update(webhooks).where(webhooks.c.id.in_(due.scalar_subquery()))
                                .values(lease_until=now + lease_s)
                                .returning(*webhooks.c)).all()
        return [dict(row._mapping) for row in rows]

    def settle(self, message_id: str, error: str | None, *, attempts: int, max_attempts: int,
               backoff_s: float) -> str:
        """Record one attempt's outcome; returns the new status."""
        if error is None:
            status, values = "delivered", {}
        elif attempts >= max_attempts or error.startswith("refused"):
            status, values = "failed", {}
        else:
            status, values = "pending", {"next_at": time.time() + backoff_s * 2 ** (attempts - 1)}
        with db_errors(), self.db.begin() as conn:
            conn.execute(update(webhooks).where(webhooks.c.id == message_id).values(
                status=status, attempts=attempts, lease_until=None,
                last_error=None if error is None else error[:256], **values))
        return status

    def get(self, message_id: str) -> dict[str, Any] | None:
        with db_errors(), self.db.connect() as conn:
            row = conn.execute(select(webhooks).where(webhooks.c.id == message_id)).first()
        return dict(row._mapping) if row is not None else None


class WebhookDeliverer:
    """Sends due messages in a background thread (API process)."""

    def __init__(self, outbox: WebhookOutbox, sender: WebhookSender, *, attempts: int,
                 backoff_s: float, interval_s: float = 0.5) -> None:
        self.outbox = outbox
        self.sender = sender
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vto-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.sender.close()

    def deliver_due(self) -> int:
        rows = self.outbox.claim_due(16, lease_s=self.sender.timeout_s * 3 + 5)
        for row in rows:
            if self._stop.is_set():
                break
            error = self.sender.deliver(row["url"], row["id"], row["event"], row["payload"])
            status = self.outbox.settle(row["id"], error, attempts=row["attempts"] + 1,
                                        max_attempts=self.attempts, backoff_s=self.backoff_s)
            if error is not None:
                log.warning("webhook %s to %s: %s (attempt %d, now %s)", row["id"],
                            host_of(row["url"]), error, row["attempts"] + 1, status)
        return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                while self.deliver_due() and not self._stop.is_set():
                    pass
            except Exception:  # noqa: BLE001 - the database may be briefly away
                log.debug("webhook delivery round failed", exc_info=True)
