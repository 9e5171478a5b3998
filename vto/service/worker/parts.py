"""What every process that runs jobs shares: the job table, the blob storage and the webhook
outbox on one database engine (the embedded worker process, `vto worker`, and the API's own
wiring in vto.service.wiring)."""

from __future__ import annotations

from dataclasses import dataclass

from vto.service.db import make_engine
from vto.service.deliveries import WebhookOutbox
from vto.service.job_table import JobTable
from vto.service.settings import Settings
from vto.service.storage import Storage, make_storage


def make_storage_for(settings: Settings) -> Storage:
    if settings.storage == "s3":
        return make_storage("s3", bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                            region=settings.s3_region, access_key=settings.s3_access_key,
                            secret_key=settings.s3_secret_key, prefix=settings.s3_prefix)
    return make_storage("local", root=settings.storage_dir)


@dataclass
class WorkerParts:
    """What runs jobs needs: the shared job table, storage and webhook outbox."""

    table: JobTable
    storage: Storage
    outbox: WebhookOutbox


def worker_parts(settings: Settings, storage: Storage | None = None) -> WorkerParts:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = make_engine(settings.db_url)
    return WorkerParts(table=JobTable(database, lease_s=settings.lease_s,
                                      max_attempts=settings.max_attempts),
                       storage=storage or make_storage_for(settings),
                       outbox=WebhookOutbox(database))
