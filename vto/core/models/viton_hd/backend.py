"""VITON-HD behind vto's Backend interface (see vto.core.models.base).

``run`` turns the engine's ModelInputs into the original's tensors (inputs.py), then runs the
original's three stages once per requested image (pipeline.py), every random number drawn
from ``torch.Generator().manual_seed(params.seed)``: image k of a seed is the same whether 1
or 4 images are asked for. Progress: ``on_step(k, 3 * n)`` after each stage of each image.

Precision: always float32, whatever dtype the engine asks for. The mask norms sum activations
over up to 786k pixels (float16 overflows), the segmentation's argmax and the TPS grid move
with rounding, and one image is ~1.4 TFLOP, a few milliseconds on a GPU.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vto.core.models.base import ModelInputs, RunParams, SharedParts, StepCallback
from vto.core.models.viton_hd.checkpoints import load_networks
from vto.core.models.viton_hd.inputs import SIZE, build_tensors
from vto.core.models.viton_hd.pipeline import Networks, NoiseSource, batch, to_uint8, try_on
from vto.core.models.viton_hd.spec import VITON_HD
from vto.core.types import Category
from vto.errors import InvalidInput

log = logging.getLogger(__name__)


class VITONHDBackend:
    spec = VITON_HD

    def __init__(self, nets: Networks, device: torch.device) -> None:
        self.nets = nets
        self.device = device

    @classmethod
    def load(cls, root: Path, device: Any = "cpu", dtype: Any = None,
             parts: SharedParts | None = None) -> "VITONHDBackend":
        """The three published files under ``root/viton-hd/`` (CheckpointError if missing or
        not exactly VITON-HD's). ``dtype`` is ignored: VITON-HD runs in float32."""
        if dtype not in (None, torch.float32):
            log.info("VITON-HD runs in float32 (asked for %s)", dtype)
        device = torch.device(device)
        return cls(load_networks(Path(root), device), device)

    def run(self, inputs: ModelInputs, params: RunParams,
            on_step: StepCallback | None = None) -> list[Image.Image]:
        """``params.num_images_per_prompt`` RGB 768x1024 try-on images."""
        if tuple(params.size) != SIZE:
            raise InvalidInput(f"VITON-HD works at {SIZE[0]}x{SIZE[1]} only, not "
                               f"{params.size[0]}x{params.size[1]}")
        if params.category is not Category.UPPER_BODY:
            raise InvalidInput(f"VITON-HD dresses tops only (upper_body), not "
                               f"{params.category.value}")
        tensors = batch(build_tensors(inputs), self.device)
        noise = NoiseSource(params.seed, self.device)
        count = params.num_images_per_prompt
        total, done = 3 * count, 0

        def stage_done() -> None:
            nonlocal done
            done += 1
            if on_step is not None:
                on_step(done, total)

        images = []
        for _ in range(count):
            output = try_on(self.nets, tensors, noise, on_stage=stage_done)
            images.append(Image.fromarray(to_uint8(output)[0].numpy(), "RGB"))
        return images

    def paste_region(self, inputs: ModelInputs) -> Image.Image:
        """What VITON-HD re-synthesises (arms, torso, neck): the rest of its output only
        reproduces the photo, so framing 'keep' pastes this region back (grown a little)."""
        from vto.core.models.viton_hd.inputs import person_files, repaint_mask

        return repaint_mask(person_files(inputs))
