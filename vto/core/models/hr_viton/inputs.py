"""HR-VITON's input tensors from vto's :class:`~vto.core.models.base.ModelInputs`.

What the original's test pipeline reads or computes from its dataset folder, built here
from vto's inputs in memory:

* ``get_parse_agnostic.py`` -> :func:`parse_agnostic`: the CIHP label map with the upper
  clothes, the neck (torso skin) and the arms near the shoulder-elbow-wrist chain set to 0;
* ``cp_dataset_test.CPDatasetTest.get_agnostic`` -> :func:`agnostic_person`: the person photo
  with torso, neck and arms painted grey, arms away from the sleeves, head and lower body kept;
* ``CPDatasetTest.__getitem__`` -> :func:`build_tensors`: garment and mask, parse-agnostic as
  13 one-hot groups, DensePose and agnostic person, each ``ToTensor`` + ``Normalize(0.5, 0.5)``;
* ``test_generator.test`` -> :func:`condition_inputs`: the 256x192 inputs of the condition
  generator.

Frames: vto's parse maps are 512x384 and its keypoints are in the 384x512 frame; HR-VITON works
at 1024x768 on BODY_25 keypoints and CIHP labels (``vto.core.preprocess.convert``:
``body25_keypoints``, ``cihp_labels``, ``resize_labels``; see :func:`pose_of`,
:func:`labels_of`). The rendered OpenPose image the dataset also loads never reaches a network
(``test_generator`` only downsamples it and shows it in its preview grid), so it is not built.

Garments: the original expects a 768x1024 product photo (it resizes the short side to 768, so
a 3:4 photo of any size comes out right and anything else breaks its tensor shapes). vto
scales the garment and its mask to fit 768x1024 keeping the aspect ratio and pads with white
(mask: black), which is the original's resize for 3:4 photos.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from vto.core.models.base import ModelInputs
from vto.core.preprocess.convert import body25_keypoints, cihp_labels, resize_labels
from vto.errors import BodyPartsNotVisible, InvalidInput

WIDTH, HEIGHT = 768, 1024
LOW_SIZE = (256, 192)           # (H, W) of the condition generator
POSE_FRAME = (384, 512)         # (W, H) of vto's keypoints and parse maps

# CIHP labels
SUNGLASSES, UPPER_CLOTHES, DRESS, COAT, TORSO_SKIN, FACE = 4, 5, 6, 7, 10, 13
LEFT_ARM, RIGHT_ARM = 14, 15
HEAD_LABELS = (SUNGLASSES, FACE)
LOWER_LABELS = (9, 12, 16, 17, 18, 19)   # pants, skirt, legs, shoes
# The dataset's 13 parse groups (one-hot channels), by CIHP label.
PARSE_GROUPS = ((0, 10), (1, 2), (4, 13), (5, 6, 7), (9, 12), (14,), (15,), (16,), (17,),
                (18,), (19,), (8,), (3, 11))
GROUP_OF_LABEL = np.array([next(g for g, members in enumerate(PARSE_GROUPS) if label in members)
                           for label in range(20)])

# BODY_25 joints
NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST, R_HIP, L_HIP = \
    1, 2, 3, 4, 5, 6, 7, 9, 12
_JOINT_NAMES = {NECK: "neck", R_SHOULDER: "right shoulder", L_SHOULDER: "left shoulder",
                R_HIP: "right hip", L_HIP: "left hip"}
GREY = (128, 128, 128)           # PIL's 'gray'


@dataclass
class HRVitonTensors:
    """The dataset item's tensors the try-on uses, each (N, C, 1024, 768) float32 on the CPU."""

    cloth: torch.Tensor            # garment, [-1, 1]
    cloth_mask: torch.Tensor       # its silhouette, {0, 1}
    parse_agnostic: torch.Tensor   # 13 one-hot groups
    densepose: torch.Tensor        # [-1, 1]
    agnostic: torch.Tensor         # clothing-agnostic person, [-1, 1]

    def repeat(self, n: int) -> "HRVitonTensors":
        """A batch of ``n`` identical copies (contiguous, as the original's data loader stacks)."""
        return HRVitonTensors(*(getattr(self, f.name).repeat(n, 1, 1, 1) for f in fields(self)))


