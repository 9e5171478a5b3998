"""Synthetic inputs for the VITON-HD equivalence check: vto's ModelInputs for a person photo.

vto's real pose and parsing models cannot run here with meaningful weights, so the keypoints
(COCO-18, 384x512 frame) and the ATR/LIP label maps (512x384) are drawn by hand: a body
made of a head, neck, torso, arms and legs following the keypoints, in several variants
that reach the original's branches (missing elbow or wrists, arms leaving the frame, hips
narrower or wider than the shoulders, every ATR label, random label blocks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vto.core.models.base import ModelInputs

# COCO-18 keypoints in the 384x512 frame of a frontal half-body photo
FRONTAL = {0: (192, 78), 1: (192, 128), 2: (142, 134), 3: (126, 208), 4: (120, 282),
           5: (242, 134), 6: (258, 208), 7: (264, 282), 8: (162, 292), 9: (160, 410),
           10: (158, 500), 11: (222, 292), 12: (224, 410), 13: (226, 500), 14: (182, 70),
           15: (202, 70), 16: (172, 74), 17: (212, 74)}

PERSON_KINDS = ("frontal", "elbow_missing", "wrists_missing", "narrow_hips", "wide_hips",
                "arms_out", "fractional", "all_labels", "random_blocks")


def keypoints(kind: str) -> np.ndarray:
    points = dict(FRONTAL)
    if kind == "elbow_missing":
        points[6] = (0, 0)                          # left elbow: the chain joins 5 -> 7
    elif kind == "wrists_missing":
        points[4] = points[7] = (0, 0)
    elif kind == "narrow_hips":
        points[8], points[11] = (180, 292), (204, 292)
    elif kind == "wide_hips":
        points[8], points[11] = (120, 300), (264, 296)
    elif kind == "arms_out":
        points[3], points[4] = (60, 150), (-10, 120)    # right wrist left of the frame
        points[6], points[7] = (330, 200), (380, 260)
    elif kind == "fractional":
        points = {i: (x + 0.37 * ((i % 3) - 1), y + 0.61 * ((i % 2) - 0.5))
                  for i, (x, y) in points.items()}
    out = np.zeros((18, 2))
    for i, (x, y) in points.items():
        out[i] = (x, y)
    return out


def _body_labels(kp: np.ndarray, rng: np.random.Generator, extra: bool) -> np.ndarray:
    """An ATR map (0..18) of a body drawn along the keypoints."""
    image = Image.new("L", (384, 512), 0)
    draw = ImageDraw.Draw(image)

    def seen(*ids: int) -> bool:
        return all(not (kp[i, 0] == 0 and kp[i, 1] == 0) for i in ids)

    def pt(i: int) -> tuple[float, float]:
        return float(kp[i, 0]), float(kp[i, 1])

    hx, hy = pt(0)
    draw.ellipse((hx - 40, hy - 58, hx + 40, hy + 20), 2)        # hair
    draw.ellipse((hx - 30, hy - 40, hx + 30, hy + 34), 11)       # face
    nx, ny = pt(1)
    draw.rectangle((nx - 16, ny - 22, nx + 16, ny + 6), 18)      # neck
    if seen(8, 9, 11, 12):
        draw.polygon([pt(8), pt(11), pt(12), (pt(12)[0] + 10, 512), (pt(9)[0] - 10, 512),
                      pt(9)], 6)                                  # pants
    draw.polygon([pt(2), pt(5), (pt(11)[0] + 8, pt(11)[1] + 10),
                  (pt(8)[0] - 8, pt(8)[1] + 10)], 4)              # upper clothes
    for label, chain in ((15, (2, 3, 4)), (14, (5, 6, 7))):      # right arm 15, left arm 14
        visible = [i for i in chain if seen(i)]
        for a, b in zip(visible, visible[1:]):
            draw.line([pt(a), pt(b)], label, width=56)  # wider than the agnostic's 100 px (768)
    if extra:  # every other ATR label somewhere plausible
        draw.rectangle((hx - 34, hy - 70, hx + 34, hy - 48), 1)  # hat
        draw.rectangle((hx - 24, hy - 12, hx + 24, hy - 2), 3)   # sunglasses
        draw.rectangle((pt(8)[0] - 6, pt(8)[1] - 4, pt(11)[0] + 6, pt(11)[1] + 6), 8)  # belt
        draw.rectangle((pt(8)[0] - 20, pt(8)[1] + 20, pt(11)[0] + 20, pt(8)[1] + 90), 5)  # skirt
        draw.rectangle((pt(5)[0] - 10, pt(5)[1] + 60, pt(5)[0] + 10, pt(5)[1] + 140), 7)  # dress
        draw.rectangle((150, 470, 185, 511), 9)
        draw.rectangle((200, 470, 235, 511), 10)                 # shoes
        draw.rectangle((150, 420, 185, 469), 12)
        draw.rectangle((200, 420, 235, 469), 13)                 # legs
        draw.ellipse((280, 300, 340, 380), 16)                   # bag
        draw.rectangle((nx - 30, ny + 4, nx + 30, ny + 16), 17)  # scarf
    return np.asarray(image, np.uint8).copy()


def label_maps(kind: str, kp: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ATR 0..18, LIP 0..19) maps of 512x384."""
    rng = np.random.default_rng(seed)
    if kind == "random_blocks":
        atr = np.kron(rng.integers(0, 19, (16, 12)), np.ones((32, 32), np.int64)).astype(np.uint8)
        lip = np.kron(rng.integers(0, 20, (16, 12)), np.ones((32, 32), np.int64)).astype(np.uint8)
        return atr, lip
    atr = _body_labels(kp, rng, extra=kind == "all_labels")
    # LIP: the same body in LIP's numbers where they exist, plus a coat and gloves
    to_lip = np.array([0, 1, 2, 4, 5, 12, 9, 6, 0, 18, 19, 13, 16, 17, 14, 15, 0, 11, 0],
                      np.uint8)
    lip = to_lip[atr]
    lip[(atr == 4) & (np.arange(384)[None, :] < 170)] = 7          # a coat on one side
    lip[(atr == 14) & (np.arange(512)[:, None] > 260)] = 3         # a glove
    return atr, lip


def garment(examples: Path, name: str, shape: str = "3:4") -> tuple[Image.Image, Image.Image]:
    """An example garment and its mask (non-white pixels). ``shape``: '3:4' as published,
    'small' (384x512: the loader upsamples), 'wide' (not 3:4: vto pads)."""
    image = Image.open(examples / "garment" / name).convert("RGB")
    if shape == "small":
        image = image.resize((384, 512), Image.BICUBIC)
    elif shape == "wide":
        image = image.crop((40, 150, 740, 900))
    mask = (np.asarray(image).min(axis=2) < 235).astype(np.uint8) * 255
    return image, Image.fromarray(mask, "L")


def model_inputs(examples: Path, person: str, kind: str, garment_name: str,
                 garment_shape: str = "3:4") -> ModelInputs:
    photo = Image.open(examples / "person" / person).convert("RGB").resize((768, 1024))
    kp = keypoints(kind)
    atr, lip = label_maps(kind, kp)
    cloth, mask = garment(examples, garment_name, garment_shape)
    return ModelInputs(person=photo, garment=cloth, keypoints=kp, parse=atr, parse_lip=lip,
                       garment_mask=mask)
