"""CP-VTON+'s input tensors from vto's :class:`~vto.core.models.base.ModelInputs`.

The original reads a dataset folder (``cp_dataset.CPDataset``): a 192x256 person photo, its
parsing in ``image-parse-new`` (LIP labels 0..19 plus 20 = neck/skin), a body mask in
``image-mask``, COCO-18 keypoints as JSON, a 192x256 garment photo and its binary mask. This
module builds the same tensors from vto's preprocessing, with the same arithmetic:

* images → ``ToTensor`` then ``Normalize(0.5, 0.5)``: ``(x / 255 − 0.5) / 0.5`` in [-1, 1];
* body shape: the body mask at 192x256 → PIL bilinear to 12x16 → bilinear back to 192x256;
* head: the person where the parse has the head labels, −1 elsewhere (GMM and TOM differ);
* pose: 18 maps, a filled (2·5+1)² square (PIL ``ImageDraw.rectangle``) per keypoint with
  x > 1 and y > 1, else empty;
* person representation (``agnostic``): cat(shape, head, pose) = 22 channels;
* garment → [-1, 1]; garment mask → ``(mask >= 128)`` as 0/1 (not normalised).

vto's own choices (where the original takes its dataset files as given), documented here:

* parse maps (512x384) are brought to 256x192 with PIL NEAREST (labels are never blended);
* ``image-parse-new`` = the LIP map (``inputs.parse_lip``, the label set the original's
  parser used), plus 20 where LIP says background and vto's ATR map says neck (18) — what
  the authors' ``dataset_neck_skin_correction.py`` added; label 20 feeds no tensor;
* ``image-mask`` (body silhouette) = LIP foreground ∪ ATR foreground: the authors made it
  as "parse > 0 plus skin pixels the parser missed"; the ATR map adds exactly those (neck);
* keypoints come in the 384x512 preprocessing frame and are scaled by 0.5;
* the garment photo is fitted into 192x256 keeping its aspect (white padding, bicubic) and
  its mask the same way (bilinear, then binarised at 128 like the original's threshold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 192, 256
PREPROCESS_FRAME = (384, 512)   # ModelInputs keypoints/parse frame (W, H)
POSE_RADIUS = 5                 # --radius
POSE_POINTS = 18

# LIP labels (the original's image-parse-new), by name
LIP_BACKGROUND, LIP_HAT, LIP_HAIR, LIP_SUNGLASSES = 0, 1, 2, 4
LIP_UPPER_CLOTHES, LIP_DRESS, LIP_COAT, LIP_PANTS = 5, 6, 7, 9
LIP_SKIRT, LIP_FACE, LIP_LEFT_LEG, LIP_RIGHT_LEG = 12, 13, 16, 17
PARSE_NEW_NECK = 20             # added by the authors' neck/skin correction
ATR_NECK = 18                   # vto's ATR map: 18 = neck (see vto.core.preprocess.parsing)

# Regions the generator keeps from the person: GMM keeps only hat, sunglasses and face
# (so the garment's neckline shape survives), TOM also hair, legs and lower-body clothes.
GMM_HEAD_LABELS = (LIP_HAT, LIP_SUNGLASSES, LIP_FACE)
TOM_HEAD_LABELS = (LIP_HAT, LIP_HAIR, LIP_SUNGLASSES, LIP_PANTS, LIP_SKIRT, LIP_FACE,
                   LIP_LEFT_LEG, LIP_RIGHT_LEG)
UPPER_CLOTHES_LABELS = (LIP_UPPER_CLOTHES, LIP_DRESS, LIP_COAT)  # the region being replaced


@dataclass(frozen=True)
class PersonMaps:
    """What the original's dataset folder holds for a person, at 192x256."""

    image: Image.Image          # RGB person photo
    parse_new: np.ndarray       # (256, 192) uint8, LIP labels + 20 = neck
    body_mask: np.ndarray       # (256, 192) uint8, 255 = person, 0 = background
    keypoints: np.ndarray       # (18, 2) float64, 192x256 frame, (0, 0) = missing


@dataclass(frozen=True)
class GarmentMaps:
    image: Image.Image          # RGB garment photo at 192x256
    mask: Image.Image           # "L" 0/255 at 192x256


@dataclass(frozen=True)
class PersonTensors:
    shape: torch.Tensor         # (1, 256, 192) in [-1, 1]
    head_gmm: torch.Tensor      # (3, 256, 192)
    head_tom: torch.Tensor      # (3, 256, 192)
    pose: torch.Tensor          # (18, 256, 192), -1 / 1

    @property
    def agnostic_gmm(self) -> torch.Tensor:
        return torch.cat([self.shape, self.head_gmm, self.pose], 0)

    @property
    def agnostic_tom(self) -> torch.Tensor:
        return torch.cat([self.shape, self.head_tom, self.pose], 0)


# --------------------------------------------------------------------------- arithmetic

def normalise(image: Image.Image | np.ndarray) -> torch.Tensor:
    """torchvision ``ToTensor`` + ``Normalize((0.5,)*c, (0.5,)*c)`` of a uint8 image, same
    operations in the same order: (C, H, W) float32 in [-1, 1]."""
    array = np.array(image, dtype=np.uint8, copy=True)
    if array.ndim == 2:
        array = array[:, :, None]
    tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous().float().div(255)
    return tensor.sub(0.5).div(0.5)