def _missing(point: np.ndarray) -> bool:
    return point[0] == 0.0 and point[1] == 0.0


def pose_of(keypoints: np.ndarray) -> np.ndarray:
    """vto's (18, 2) COCO-18 keypoints (384x512 frame) -> (25, 2) BODY_25 float64 in the
    768x1024 frame, (0, 0) = missing: the ``pose_keypoints_2d[:, :2]`` the original reads."""
    return body25_keypoints(keypoints, (WIDTH, HEIGHT), POSE_FRAME)[:, :2].copy()


def labels_of(atr: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """vto's 512x384 ATR(+neck) and LIP maps -> (1024, 768) uint8 CIHP labels, upsampled
    smoothly (HR-VITON's own maps were upsampled and Gaussian-smoothed, Preprocessing.md)."""
    return resize_labels(cihp_labels(atr, lip), (WIDTH, HEIGHT))


def check_pose(pose: np.ndarray) -> None:
    """The agnostic maps measure the body by neck, shoulders and hips: refuse without them
    (the original divides by zero when the hips coincide or are missing)."""
    absent = [name for joint, name in _JOINT_NAMES.items() if _missing(pose[joint])]
    if not absent and (np.array_equal(pose[R_HIP], pose[L_HIP])
                       or np.array_equal(pose[R_SHOULDER], pose[L_SHOULDER])):
        absent = ["distinct shoulders and hips"]
    if absent:
        raise BodyPartsNotVisible(
            "HR-VITON needs the neck, both shoulders and both hips visible in the photo; not "
            f"found: {', '.join(absent)}", missing=absent)


def parse_agnostic(labels: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """``get_parse_agnostic.get_im_parse_agnostic``: (H, W) CIHP labels with the arms near
    each shoulder-elbow-wrist chain (from the other shoulder), the upper clothes and the torso
    skin set to background."""
    height, width = labels.shape
    out = labels.copy()
    r = 10
    for arm, chain in ((LEFT_ARM, (R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST)),
                       (RIGHT_ARM, (L_SHOULDER, R_SHOULDER, R_ELBOW, R_WRIST))):
        region = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(region)
        previous = chain[0]
        for joint in chain[1:]:
            # A missing joint is skipped; the chain continues from the last drawn one.
            if _missing(pose[previous]) or _missing(pose[joint]):
                continue
            draw.line([tuple(pose[previous]), tuple(pose[joint])], 255, width=r * 10)
            x, y = pose[joint]
            radius = r * 4 if joint == chain[-1] else r * 15
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), 255, 255)
            previous = joint
        out[(np.asarray(region) == 255) & (labels == arm)] = 0
    out[np.isin(labels, (UPPER_CLOTHES, DRESS, COAT, TORSO_SKIN))] = 0
    return out


