"""`vto serve`: the HTTP service (FastAPI + uvicorn). Every flag also reads VTO_<NAME>.

Before anything loads, every setting is checked (:func:`preflight`; the request settings such
as ``VTO_WIDTH``/``--size`` are resolved like a request) and the port is bound
(:func:`bind_port`): a mistake is one line and exit status 2 within a second, not a traceback
after the models loaded. uvicorn then serves on that very socket.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import logging
import re
import socket

from vto.cli.extras import missing_extra_message
from vto.cli.outputs import expand_arg
from vto.service.settings import Settings, load_settings

log = logging.getLogger(__name__)


def add_service_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `vto serve` and `vto worker` (None = take the environment/default)."""
    parser.add_argument("--checkpoints", help="checkpoint directory (env VTO_CHECKPOINTS or "
                                              "CHECKPOINT_PATH)")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--data-dir", type=expand_arg, help="jobs database, results, catalog "
                                                      "(default ./vto-data)")
    parser.add_argument("--catalog", type=expand_arg, help="garment catalog directory "
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
    from vto.cli.common import add_runtime_flags

    add_runtime_flags(parser)  # --memory, --vae, --compile (env VTO_MEMORY, VTO_VAE, VTO_COMPILE)


def settings_from_args(args: argparse.Namespace, **extra: object) -> Settings:
    overrides: dict[str, object] = dict(
        checkpoints=args.checkpoints, device=args.device, data_dir=args.data_dir,
        catalog=args.catalog, storage=args.storage, s3_bucket=args.s3_bucket,
        s3_endpoint_url=args.s3_endpoint_url, queue=args.queue, broker_url=args.broker_url,
        database_url=args.database_url, default_steps=args.steps, memory=args.memory,
        vae=args.vae, compile=args.compile, **extra)
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
    parser.add_argument("--admin-key", action="append", dest="admin_keys", metavar="KEY",
                        help="a key that may change the garment catalog (repeatable; env "
                             "VTO_ADMIN_KEYS); without one the catalog is read-only over HTTP")
    parser.add_argument("--cors-origin", action="append", dest="cors_origins", metavar="ORIGIN",
                        help="allow this browser origin (repeatable)")
    parser.add_argument("--presets", type=expand_arg,
                        help="preset person photos for POST /generate (default DATA_DIR/presets)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vto.service.server import serve

    settings = settings_from_args(args, host=args.host, port=args.port, api_keys=args.api_keys,
                                  admin_keys=args.admin_keys, cors_origins=args.cors_origins,
                                  presets=args.presets)
    preflight(settings)
    listener = bind_port(settings.host, settings.port)  # held from here on: nobody takes it
    from vto.service.app import create_app

    logging.getLogger("vto").setLevel(logging.INFO)
    log.info("serving on http://%s:%d (data in %s)", settings.host, settings.port,
             settings.data_dir)
    serve(create_app(settings), settings, sockets=[listener])
    return 0


def preflight(settings: Settings) -> None:
    """Everything the server needs that can be checked without loading a model, each failure
    one line: the device and dtype names, the checkpoint files of the preloaded models
    (embedded queue), the data directory, the database URL and the extras the configuration
    needs. (The request settings — VTO_WIDTH/--size, default steps … — were resolved like a
    request by load_settings.)"""
    from vto.cli.outputs import check_output_dir
    from vto.core.devices import check_dtype_name
    from vto.errors import InvalidInput

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", settings.device):
        raise InvalidInput(f"unknown device {settings.device!r}; use auto, cpu, cuda or cuda:N "
                           "(--device or VTO_DEVICE)")
    check_dtype_name(settings.dtype)
    check_output_dir(settings.data_dir, "--data-dir")
    _check_database(settings.db_url)
    for needed, module, extra in ((settings.queue == "celery", "celery", "celery"),
                                  (settings.storage == "s3", "boto3", "s3")):
        if needed and importlib.util.find_spec(module) is None:
            raise InvalidInput(missing_extra_message("serve", extra))
    if settings.queue == "embedded":
        from vto.cli.common import checkpoint_root
        from vto.core.models.registry import get_spec
        from vto.errors import CheckpointError

        root = checkpoint_root(settings.checkpoints)
        for model in settings.preload_models:
            missing = get_spec(model).missing_files(root)
            if missing:
                raise CheckpointError(
                    f"checkpoint directory {root} is missing {len(missing)} file(s) of model "
                    f"{model}, e.g. {missing[0].path}; get them with 'vto download --dir "
                    f"{root} --model {model}'")
        settings.checkpoints = str(root)


def _check_database(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from vto.errors import InvalidInput

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(f"--database-url {url.split('@')[-1]!r} is not a database URL "
                           "(e.g. postgresql://user:password@host/vto)") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and not any(importlib.util.find_spec(m) is not None
                                           for m in ("psycopg2", "psycopg")):
        raise InvalidInput(missing_extra_message("serve", "postgres"))
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"--database-url: {backend} is not supported; use sqlite or "
                           "postgresql")


def bind_port(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port), or one line saying why not (before any model
    loads: a taken port used to show up only after the models had loaded)."""
    from vto.errors import InvalidInput

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "is already in use (another vto serve?); choose another with --port or VTO_PORT"
        elif exc.errno == errno.EACCES:
            reason = "needs privileges this user lacks; use a port above 1023"
        elif exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
            reason = (f"cannot be opened: {host} is not an address of this machine (use "
                      "127.0.0.1, or 0.0.0.0 for every interface)")
        else:
            reason = f"cannot be opened: {(exc.strerror or str(exc)).lower()}"
        raise InvalidInput(f"port {port} on {host} {reason}") from None
    return listener
