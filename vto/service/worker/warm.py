"""Warm-up before a worker reports ready (``VTO_COMPILE``, ``VTO_WARM_CATALOG``).

With ``compile`` the try-on UNet is traced and tuned on its first call, which takes far longer
than a request should wait: each preloaded model runs once at the deployment's working size
and step count (``engine.warm_up``) before /ready says yes. With ``warm_catalog`` every catalog
garment the default model can wear gets its garment work cached (``engine.warm_garment``), so
the first customer of each catalog garment already pays the cheaper "catalog" price.

Warming is best effort: a garment that cannot be read or warmed, or an engine without the
hooks, is logged and skipped; it never keeps the worker from serving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from vto.core.request import TryOnRequest
from vto.errors import InvalidInput
from vto.service.settings import Settings

log = logging.getLogger(__name__)


def needs_warming(settings: Settings) -> bool:
    return bool(settings.compile or settings.warm_catalog)


def _resolved(settings: Settings, model: str, category: Any = None) -> TryOnRequest:
    return TryOnRequest(model=model, category=category).resolved(
        settings.limits(), default_size=settings.working_size,
        default_steps=settings.default_steps, default_guidance=settings.default_guidance)


def warm(engine: Any, settings: Settings,
         report: Callable[[str], None] = lambda detail: None) -> dict[str, int]:
    """Warm ``engine`` as ``settings`` ask; returns counts (models warmed up, garments
    warmed, garments skipped). ``report`` receives a short progress line for /health."""
    counts = {"models": 0, "garments": 0, "skipped": 0}
    warm_up = getattr(engine, "warm_up", None)
    if settings.compile and warm_up is not None:
        for model in dict.fromkeys([*settings.preload_models, settings.default_model]):
            report(f"warming up {model}")
            try:
                if warm_up(_resolved(settings, model)):
                    counts["models"] += 1
            except Exception:  # noqa: BLE001 - the first request compiles instead
                log.exception("could not warm up %s; its first request will be slower", model)
    warm_garment = getattr(engine, "warm_garment", None)
    if settings.warm_catalog and warm_garment is not None:
        from vto.service.catalog import Catalog

        catalog = Catalog(settings.catalog_dir)
        garments = catalog.list()
        for number, garment in enumerate(garments, start=1):
            report(f"warming catalog garment {number}/{len(garments)}")
            try:
                request = _resolved(settings, settings.default_model, garment.category)
            except InvalidInput:  # e.g. a dress with a tops-only default model
                counts["skipped"] += 1
                continue
            try:
                if warm_garment(request, catalog.image(garment.id)):
                    counts["garments"] += 1
                else:
                    counts["skipped"] += 1
                    break  # the backend keeps no garment cache: the rest would do nothing
            except Exception as exc:  # noqa: BLE001
                counts["skipped"] += 1
                log.warning("could not warm catalog garment %s: %s", garment.id, exc)
        log.info("catalog warm-up: %d garments warmed, %d skipped", counts["garments"],
                 counts["skipped"])
    return counts