def agnostic_person(person: Image.Image, labels: np.ndarray, pose: np.ndarray) -> Image.Image:
    """``CPDatasetTest.get_agnostic``: the person with torso (hips pulled to shoulder width),
    neck and arms painted grey; arm pixels outside the drawn sleeves, the head and the lower
    body restored from the photo. ``labels`` CIHP at the photo's size, ``pose`` BODY_25."""
    check_pose(pose)
    pose = pose.copy()
    shoulders = np.linalg.norm(pose[L_SHOULDER] - pose[R_SHOULDER])
    hips = np.linalg.norm(pose[L_HIP] - pose[R_HIP])
    centre = (pose[R_HIP] + pose[L_HIP]) / 2
    pose[R_HIP] = centre + (pose[R_HIP] - centre) / hips * shoulders
    pose[L_HIP] = centre + (pose[L_HIP] - centre) / hips * shoulders
    r = int(shoulders / 16) + 1

    def pt(joint: int) -> tuple[float, float]:
        return tuple(pose[joint])

    out = person.copy()
    draw = ImageDraw.Draw(out)
    # torso
    for hip in (R_HIP, L_HIP):
        x, y = pose[hip]
        draw.ellipse((x - r * 3, y - r * 6, x + r * 3, y + r * 6), GREY, GREY)
    draw.line([pt(R_SHOULDER), pt(R_HIP)], GREY, width=r * 6)
    draw.line([pt(L_SHOULDER), pt(L_HIP)], GREY, width=r * 6)
    draw.line([pt(R_HIP), pt(L_HIP)], GREY, width=r * 12)
    draw.polygon([pt(R_SHOULDER), pt(L_SHOULDER), pt(L_HIP), pt(R_HIP)], GREY, GREY)
    # neck
    x, y = pose[NECK]
    draw.rectangle((x - r * 5, y - r * 9, x + r * 5, y), GREY, GREY)
    # arms
    draw.line([pt(R_SHOULDER), pt(L_SHOULDER)], GREY, width=r * 12)
    for shoulder in (R_SHOULDER, L_SHOULDER):
        x, y = pose[shoulder]
        draw.ellipse((x - r * 5, y - r * 6, x + r * 5, y + r * 6), GREY, GREY)
    for joint in (R_ELBOW, R_WRIST, L_ELBOW, L_WRIST):
        if _missing(pose[joint - 1]) or _missing(pose[joint]):
            continue
        draw.line([pt(joint - 1), pt(joint)], GREY, width=r * 10)
        x, y = pose[joint]
        draw.ellipse((x - r * 5, y - r * 5, x + r * 5, y + r * 5), GREY, GREY)

    for arm, chain in ((LEFT_ARM, (L_SHOULDER, L_ELBOW, L_WRIST)),
                       (RIGHT_ARM, (R_SHOULDER, R_ELBOW, R_WRIST))):
        sleeve = Image.new("L", person.size, 255)    # black = the sleeve region kept grey
        sleeve_draw = ImageDraw.Draw(sleeve)
        x, y = pose[chain[0]]
        sleeve_draw.ellipse((x - r * 5, y - r * 6, x + r * 5, y + r * 6), 0, 0)
        for joint in chain[1:]:
            if _missing(pose[joint - 1]) or _missing(pose[joint]):
                continue
            sleeve_draw.line([pt(joint - 1), pt(joint)], 0, width=r * 10)
            x, y = pose[joint]
            if joint != chain[-1]:
                sleeve_draw.ellipse((x - r * 5, y - r * 5, x + r * 5, y + r * 5), 0, 0)
        # the original closes the chain at the last joint it reached (the shoulder if none)
        sleeve_draw.ellipse((x - r * 4, y - r * 4, x + r * 4, y + r * 4), 0, 0)
        _restore(out, person, (np.asarray(sleeve) == 255) & (labels == arm))
    _restore(out, person, np.isin(labels, HEAD_LABELS))
    _restore(out, person, np.isin(labels, LOWER_LABELS))
    return out


def repaint_region(inputs: ModelInputs) -> Image.Image:
    """The region HR-VITON re-draws ("L" 768x1024, 255 inside): what the agnostic image greys
    out (torso, neck, arms near their chains) plus the old garment, the neck and the arms of
    the parse (a garment longer than the grey torso, arms outside it). Elsewhere its output
    only reproduces the photo, so framing 'keep' pastes back just this region."""
    pose = pose_of(inputs.keypoints)
    labels = labels_of(inputs.parse, inputs.parse_lip)
    painted = np.asarray(agnostic_person(Image.new("RGB", (WIDTH, HEIGHT)), labels, pose))
    region = (painted[..., 0] == GREY[0]) | np.isin(
        labels, (UPPER_CLOTHES, DRESS, COAT, TORSO_SKIN, LEFT_ARM, RIGHT_ARM))
    return Image.fromarray(region.astype(np.uint8) * 255, "L")


def _restore(image: Image.Image, source: Image.Image, where: np.ndarray) -> None:
    image.paste(source, None, Image.fromarray(where.astype(np.uint8) * 255, "L"))


