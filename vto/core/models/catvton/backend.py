"""CatVTON behind vto's :class:`~vto.core.models.base.Backend` interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from vto.core.models.base import ModelInputs, ModelSpec, RunParams, SharedParts, StepCallback
from vto.core.models.catvton.pipeline import CatVTONPipeline
from vto.core.models.catvton.spec import CATVTON
from vto.errors import InvalidInput


class CatVTONBackend:
    """Runs :class:`CatVTONPipeline` on the engine's inputs.

    Uses ``inputs.person`` (at the working size), ``inputs.garment`` (as given: padded to the
    working size here, as the original app does) and ``inputs.mask`` (255 = re-generate; the
    automatic one or the user's). The category only chose that mask: CatVTON itself has none.
    """

    spec: ModelSpec = CATVTON

    def __init__(self, pipeline: CatVTONPipeline) -> None:
        self.pipeline = pipeline

    @classmethod
    def load(cls, root: Path, device: Any, dtype: Any, parts: SharedParts) -> "CatVTONBackend":
        # Nothing to share: no other model uses the CatVTON UNet or sd-vae-ft-mse.
        return cls(CatVTONPipeline.from_checkpoints(Path(root), device, dtype))

    def run(self, inputs: ModelInputs, params: RunParams,
            on_step: StepCallback | None = None) -> list[Image.Image]:
        if inputs.mask is None:
            raise InvalidInput("CatVTON needs a mask of the region to re-generate")
        return self.pipeline(
            person=inputs.person, garment=inputs.garment, mask=inputs.mask, size=params.size,
            num_inference_steps=params.num_inference_steps,
            guidance_scale=params.guidance_scale,
            num_images_per_prompt=params.num_images_per_prompt, seed=params.seed,
            callback=on_step)

