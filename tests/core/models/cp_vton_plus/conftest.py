"""CP-VTON+ fixtures: random weights in the published format (written once per session) and
hand-made inputs (a drawn figure, so every test knows where each body part is)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vto.core.models.base import ModelInputs


@pytest.fixture(scope="session")
def cpvton_checkpoint(tmp_path_factory):
    from vto.dev.cp_vton_plus import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("cpvton") / "checkpoints", seed=0)


@pytest.fixture(scope="session")
def cpvton_backend(cpvton_checkpoint):
    from vto.core.models.cp_vton_plus.backend import CPVTONPlusBackend

    return CPVTONPlusBackend.load(cpvton_checkpoint, "cpu")


def figure_inputs() -> ModelInputs:
    """A figure in the 384x512 preprocessing frame: face (LIP 13 / ATR 11) at the top,
    hair (2) above it, upper clothes (LIP 5 / ATR 4) below, an ATR-only neck (18), pants
    (LIP 9 / ATR 6) at the bottom; keypoints on the body; a striped garment with an
    elliptic silhouette."""
    lip = np.zeros((512, 384), np.uint8)
    atr = np.zeros((512, 384), np.uint8)
    lip[40:80, 150:234] = atr[40:80, 150:234] = 2           # hair
    lip[80:140, 160:224] = 13                                # face
    atr[80:140, 160:224] = 11
    atr[140:160, 176:208] = 18                               # neck: LIP says background
    lip[160:380, 110:274] = 5                                # upper clothes
    atr[160:380, 110:274] = 4
    lip[380:512, 120:264] = 9                                # pants
    atr[380:512, 120:264] = 6
    kp = np.zeros((18, 2))
    kp[0], kp[1], kp[2], kp[5] = (192, 110), (192, 160), (140, 170), (244, 170)
    kp[8], kp[11] = (160, 380), (224, 380)
    rng = np.random.default_rng(0)
    person = Image.fromarray(rng.integers(0, 256, (256, 192, 3), dtype=np.uint8))
    garment = Image.new("RGB", (300, 400), (255, 255, 255))
    draw = ImageDraw.Draw(garment)
    for y in range(40, 360, 20):
        draw.rectangle((50, y, 250, y + 9), fill=(200, 30, 30))
    mask = Image.new("L", (300, 400))
    ImageDraw.Draw(mask).ellipse((40, 30, 260, 370), fill=255)
    return ModelInputs(person=person, garment=garment, keypoints=kp, parse=atr, parse_lip=lip,
                       garment_mask=mask)


@pytest.fixture
def figure() -> ModelInputs:
    return figure_inputs()