def fit_garment(garment: Image.Image, mask: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Garment (RGB) and its mask ("L") at 768x1024: scaled to fit (bilinear / nearest, as the
    original's ``Resize``), centred on white / black. A 768x1024 pair is returned as is."""
    garment, mask = garment.convert("RGB"), mask.convert("L")
    if garment.size == (WIDTH, HEIGHT) and mask.size == (WIDTH, HEIGHT):
        return garment, mask
    if mask.size != garment.size:
        raise InvalidInput(f"garment_mask is {mask.width}x{mask.height} but garment_image is "
                           f"{garment.width}x{garment.height}", field="garment_mask")
    scale = min(WIDTH / garment.width, HEIGHT / garment.height)
    size = (min(WIDTH, round(garment.width * scale)), min(HEIGHT, round(garment.height * scale)))
    offset = ((WIDTH - size[0]) // 2, (HEIGHT - size[1]) // 2)
    cloth = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    cloth.paste(garment.resize(size, Image.BILINEAR), offset)
    silhouette = Image.new("L", (WIDTH, HEIGHT), 0)
    silhouette.paste(mask.resize(size, Image.NEAREST), offset)
    return cloth, silhouette


def to_tensor(image: Image.Image) -> torch.Tensor:
    """``ToTensor()`` then ``Normalize((0.5,) * 3, (0.5,) * 3)``: (1, 3, H, W) in [-1, 1]."""
    array = np.asarray(image.convert("RGB"))
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255)
    return tensor.sub(0.5).div(0.5).unsqueeze(0)


def build_tensors(inputs: ModelInputs) -> HRVitonTensors:
    """The original dataset item, from what vto's preprocessing computed (POSE, PARSE,
    GARMENT_MASK) and the uploaded DensePose image."""
    for name in ("keypoints", "parse", "parse_lip", "garment_mask", "densepose"):
        if getattr(inputs, name) is None:
            raise InvalidInput(f"HR-VITON needs {name}, which preprocessing did not provide",
                               field=name)
    person = inputs.person.convert("RGB")
    if person.size != (WIDTH, HEIGHT):
        raise InvalidInput(f"HR-VITON runs at {WIDTH}x{HEIGHT}; got a {person.width}x"
                           f"{person.height} person image", field="width")
    pose = pose_of(inputs.keypoints)
    check_pose(pose)
    labels = labels_of(inputs.parse, inputs.parse_lip)
    cloth, silhouette = fit_garment(inputs.garment, inputs.garment_mask)
    densepose = inputs.densepose.convert("RGB")
    if densepose.size != (WIDTH, HEIGHT):  # the original's Resize (bilinear) for a 3:4 image
        densepose = densepose.resize((WIDTH, HEIGHT), Image.BILINEAR)

    groups = torch.from_numpy(GROUP_OF_LABEL[parse_agnostic(labels, pose)])
    return HRVitonTensors(
        cloth=to_tensor(cloth),
        cloth_mask=torch.from_numpy((np.asarray(silhouette) >= 128).astype(np.float32))[None, None],
        parse_agnostic=F.one_hot(groups, len(PARSE_GROUPS)).permute(2, 0, 1)[None].float(),
        densepose=to_tensor(densepose),
        agnostic=to_tensor(agnostic_person(person, labels, pose)))


def condition_inputs(t: HRVitonTensors) -> tuple[torch.Tensor, torch.Tensor]:
    """``test_generator``'s 256x192 inputs: (garment + mask, parse-agnostic + DensePose);
    images bilinear, label maps and masks nearest, as the original resizes them."""
    cloth = F.interpolate(t.cloth, size=LOW_SIZE, mode="bilinear", align_corners=False)
    mask = F.interpolate(t.cloth_mask, size=LOW_SIZE, mode="nearest")
    parse = F.interpolate(t.parse_agnostic, size=LOW_SIZE, mode="nearest")
    densepose = F.interpolate(t.densepose, size=LOW_SIZE, mode="bilinear", align_corners=False)
    return torch.cat([cloth, mask], 1), torch.cat([parse, densepose], 1)
