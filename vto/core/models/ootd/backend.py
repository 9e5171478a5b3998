"""OOTDiffusion hd and dc behind the backend interface (vto.core.models.base)."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image

from vto.core.checkpoints import CheckpointDir
from vto.core.models.base import (BatchItem, ModelInputs, ModelSpec, RunParams, SharedParts,
                                  StepCallback)
from vto.core.models.ootd.batch import CALL_FIELDS, TryOnCall
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
        pipeline = OOTDPipeline.from_checkpoints(CheckpointDir(Path(root)), cls.variant,
                                                 torch.device(device), dtype, parts=parts)
        pipeline.prepare()  # the VAE's ONNX export (CPU) at load, not in the first request
        return cls(pipeline)

    @staticmethod
    def _call(inputs: ModelInputs, params: RunParams,
              on_step: StepCallback | None) -> TryOnCall:
        assert inputs.mask is not None and inputs.masked_person is not None, "needs a mask"
        # The original squashes the garment to the working size with PIL's bicubic filter.
        garment = inputs.garment.convert("RGB").resize(params.size, Image.BICUBIC)
        return TryOnCall(garment=garment, person=inputs.person,
                         person_masked=inputs.masked_person, mask=inputs.mask,
                         category=params.category, num_samples=params.num_images_per_prompt,
                         num_steps=params.num_inference_steps,
                         image_scale=params.guidance_scale, seed=params.seed, callback=on_step)

    def run(self, inputs: ModelInputs, params: RunParams,
            on_step: StepCallback | None = None) -> list[Image.Image]:
        call = self._call(inputs, params, on_step)
        return self.pipeline(**{name: getattr(call, name) for name in CALL_FIELDS}).images

    def warm(self, garment: Image.Image, params: RunParams) -> None:
        """Cache a (catalog) garment's work for requests like ``params``: prompt, latents and
        the hoisted K/V, with the zero-garment branch when guided. Keyed on the garment as
        ``run`` sees it (squashed to the working size), so the request that follows hits."""
        self.pipeline.cache_garment(garment.convert("RGB").resize(params.size, Image.BICUBIC),
                                    params.category, guided=params.guidance_scale > 1.0)

    def warm_up(self, params: RunParams) -> None:
        """Before serving: one synthetic try-on at ``params``' shapes (kernels loaded; the
        compiled graph for that batch shape built when compile is on). Caches untouched."""
        self.pipeline.warm_up(tuple(params.size), num_steps=params.num_inference_steps,
                              num_samples=params.num_images_per_prompt,
                              image_scale=params.guidance_scale)

    def batch_key(self, params: RunParams) -> Hashable | None:
        """Same model type (this backend), working size and step count share a batch."""
        return ("ootd", self.variant.value, tuple(params.size), int(params.num_inference_steps))

    def run_batch(self, items: list[BatchItem]) -> list[list[Image.Image] | BaseException]:
        calls = []
        for item in items:
            try:
                calls.append(self._call(item.inputs, item.params, item.on_step))
            except Exception as exc:  # noqa: BLE001 - that item's failure only
                calls.append(exc)
        ready = [c for c in calls if isinstance(c, TryOnCall)]
        done = iter(self.pipeline.run_batch(ready))
        results: list[list[Image.Image] | BaseException] = []
        for call in calls:
            if isinstance(call, BaseException):
                results.append(call)
                continue
            result = next(done)
            results.append(result if isinstance(result, BaseException) else result.images)
        return results


class OOTDHDBackend(OOTDBackend):
    spec = OOTD_HD
    variant = ModelType.HD


class OOTDDCBackend(OOTDBackend):
    spec = OOTD_DC
    variant = ModelType.DC
