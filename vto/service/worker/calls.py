"""The engine's synchronous services besides jobs: zero-shot garment classification, the
automatic mask preview and garment warming (cache a garment's work ahead of its first job). They run where the engine lives (the worker process, or a Celery
worker) and take and return JSON-safe payloads (images as base64 PNG)."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from vto.core.images import encode_png
from vto.core.request import TryOnInputs, TryOnRequest
from vto.errors import InvalidInput


def b64_png(image: Image.Image) -> str:
    return base64.b64encode(encode_png(image)).decode()


def from_b64(data: str, mode: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image.convert(mode)


def handle(engine: Any, method: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one call; raises VtoError subclasses for the caller to render."""
    if method == "classify":
        scores = engine.classify(from_b64(payload["image"], "RGB"))
        return {"scores": {getattr(k, "value", str(k)): float(v) for k, v in scores.items()}}
    if method == "mask":
        request = TryOnRequest(**payload["request"])
        preview = engine.automatic_mask(request, TryOnInputs(person=from_b64(payload["person"],
                                                                             "RGB")))
        return {"mask": b64_png(preview.mask), "masked": b64_png(preview.masked)}
    if method == "warm":
        warm = getattr(engine, "warm_garment", None)
        warmed = warm is not None and bool(warm(TryOnRequest(**payload["request"]),
                                                from_b64(payload["garment"], "RGB")))
        return {"warmed": warmed}
    raise InvalidInput(f"unknown engine call {method!r}")
