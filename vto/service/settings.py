"""All configuration of `vto serve` / `vto worker`, in one pydantic-settings class.

Every field is read from ``VTO_<FIELD>`` (e.g. ``VTO_PORT``, ``VTO_API_KEYS``); the CLI flags
override the environment. The seed deployment's variables keep working as aliases:
``CHECKPOINT_PATH``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``S3_Bucket``,
``AWS_REGION`` and ``AWS_ENDPOINT_URL`` (setting ``S3_Bucket`` alone switches storage to S3).

Lists (``api_keys``, ``admin_keys``, ``cors_origins``, ``preload_models``) accept a comma-separated string or
a JSON list. Relative paths are resolved once, at validation, so nothing later depends on the
working directory. Byte sizes (``cache_bytes``) accept a number or a size such as ``2GiB`` or
``500MB``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from vto.core.models.base import Memory, RuntimeOptions, VaeRuntime
from vto.core.paths import default_export_dir
from vto.core.models.registry import get_spec
from vto.core.request import CORE_LIMITS, Limits, TryOnRequest
from vto.core.types import Framing
from vto.errors import InvalidInput

CommaList = Annotated[list[str], NoDecode]


def _alias(field: str, *legacy: str) -> AliasChoices:
    return AliasChoices(field, f"VTO_{field.upper()}", *legacy)


class Settings(BaseSettings):
    """Service configuration; validated at startup and passed in (never a global)."""

    model_config = SettingsConfigDict(env_prefix="VTO_", extra="ignore", populate_by_name=True,
                                      case_sensitive=False)

    # --- network
    host: str = "127.0.0.1"
    port: int = Field(8384, ge=1, le=65535)
    cors_origins: CommaList = Field(default_factory=list)
    api_keys: CommaList = Field(default_factory=list, repr=False)
    admin_keys: CommaList = Field(default_factory=list, repr=False)  # catalog writes
    # A client is dropped when its request headers are not complete this long after it
    # connected (or after the previous response), or when a request body stalls this long.
    header_timeout_s: float = Field(30.0, gt=0)
    body_timeout_s: float = Field(30.0, gt=0)

    # --- models (limits may only narrow vto's own: vto.core.request.Limits)
    checkpoints: str | None = Field(None, validation_alias=_alias("checkpoints", "CHECKPOINT_PATH"))
    device: str = "auto"
    dtype: str | None = None
    default_model: str = "ootd-hd"
    preload_models: CommaList = Field(default_factory=lambda: ["ootd-hd", "ootd-dc"])
    width: int = Field(768, ge=1)
    height: int = Field(1024, ge=1)
    framing: Framing = Framing.KEEP
    default_steps: int | None = Field(None, ge=1)       # None: each model's own default
    default_guidance: float | None = Field(None, ge=0)  # None: each model's own default
    max_steps: int | None = Field(None, ge=1)
    max_samples: int | None = Field(None, ge=1)
    max_guidance: float | None = Field(None, gt=0)
    # "module:callable(settings)" building the worker's engine (tests plug in fakes)
    engine_factory: str = "vto.service.worker.engines:real_engine"

    # --- performance (vto.core.models.base.RuntimeOptions; none changes an image beyond 1/255)
    max_batch: int = Field(4, ge=1, le=64)     # compatible queued jobs denoised as one batch
    memory: Memory = Memory.AUTO               # auto | full | balanced | low
    compile: bool = False                      # torch.compile the try-on UNet, warmed before ready
    vae: VaeRuntime = VaeRuntime.AUTO          # auto (ONNX Runtime on CPU) | torch | onnx
    export_dir: Path | None = None             # exported VAE graphs; None: ~/.cache/vto/exports
    cache_bytes: int | None = Field(None, ge=0)  # garment/person cache; None: sized to the device
    warm_catalog: bool = False                 # warm the catalog's garments before ready

    # --- data
    data_dir: Path = Path("vto-data")
    catalog: Path | None = None
    presets: Path | None = None
    database_url: str | None = None

    # --- storage
    storage: Literal["local", "s3"] | None = None
    s3_bucket: str | None = Field(None, validation_alias=_alias("s3_bucket", "S3_Bucket", "S3_BUCKET"))
    s3_region: str | None = Field(None, validation_alias=_alias("s3_region", "AWS_REGION",
                                                                 "AWS_DEFAULT_REGION"))
    s3_endpoint_url: str | None = Field(None, validation_alias=_alias("s3_endpoint_url",
                                                                       "AWS_ENDPOINT_URL"))
    s3_access_key: str | None = Field(None, repr=False, validation_alias=_alias(
        "s3_access_key", "AWS_ACCESS_KEY_ID"))
    s3_secret_key: str | None = Field(None, repr=False, validation_alias=_alias(
        "s3_secret_key", "AWS_SECRET_ACCESS_KEY"))
    s3_prefix: str = ""
    url_expiry_s: int = Field(3600, ge=60, le=7 * 24 * 3600)

    # --- jobs and queue
    queue: Literal["embedded", "celery"] = "embedded"
    broker_url: str = "redis://127.0.0.1:6379/0"
    celery_queue: str = "vto"
    queue_max: int = Field(32, ge=1)
    max_attempts: int = Field(3, ge=1, le=20)
    lease_s: float = Field(60.0, gt=0)
    poll_s: float = Field(0.5, gt=0)
    result_retention_s: int = Field(24 * 3600, ge=1)
    janitor_interval_s: float = Field(300.0, gt=0)
    sync_timeout_s: float = Field(300.0, gt=0)
    prefer_wait_max_s: float = Field(60.0, ge=0)
    expected_job_s: float = Field(20.0, gt=0)  # Retry-After estimate before any job finished
    rate_limit_per_min: float = Field(0.0, ge=0)  # job submissions per client a minute; 0 = off
    rate_limit_burst: int | None = Field(None, ge=1)  # bucket size (default: a minute's worth)

    # --- uploads
    max_body_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(40_000_000, ge=64)          # per image (decompression bombs)
    max_decode_pixels: int | None = Field(None, ge=64)  # all uploads decoding at once
    decode_wait_s: float = Field(10.0, ge=0)            # then 503 + Retry-After
    max_garments_per_key: int = Field(100, ge=0)        # a tenant's private garment uploads
    rate_limit_storage: str | None = None   # limits' storage URI; default: the broker with Celery

    # --- webhooks
    webhook_secret: str | None = Field(None, repr=False)
    webhook_allow_private: bool = False
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_attempts: int = Field(5, ge=1, le=20)
    webhook_backoff_s: float = Field(1.0, ge=0)

    @field_validator("api_keys", "admin_keys", "cors_origins", "preload_models", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("cache_bytes", mode="before")
    @classmethod
    def _byte_size(cls, value: object) -> object:
        return parse_bytes(value) if isinstance(value, str) else value

    @field_validator("memory", "vae", mode="before")
    @classmethod
    def _memory_mode(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("preload_models")
    @classmethod
    def _check_models(cls, value: list[str]) -> list[str]:
        return [get_spec(v).id for v in value]

    @field_validator("default_model")
    @classmethod
    def _check_default_model(cls, value: str) -> str:
        return get_spec(value).id

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("CORS origins must be listed explicitly ('*' is not allowed)")
        return value

    @field_validator("api_keys", "admin_keys")
    @classmethod
    def _strong_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if len(key) < 8 or key.lower() in {"changeme", "changethis", "secret", "password"}:
                raise ValueError("API keys must be at least 8 characters and not a placeholder")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("whsec_"):
            raise ValueError("webhook secret must look like 'whsec_<base64>'")
        return value

    @model_validator(mode="after")
    def _resolve(self) -> "Settings":
        self.data_dir = self.data_dir.expanduser().resolve()
        if self.catalog is not None:
            self.catalog = self.catalog.expanduser().resolve()
        if self.presets is not None:
            self.presets = self.presets.expanduser().resolve()
        if self.export_dir is not None:
            self.export_dir = self.export_dir.expanduser().resolve()
        if self.storage is None:
            self.storage = "s3" if self.s3_bucket else "local"
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("storage 's3' needs a bucket (VTO_S3_BUCKET or S3_Bucket)")
        if self.max_decode_pixels is None:
            self.max_decode_pixels = 3 * self.max_pixels  # one request's images at their cap
        if self.rate_limit_storage is None:
            self.rate_limit_storage = self.broker_url if self.queue == "celery" else "memory://"
        return self

    def runtime_options(self) -> RuntimeOptions:
        """What the engine is built with (memory mode, VAE runtime, compile, the cache bound)."""
        return RuntimeOptions(memory=self.memory, compile=self.compile,
                              cache_bytes=self.cache_bytes, vae=self.vae,
                              export_dir=self.export_dir or default_export_dir())

    def limits(self) -> Limits:
        """vto's limits narrowed by this deployment (InvalidInput if a setting would widen)."""
        return CORE_LIMITS.narrowed(max_steps=self.max_steps, max_samples=self.max_samples,
                                    max_guidance=self.max_guidance)

    def check_requests(self) -> None:
        """Refuse at start-up what every job would fail on: the working size, default steps
        and guidance are resolved like a request for every preloaded and the default model."""
        limits = self.limits()
        for model in dict.fromkeys([self.default_model, *self.preload_models]):
            try:
                TryOnRequest(model=model).resolved(
                    limits, default_size=self.working_size, default_steps=self.default_steps,
                    default_guidance=self.default_guidance)
            except InvalidInput as exc:
                raise InvalidInput(f"settings do not work for model {model}: {exc} (check "
                                   "VTO_WIDTH/VTO_HEIGHT, VTO_DEFAULT_STEPS, "
                                   "VTO_DEFAULT_GUIDANCE)") from None

    # --- derived paths and values -----------------------------------------------------------
    @property
    def catalog_dir(self) -> Path:
        return self.catalog or self.data_dir / "catalog"

    @property
    def private_garments_dir(self) -> Path:
        """Tenants' own garment uploads, one directory per key."""
        return self.data_dir / "garments"

    @property
    def presets_dir(self) -> Path:
        return self.presets or self.data_dir / "presets"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'jobs.db'}"

    @property
    def working_size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def celery_visibility_timeout_s(self) -> int:
        """Redis redelivers an unacked task after this; it must outlast the longest job (3x)."""
        return int(max(900.0, 3 * self.sync_timeout_s))

    def retry_after_s(self, queued: int, average_job_s: float | None) -> int:
        """Seconds a client should wait before retrying when the queue is full."""
        per_job = average_job_s or self.expected_job_s
        return max(1, math.ceil(queued * per_job))


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3, "t": 1024**4,
          "tb": 1000**4, "tib": 1024**4}


def parse_bytes(text: str) -> int:
    """'2GiB' -> 2147483648, '500MB' -> 500000000, '0' -> 0 (K/M/G alone are binary)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a byte size; use a number of bytes or e.g. 512MiB, "
                         "2GiB, 500MB (0 disables the cache)")
    return int(float(match.group(1)) * _UNITS[unit])


def load_settings(**overrides: object) -> Settings:
    """Environment + overrides (CLI flags whose value is not None); user errors as InvalidInput."""
    from pydantic import ValidationError

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise InvalidInput(f"invalid setting {where}: {first.get('msg')}") from None
    settings.check_requests()
    return settings
