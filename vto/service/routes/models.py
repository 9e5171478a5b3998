"""v1 models: what this server can run, with each model's capabilities and licence."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vto.core.models.registry import SPECS
from vto.service.problems import responses
from vto.service.routes.deps import Owner, ServicesDep
from vto.service.routes.schemas import ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelList, summary="The models this server serves",
            responses=responses(401))
def list_models(services: ServicesDep, owner: Owner) -> dict[str, Any]:
    loaded = set(services.worker.models) if services.worker is not None else set()
    return {"models": [{**spec.to_dict(), "loaded": spec.id in loaded} for spec in SPECS],
            "default": services.settings.default_model}
