"""`vto doctor`'s service lines: Redis, PostgreSQL and S3, when the configuration names them.

The configuration is `vto serve`'s own (vto.service.settings: ``VTO_QUEUE``, ``VTO_BROKER_URL``,
``VTO_DATABASE_URL``, ``VTO_STORAGE``, ``S3_Bucket``/``VTO_S3_BUCKET``, ``AWS_ENDPOINT_URL``, …).
A service that is not configured is not probed. Each probe is one short, read-only request:
Redis PING, PostgreSQL ``SELECT 1``, S3 ``HeadBucket``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from importlib import util as import_util
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vto.cli.checks import Check, Level
from vto.cli.extras import install_hint

TIMEOUT_S = 3.0


def _check(level: str, subject: str, detail: str, fix: str | None = None) -> Any:
    return Check(Level(level), subject, detail, fix)


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def service_checks() -> Iterator[Any]:
    if import_util.find_spec("pydantic_settings") is None:
        yield _check("ok", "service", f"not installed (for `vto serve`: {install_hint('serve')})")
        return
    from vto.errors import InvalidInput
    from vto.service.settings import load_settings

    try:
        settings = load_settings()
    except InvalidInput as exc:
        yield _check("error", "settings", str(exc), "fix that VTO_* environment variable")
        return
    if settings.queue == "celery" or os.environ.get("VTO_BROKER_URL"):
        yield broker_check(settings.broker_url)
    yield database_check(settings.db_url)
    if settings.storage == "s3":
        yield s3_check(settings)


def broker_check(url: str) -> Any:
    shown = redact(url)
    if not url.startswith(("redis://", "rediss://")):
        return _tcp_check("broker", url)
    if import_util.find_spec("redis") is None:
        return _check("error", "redis", f"{shown}: the redis client is not installed",
                      install_hint("celery"))
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S).ping()
    except Exception as exc:  # connection refused, auth, TLS …: all mean "no broker"
        return _check("error", "redis", f"{shown}: {_first_line(exc)}",
                      "start Redis there, or set VTO_BROKER_URL to the broker")
    return _check("ok", "redis", f"{shown} answers PING")


def database_check(url: str) -> Any:
    shown = redact(url)
    if url.startswith("sqlite"):
        return _check("ok", "job table", f"{shown} (SQLite: one machine; PostgreSQL for several)")
    if url.startswith("postgresql://") and import_util.find_spec("psycopg") is None:
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]  # as vto.service.jobs does
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url, connect_args={"connect_timeout": int(TIMEOUT_S)}
                               if url.startswith("postgres") else {})
    except ModuleNotFoundError as exc:
        hint = install_hint("postgres") if url.startswith("postgres") else f"install {exc.name}"
        return _check("error", "postgresql", f"{shown}: the driver {exc.name} is not installed", hint)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return _check("error", "postgresql", f"{shown}: {_first_line(exc)}",
                      "start the database, or fix VTO_DATABASE_URL")
    finally:
        engine.dispose()
    return _check("ok", "postgresql", f"{shown} answers")


def s3_check(settings: Any) -> Any:
    where = f"s3://{settings.s3_bucket}" + (f" at {settings.s3_endpoint_url}"
                                           if settings.s3_endpoint_url else "")
    if import_util.find_spec("boto3") is None:
        return _check("error", "s3", f"{where}: boto3 is not installed", install_hint("s3"))
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region or "us-east-1",
        aws_access_key_id=settings.s3_access_key, aws_secret_access_key=settings.s3_secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S,
                      retries={"max_attempts": 1, "mode": "standard"}))
    try:
        client.head_bucket(Bucket=settings.s3_bucket)
    except Exception as exc:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        reason = {"404": "the bucket does not exist", "NoSuchBucket": "the bucket does not exist",
                  "403": "access denied (check the credentials)"}.get(code, _first_line(exc))
        return _check("error", "s3", f"{where}: {reason}",
                      "check S3_Bucket, AWS_ENDPOINT_URL and the AWS_* credentials")
    return _check("ok", "s3", f"{where}: bucket reachable")


def _tcp_check(subject: str, url: str) -> Any:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672),
                                      timeout=TIMEOUT_S):
            pass
    except OSError as exc:
        return _check("error", subject, f"{redact(url)}: {exc}", "start the broker, or fix "
                      "VTO_BROKER_URL")
    return _check("ok", subject, f"{redact(url)} accepts connections")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
