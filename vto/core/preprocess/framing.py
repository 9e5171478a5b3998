"""Framing geometry for ``Framing.KEEP``: a window around the person, and the way back.

The model works on a fixed 3:4 image (768×1024). ``KEEP`` cuts a window with that aspect
out of the photo around the person (padding with the photo's edge pixels where the window
leaves the photo), resizes it to the working size, and afterwards blends only the
re-generated region back into the photo at the photo's own resolution:

    photo ──letterbox 384×512──▶ pose ──▶ person box ──▶ Window ──crop+resize──▶ working image
    result = photo, except inside the (slightly dilated, feathered) mask, mapped back.

Pixels where the feathered mask is 0 are copied from the photo untouched (byte-identical).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from vto.core.preprocess.openpose import Person

# A window this close to the largest one that fits the photo becomes that one: a photo
# that is already framed around the person is used whole.
SNAP_TO_FULL = 0.75
KEYPOINT_MARGIN = 0.15      # of the keypoint box's larger side (head top, feet, hands)
MASK_MARGIN = 0.30          # of a user mask box's larger side (context around the region)
DILATE_FRACTION = 0.01      # paste-back: grow the mask by 1% of the working height ...
FEATHER_FRACTION = 0.005    # ... and soften its edge with a Gaussian of 0.5% of it


@dataclass(frozen=True)
class Window:
    """A box in photo pixels, [x0, x1) × [y0, y1); may extend past the photo (padded)."""

    x0: int
    y0: int
    x1: int
    y1: int
    photo_size: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        return self.x1 - self.x0, self.y1 - self.y0

    @property
    def padding(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) pixels outside the photo."""
        width, height = self.photo_size
        return (max(0, -self.x0), max(0, -self.y0), max(0, self.x1 - width),
                max(0, self.y1 - height))