def body_shape(body_mask: np.ndarray) -> torch.Tensor:
    """The blurred silhouette: mask → 1/16 size → back, PIL bilinear both ways."""
    mask = Image.fromarray(((body_mask > 0).astype(np.float32) * 255).astype(np.uint8))
    small = mask.resize((WIDTH // 16, HEIGHT // 16), Image.BILINEAR)
    return normalise(small.resize((WIDTH, HEIGHT), Image.BILINEAR))


def head(person: torch.Tensor, parse_new: np.ndarray, labels: tuple[int, ...]) -> torch.Tensor:
    """``im * m − (1 − m)``: the person where ``parse_new`` has one of ``labels``, −1 elsewhere."""
    keep = torch.from_numpy(np.isin(parse_new, labels).astype(np.float32))
    return person * keep - (1 - keep)


def pose_maps(keypoints: np.ndarray, radius: int = POSE_RADIUS) -> torch.Tensor:
    """One map per keypoint: a white square of half-side ``radius`` (PIL's integer rounding
    and clipping), drawn only when x > 1 and y > 1; normalised to -1/1."""
    maps = torch.empty(len(keypoints), HEIGHT, WIDTH)
    for i, (x, y) in enumerate(np.asarray(keypoints, dtype=np.float64)):
        canvas = Image.new("L", (WIDTH, HEIGHT))
        if x > 1 and y > 1:
            ImageDraw.Draw(canvas).rectangle((x - radius, y - radius, x + radius, y + radius),
                                             "white", "white")
        maps[i] = normalise(canvas)[0]
    return maps


def garment_mask_tensor(mask: Image.Image | np.ndarray) -> torch.Tensor:
    """(1, H, W) float32 0/1: ``mask >= 128`` (the original's threshold)."""
    return torch.from_numpy((np.asarray(mask) >= 128).astype(np.float32))[None]


def person_tensors(maps: PersonMaps) -> PersonTensors:
    person = normalise(maps.image)
    return PersonTensors(shape=body_shape(maps.body_mask),
                         head_gmm=head(person, maps.parse_new, GMM_HEAD_LABELS),
                         head_tom=head(person, maps.parse_new, TOM_HEAD_LABELS),
                         pose=pose_maps(maps.keypoints))


# --------------------------------------------------------------------------- from ModelInputs

def _labels_to_working_size(labels: np.ndarray) -> np.ndarray:
    image = Image.fromarray(np.asarray(labels, dtype=np.uint8))
    if image.size != (WIDTH, HEIGHT):
        image = image.resize((WIDTH, HEIGHT), Image.NEAREST)
    return np.asarray(image)


def parse_new_from(parse_lip: np.ndarray, parse_atr: np.ndarray | None) -> np.ndarray:
    """``image-parse-new`` at 256x192: LIP labels, 20 where LIP is background and ATR is neck."""
    lip = _labels_to_working_size(parse_lip).copy()
    if parse_atr is not None:
        atr = _labels_to_working_size(parse_atr)
        lip[(lip == LIP_BACKGROUND) & (atr == ATR_NECK)] = PARSE_NEW_NECK
    return lip


def body_mask_from(parse_lip: np.ndarray, parse_atr: np.ndarray | None) -> np.ndarray:
    """``image-mask`` at 256x192: 255 where either parser sees the person."""
    person = _labels_to_working_size(parse_lip) != 0
    if parse_atr is not None:
        person |= _labels_to_working_size(parse_atr) != 0
    return person.astype(np.uint8) * 255


def keypoints_to_working_frame(keypoints: np.ndarray) -> np.ndarray:
    """(18, 2) from the 384x512 preprocessing frame to 192x256; (0, 0) stays (0, 0)."""
    points = np.asarray(keypoints, dtype=np.float64).reshape(POSE_POINTS, 2)
    return points * np.array([WIDTH / PREPROCESS_FRAME[0], HEIGHT / PREPROCESS_FRAME[1]])


def person_maps(person: Image.Image, keypoints: np.ndarray, parse_lip: np.ndarray,
                parse_atr: np.ndarray | None) -> PersonMaps:
    image = person.convert("RGB")
    if image.size != (WIDTH, HEIGHT):
        image = image.resize((WIDTH, HEIGHT), Image.BICUBIC)
    return PersonMaps(image=image, parse_new=parse_new_from(parse_lip, parse_atr),
                      body_mask=body_mask_from(parse_lip, parse_atr),
                      keypoints=keypoints_to_working_frame(keypoints))


def fit_box(size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(resized size, paste offset) that fits ``size`` inside 192x256 keeping its aspect."""
    scale = min(WIDTH / size[0], HEIGHT / size[1])
    fitted = (max(1, min(WIDTH, round(size[0] * scale))),
              max(1, min(HEIGHT, round(size[1] * scale))))
    return fitted, ((WIDTH - fitted[0]) // 2, (HEIGHT - fitted[1]) // 2)


def garment_maps(garment: Image.Image, mask: Image.Image) -> GarmentMaps:
    """The garment photo and its silhouette fitted into 192x256 (white / 0 padding)."""
    if mask.size != garment.size:
        raise ValueError(f"garment mask is {mask.size}, the garment photo {garment.size}")
    fitted, offset = fit_box(garment.size)
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    image.paste(garment.convert("RGB").resize(fitted, Image.BICUBIC), offset)
    small = np.asarray(mask.convert("L").resize(fitted, Image.BILINEAR)) >= 128
    canvas = Image.new("L", (WIDTH, HEIGHT), 0)
    canvas.paste(Image.fromarray(small.astype(np.uint8) * 255), offset)
    return GarmentMaps(image=image, mask=canvas)
