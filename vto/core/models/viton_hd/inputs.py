"""VITON-HD's input tensors from vto's :class:`~vto.core.models.base.ModelInputs`.

Two steps, mirroring how the original is used:

1. **files** (:func:`person_files`, :func:`garment_files`): what the original's dataset folder
   holds for one pair, made from vto's pose and parsing: ``image`` (the person, 768x1024),
   ``image-parse`` (CIHP labels at 768x1024), ``openpose-json`` (BODY_25 keypoints in that
   frame), ``openpose-img`` (the rendered skeleton), ``cloth`` and ``cloth-mask``.
2. **loader** (:func:`load_tensors`): the original ``VITONDataset.__getitem__`` arithmetic on
   those files: torchvision's ``Resize(768)`` and ``ToTensor``/``Normalize(0.5, 0.5)``, the
   parse-agnostic and image-agnostic maps (``get_parse_agnostic``, ``get_img_agnostic``) and
   the 13-group one-hot parse map.

Keypoint indices below are BODY_25's: 1 neck, 2/3/4 right shoulder/elbow/wrist, 5/6/7 left,
9 right hip, 12 left hip. A keypoint at (0, 0) is missing, as in OpenPose's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from vto.core.models.base import ModelInputs
from vto.core.preprocess.convert import (body25_keypoints, cihp_labels, render_body25,
                                        resize_labels)
from vto.errors import BodyPartsNotVisible, InvalidInput

WIDTH, HEIGHT = 768, 1024
SIZE = (WIDTH, HEIGHT)
NECK, R_SHOULDER, L_SHOULDER, R_HIP, L_HIP = 1, 2, 5, 9, 12
REQUIRED = {NECK: "neck", R_SHOULDER: "right shoulder", L_SHOULDER: "left shoulder",
            R_HIP: "right hip", L_HIP: "left hip"}

# CIHP labels (0..19) -> the loader's 13 groups (datasets.py ``labels``): background(+neck),
# hair(+hat), face(+sunglasses), upper, bottom, left/right arm, left/right leg,
# left/right shoe, socks, noise (glove, scarf).
PARSE_GROUPS = np.array([0, 1, 1, 12, 2, 3, 3, 3, 11, 4, 0, 12, 4, 2, 5, 6, 7, 8, 9, 10],
                        np.int64)
HEAD_LABELS = (4, 13)                       # kept in the agnostic image: sunglasses, face
LOWER_LABELS = (9, 12, 16, 17, 18, 19)      # ... and pants, skirt, legs, shoes
TORSO_LABELS = (5, 6, 7)                    # removed from the parse: upper-clothes, dress, coat
NECK_LABEL = 10
GREY = (128, 128, 128)                      # PIL's 'gray'


# --------------------------------------------------------------------------- files

@dataclass
class PersonFiles:
    """The person side of the original's dataset folder, at 768x1024."""

    image: Image.Image            # ``image/``: RGB
    parse: np.ndarray             # ``image-parse/``: (1024, 768) uint8 CIHP labels
    keypoints: np.ndarray         # ``openpose-json/``: (25, 3) BODY_25 [x, y, confidence]
    pose_image: Image.Image       # ``openpose-img/``: RGB skeleton on black


@dataclass
class GarmentFiles:
    """``cloth/`` (RGB) and ``cloth-mask/`` ("L" 0/255), 3:4 (see :func:`garment_files`)."""

    cloth: Image.Image
    mask: Image.Image


def check_keypoints(keypoints: np.ndarray) -> None:
    """VITON-HD draws its agnostic torso from the neck, both shoulders and both hips; with
    one missing the original paints from (0, 0) (or divides by zero). Refuse instead."""
    missing = [name for i, name in REQUIRED.items() if _missing(keypoints[i])]
    if missing:
        raise BodyPartsNotVisible(
            f"VITON-HD needs the {', '.join(missing)} visible (it rebuilds the torso from "
            "the neck, shoulders and hips); use a photo that shows the upper body down to "
            "the hips", missing=missing)


def person_files(inputs: ModelInputs) -> PersonFiles:
    """vto's pose and parsing (384x512 frame) as the dataset's files at 768x1024
    (vto.core.preprocess.convert). The parse is upsampled smoothly (per-class bilinear, then
    the largest): the dataset's maps were parsed at full size, with clean edges, where a
    NEAREST upsampling of vto's 384x512 map would give 2-pixel steps."""
    if inputs.keypoints is None or inputs.parse is None or inputs.parse_lip is None:
        raise InvalidInput("VITON-HD needs pose keypoints and both parsing maps")
    person = inputs.person.convert("RGB")
    if person.size != SIZE:
        raise InvalidInput(f"VITON-HD works at {WIDTH}x{HEIGHT}; got a {person.size} person image")
    keypoints = body25_keypoints(inputs.keypoints, SIZE)
    check_keypoints(keypoints)
    parse = resize_labels(cihp_labels(inputs.parse, inputs.parse_lip), SIZE)
    return PersonFiles(person, parse, keypoints, render_body25(keypoints, SIZE))


