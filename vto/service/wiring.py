"""The one composition root: every part of `vto serve` (and of a worker) built from settings.

    services = build_services(settings)    # nothing started
    services.start() … services.stop()     # threads, the worker process, the deliverer
    parts = worker_parts(settings)         # what runs jobs (vto.service.worker.parts)

Typed: routes receive :class:`Services`, never a bag of attributes. With the embedded queue the
API spawns the worker process (vto.service.worker.process); with Celery, `vto worker`
processes run jobs and answer engine calls, and the API only talks to the broker.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from vto.core.request import Limits
from vto.service.catalog import Catalog
from vto.service.deliveries import WebhookDeliverer, WebhookOutbox
from vto.service.events import Broadcaster, TablePoller
from vto.service.garment_store import GarmentStore
from vto.service.job_table import JobTable
from vto.service.metrics import Metrics, table_times
from vto.service.presets import Presets
from vto.service.queue import CeleryEngineClient, CeleryQueue, EmbeddedQueue, EngineClient, JobQueue
from vto.service.ratelimit import RateLimiter
from vto.service.service import JobService
from vto.service.settings import Settings
from vto.service.storage import Storage
from vto.service.uploads import DecodeBudget
from vto.service.webhooks import WebhookSender, load_or_create_secret
from vto.service.worker.parts import worker_parts

log = logging.getLogger(__name__)

CLASSIFY_TIMEOUT_S = 20.0


@dataclass
class Services:
    """Every part of a running API process, wired."""

    settings: Settings
    limits: Limits
    table: JobTable
    storage: Storage
    outbox: WebhookOutbox
    broadcaster: Broadcaster
    queue: JobQueue
    engine: EngineClient
    catalog: Catalog                    # the operator's garments (garments: with the tenants')
    garments: GarmentStore
    decoding: DecodeBudget
    presets: Presets
    metrics: Metrics
    jobs: JobService
    deliverer: WebhookDeliverer
    poller: TablePoller
    limiter: RateLimiter | None
    worker: Any = None                  # the embedded WorkerProcess (None with Celery)
    housekeeper: Any = None
    _started: list[Any] = field(default_factory=list, repr=False)

    def start(self) -> None:
        from vto.service.housekeeping import Housekeeper

        if self.worker is not None:
            self.worker.start()
        self.housekeeper = Housekeeper(self)
        for part in (self.poller, self.deliverer, self.housekeeper):
            part.start()
            self._started.append(part)

    def stop(self) -> None:
        for part in reversed(self._started):
            part.stop()
        self.queue.close()
        self.outbox.close()
        self.table.close()


def build_services(settings: Settings, *, storage: Storage | None = None,
                   webhook_sender: WebhookSender | None = None) -> Services:
    """All parts of the API process (no thread or process started yet)."""
    limits = settings.limits()
    parts = worker_parts(settings, storage)
    broadcaster = Broadcaster()
    worker = None
    queue: JobQueue
    engine: EngineClient
    if settings.queue == "celery":
        celery = CeleryQueue(settings)
        queue, engine = celery, CeleryEngineClient(celery.app, settings.celery_queue)
    else:
        from vto.service.worker.process import WorkerProcess

        worker = WorkerProcess(settings, parts.table, broadcaster)
        queue, engine = EmbeddedQueue(worker), worker
    decoding = DecodeBudget(settings.max_decode_pixels or settings.max_pixels,
                            settings.decode_wait_s)
    classify = _classifier(engine)
    catalog = Catalog(settings.catalog_dir, classify=classify, decoding=decoding)
    secret = settings.webhook_secret or load_or_create_secret(settings.data_dir / "webhook_secret")
    garments = GarmentStore(catalog, settings.private_garments_dir,
                            signing_key=hmac.new(secret.encode(), b"vto garment thumbnails",
                                                 hashlib.sha256).digest(),
                            classify=classify, decoding=decoding,
                            max_per_owner=settings.max_garments_per_key)
    sender = webhook_sender or WebhookSender(secret, allow_private=settings.webhook_allow_private,
                                             timeout_s=settings.webhook_timeout_s)
    table = parts.table
    jobs = JobService(settings=settings, table=table, storage=parts.storage, queue=queue,
                      broadcaster=broadcaster, garments=garments, limits=limits,
                      decoding=decoding, webhook_resolve=sender.resolve,
                      average_job_s=lambda: table_times(table).average() or None)
    return Services(
        settings=settings, limits=limits, table=table, storage=parts.storage,
        outbox=parts.outbox, broadcaster=broadcaster, queue=queue, engine=engine,
        catalog=catalog, garments=garments, decoding=decoding,
        presets=Presets(settings.presets_dir),
        metrics=Metrics(gpu_memory=lambda: worker.gpu_memory if worker is not None else {}),
        jobs=jobs,
        deliverer=WebhookDeliverer(parts.outbox, sender, attempts=settings.webhook_attempts,
                                   backoff_s=settings.webhook_backoff_s),
        poller=TablePoller(broadcaster, table.get_many, settings.poll_s),
        limiter=(RateLimiter(settings.rate_limit_per_min, settings.rate_limit_burst,
                             storage_uri=settings.rate_limit_storage or "memory://")
                 if settings.rate_limit_per_min > 0 else None),
        worker=worker)


def _classifier(engine: EngineClient) -> Any:
    """The catalog's zero-shot classifier: worker work, asked over the engine client."""
    from vto.service.worker.calls import b64_png

    def classify(image: Image.Image) -> dict[str, float]:
        answer = engine.call("classify", {"image": b64_png(image)}, CLASSIFY_TIMEOUT_S)
        return {str(k): float(v) for k, v in answer["scores"].items()}
    return classify

