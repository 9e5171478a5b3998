"""`vto worker`: a Celery worker process that owns one device and runs one task at a time (a
task's job and up to VTO_MAX_BATCH - 1 compatible jobs queued behind it, as one batch).

Start one per GPU (``CUDA_VISIBLE_DEVICES=N vto worker …``) next to ``vto serve --queue celery``;
both must share the job database (``--database-url postgresql://…``) and the storage (S3, or a
shared directory). The pool is ``solo``: the models stay in this process (no fork after CUDA
initialisation); if the process dies, its unacknowledged task is redelivered by the broker and
the API's lease recovery re-queues the job. It also answers the API's engine calls (garment
classification, mask previews).
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
    """(celery app, JobRunner, engine) for ``settings``: the same composition root as serve."""
    from vto.errors import VtoError
    from vto.service.queue import make_celery
    from vto.service.worker import calls
    from vto.service.worker.process import build_engine, worker_name
    from vto.service.worker.runner import JobRunner
    from vto.service.worker.parts import worker_parts

    parts = worker_parts(settings)
    engine = build_engine(settings)
    runner = JobRunner(table=parts.table, storage=parts.storage, engine=engine,
                       name=worker_name("celery"), lease_s=settings.lease_s, outbox=parts.outbox,
                       max_batch=settings.max_batch)

    def engine_call(method, payload):  # noqa: ANN001, ANN202
        try:
            return {"value": calls.handle(engine, method, payload)}
        except VtoError as exc:
            return {"problem": exc.to_problem()}

    return make_celery(settings, run_job=runner.run_job, engine_call=engine_call), runner, engine


def run(args: argparse.Namespace) -> int:
    args.queue = "celery"  # a worker only makes sense behind the Celery queue
    settings = settings_from_args(args)
    app, _runner, engine = build_worker(settings)
    for model in settings.preload_models:
        engine.load(model)
    from vto.service.worker.warm import needs_warming, warm

    if needs_warming(settings):  # VTO_COMPILE / VTO_WARM_CATALOG: before taking any task
        try:
            warm(engine, settings, lambda detail: log.info("%s", detail))
        except Exception:  # noqa: BLE001 - warming is an optimisation, never a blocker
            log.exception("warm-up failed; serving without it")
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", "-Q", settings.celery_queue,
                     "--loglevel=INFO", "--without-gossip", "--without-mingle"])
    return 0
