"""Engine factories for the worker (``Settings.engine_factory``): the real one lives here;
tests name their own fakes (tests/service/fakes.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vto.errors import CheckpointError
from vto.service.settings import Settings


def real_engine(settings: Settings) -> Any:
    """The real engine on the configured device (nothing heavy loads here)."""
    from vto.core.engine import TryOnEngine

    if not settings.checkpoints:
        raise CheckpointError("no checkpoint directory configured (VTO_CHECKPOINTS or "
                              "--checkpoints)")
    return TryOnEngine(Path(settings.checkpoints).expanduser(), device=settings.device,
                       dtype=settings.dtype, limits=settings.limits(),
                       options=settings.runtime_options())
