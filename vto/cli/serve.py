"""`vto serve`: the HTTP service (FastAPI + uvicorn). Every flag also reads VTO_<NAME>."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vto.service.settings import Settings, load_settings

log = logging.getLogger(__name__)


def add_service_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `vto serve` and `vto worker` (None = take the environment/default)."""
    parser.add_argument("--checkpoints", help="checkpoint directory (env VTO_CHECKPOINTS or "
                                              "CHECKPOINT_PATH)")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--data-dir", type=Path, help="jobs database, results, catalog "
                                                      "(default ./vto-data)")
    parser.add_argument("--catalog", type=Path, help="garment catalog directory "
                                                     "(default DATA_DIR/catalog)")
    parser.add_argument("--storage", choices=["local", "s3"],
                        help="where results go (s3 when S3_Bucket is set)")
    parser.add_argument("--s3-bucket", help="S3 bucket (env S3_Bucket)")
    parser.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (env AWS_ENDPOINT_URL)")
    parser.add_argument("--queue", choices=["embedded", "celery"],
                        help="embedded worker thread (default) or Celery workers")
    parser.add_argument("--broker-url", help="Celery broker (default redis://127.0.0.1:6379/0)")
    parser.add_argument("--database-url", help="job table URL (default sqlite in DATA_DIR; "
                                               "postgresql://… when distributed)")
    parser.add_argument("--size", help="working size WIDTHxHEIGHT (default 768x1024)")
    parser.add_argument("--steps", type=int, help="default denoising steps (default: each "
                                                  "model's own)")


def settings_from_args(args: argparse.Namespace, **extra: object) -> Settings:
    overrides: dict[str, object] = dict(
        checkpoints=args.checkpoints, device=args.device, data_dir=args.data_dir,
        catalog=args.catalog, storage=args.storage, s3_bucket=args.s3_bucket,
        s3_endpoint_url=args.s3_endpoint_url, queue=args.queue, broker_url=args.broker_url,
        database_url=args.database_url, default_steps=args.steps, **extra)
    if args.size:
        from vto.core.request import parse_size

        overrides["width"], overrides["height"] = parse_size(args.size)
    return load_settings(**overrides)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the HTTP service",
        description="Run the try-on HTTP service (OpenAPI docs at /docs). Every option can also "
                    "be set as VTO_<OPTION> in the environment.")
    parser.add_argument("--host", help="bind address (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, help="port (default 8384)")
    add_service_flags(parser)
    parser.add_argument("--api-key", action="append", dest="api_keys", metavar="KEY",
                        help="require this API key (repeatable; env VTO_API_KEYS=k1,k2)")
    parser.add_argument("--cors-origin", action="append", dest="cors_origins", metavar="ORIGIN",
                        help="allow this browser origin (repeatable)")
    parser.add_argument("--presets", type=Path,
                        help="preset person photos for POST /generate (default DATA_DIR/presets)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from vto.service.app import create_app

    settings = settings_from_args(args, host=args.host, port=args.port, api_keys=args.api_keys,
                                  cors_origins=args.cors_origins, presets=args.presets)
    if settings.queue == "embedded":
        # Fail now, in one line, rather than after the server started.
        from vto.cli.common import checkpoint_root
        from vto.core.models.registry import get_spec

        root = checkpoint_root(settings.checkpoints)
        for model in settings.preload_models:
            missing = get_spec(model).missing_files(root)
            if missing:
                from vto.errors import CheckpointError

                raise CheckpointError(
                    f"checkpoint directory {root} is missing {len(missing)} file(s) of model "
                    f"{model}, e.g. {missing[0].path}; get them with 'vto download --dir "
                    f"{root} --model {model}'")
        settings.checkpoints = str(root)
    logging.getLogger("vto").setLevel(logging.INFO)
    log.info("serving on http://%s:%d (data in %s)", settings.host, settings.port,
             settings.data_dir)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", proxy_headers=False, timeout_graceful_shutdown=10)
    return 0
