"""Response documents of the v1 API (for the OpenAPI schema; routes return plain dicts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Progress(BaseModel):
    step: int
    total: int
    fraction: float


class Output(BaseModel):
    index: int
    url: str
    content_type: str
    width: int | None = None
    height: int | None = None
    expires_at: str | None = None


class JobMetrics(BaseModel):
    queue_seconds: float | None = None
    inference_seconds: float | None = None
    timings: dict[str, float] | None = None


class JobUrls(BaseModel):
    self: str
    events: str
    cancel: str


class JobPublic(BaseModel):
    """Every job response (submit, get, list, cancel, SSE ``completed``)."""

    id: str
    status: str
    progress: Progress
    queue_position: int | None = None
    attempts: int
    params: dict[str, Any]
    seed: int | None = None
    outputs: list[Output]
    error: dict[str, Any] | None = None
    metrics: JobMetrics
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    expires_at: str | None = None
    urls: JobUrls


class JobList(BaseModel):
    jobs: list[JobPublic]
    next_cursor: str | None = None


class ModelPublic(BaseModel):
    id: str
    title: str
    capabilities: dict[str, Any]
    licence: str
    licence_url: str
    weights: str
    aliases: list[str]
    loaded: bool


class ServerLimits(BaseModel):
    """This deployment's bounds (each model's own ranges narrowed by them)."""

    max_steps: int
    max_samples: int
    max_guidance: float
    max_side: int
    min_photo_side: int
    max_aspect: float
    max_body_bytes: int
    max_pixels: int
    image_types: list[str]


class ServerDefaults(BaseModel):
    """This deployment's defaults; null = each model's own."""

    model: str
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    width: int
    height: int
    framing: str


class ModelList(BaseModel):
    models: list[ModelPublic]
    default: str
    limits: ServerLimits | None = None
    defaults: ServerDefaults | None = None


class GarmentOut(BaseModel):
    id: str
    int_id: int | None = None  # the seed's clothe_id (operator garments only)
    name: str
    category: str
    category_source: str
    category_scores: dict[str, float] | None = None
    model_types: list[str]
    filename: str
    scope: str                 # "catalog" (the operator's) or "private" (this key's own)
    thumbnail_url: str


class GarmentList(BaseModel):
    garments: list[GarmentOut]


class RecentPerformance(BaseModel):
    count: int
    average: float
    min: float
    max: float


class SeedMetrics(BaseModel):
    average_time: float
    category_average: float
    recent_performance: RecentPerformance


class VtoOut(BaseModel):
    """The seed server's POST /vto answer."""

    success: bool
    image_url: str
    processing_time: float
    clothe_id: int
    clothe_name: str
    category: str
    model_type: str
    metrics: SeedMetrics


class GenerateOut(BaseModel):
    """The Flask dialect's POST /generate answer."""

    success: bool
    images: list[str]
    image_url: str
    seed: int
    processing_time: float
    job_id: str


class Health(BaseModel):
    status: str
    state: str
    models_loaded: bool
    queue_depth: int
    version: str
    worker: dict[str, Any] | None = None
