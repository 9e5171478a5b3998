"""A hand-designed OpenPose body network that finds real people in drawn test images.

Random weights find nobody, which leaves OpenPose's post-processing (peaks, limb scoring,
person assembly, the wrapper's re-indexing) untested. This network is built so that:

* each body part k is drawn in the image as a disk whose red level encodes k (``R = 40 +
  12k``) with green 255 inside, surrounded by a ring of the same red and green 0 (so that
  INTER_AREA blending at the disk edge never produces another part's red level where green
  is high);
* ``conv1_1``/``conv1_2`` compute, per part, a triangular bump of the red value (three
  ReLUs) and a green gate; ``conv2_1``/``conv2_2`` take ``min(bump, gate)``; every later
  stage-0 layer and stage 6 of the heat-map branch pass channel k through (centre taps), so
  heat-map channel k is a blob at part k's disks;
* the PAFs are constant: the last PAF conv has zero weights and, as bias, the unit vector
  of the designed skeleton's limb direction, so the designed limbs score ≈ 1.

Everything else is zero. The file uses the published key names and loads into the original
loader and vto's alike. Used by compare.py; not part of vto.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

N_PARTS = 18
SPACING = 12          # red levels between parts
RED0 = 40
INNER, OUTER = 12, 20  # disk and ring radii in 384x512 pixels

# COCO limbs (1-based) and their PAF channels (+19), as in the original body.py
LIMB_SEQ = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12],
            [12, 13], [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18], [3, 17], [6, 18]]
MAP_IDX = [[31, 32], [39, 40], [33, 34], [35, 36], [41, 42], [43, 44], [19, 20], [21, 22],
           [23, 24], [25, 26], [27, 28], [29, 30], [47, 48], [49, 50], [53, 54], [51, 52],
           [55, 56], [37, 38], [45, 46]]

# A wide figure on the 384x512 canvas: every pair of joints ≥ 2·OUTER + 4 px apart.
SKELETON = {
    0: (192, 70),    # nose
    1: (192, 140),   # neck
    2: (120, 150),   # right shoulder (image left)
    3: (70, 215),    # right elbow
    4: (40, 290),    # right wrist
    5: (264, 150),   # left shoulder
    6: (314, 215),   # left elbow
    7: (344, 290),   # left wrist
    8: (150, 290),   # right hip
    9: (140, 380),   # right knee
    10: (130, 470),  # right ankle
    11: (234, 290),  # left hip
    12: (244, 380),  # left knee
    13: (254, 470),  # left ankle
    14: (150, 35),   # right eye
    15: (234, 35),   # left eye
    16: (100, 75),   # right ear
    17: (284, 75),   # left ear
}


def red_level(part: int) -> int:
    return RED0 + SPACING * part


def _limb_vectors(skeleton: dict[int, tuple[int, int]]) -> np.ndarray:
    """(38,) PAF bias: for limb k, the unit vector from part A to part B of the skeleton."""
    bias = np.zeros(38, dtype=np.float32)
    for (a, b), (cx, cy) in zip(LIMB_SEQ, MAP_IDX):
        ax, ay = skeleton[a - 1]
        bx, by = skeleton[b - 1]
        norm = math.hypot(bx - ax, by - ay)
        bias[cx - 19] = (bx - ax) / norm
        bias[cy - 19] = (by - ay) / norm
    return bias


def designed_state_dict(shapes: dict[str, torch.Size],
                        skeleton: dict[int, tuple[int, int]] = SKELETON) -> dict[str, torch.Tensor]:
    """Weights for every key of ``shapes`` (file key names, e.g. 'conv1_1.weight')."""
    sd = {k: torch.zeros(s, dtype=torch.float32) for k, s in shapes.items()}
    step = SPACING / 256.0
    d = 0.6 * step            # half-width of a bump: neighbours' codes fall outside it
    a = 1.0 / d               # bump height 1
    centre = lambda k3: (k3.shape[-1] // 2, k3.shape[-1] // 2)  # noqa: E731

    def tap(name, out_c, in_c, value):
        w = sd[f"{name}.weight"]
        cy, cx = centre(w)
        w[out_c, in_c, cy, cx] = value

    # net input channels: 0 = B, 1 = G, 2 = R (the detector feeds BGR), value/256 - 0.5
    for k in range(N_PARTS):
        c = red_level(k) / 256.0 - 0.5
        for j, t in enumerate((c - d, c, c + d)):
            tap("conv1_1", 3 * k + j, 2, a)
            sd["conv1_1.bias"][3 * k + j] = -a * t
        tap("conv1_2", k, 3 * k, 1.0)
        tap("conv1_2", k, 3 * k + 1, -2.0)
        tap("conv1_2", k, 3 * k + 2, 1.0)
    gate = 3 * N_PARTS
    tap("conv1_1", gate, 1, 4.0)            # relu(4·G): ≈2 inside the disks, 0 where G = 0
    tap("conv1_2", N_PARTS, gate, 1.0)
    for k in range(N_PARTS):                # min(bump, gate) = bump - relu(bump - gate)
        tap("conv2_1", k, k, 1.0)
        tap("conv2_1", k, N_PARTS, -1.0)
        tap("conv2_1", N_PARTS + k, k, 1.0)
        tap("conv2_2", k, N_PARTS + k, 1.0)
        tap("conv2_2", k, k, -1.0)
        for name in ("conv3_1", "conv3_2", "conv3_3", "conv3_4", "conv4_1", "conv4_2",
                     "conv4_3_CPM", "conv4_4_CPM"):
            tap(name, k, k, 1.0)
        # stage 6 heat-map branch: its input is cat(PAF 38, heat 19, features 128)
        tap("Mconv1_stage6_L2", k, 38 + 19 + k, 1.0)
        for i in range(2, 7):
            tap(f"Mconv{i}_stage6_L2", k, k, 1.0)
        tap("Mconv7_stage6_L2", k, k, 1.0)
    sd["Mconv7_stage6_L1.bias"] = torch.from_numpy(_limb_vectors(skeleton))
    return sd


def write_designed_body_model(path: Path, shapes: dict[str, torch.Size]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(designed_state_dict(shapes), path)
    return path


def draw_people(people: list[dict[int, tuple[int, int]]], size=(384, 512)) -> Image.Image:
    """RGB image with every listed part of every person drawn as a coded disk."""
    img = Image.new("RGB", size, (0, 0, 0))
    draw = ImageDraw.Draw(img)
    for person in people:
        for part, (x, y) in person.items():
            r = red_level(part)
            draw.ellipse([x - OUTER, y - OUTER, x + OUTER, y + OUTER], fill=(r, 0, 0))
    for person in people:
        for part, (x, y) in person.items():
            r = red_level(part)
            draw.ellipse([x - INNER, y - INNER, x + INNER, y + INNER], fill=(r, 255, 0))
    return img


def scaled(skeleton: dict[int, tuple[int, int]], factor: float, dx: float, dy: float,
           parts=None) -> dict[int, tuple[int, int]]:
    parts = skeleton.keys() if parts is None else parts
    return {p: (round(skeleton[p][0] * factor + dx), round(skeleton[p][1] * factor + dy))
            for p in parts}


def pose_scenes() -> dict[str, list[dict[int, tuple[int, int]]]]:
    """Named test scenes (lists of people) exercising the post-processing paths."""
    full = dict(SKELETON)
    no_left_wrist = {p: v for p, v in full.items() if p not in (7,)}
    no_wrists_ears = {p: v for p, v in full.items() if p not in (4, 7, 16, 17)}
    upper_only = {p: v for p, v in full.items() if p <= 7 or p >= 14}
    # an extra lone nose far from everyone (a peak that joins nobody): shifts candidate ids
    extra_nose = [full, {0: (40, 470)}]
    extra_two = [full, {0: (40, 470), 1: (340, 470)}]
    return {
        "pose_full": [full],
        "pose_no_left_wrist": [no_left_wrist],
        "pose_no_wrists_ears": [no_wrists_ears],
        "pose_upper_only": [upper_only],
        "pose_extra_nose": extra_nose,
        "pose_extra_nose_neck": extra_two,
        # person 2 (neck, hips, knees) below an upper body: two rows in subset
        "pose_two_people": [upper_only, {1: (192, 330), 8: (150, 420), 11: (234, 420),
                                         9: (140, 490), 12: (244, 490)}],
        "pose_nobody": [],
    }
