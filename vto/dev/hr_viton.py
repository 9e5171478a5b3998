"""A tiny random HR-VITON checkpoint in the published files' format, and hand-made inputs
(tests, demos and the equivalence check only).

Writes ``<root>/hr-viton/mtviton.pth`` and ``<root>/hr-viton/gen.pth`` as ``torch.save`` d
state dicts with the published keys and ``_metadata`` (spectral norms as ``weight_orig``,
``weight_u``, ``weight_v``; BatchNorm statistics with ``num_batches_tracked``), exactly what
the original's ``test_generator.py`` loads. Shrunk only through the original's own options,
so the original runs unchanged on the same files:

* the condition generator keeps its full width: ``test_generator.py`` hard-codes ``ngf=96``
  (47 M parameters, 0.19 GB, about a second to write);
* the image generator takes ``--ngf`` (default 64): :data:`TINY_NGF` here (2.9 M parameters).
  Its size is fixed at 1024x768 by the dataset code and every SPADE norm keeps its 128 hidden
  channels, so one image still takes 10-20 s on two CPU cores and about 2 GB.

Every tensor comes from ``torch.Generator().manual_seed(seed)``; nothing touches the global
RNG. Weights are scaled so activations stay in range (He-normal convolutions, spectral
``u``/``v`` from power iteration as in a trained file, BatchNorm statistics and SPADE noise
scales random and non-trivial), so the warp, the segmentation and the noise all matter.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from vto.core.models.base import ModelInputs

from vto.core.models.hr_viton.networks import (ConditionGenerator, SPADEGenerator,
                                               apply_spectral_norm)
from vto.core.models.hr_viton.spec import CONDITION_FILE, GENERATOR_FILE

TINY_NGF = 4          # the image generator's --ngf (published: 64)
CONDITION_NGF = 96    # hard-coded by the original's test_generator.py


def _he(shape: torch.Size, g: torch.Generator, gain: float = 1.0) -> torch.Tensor:
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=g) * gain * math.sqrt(2.0 / fan_in)


def _power_iteration(weight: torch.Tensor, g: torch.Generator,
                     steps: int = 15) -> tuple[torch.Tensor, torch.Tensor]:
    matrix = weight.reshape(weight.shape[0], -1)
    u = nn.functional.normalize(torch.randn(matrix.shape[0], generator=g), dim=0, eps=1e-12)
    for _ in range(steps):
        v = nn.functional.normalize(matrix.t() @ u, dim=0, eps=1e-12)
        u = nn.functional.normalize(matrix @ v, dim=0, eps=1e-12)
    return u, v


@torch.no_grad()
def randomize(model: nn.Module, g: torch.Generator, flow_gain: float = 1.0) -> nn.Module:
    """Fill every parameter and buffer of a freshly built (or ``to_empty``) network."""
    for module_name, module in model.named_modules():
        tensors = (dict(module.named_parameters(recurse=False))
                   | dict(module.named_buffers(recurse=False)))
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.weight.copy_(1 + 0.4 * (torch.rand(c, generator=g) - 0.5))
            module.bias.copy_(0.1 * torch.randn(c, generator=g))
            module.running_mean.copy_(0.1 * torch.randn(c, generator=g))
            module.running_var.copy_(0.5 + torch.rand(c, generator=g))
            module.num_batches_tracked.fill_(int(torch.randint(1, 10**6, (1,), generator=g)))
            continue
        if "noise_scale" in tensors:
            scale = tensors["noise_scale"]
            scale.copy_(0.2 * torch.randn(scale.shape, generator=g))
        weight = tensors.get("weight_orig", tensors.get("weight"))
        if weight is None:
            continue
        gain = flow_gain if module_name.startswith("flow_conv") else 1.0
        weight.copy_(_he(weight.shape, g, gain))
        if "weight_orig" in tensors:
            u, v = _power_iteration(weight, g)
            tensors["weight_u"].copy_(u)
            tensors["weight_v"].copy_(v)
        if tensors.get("bias") is not None:
            tensors["bias"].copy_(0.05 * torch.randn(tensors["bias"].shape, generator=g))
    return model


def tiny_condition_generator(seed: int = 0, ngf: int = CONDITION_NGF) -> ConditionGenerator:
    g = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        model = ConditionGenerator(ngf=ngf)
    # Small flow heads: displacements of a few pixels, like a trained warp.
    return randomize(model.to_empty(device="cpu"), g, flow_gain=0.05)


def tiny_image_generator(seed: int = 0, ngf: int = TINY_NGF) -> SPADEGenerator:
    g = torch.Generator().manual_seed(seed + 1)
    with torch.device("meta"):
        model = SPADEGenerator(ngf=ngf)
    model = model.to_empty(device="cpu")
    with torch.random.fork_rng(devices=[]):  # spectral_norm's placeholder u/v use the global RNG
        apply_spectral_norm(model)
    return randomize(model, g)


def write_tiny_checkpoint(root: Path, seed: int = 0, ngf: int = TINY_NGF,
                          condition_ngf: int = CONDITION_NGF) -> Path:
    """Write both files under ``root`` (the checkpoint directory); returns ``root``.

    ``ngf`` is the image generator's width (the original's ``--ngf``). ``condition_ngf``
    narrows the condition generator for vto's own tests only: the original cannot load
    anything but 96 (same keys and format, other shapes)."""
    root = Path(root)
    (root / CONDITION_FILE).parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_condition_generator(seed, condition_ngf).state_dict(), root / CONDITION_FILE)
    torch.save(tiny_image_generator(seed, ngf).state_dict(), root / GENERATOR_FILE)
    return root


# --------------------------------------------------------------------------- synthetic inputs
# Hand-made ModelInputs for tests and the equivalence check: label maps and keypoints of a
# drawn person in vto's 384x512 frame (ATR with the neck as 18, and LIP), a DensePose-like
# image and a garment with its mask.

BASE_KEYPOINTS = [[192, 70], [192, 125], [125, 135], [95, 230], [70, 320], [259, 135], [289, 230],
                  [314, 320], [155, 280], [150, 380], [160, 480], [229, 280], [234, 380],
                  [224, 480], [180, 60], [204, 60], [170, 70], [214, 70]]
POSE_KINDS = ("base", "no_left_wrist", "no_right_elbow", "arms_up", "fractional", "narrow_hips")
LABEL_KINDS = ("plain", "coat", "blocky")


def synthetic_keypoints(kind: str = "base") -> np.ndarray:
    """(18, 2) COCO-18 keypoints in the 384x512 frame, (0, 0) = missing."""
    kp = np.array(BASE_KEYPOINTS, dtype=np.float64)
    if kind == "no_left_wrist":
        kp[7] = 0
    elif kind == "no_right_elbow":        # wrist present, elbow missing
        kp[3] = 0
    elif kind == "arms_up":
        kp[3], kp[4], kp[6], kp[7] = [90, 80], [70, 10], [300, 80], [320, 12]
    elif kind == "fractional":
        kp += [[0.37, 0.61]]
    elif kind == "narrow_hips":           # hips closer than shoulders: pulled apart
        kp[8], kp[11] = [175, 285], [209, 285]
    elif kind != "base":
        raise ValueError(f"unknown keypoint kind {kind!r}")
    return kp


def synthetic_labels(kind: str = "plain", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ATR with neck 18, LIP) label maps, (512, 384) uint8 each, of the drawn person."""
    atr, lip = Image.new("L", (384, 512), 0), Image.new("L", (384, 512), 0)
    da, dl = ImageDraw.Draw(atr), ImageDraw.Draw(lip)

    def both(shape: str, xy, a: int, l: int) -> None:
        getattr(da, shape)(xy, fill=a)
        getattr(dl, shape)(xy, fill=l)

    both("ellipse", [160, 25, 224, 100], 2, 2)                      # hair
    both("ellipse", [167, 45, 217, 105], 11, 13)                    # face
    both("rectangle", [180, 100, 204, 126], 18, 13)                 # neck (LIP: face)
    both("rectangle", [128, 125, 256, 285], 4, 7 if kind == "coat" else 5)
    both("rectangle", [135, 285, 249, 430], 6, 9)                   # pants
    both("polygon", [(128, 128), (108, 135), (78, 230), (58, 325), (82, 330), (105, 240),
                     (128, 175)], 15, 15)                           # right arm (image left)
    both("polygon", [(256, 128), (276, 135), (306, 230), (326, 325), (302, 330), (279, 240),
                     (256, 175)], 14, 14)
    both("rectangle", [150, 430, 180, 490], 13, 17)                 # legs
    both("rectangle", [204, 430, 234, 490], 12, 16)
    both("rectangle", [145, 490, 182, 510], 10, 19)                 # shoes
    both("rectangle", [202, 490, 239, 510], 9, 18)
    both("rectangle", [172, 60, 212, 72], 3, 4)                     # sunglasses
    atr_a, lip_a = np.array(atr), np.array(lip)
    if kind == "blocky":  # random 32x32 blocks of every label over the lower half
        rng = np.random.default_rng(seed)
        for y in range(256, 512, 32):
            for x in range(0, 384, 32):
                lip_a[y:y + 32, x:x + 32] = rng.integers(0, 20)
                atr_a[y:y + 32, x:x + 32] = rng.integers(0, 19)
    elif kind not in ("plain", "coat"):
        raise ValueError(f"unknown label kind {kind!r}")
    return atr_a, lip_a


