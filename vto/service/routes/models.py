"""v1 models: what this server can run, with each model's capabilities and licence, and the
deployment's limits and defaults (``limits`` narrow every model's ranges; a ``defaults`` value
of null means each model's own default)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vto.core.images import SERVICE_FORMATS
from vto.core.models.registry import SPECS
from vto.service.problems import responses
from vto.service.routes.deps import Owner, ServicesDep
from vto.service.routes.schemas import ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList, summary="The models this server serves",
            responses=responses(401))
def list_models(services: ServicesDep, owner: Owner) -> dict[str, Any]:
    loaded = set(services.worker.models) if services.worker is not None else set()
    settings, limits = services.settings, services.limits
    return {"models": [{**spec.to_dict(), "loaded": spec.id in loaded} for spec in SPECS],
            "default": settings.default_model,
            # this deployment's narrowing of every model's ranges, and its own defaults
            "limits": {"max_steps": limits.max_steps, "max_samples": limits.max_samples,
                       "max_guidance": limits.max_guidance, "max_side": limits.max_side,
                       "min_photo_side": limits.min_photo_side,
                       "max_aspect": limits.max_aspect,
                       "max_body_bytes": settings.max_body_bytes,
                       "max_pixels": settings.max_pixels,
                       "image_types": [f"image/{f.lower()}" for f in SERVICE_FORMATS]},
            "defaults": {"model": settings.default_model,
                         "num_inference_steps": settings.default_steps,
                         "guidance_scale": settings.default_guidance,
                         "width": settings.width, "height": settings.height,
                         "framing": settings.framing.value}}
