"""Image input hygiene: formats, EXIF orientation, transparency, modes, bad inputs, bombs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vto.core.images import SERVICE_FORMATS, open_image, open_mask, to_rgb
from vto.errors import ImageTooLarge, InputNotFound, InvalidImage
from tests.conftest import EXAMPLES



def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_example_photo_opens_as_rgb():
    image = open_image(EXAMPLES / "person" / "model_1.png")
    assert image.mode == "RGB" and image.size == (768, 1024)
    assert image.tobytes() == Image.open(EXAMPLES / "person" / "model_1.png").convert("RGB").tobytes()


def test_exif_orientation_is_applied():
    photo = Image.open(EXAMPLES / "person" / "01008_00.jpg").convert("RGB")
    # Store the photo sideways with "rotate 90 CW to view" (orientation 6), like a phone.
    sideways = photo.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(sideways, "JPEG", exif=exif.tobytes(), quality=95)
    upright = open_image(data)
    assert upright.size == photo.size                     # 768x1024 again, not 1024x768
    diff = np.abs(np.asarray(upright, np.int16) - np.asarray(photo, np.int16)).mean()
    assert diff < 3                                       # JPEG noise only


def test_rgba_is_composited_on_white():
    rgba = Image.new("RGBA", (8, 8), (10, 20, 30, 0))
    rgba.putpixel((0, 0), (10, 20, 30, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 128))
    image = open_image(_encode(rgba, "PNG"))
    assert image.mode == "RGB"
    assert image.getpixel((5, 5)) == (255, 255, 255)
    assert image.getpixel((0, 0)) == (10, 20, 30)
    assert image.getpixel((1, 0)) == (126, 126, 126)    # HWC3 truncates 126.99


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "1", "I;16", "LA"])
def test_other_modes_become_rgb(mode):
    base = Image.new("RGB", (6, 4), (200, 100, 50))
    if mode == "I;16":
        image = Image.fromarray(np.full((4, 6), 65535, np.uint16))
        assert to_rgb(image).getpixel((0, 0)) == (255, 255, 255)
        image = Image.fromarray(np.full((4, 6), 32896, np.uint16))
        assert to_rgb(image).getpixel((0, 0)) == (128, 128, 128)
        return
    converted = base.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = open_image(_encode(converted, fmt))
    assert image.mode == "RGB" and image.size == (6, 4)


def test_webp_and_formats_filter(tmp_path):
    photo = Image.new("RGB", (16, 16), (1, 2, 3))
    assert open_image(_encode(photo, "WEBP", lossless=True)).getpixel((0, 0)) == (1, 2, 3)
    bmp = tmp_path / "photo.bmp"
    photo.save(bmp)
    assert open_image(bmp).size == (16, 16)
    with pytest.raises(InvalidImage, match="photo.bmp"):
        open_image(bmp, formats=SERVICE_FORMATS)


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFound, match="nope.jpg"):
        open_image(tmp_path / "nope.jpg")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello, I am text")
    with pytest.raises(InvalidImage, match="notes.jpg"):
        open_image(path)
    with pytest.raises(InvalidImage, match="uploaded image"):
        open_image(b"\x00\x01garbage")


def test_truncated_file(tmp_path):
    data = (EXAMPLES / "person" / "01008_00.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImage, match="cut.jpg"):
        open_image(path)
    png = _encode(Image.new("RGB", (64, 64), (5, 5, 5)), "PNG")
    with pytest.raises(InvalidImage):
        open_image(png[: len(png) - 30])


def test_too_many_pixels_is_refused_before_decoding():
    # A 5000x5000 PNG of one colour is a few KB but 25 M pixels once decoded.
    header_only = _encode(Image.new("L", (5000, 5000)), "PNG")
    with pytest.raises(ImageTooLarge, match="25,000,000"):
        open_image(header_only, max_pixels=1_000_000)
    assert open_image(header_only, max_pixels=25_000_000).size == (5000, 5000)


def test_open_mask_binarises(tmp_path):
    values = np.array([[0, 126, 127, 255]], np.uint8)
    path = tmp_path / "mask.png"
    Image.fromarray(np.stack([values] * 3, axis=2)).save(path)
    mask = open_mask(path)
    assert mask.mode == "L"
    assert np.asarray(mask).tolist() == [[0, 0, 255, 255]]
