"""Image input hygiene: every photo, garment and mask enters vto through this module.

Contract of :func:`open_image`:
  * accepts a path (``str``/``Path``; ``~`` and ``$VARS`` expanded) or the raw bytes of an
    upload;
  * refuses images with more than ``max_pixels`` pixels *before* decoding them (Pillow reads
    only the header in ``Image.open``), so a decompression bomb never reaches memory;
  * applies the EXIF orientation (phone photos are stored sideways with a rotate tag);
  * returns a fully decoded ``"RGB"`` image: transparency is composited on white (as the
    original's ``HWC3`` does), greyscale/CMYK/16-bit are converted;
  * raises :class:`~vto.errors.InputNotFound` for a missing file, :class:`~vto.errors.InvalidImage`
    for anything that is not a (complete) image of an allowed format, and
    :class:`~vto.errors.ImageTooLarge` above the pixel cap.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vto.core.paths import expand_path
from vto.errors import ImageTooLarge, InputNotFound, InvalidImage

DEFAULT_MAX_PIXELS = 40_000_000
SERVICE_FORMATS = ("JPEG", "PNG", "WEBP")

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                  Image.DecompressionBombError)


def _describe(source: str | Path | bytes, name: str | None) -> str:
    if name:
        return name
    return "the uploaded image" if isinstance(source, (bytes, bytearray)) else f"'{source}'"


def _open_raw(source: str | Path | bytes, *, max_pixels: int, formats: Sequence[str] | None,
              name: str | None) -> Image.Image:
    """Decode ``source`` with its EXIF orientation applied, in whatever mode it is stored."""
    what = _describe(source, name)
    if isinstance(source, (bytes, bytearray)):
        stream: io.BytesIO | Path = io.BytesIO(bytes(source))
    else:
        stream = expand_path(source)  # "~/me.jpg", "$PHOTOS/me.jpg"
        if not stream.is_file():
            raise InputNotFound(f"image file {what} does not exist")
    allowed = "/".join(formats) if formats else "an image"
    with warnings.catch_warnings():
        # Pillow warns above its own bomb threshold; our own cap below is the decision.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(stream, formats=list(formats) if formats else None)
        except Image.DecompressionBombError:
            raise ImageTooLarge(f"{what} has too many pixels (limit {max_pixels:,})") from None
        except UnidentifiedImageError:
            raise InvalidImage(f"{what} is not a supported image (expected {allowed})") from None
        except _DECODE_ERRORS as exc:
            raise InvalidImage(f"{what} could not be read as an image: {exc}") from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"{what} is {width}x{height} = {width * height:,} pixels "
                    f"(limit {max_pixels:,})")
            if width < 1 or height < 1:
                raise InvalidImage(f"{what} is empty ({width}x{height})")
            # One rule for every input: a still image. (MPO is how cameras store a JPEG with
            # a preview frame; its first frame is the photo.)
            if getattr(image, "is_animated", False) and image.format != "MPO":
                raise InvalidImage(f"{what} is animated; send a still image")
            try:
                image.load()
                return ImageOps.exif_transpose(image)
            except _DECODE_ERRORS as exc:
                raise InvalidImage(f"{what} is truncated or corrupt: {exc}") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> ``"RGB"``; transparent pixels become white (the original's HWC3 rule)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit/int/float greyscale: Pillow's convert() would clip to white, so scale instead.
        data = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or data.max(initial=0) > 255:
            data = data / 257.0
        grey = np.clip(np.rint(data), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB", "1") and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
        alpha = rgba[:, :, 3:4] / 255.0
        flat = rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha)
        return Image.fromarray(np.clip(flat, 0, 255).astype(np.uint8), "RGB")
    return image.convert("RGB")


def open_image(source: str | Path | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               formats: Sequence[str] | None = None, name: str | None = None) -> Image.Image:
    """Open a photo as a decoded, upright ``"RGB"`` image (see the module docstring).

    ``formats``: Pillow format names to accept (the service passes ``SERVICE_FORMATS``);
    ``None`` accepts anything Pillow reads. ``name`` is how error messages call the input.
    """
    return to_rgb(_open_raw(source, max_pixels=max_pixels, formats=formats, name=name))


def binarize_mask(mask: Image.Image) -> Image.Image:
    """Any mode -> ``"L"`` with values 0/255 (>= 127 -> 255). Alpha is ignored."""
    if mask.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        grey = np.asarray(to_rgb(mask).convert("L"))
    else:
        grey = np.asarray(mask.convert("L"))
    return Image.fromarray(np.where(grey >= 127, 255, 0).astype(np.uint8), "L")


def open_mask(source: str | Path | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS,
              formats: Sequence[str] | None = None, name: str | None = None) -> Image.Image:
    """Open a user mask as a binary ``"L"`` image: 255 = region to re-generate, 0 = keep."""
    return binarize_mask(_open_raw(source, max_pixels=max_pixels, formats=formats, name=name))


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of ``image``; re-encoding keeps pixels only (no EXIF or text chunks)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def probe_size(source: bytes, formats: Sequence[str] | None = None) -> tuple[int, int]:
    """(width, height) from the header alone (nothing is decoded); InvalidImage if unreadable."""
    try:
        with Image.open(io.BytesIO(source), formats=list(formats) if formats else None) as image:
            return image.size
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        raise InvalidImage("the uploaded file is not a supported image") from None