def garment_files(inputs: ModelInputs) -> GarmentFiles:
    """The garment photo and its mask, padded to 3:4 (garment centred, white around it,
    mask 0 there): the original's loader only scales (short side to 768), so a garment of
    any other shape would not come out 768x1024. A 3:4 photo is passed through unchanged;
    the dataset's product photos are 3:4 on white."""
    if inputs.garment_mask is None:
        raise InvalidInput("VITON-HD needs the garment mask")
    cloth = inputs.garment.convert("RGB")
    mask = inputs.garment_mask.convert("L")
    if mask.size != cloth.size:
        raise InvalidInput(f"garment mask {mask.size} and garment {cloth.size} differ in size")
    w, h = cloth.size
    k = max(-(-w // 3), -(-h // 4))
    if (w, h) != (3 * k, 4 * k):
        offset = ((3 * k - w) // 2, (4 * k - h) // 2)
        padded, padded_mask = Image.new("RGB", (3 * k, 4 * k), "white"), Image.new("L", (3 * k, 4 * k), 0)
        padded.paste(cloth, offset)
        padded_mask.paste(mask, offset)
        cloth, mask = padded, padded_mask
    return GarmentFiles(cloth, mask)


# --------------------------------------------------------------------------- loader

def resize_short_side(image: Image.Image, size: int, resample: int) -> Image.Image:
    """torchvision ``Resize(size)`` on a PIL image: the short side to ``size``, the long one
    to ``int(size * long / short)``; an image already that size is returned as is."""
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new = (new_short, new_long) if w <= h else (new_long, new_short)
    return image if new == (w, h) else image.resize(new, resample)


def to_normalized(image: Image.Image) -> torch.Tensor:
    """``ToTensor()`` then ``Normalize((0.5,) * 3, (0.5,) * 3)``: (3, H, W) in [-1, 1]."""
    array = np.array(image, dtype=np.uint8)
    tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    return tensor.sub(0.5).div(0.5)


def _missing(point: np.ndarray) -> bool:
    return bool(point[0] == 0.0 and point[1] == 0.0)


def _points(pose: np.ndarray, *indices: int) -> list[tuple[float, float]]:
    return [(float(pose[i, 0]), float(pose[i, 1])) for i in indices]


def parse_agnostic(parse: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """``get_parse_agnostic``: the parse with torso, neck and the arms' upper part removed.

    Each arm label (14 left, 15 right) is cleared inside a mask drawn along the chain
    other shoulder -> shoulder -> elbow -> wrist: 100 px lines, 150 px discs at the
    shoulder and elbow, a 40 px disc at the wrist. A segment with a missing end is skipped
    without advancing the chain's start (so a missing elbow joins shoulder to wrist)."""
    out = np.array(parse, dtype=np.uint8, copy=True)
    height, width = out.shape
    for label, chain in ((14, (2, 5, 6, 7)), (15, (5, 2, 3, 4))):
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        start = chain[0]
        for part in chain[1:]:
            if _missing(pose[start]) or _missing(pose[part]):
                continue
            draw.line(_points(pose, start, part), fill=255, width=100)
            x, y = _points(pose, part)[0]
            radius = 40 if part == chain[-1] else 150
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), 255, 255)
            start = part
        out[(np.asarray(canvas) == 255) & (parse == label)] = 0
    out[np.isin(parse, TORSO_LABELS) | (parse == NECK_LABEL)] = 0
    return out


def rescale_hips(pose: np.ndarray) -> np.ndarray:
    """The hips moved along their line, about their midpoint, to shoulder width.

    The original does this *in place* on the keypoints it read (``pose_data[9] = ...``
    inside ``get_img_agnostic``), so the torso it greys out is as wide at the hips as at
    the shoulders. Its parse agnostic is computed before that call and reads no hip, and
    nothing reads the keypoints afterwards, so returning a copy is the same; the float64
    arithmetic and its order are the original's."""
    pose = np.array(pose, dtype=np.float64, copy=True)
    length_a = np.linalg.norm(pose[L_SHOULDER] - pose[R_SHOULDER])
    length_b = np.linalg.norm(pose[L_HIP] - pose[R_HIP])
    if length_b == 0:
        raise BodyPartsNotVisible("VITON-HD cannot place the hips: both hips are at one point",
                                  missing=["hips"])
    point = (pose[R_HIP] + pose[L_HIP]) / 2
    pose[R_HIP] = point + (pose[R_HIP] - point) / length_b * length_a
    pose[L_HIP] = point + (pose[L_HIP] - point) / length_b * length_a
    return pose


def img_agnostic(image: Image.Image, parse: np.ndarray, pose: np.ndarray) -> Image.Image:
    """``get_img_agnostic``: the person with arms, torso and neck painted grey (128), then
    head and lower body pasted back from the photo (by the parse)."""
    pose = rescale_hips(pose)
    r = 20
    out = image.copy()
    draw = ImageDraw.Draw(out)
    # arms: shoulder line, shoulder discs, upper and lower arms with discs at their ends
    draw.line(_points(pose, 2, 5), GREY, width=r * 10)
    for x, y in _points(pose, 2, 5):
        draw.ellipse((x - r * 5, y - r * 5, x + r * 5, y + r * 5), GREY, GREY)
    for part in (3, 4, 6, 7):
        if _missing(pose[part - 1]) or _missing(pose[part]):
            continue
        draw.line(_points(pose, part - 1, part), GREY, width=r * 10)
        x, y = _points(pose, part)[0]
        draw.ellipse((x - r * 5, y - r * 5, x + r * 5, y + r * 5), GREY, GREY)
    # torso: hip ellipses, the sides, the hip line, and the shoulder-hip quadrilateral
    for x, y in _points(pose, 9, 12):
        draw.ellipse((x - r * 3, y - r * 6, x + r * 3, y + r * 6), GREY, GREY)
    draw.line(_points(pose, 2, 9), GREY, width=r * 6)
    draw.line(_points(pose, 5, 12), GREY, width=r * 6)
    draw.line(_points(pose, 9, 12), GREY, width=r * 12)
    draw.polygon(_points(pose, 2, 5, 12, 9), GREY, GREY)
    # neck
    x, y = _points(pose, 1)[0]
    draw.rectangle((x - r * 7, y - r * 7, x + r * 7, y + r * 7), GREY, GREY)
    for labels in (HEAD_LABELS, LOWER_LABELS):
        keep = np.isin(parse, labels).astype(np.uint8) * 255
        out.paste(image, None, Image.fromarray(keep, "L"))
    return out


def repaint_mask(files: PersonFiles) -> Image.Image:
    """The region VITON-HD re-synthesises ("L", 255 inside, 768x1024): what the agnostic
    image greys out (arms, torso, neck; head and lower body excluded). The rest of an output
    is the generator's reproduction of the photo, so an engine that pastes results back
    into the photo (framing 'keep') should take this region, grown a little."""
    pose = np.asarray(files.keypoints, np.float64).reshape(-1, 3)[:, :2]
    painted = img_agnostic(Image.new("RGB", SIZE), files.parse, pose)
    return Image.fromarray((np.asarray(painted)[..., 0] == GREY[0]).astype(np.uint8) * 255, "L")


def parse_onehot(labels: np.ndarray) -> torch.Tensor:
    """CIHP labels -> the loader's (13, H, W) float one-hot map of :data:`PARSE_GROUPS`."""
    groups = torch.from_numpy(PARSE_GROUPS[np.asarray(labels, np.int64)])
    return torch.nn.functional.one_hot(groups, 13).permute(2, 0, 1).to(torch.float32).contiguous()


@dataclass
class VitonHDTensors:
    """The loader's tensors for one pair (no batch dimension), ``test.py``'s names."""

    img_agnostic: torch.Tensor    # (3, H, W) [-1, 1]
    parse_agnostic: torch.Tensor  # (13, H, W) one-hot
    pose: torch.Tensor            # (3, H, W) [-1, 1]
    cloth: torch.Tensor           # (3, H, W) [-1, 1]
    cloth_mask: torch.Tensor      # (1, H, W) {0, 1}


def load_tensors(person: PersonFiles, garment: GarmentFiles) -> VitonHDTensors:
    """``VITONDataset.__getitem__`` on the files (see the module docstring)."""
    cloth = resize_short_side(garment.cloth, WIDTH, Image.BILINEAR)
    mask = resize_short_side(garment.mask, WIDTH, Image.NEAREST)
    pose_image = resize_short_side(person.pose_image.convert("RGB"), WIDTH, Image.BILINEAR)
    parse_image = resize_short_side(Image.fromarray(person.parse), WIDTH, Image.NEAREST)
    image = resize_short_side(person.image, WIDTH, Image.BILINEAR)
    for name, item in (("garment", cloth), ("pose image", pose_image), ("parse", parse_image),
                       ("person", image)):
        if item.size != SIZE:
            raise InvalidInput(f"VITON-HD needs a 3:4 {name}; it came out {item.size}")
    parse = np.asarray(parse_image)
    pose = np.asarray(person.keypoints, np.float64).reshape(-1, 3)[:, :2]
    return VitonHDTensors(
        img_agnostic=to_normalized(img_agnostic(image, parse, pose)),
        parse_agnostic=parse_onehot(parse_agnostic(parse, pose)),
        pose=to_normalized(pose_image),
        cloth=to_normalized(cloth),
        cloth_mask=torch.from_numpy((np.asarray(mask) >= 128).astype(np.float32))[None])


def build_tensors(inputs: ModelInputs) -> VitonHDTensors:
    return load_tensors(person_files(inputs), garment_files(inputs))