def letterbox(photo: Image.Image, size: tuple[int, int] = (384, 512),
              fill: tuple[int, int, int] = (255, 255, 255)) -> tuple[Image.Image, float,
                                                                       tuple[float, float]]:
    """Fit ``photo`` inside ``size`` keeping its aspect; returns (image, scale, offset) with
    ``view = photo * scale + offset``."""
    scale = min(size[0] / photo.width, size[1] / photo.height)
    fitted = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    canvas = Image.new("RGB", size, fill)
    offset = ((size[0] - fitted[0]) // 2, (size[1] - fitted[1]) // 2)
    canvas.paste(photo.resize(fitted), offset)
    return canvas, scale, (float(offset[0]), float(offset[1]))


def keypoint_box(person: Person, scale: float, offset: tuple[float, float],
                 photo_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The person's keypoint box mapped back to photo pixels, grown by KEYPOINT_MARGIN."""
    box = person.bbox()
    if box is None:
        raise ValueError("person without keypoints")
    x0, y0, x1, y1 = ((box[0] - offset[0]) / scale, (box[1] - offset[1]) / scale,
                      (box[2] - offset[0]) / scale, (box[3] - offset[1]) / scale)
    return _grow((x0, y0, x1, y1), KEYPOINT_MARGIN, photo_size)


def mask_box(mask: Image.Image) -> tuple[float, float, float, float] | None:
    """Box around a mask's nonzero pixels grown by MASK_MARGIN; None for an empty mask."""
    ys, xs = np.nonzero(np.asarray(mask))
    if len(xs) == 0:
        return None
    return _grow((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), MASK_MARGIN, mask.size)


def _grow(box: tuple[float, float, float, float], margin: float,
          photo_size: tuple[int, int]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    grow = margin * max(x1 - x0, y1 - y0)
    # Margins stop at the photo: a person cut by the photo border stays cut, not padded.
    return (max(0.0, x0 - grow), max(0.0, y0 - grow), min(float(photo_size[0]), x1 + grow),
            min(float(photo_size[1]), y1 + grow))


def choose_window(box: tuple[float, float, float, float], photo_size: tuple[int, int],
                  working_size: tuple[int, int]) -> Window:
    """The window with the working aspect that holds ``box``: as tight as the box allows,
    the largest in-photo window when the box nearly fills it, inside the photo whenever it
    fits, and centred on the box otherwise."""
    photo_w, photo_h = photo_size
    unit = math.gcd(*working_size)
    unit_w, unit_h = working_size[0] // unit, working_size[1] // unit
    x0, y0, x1, y1 = box
    # window = (k*unit_w) × (k*unit_h): exact aspect in whole pixels
    k_tight = max(1, math.ceil(max((x1 - x0) / unit_w, (y1 - y0) / unit_h)))
    k_full = min(photo_w // unit_w, photo_h // unit_h)
    k = k_full if k_full >= k_tight >= SNAP_TO_FULL * k_full else k_tight
    win_w, win_h = k * unit_w, k * unit_h

    def place(centre: float, length: int, limit: int) -> int:
        start = centre - length / 2
        if length <= limit:                  # fits: slide it inside the photo
            return int(round(min(max(start, 0), limit - length)))
        return int(round(min(max(start, limit - length), 0)))    # photo fully inside

    left = place((x0 + x1) / 2, win_w, photo_w)
    top = place((y0 + y1) / 2, win_h, photo_h)
    return Window(left, top, left + win_w, top + win_h, (photo_w, photo_h))


def crop(image: Image.Image, window: Window, size: tuple[int, int], *,
         mask: bool = False) -> Image.Image:
    """The window cut out and resized to ``size``. Photos are padded with their edge pixels
    and resized bicubic; masks (``mask=True``) are padded with 0 and resized NEAREST."""
    width, height = window.photo_size
    inner = image.crop((max(0, window.x0), max(0, window.y0), min(width, window.x1),
                        min(height, window.y1)))
    left, top, right, bottom = window.padding
    if any(window.padding):
        border = cv2.BORDER_CONSTANT if mask else cv2.BORDER_REPLICATE
        padded = cv2.copyMakeBorder(np.asarray(inner), top, bottom, left, right, border, value=0)
        inner = Image.fromarray(padded, image.mode)
    if mask:
        return inner.resize(size, Image.NEAREST)
    return inner.resize(size)


def soft_mask(mask: Image.Image) -> np.ndarray:
    """Paste-back alpha (uint8) at the working size: the mask dilated, then feathered."""
    height = mask.height
    radius = max(1, round(DILATE_FRACTION * height))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    grown = cv2.dilate(np.asarray(mask.convert("L")), kernel)
    sigma = max(0.5, FEATHER_FRACTION * height)
    return cv2.GaussianBlur(grown, (0, 0), sigma)


def window_alpha(mask: Image.Image, window: Window) -> np.ndarray:
    """The paste-back alpha (uint8) at the window's size in photo pixels."""
    return cv2.resize(soft_mask(mask), window.size, interpolation=cv2.INTER_LINEAR)


def paste_back(photo: Image.Image, generated: Image.Image, mask: Image.Image,
               window: Window) -> Image.Image:
    """Blend ``generated`` (working size) into ``photo`` through the soft mask; every pixel
    where the soft mask is 0 keeps the photo's bytes. Output size == photo size."""
    win_w, win_h = window.size
    alpha = window_alpha(mask, window)
    # limit the work to the window ∩ photo ∩ alpha's support
    width, height = window.photo_size
    ys, xs = np.nonzero(alpha)
    out = np.array(photo.convert("RGB"))
    if len(xs) == 0:
        return Image.fromarray(out)
    ax0 = max(xs.min(), -window.x0)
    ay0 = max(ys.min(), -window.y0)
    ax1 = min(xs.max() + 1, width - window.x0)
    ay1 = min(ys.max() + 1, height - window.y0)
    if ax0 >= ax1 or ay0 >= ay1:
        return Image.fromarray(out)
    gen = np.asarray(generated.convert("RGB").resize((win_w, win_h), Image.LANCZOS))
    a = alpha[ay0:ay1, ax0:ax1, None].astype(np.float32) / 255.0
    px0, py0 = window.x0 + ax0, window.y0 + ay0
    target = out[py0:py0 + (ay1 - ay0), px0:px0 + (ax1 - ax0)]
    blended = target.astype(np.float32) * (1.0 - a) + gen[ay0:ay1, ax0:ax1].astype(np.float32) * a
    blended = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    untouched = alpha[ay0:ay1, ax0:ax1] == 0
    blended[untouched] = target[untouched]
    out[py0:py0 + (ay1 - ay0), px0:px0 + (ax1 - ax0)] = blended
    return Image.fromarray(out)


def mask_to_photo(mask: Image.Image, window: Window) -> Image.Image:
    """A working-size mask mapped into photo coordinates ("L", 0 outside the window)."""
    win_w, win_h = window.size
    big = mask.convert("L").resize((win_w, win_h), Image.NEAREST)
    canvas = Image.new("L", window.photo_size, 0)
    canvas.paste(big, (window.x0, window.y0))
    return canvas
