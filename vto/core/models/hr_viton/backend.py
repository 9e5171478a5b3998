"""HR-VITON as a vto backend: ``test_generator.py``'s try-on, step by step.

    backend = HRVITONBackend.load(checkpoint_root, device="cuda", dtype=torch.float16, parts)
    images = backend.run(model_inputs, run_params, on_step)     # RGB 768x1024 each

A request runs the whole try-on once on a batch of ``num_images_per_prompt`` identical copies
of its inputs, as the original does for a batch of identical pairs: the samples differ by the
generator's noise only, and running the deterministic condition stage on the batch too keeps
its float rounding (which depends on the batch size, and can flip a near-tie in the
segmentation's argmax) the original's.
The original's published test configuration is fixed: ``--occlusion`` (as in its README),
``clothmask_composition='warp_grad'``, 1024x768. Every random draw comes from
``torch.Generator().manual_seed(seed)`` on the CPU, in the original's order: a request's
images are the original's for that batch after ``torch.manual_seed(seed)``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vto.core.models.base import ModelInputs, RunParams, SharedParts, StepCallback
from vto.core.models.hr_viton.inputs import (HEIGHT, WIDTH, build_tensors, condition_inputs,
                                             repaint_region)
from vto.core.models.hr_viton.networks import ConditionGenerator, SPADEGenerator, warp
from vto.core.models.hr_viton.spec import CONDITION_FILE, GENERATOR_FILE, HR_VITON
from vto.core.models.hr_viton.weights import load_condition_generator, load_image_generator
from vto.errors import CheckpointError, InvalidInput

log = logging.getLogger(__name__)

SEGMENT_CLASSES = 13
CLOTH_CLASS = 3
# test_generator's 13 -> 7 regrouping of the predicted segmentation for the image generator.
GENERATOR_GROUPS = ((0,), (2, 4, 7, 8, 9, 10, 11), (3,), (1,), (5,), (6,), (12,))
GROUP_OF_CLASS = torch.tensor([next(g for g, members in enumerate(GENERATOR_GROUPS) if c in members)
                               for c in range(SEGMENT_CLASSES)])
LOW_FLOW_SIZE = (128, 96)   # (H, W) of the condition generator's flow grid


def gaussian_kernel(size: int = 15, sigma: float = 3.0) -> torch.Tensor:
    """torchgeometry's ``get_gaussian_kernel2d((size, size), (sigma, sigma))``, same float32
    arithmetic: each tap exp'ed from a float32 scalar, normalised, outer product."""
    taps = torch.stack([torch.exp(torch.tensor(-(x - size // 2) ** 2 / float(2 * sigma ** 2)))
                        for x in range(size)])
    taps = taps / taps.sum()
    return torch.matmul(taps.unsqueeze(-1), taps.unsqueeze(-1).t())


def gaussian_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """torchgeometry's ``GaussianBlur``: depthwise conv, zero padding."""
    channels = x.shape[1]
    weight = kernel.to(x.device).to(x.dtype).repeat(channels, 1, 1, 1)
    return F.conv2d(x, weight, padding=kernel.shape[-1] // 2, stride=1, groups=channels)


def to_images(output: torch.Tensor) -> list[Image.Image]:
    """The original's ``save_images`` arithmetic: ``(x + 1) * 0.5 * 255`` clamped, truncated."""
    pixels = ((output.float().cpu() + 1) * 0.5 * 255).clamp(0, 255)
    arrays = pixels.numpy().astype(np.uint8).transpose(0, 2, 3, 1)
    return [Image.fromarray(np.ascontiguousarray(a), "RGB") for a in arrays]


class HRVITONBackend:
    """See the module docstring."""

    spec = HR_VITON

    def __init__(self, condition: ConditionGenerator, generator: SPADEGenerator,
                 device: Any, dtype: torch.dtype) -> None:
        self.condition = condition
        self.generator = generator
        self.device = torch.device(device)
        self.dtype = dtype
        self.blur_kernel = gaussian_kernel()

    @classmethod
    def load(cls, root: Path, device: Any = "cpu", dtype: Any = torch.float32,
             parts: SharedParts | None = None) -> "HRVITONBackend":
        root = Path(root)
        missing = HR_VITON.missing_files(root)
        if missing:
            raise CheckpointError(
                f"checkpoint directory {root} is missing {len(missing)} HR-VITON file(s): "
                + "; ".join(f"{f.path} from {f.source}" for f in missing),
                missing=[f.path for f in missing])
        backend = cls(load_condition_generator(root / CONDITION_FILE, device, dtype),
                      load_image_generator(root / GENERATOR_FILE, device, dtype), device, dtype)
        log.info("HR-VITON loaded from %s on %s (%s)", root, device, dtype)
        return backend

    def paste_region(self, inputs: ModelInputs) -> Image.Image:
        """What HR-VITON re-draws (see :func:`~vto.core.models.hr_viton.inputs.repaint_region`):
        framing 'keep' pastes only this region back into the photo."""
        return repaint_region(inputs)

    @torch.inference_mode()
    def run(self, inputs: ModelInputs, params: RunParams,
            on_step: StepCallback | None = None) -> list[Image.Image]:
        if tuple(params.size) != (WIDTH, HEIGHT):
            raise InvalidInput(f"model hr-viton runs at {WIDTH}x{HEIGHT} only, got "
                               f"{params.size[0]}x{params.size[1]}", field="width")
        noise = torch.Generator().manual_seed(params.seed)
        t = build_tensors(inputs).repeat(params.num_images_per_prompt)
        cloth, cloth_mask, agnostic, densepose = (
            x.to(self.device, self.dtype) for x in (t.cloth, t.cloth_mask, t.agnostic, t.densepose))

        # 1. condition generator at 256x192: flow, segmentation, warped garment mask
        cloth_in, person_in = (x.to(self.device, self.dtype) for x in condition_inputs(t))
        flow, segmentation, _, warped_mask_low = self.condition(cloth_in, person_in)
        # 'warp_grad' composition: the garment class only where the warped mask is
        segmentation = torch.cat([segmentation[:, :CLOTH_CLASS],
                                  segmentation[:, CLOTH_CLASS:CLOTH_CLASS + 1] * warped_mask_low,
                                  segmentation[:, CLOTH_CLASS + 1:]], 1)
        if on_step is not None:
            on_step(1, 2)

        # 2. segmentation at 1024x768: upsample, blur, argmax, regroup 13 -> 7
        segmentation = gaussian_blur(
            F.interpolate(segmentation, size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False),
            self.blur_kernel)
        labels = GROUP_OF_CLASS.to(self.device)[segmentation.argmax(dim=1)]
        # contiguous NCHW: a channels-last one-hot would send the convolutions down another path
        parse = F.one_hot(labels, len(GENERATOR_GROUPS)).permute(0, 3, 1, 2)
        parse = parse.to(self.dtype).contiguous()

        # 3. warp the full-resolution garment with the upsampled flow (in 128x96-grid pixels)
        flow = F.interpolate(flow.permute(0, 3, 1, 2), size=(HEIGHT, WIDTH), mode="bilinear",
                             align_corners=False).permute(0, 2, 3, 1)
        warped = warp(torch.cat([cloth, cloth_mask], 1), flow,
                      (LOW_FLOW_SIZE[1] - 1.0) / 2.0, (LOW_FLOW_SIZE[0] - 1.0) / 2.0)
        warped_cloth, warped_mask = warped[:, :3], warped[:, 3:]

        # 4. occlusion: drop garment pixels the predicted body parts cover, white elsewhere
        probabilities = F.softmax(segmentation, dim=1)
        occluders = torch.cat([probabilities[:, 1:3], probabilities[:, 5:]], 1)
        occluders = occluders.sum(dim=1, keepdim=True)
        warped_mask = warped_mask - occluders * warped_mask
        warped_cloth = (warped_cloth * warped_mask
                        + torch.ones_like(warped_cloth) * (1 - warped_mask))

        # 5. image generator; its noise makes the samples
        output = self.generator(torch.cat((agnostic, densepose, warped_cloth), dim=1), parse, noise)
        if on_step is not None:
            on_step(2, 2)
        return to_images(output)

