"""How the GMM's warped garment reaches the TOM.

The original runs the two stages as separate programs: ``test.py --stage GMM`` saves the warped
garment and its warped mask with ``visualization.save_images`` as ``warp-cloth/NAME.jpg`` and
``warp-mask/NAME.jpg`` (``(x + 1) / 2 · 255`` truncated to uint8, JPEG at Pillow's default
quality 75 with 4:2:0 chroma), and the TOM's dataset reads them back: the garment normalised to
[-1, 1], the mask thresholded at 128 to 0/1. The TOM weights were trained on such files (the
README's step 4 generates the training set's warp-cloth the same way).

vto offers both handoffs:

* ``LOSSLESS`` (default): the same uint8 quantisation and the same 128 threshold, without the
  JPEG — exactly the original with PNG files in between. The threshold matters (TOM only ever
  saw binary masks, and the composition ``c·m + r·(1 − m)`` uses the mask it is given);
  the JPEG adds nothing the model needs but 8x8 blocks and halved chroma resolution in the
  garment pixels that the composition copies straight into the output.
* ``JPEG`` (equivalence mode): the JPEG round trip in memory, byte for byte what the files
  hold, so vto's output equals the original's own two-stage run. Encoder output depends on
  the libjpeg in the installed Pillow, as it does for the original.
"""

from __future__ import annotations

import enum
import io

import numpy as np
import torch
from PIL import Image

from vto.core.models.cp_vton_plus.inputs import garment_mask_tensor, normalise


class Handoff(str, enum.Enum):
    LOSSLESS = "lossless"
    JPEG = "jpeg"


DEFAULT_HANDOFF = Handoff.LOSSLESS


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``save_images``' conversion of one (C, H, W) image in [-1, 1]: ``(x + 1) · 0.5 · 255``,
    clamped, truncated (not rounded) to uint8; (H, W, 3) or (H, W)."""
    scaled = ((image.detach().float().cpu() + 1) * 0.5 * 255).clamp(0, 255)
    array = scaled.numpy().astype(np.uint8)
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def _jpeg_round_trip(array: np.ndarray) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG")   # Pillow defaults, as Image.save(x.jpg)
    buffer.seek(0)
    return Image.open(buffer).copy()


def hand_over(warped_garment: torch.Tensor, warped_mask: torch.Tensor,
              handoff: Handoff = DEFAULT_HANDOFF) -> tuple[torch.Tensor, torch.Tensor]:
    """(garment (1, 3, H, W) in [-1, 1], mask (1, 1, H, W) 0/1) as the TOM reads them back.

    ``warped_garment`` is the GMM's ``grid_sample`` of the garment (1, 3, H, W); ``warped_mask``
    that of the garment mask (1, 1, H, W), saved by the original as ``mask * 2 - 1``.
    """
    garment = to_uint8(warped_garment[0])
    mask = to_uint8(warped_mask[0] * 2 - 1)
    if Handoff(handoff) is Handoff.JPEG:
        garment_image = _jpeg_round_trip(garment)
        mask_array = np.asarray(_jpeg_round_trip(mask).convert("L"))
    else:
        garment_image, mask_array = Image.fromarray(garment), mask
    device = warped_garment.device
    return (normalise(garment_image)[None].to(device),
            garment_mask_tensor(mask_array)[None].to(device))
