"""garment_mask: the example product photos (points read off the images) and synthetic cases."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vto.core.preprocess.garment_mask import garment_mask
from vto.errors import InvalidInput

W, H = 768, 1024
CORNERS = [(5, 5), (W - 6, 5), (5, H - 6), (W - 6, H - 6)]

# (file, garment points, background points, plausible area fraction); (x, y) in 768×1024.
PHOTOS = [
    # lavender/purple T-shirt on light grey: centre, "VANS" print, a sleeve; beside the body
    ("00055_00.jpg", [(384, 512), (384, 240), (130, 330)], [(60, 600), (700, 700), (384, 950)],
     (0.30, 0.50)),
    # black T-shirt with a white dalmatian print (inside, must be filled)
    ("03244_00.jpg", [(384, 512), (300, 520), (384, 880)], [(60, 600), (720, 400), (384, 980)],
     (0.38, 0.55)),
    # white T-shirt on a grey, vignetted background: the white-on-white case; (532, 580) is
    # plain white fabric ~16 px inside its faint right edge (as light as the background there:
    # colour distance alone misses it), (610, 560) background just outside
    ("048554_1.jpg", [(384, 700), (384, 300), (532, 580), (560, 700), (215, 560)],
     [(610, 560), (170, 560), (40, 260), (384, 990)], (0.38, 0.55)),
    # ripped jeans: the gap between the legs is background, each leg is garment
    ("051827_1.jpg", [(320, 512), (470, 512), (384, 150)], [(393, 512), (400, 800), (120, 512)],
     (0.18, 0.33)),
    # patterned dress
    ("053290_1.jpg", [(384, 512), (384, 850), (170, 250)], [(60, 600), (700, 600), (384, 980)],
     (0.28, 0.45)),
]


def _mask(image: Image.Image) -> np.ndarray:
    mask = garment_mask(image)
    assert mask.mode == "L" and mask.size == image.size
    values = np.asarray(mask)
    assert set(np.unique(values)) <= {0, 255}
    return values


@pytest.mark.parametrize("name, inside, outside, area", PHOTOS, ids=[p[0] for p in PHOTOS])
def test_example_photos(examples: Path, name: str, inside: list, outside: list,
                        area: tuple) -> None:
    mask = _mask(Image.open(examples / "garment" / name))
    for x, y in inside:
        assert mask[y, x] == 255, f"({x}, {y}) should be garment"
    for x, y in outside + CORNERS:
        assert mask[y, x] == 0, f"({x}, {y}) should be background"
    assert area[0] < (mask > 0).mean() < area[1]


def test_boundary_on_a_high_contrast_garment(examples: Path) -> None:
    """Black shirt on light grey: the outline sits where the shirt's own threshold puts it
    (the colour distance alone lands ~3 px outside; the GrabCut refinement fixes that)."""
    rgb = np.asarray(Image.open(examples / "garment" / "03244_00.jpg").convert("RGB"))
    dark = (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) < 150).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark, 8)
    shirt = (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8)
    contours, _ = cv2.findContours(shirt, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    reference = cv2.drawContours(np.zeros_like(shirt), contours, -1, 1, -1) > 0
    mask = _mask(Image.fromarray(rgb)) > 0
    assert (mask & reference).sum() / (mask | reference).sum() > 0.99


def test_same_photo_same_mask(examples: Path) -> None:
    """GrabCut's k-means draws from OpenCV's global RNG: the mask must not depend on it."""
    photo = Image.open(examples / "garment" / "051827_1.jpg")
    first = _mask(photo)
    cv2.randu(np.zeros((4, 4)), 0, 1)                   # someone else used the RNG
    assert np.array_equal(first, _mask(photo))


def _scene(size=(300, 400), background=(235, 235, 235), noise=3.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.empty((size[1], size[0], 3), np.float64)
    image[:] = background
    return image + rng.normal(0, noise, image.shape)


def _image(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_shape_on_a_noisy_flat_background() -> None:
    scene = _scene()
    truth = np.zeros((400, 300), np.uint8)
    cv2.ellipse(truth, (150, 200), (90, 140), 0, 0, 360, 1, -1)
    scene[truth > 0] = scene[truth > 0] * 0 + (180, 40, 60)
    mask = _mask(_image(scene)) > 0
    assert _iou(mask, truth > 0) > 0.97
    assert mask[200, 150] and not mask[5, 5] and not mask[395, 295]


def test_hole_inside_the_garment_is_filled() -> None:
    """A print of the background's colour inside the garment is still garment."""
    scene = _scene()
    scene[60:340, 50:250] = (40, 60, 160)
    scene[150:250, 110:190] = (235, 235, 235)          # the "hole": background colour
    mask = _mask(_image(scene))
    assert mask[200, 150] == 255 and mask[60:340, 50:250].min() == 255
    assert mask[:55].max() == 0 and mask[345:].max() == 0


def test_garment_touching_the_border() -> None:
    scene = _scene()
    scene[150:, 60:240] = (30, 110, 60)                # cropped at the bottom edge
    mask = _mask(_image(scene))
    assert mask[399, 150] == 255 and mask[300, 150] == 255
    assert mask[399, 20] == 0 and mask[100, 150] == 0 and mask[5, 5] == 0


def test_white_garment_on_a_vignetted_white_background() -> None:
    """Nearly the background's colour (ΔE ~3-6) with a light gradient behind it."""
    yy, xx = np.mgrid[0:400, 0:300]
    falloff = ((xx - 150) / 150.0) ** 2 + ((yy - 200) / 200.0) ** 2
    scene = _scene(noise=1.0)
    scene -= (falloff * 25)[:, :, None]                # corners ~25 levels darker
    truth = np.zeros((400, 300), np.uint8)
    cv2.rectangle(truth, (80, 70), (220, 330), 1, -1)
    scene[truth > 0] = 247 + np.random.default_rng(1).normal(0, 1.0, (int(truth.sum()), 3))
    mask = _mask(_image(scene)) > 0
    assert _iou(mask, truth > 0) > 0.95


def test_only_the_largest_piece_is_kept() -> None:
    scene = _scene()
    scene[50:350, 40:200] = (90, 20, 20)
    scene[20:40, 250:280] = (90, 20, 20)               # a stray tag
    mask = _mask(_image(scene))
    assert mask[200, 120] == 255 and mask[30, 265] == 0


def test_alpha_cut_out_is_used_directly() -> None:
    rgba = np.zeros((200, 150, 4), np.uint8)
    rgba[:, :, :3] = 250                               # colour alone would find nothing
    rgba[40:160, 30:120, 3] = 255
    mask = _mask(Image.fromarray(rgba, "RGBA"))
    assert mask[100, 75] == 255 and mask[10, 10] == 0 and (mask > 0).sum() == 120 * 90


def test_large_photo_keeps_its_size() -> None:
    scene = _scene(size=(1500, 2000), noise=2.0)
    scene[300:1700, 400:1100] = (20, 20, 20)
    mask = _mask(_image(scene))
    assert mask.shape == (2000, 1500)
    assert mask[1000, 750] == 255 and mask[1000, 300] == 0
    assert abs((mask > 0).mean() - 1400 * 700 / 3_000_000) < 0.01


def test_plain_image_has_no_garment() -> None:
    with pytest.raises(InvalidInput, match="no garment"):
        garment_mask(_image(_scene()))


def test_busy_background_is_refused() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (400, 300, 3)).astype(np.float64)
    with pytest.raises(InvalidInput, match="plain background"):
        garment_mask(_image(noise))
