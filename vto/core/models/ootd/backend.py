"""OOTDiffusion hd and dc behind the backend interface (vto.core.models.base)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image

from vto.core.checkpoints import CheckpointDir
from vto.core.models.base import ModelInputs, ModelSpec, RunParams, SharedParts, StepCallback
from vto.core.models.ootd.pipeline import OOTDPipeline
from vto.core.models.ootd.spec import OOTD_DC, OOTD_HD
from vto.core.types import ModelType


class OOTDBackend:
    """One OOTD weight set; hd and dc share every component but their two UNets."""

    spec: ClassVar[ModelSpec]
    variant: ClassVar[ModelType]

    def __init__(self, pipeline: OOTDPipeline) -> None:
        self.pipeline = pipeline

    @classmethod
    def load(cls, root: Path, device: Any, dtype: Any, parts: SharedParts) -> "OOTDBackend":
        return cls(OOTDPipeline.from_checkpoints(CheckpointDir(Path(root)), cls.variant,
                                                 torch.device(device), dtype, parts=parts))

    def run(self, inputs: ModelInputs, params: RunParams,
            on_step: StepCallback | None = None) -> list[Image.Image]:
        assert inputs.mask is not None and inputs.masked_person is not None, "needs a mask"
        # The original squashes the garment to the working size with PIL's bicubic filter.
        garment = inputs.garment.convert("RGB").resize(params.size, Image.BICUBIC)
        output = self.pipeline(garment=garment, person=inputs.person,
                               person_masked=inputs.masked_person, mask=inputs.mask,
                               category=params.category,
                               num_samples=params.num_images_per_prompt,
                               num_steps=params.num_inference_steps,
                               image_scale=params.guidance_scale, seed=params.seed,
                               callback=on_step)
        return output.images


class OOTDHDBackend(OOTDBackend):
    spec = OOTD_HD
    variant = ModelType.HD


class OOTDDCBackend(OOTDBackend):
    spec = OOTD_DC
    variant = ModelType.DC
