"""Which optional dependency set ("extra") provides which module, and the one line that says so.

A bare ``pip install vto-tryon`` is the library, the try-on CLI and the downloads; the HTTP
service and its adapters come with extras (pyproject.toml). A command that reaches for a module
of a missing extra ends with :func:`missing_extra_message` instead of a traceback.
"""

from __future__ import annotations

DIST_NAME = "vto-tryon"  # the PyPI distribution; the import package and command are `vto`

# Top-level import name -> the extra that installs it.
MODULE_EXTRAS: dict[str, str] = {
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "pydantic_settings": "serve",
    "sqlalchemy": "serve",
    "prometheus_client": "serve",
    "httpx": "serve",
    "celery": "celery",
    "kombu": "celery",
    "redis": "celery",
    "psycopg2": "postgres",
    "psycopg": "postgres",
    "boto3": "s3",
    "botocore": "s3",
}


def extra_for(exc: ModuleNotFoundError) -> str | None:
    """The extra whose absence raised ``exc``, or None when it is not an optional module."""
    name = (exc.name or "").split(".")[0]
    return MODULE_EXTRAS.get(name)


def install_hint(extra: str) -> str:
    return f"pip install '{DIST_NAME}[{extra}]'"


def missing_extra_message(command: str, extra: str) -> str:
    """e.g. ``vto serve needs the serve extra: pip install 'vto-tryon[serve]'``."""
    return f"vto {command} needs the {extra} extra: {install_hint(extra)}"