def synthetic_densepose(atr: np.ndarray, size: tuple[int, int] = (768, 1024)) -> Image.Image:
    """A DensePose-like RGB image: a colour per body part, shaded by position."""
    labels = np.asarray(Image.fromarray(atr).resize(size, Image.NEAREST)).astype(np.int64)
    ys, xs = np.mgrid[0:size[1], 0:size[0]]
    rgb = np.stack([(labels * 37) % 256, (xs * 255) // size[0], (ys * 255) // size[1]], -1)
    rgb[labels == 0] = 0
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def synthetic_garment(size: tuple[int, int] = (768, 1024)) -> tuple[Image.Image, Image.Image]:
    """A striped T-shirt on white and its mask."""
    w, h = size
    shape = [(0.3, 0.15), (0.42, 0.12), (0.58, 0.12), (0.7, 0.15), (0.92, 0.35), (0.8, 0.42),
             (0.72, 0.32), (0.72, 0.9), (0.28, 0.9), (0.28, 0.32), (0.2, 0.42), (0.08, 0.35)]
    polygon = [(x * w, y * h) for x, y in shape]
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    stripes = np.zeros((h, w, 3), np.uint8)
    stripes[..., 0] = 200
    stripes[(np.arange(h) // max(1, h // 24)) % 2 == 0, :, 2] = 180
    garment = Image.composite(Image.fromarray(stripes, "RGB"),
                              Image.new("RGB", size, (255, 255, 255)), mask)
    return garment, mask


def synthetic_person(atr: np.ndarray, size: tuple[int, int] = (768, 1024)) -> Image.Image:
    """A flat-coloured person on grey, drawn from the label map."""
    labels = np.asarray(Image.fromarray(atr).resize(size, Image.NEAREST)).astype(np.int64)
    palette = (np.arange(20)[:, None] * np.array([53, 97, 151]) + 60) % 256
    rgb = palette[labels]
    rgb[labels == 0] = 200
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def synthetic_inputs(pose: str = "base", labels: str = "plain",
                     person: Image.Image | None = None,
                     garment: tuple[Image.Image, Image.Image] | None = None) -> ModelInputs:
    """Everything HR-VITON needs (POSE, PARSE, GARMENT_MASK, DENSEPOSE) at 768x1024."""
    atr, lip = synthetic_labels(labels)
    cloth, cloth_mask = garment if garment is not None else synthetic_garment()
    return ModelInputs(person=(person or synthetic_person(atr)).convert("RGB").resize((768, 1024)),
                       garment=cloth, garment_mask=cloth_mask,
                       keypoints=synthetic_keypoints(pose), parse=atr, parse_lip=lip,
                       densepose=synthetic_densepose(atr))
