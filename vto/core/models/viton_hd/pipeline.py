"""VITON-HD inference (the body of the original ``test.py``), one image per call.

    nets = load_networks(root, device)                       # vto.core.models.viton_hd.checkpoints
    tensors = build_tensors(model_inputs)                    # vto.core.models.viton_hd.inputs
    image = try_on(nets, batch(tensors, device), NoiseSource(seed))

Randomness: the original draws a binary noise channel for the segmentation generator
(``utils.gen_noise``: OpenCV's ``randn`` into a uint8 array) and Gaussian noise in every
ALIAS norm (``torch.randn``), from global generators. vto draws all of it, in the original's
order, from one ``torch.Generator`` seeded per request (:class:`NoiseSource`), on the CPU,
so a seed gives the same image on every device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch.nn import functional as F

from vto.core.models.viton_hd.inputs import HEIGHT, WIDTH, VitonHDTensors
from vto.core.models.viton_hd.networks import ALIASGenerator, GMM, SegGenerator

SEG_SIZE = (256, 192)              # SegGenerator and GMM work at 256x192
BLUR_SIZE, BLUR_SIGMA = 15, 3.0    # test.py: tgm.image.GaussianBlur((15, 15), (3, 3))
# The 13 predicted classes (background, hair, face, upper, bottom, left/right arm, left/right
# leg, left/right shoe, socks, noise) -> the generator's 7 (test.py ``labels``): background,
# "paste" (face, bottom, legs, shoes, socks), upper, hair, left arm, right arm, noise.
GENERATOR_GROUPS = (0, 3, 1, 2, 1, 4, 5, 1, 1, 1, 1, 1, 6)
UPPER = 2


@dataclass
class Networks:
    seg: SegGenerator
    gmm: GMM
    alias: ALIASGenerator


class NoiseSource:
    """Every random number of one try-on, from ``torch.Generator().manual_seed(seed)`` in the
    original's order: per image, the segmentation noise, then each ALIAS norm's field."""

    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        self.generator = torch.Generator().manual_seed(int(seed))
        self.device = torch.device(device)

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Standard normal, as ``torch.randn(*shape)`` from the seeded generator."""
        return torch.randn(shape, generator=self.generator).to(self.device)

    def seg_noise(self, shape: tuple[int, ...]) -> torch.Tensor:
        """``utils.gen_noise(shape)``: OpenCV fills a uint8 array with N(0, 255^2) samples
        (rounded, saturated to 0..255), then ``uint8(x / 255)`` keeps 1 only where a sample
        saturated at 255. So: 1 where round(255 z) >= 255 (about 16% of pixels), else 0."""
        z = torch.randn(shape, generator=self.generator)
        return (torch.round(z * 255) >= 255).to(torch.float32).to(self.device)


def gaussian_kernel(size: int = BLUR_SIZE, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """torchgeometry's 2-D Gaussian (float32, in its arithmetic): exp(-(x - size//2)^2 /
    (2 sigma^2)) per tap, normalised to sum 1, outer product of two such vectors."""
    taps = torch.stack([torch.exp(torch.tensor(-(x - size // 2) ** 2 / float(2 * sigma ** 2)))
                        for x in range(size)])
    taps = taps / taps.sum()
    return torch.matmul(taps.unsqueeze(-1), taps.unsqueeze(-1).t())


def batch(tensors: VitonHDTensors, device: torch.device | str) -> VitonHDTensors:
    """Add the batch dimension and move to ``device`` (float32)."""
    return VitonHDTensors(**{f.name: getattr(tensors, f.name)[None].to(device, torch.float32)
                             for f in fields(tensors)})


def _down(x: torch.Tensor, mode: str) -> torch.Tensor:
    return F.interpolate(x, size=SEG_SIZE, mode=mode, align_corners=False if mode == "bilinear"
                         else None)


@torch.no_grad()
def try_on(nets: Networks, inputs: VitonHDTensors, noise: NoiseSource,
           on_stage: Callable[[], None] | None = None) -> torch.Tensor:
    """One try-on (batch of 1): the generator's output (1, 3, 1024, 768) in [-1, 1].
    ``on_stage`` is called after each of the three stages (it may raise to stop)."""
    done = on_stage or (lambda: None)
    img_agnostic, parse_agnostic, pose = inputs.img_agnostic, inputs.parse_agnostic, inputs.pose
    c, cm = inputs.cloth, inputs.cloth_mask
    device = c.device

    # 1. Segmentation: predict the try-on parse at 256x192, upsample, blur, argmax.
    seg_input = torch.cat((_down(cm, "bilinear"), _down(c * cm, "bilinear"),
                           _down(parse_agnostic, "bilinear"), _down(pose, "bilinear"),
                           noise.seg_noise(tuple(cm.shape[:1]) + (1,) + SEG_SIZE)), dim=1)
    parse_pred = F.interpolate(nets.seg(seg_input), size=(HEIGHT, WIDTH), mode="bilinear",
                               align_corners=False)
    kernel = gaussian_kernel().to(device).repeat(parse_pred.size(1), 1, 1, 1)
    if device.type == "cpu":
        # channels-last on the CPU: the same per-pixel sums as the original's NCHW depthwise
        # convolution (identical values, see tools/equivalence/viton_hd) in a tenth of the time
        parse_pred = parse_pred.contiguous(memory_format=torch.channels_last)
    parse_pred = F.conv2d(parse_pred, kernel, padding=BLUR_SIZE // 2, groups=parse_pred.size(1))
    labels = parse_pred.argmax(dim=1)
    del parse_pred
    groups = torch.tensor(GENERATOR_GROUPS, device=device)[labels]
    # contiguous NCHW, as the original's scatter_: a channels-last view here would send the
    # generator's convolutions down other kernels (float differences of ~1e-6)
    parse = F.one_hot(groups, 7).permute(0, 3, 1, 2).to(torch.float32).contiguous()
    done()

    # 2. Clothes deformation: GMM at 256x192 (nearest), TPS grid at full size.
    gmm_input = torch.cat((_down(parse[:, UPPER:UPPER + 1], "nearest"), _down(pose, "nearest"),
                           _down(img_agnostic, "nearest")), dim=1)
    _, grid = nets.gmm(gmm_input, _down(c, "nearest"))
    # test.py relies on grid_sample's default, align_corners=False since torch 1.3 (its README
    # asks for torch >= 1.6): the grid's +-0.9 span is of the image's outer edges.
    warped_c = F.grid_sample(c, grid, padding_mode="border", align_corners=False)
    warped_cm = F.grid_sample(cm, grid, padding_mode="border", align_corners=False)
    done()

    # 3. Try-on synthesis: the misaligned region (clothing parse not covered by the warped
    #    garment) becomes its own segment for the ALIAS generator's mask norms.
    misalign = (parse[:, UPPER:UPPER + 1] - warped_cm).clamp(min=0.0)
    parse_div = torch.cat((parse, misalign), dim=1)
    parse_div[:, UPPER:UPPER + 1] -= misalign
    output = nets.alias(torch.cat((img_agnostic, pose, warped_c), dim=1), parse, parse_div,
                        misalign, noise.normal)
    done()
    return output


def to_uint8(output: torch.Tensor) -> torch.Tensor:
    """``utils.save_images``' conversion: (x + 1) * 0.5 * 255, clamped, truncated to uint8
    (no rounding); (b, 3, H, W) -> (b, H, W, 3) on the CPU."""
    values = ((output.float() + 1) * 0.5 * 255).cpu().clamp(0, 255)
    return values.to(torch.uint8).permute(0, 2, 3, 1)
