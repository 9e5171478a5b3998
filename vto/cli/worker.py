"""`vto worker`: a Celery worker process that owns one device and runs one job at a time.

Start one per GPU (``CUDA_VISIBLE_DEVICES=N vto worker …``) next to ``vto serve --queue celery``;
both must share the job database (``--database-url postgresql://…``) and the storage (S3, or a
shared directory). The pool is ``solo``: the models stay in this process (no fork after CUDA
initialisation); if the process dies, its unacknowledged task is redelivered by the broker and
the API's lease recovery re-queues the job.
"""

from __future__ import annotations

import argparse
import logging

from vto.cli.serve import add_service_flags, settings_from_args

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run a Celery worker for `vto serve --queue celery`",
        description="Run jobs from the Celery queue on this machine's device.")
    add_service_flags(parser)
    parser.set_defaults(func=run)


def build_worker(settings):  # noqa: ANN001, ANN201 - small factory shared with tests
    """(celery app, Worker) for ``settings``; the task body is ``Worker.run_job``."""
    from vto.service.app import make_storage_for
    from vto.service.jobs import JobStore
    from vto.service.metrics import Metrics
    from vto.service.queue import make_celery
    from vto.service.webhooks import WebhookSender, load_or_create_secret
    from vto.service.worker import Worker, make_engine

    store = JobStore(settings.db_url, lease_s=settings.lease_s, max_attempts=settings.max_attempts)
    secret = settings.webhook_secret or load_or_create_secret(settings.data_dir / "webhook_secret")
    worker = Worker(settings=settings, store=store, storage=make_storage_for(settings),
                    engine=make_engine(settings), metrics=Metrics(),
                    webhooks=WebhookSender(secret, allow_private=settings.webhook_allow_private))
    return make_celery(settings, run_job=worker.run_job), worker


def run(args: argparse.Namespace) -> int:
    args.queue = "celery"  # a worker only makes sense behind the Celery queue
    settings = settings_from_args(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app, worker = build_worker(settings)
    worker.load_models()
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", "-Q", settings.celery_queue,
                     "--loglevel=INFO", "--without-gossip", "--without-mingle"])
    return 0
