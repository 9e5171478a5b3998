"""From a person photo to what the diffusion needs: person image, mask, masked person.

    preprocessor = Preprocessor(checkpoints_root, device="cpu")   # models load on first use
    prepared = prepare_person(photo, size=(768, 1024), model_type=ModelType.HD,
                              category=Category.UPPER_BODY, framing=Framing.KEEP,
                              preprocessor=preprocessor)
    ... diffusion on prepared.person / prepared.masked / prepared.mask ...
    final = compose_result(photo, generated, prepared)

``Framing.STRETCH`` is the original's ``run_ootd.py`` exactly: the photo squashed to the
working size, pose and parsing on that image resized to 384×512, the 384×512 mask resized
NEAREST, ``masked = Image.composite(mask_gray, person, mask)``, and the decoded image is
the result. ``Framing.KEEP`` (vto's default) works on a window around the person and pastes
only the re-generated region back into the untouched photo (see vto.core.preprocess.framing).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from vto.core.preprocess import framing as geo
from vto.core.images import binarize_mask
from vto.core.preprocess.masking import get_mask_location
from vto.core.preprocess.openpose import BodyPoseDetector, Person, keypoints_dict
from vto.core.preprocess.parsing import HumanParser
from vto.core.preprocess.persons import check_person
from vto.core.checkpoints import CheckpointDir
from vto.core.types import (Category, Framing, ModelType, check_combination, parse_category,
                            parse_model_type)
from vto.errors import InvalidInput

log = logging.getLogger(__name__)

POSE_SIZE = (384, 512)
BODY_MODEL = Path("openpose/ckpts/body_pose_model.pth")
PARSING_DIR = Path("humanparsing")

KeypointSource = Callable[[Image.Image], list[Person]]
LabelSource = Callable[[Image.Image], np.ndarray]


@dataclass
class MaskResult:
    """The mask for one 384×512 person image and what it was computed from."""

    mask: Image.Image            # "L" 384×512, 255 = re-generate
    mask_gray: Image.Image       # "L" 384×512, 127 = re-generate
    keypoints: dict              # {"pose_keypoints_2d": [[x, y] × 18]}, [0, 0] = missing
    labels: np.ndarray           # (512, 384) uint8 ATR labels 0..18
    person: Person               # the person the mask is for
    people: list[Person]         # everyone detected, most prominent first


class Preprocessor:
    """Pose + parsing + mask. Models load lazily (thread-safe) on first use."""

    def __init__(self, checkpoints_root: Path | None, device: str = "cpu",
                 keypoint_source: KeypointSource | None = None,
                 label_source: LabelSource | None = None) -> None:
        self.root = Path(checkpoints_root) if checkpoints_root is not None else None
        self.device = device
        self._keypoint_source = keypoint_source
        self._label_source = label_source
        self._lock = threading.Lock()

    def _need_root(self, part: str) -> Path:
        if self.root is None:
            raise InvalidInput("no checkpoint directory given for pose detection and parsing")
        CheckpointDir(self.root).verify_preprocessing(part)  # names the files and the fix
        return self.root

    def _pose(self) -> KeypointSource:
        with self._lock:
            if self._keypoint_source is None:
                self._keypoint_source = BodyPoseDetector.from_checkpoint(
                    self._need_root("openpose") / BODY_MODEL, self.device)
            return self._keypoint_source

    def _parser(self) -> LabelSource:
        with self._lock:
            if self._label_source is None:
                self._label_source = HumanParser.from_checkpoint(
                    self._need_root("humanparsing") / PARSING_DIR, self.device)
            return self._label_source

    def load(self) -> None:
        """Load both models now (e.g. at service start-up)."""
        self._pose()
        self._parser()

    def detect(self, image_384x512: Image.Image) -> list[Person]:
        return self._pose()(image_384x512)

    def parse(self, image_384x512: Image.Image) -> np.ndarray:
        return self._parser()(image_384x512)

    def compute_mask(self, person: Image.Image, model_type: ModelType | str,
                     category: Category | str, person_select: str = "error") -> MaskResult:
        """Pose and parsing on ``person.resize((384, 512))`` (bicubic, as the original),
        person checks, then the original's mask at 384×512."""
        model_type, category = parse_model_type(model_type), parse_category(category)
        small = person.convert("RGB").resize(POSE_SIZE)
        people = self.detect(small)
        chosen = check_person(people, category, person_select)
        labels = self.parse(small)
        keypoints = keypoints_dict(chosen)
        mask, mask_gray = get_mask_location(model_type, category, labels, keypoints)
        return MaskResult(mask, mask_gray, keypoints, labels, chosen, people)


@dataclass
class PreparedPerson:
    """The person side of a try-on, at the working size."""

    person: Image.Image                    # RGB: the original's image_ori
    mask: Image.Image                      # "L" 0/255, 255 = re-generate
    masked: Image.Image                    # RGB, grey 127 inside the mask
    framing: Framing = Framing.STRETCH
    window: geo.Window | None = None   # None for STRETCH
    keypoints: dict | None = None          # 384×512 keypoints of the working image
    labels: np.ndarray | None = field(default=None, repr=False)

    def mask_on_photo(self, photo_size: tuple[int, int]) -> Image.Image:
        """The mask in the photo's own coordinates (for --save-mask and debugging)."""
        if self.window is None:
            return self.mask.resize(photo_size, Image.NEAREST)
        return geo.mask_to_photo(self.mask, self.window)


def _user_mask(mask: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, Image.Image]:
    """A user mask at the working size: "L", NEAREST, binarised; gray = mask * 127 / 255."""
    binary = binarize_mask(mask.resize(size, Image.NEAREST) if mask.size != size else mask)
    values = np.asarray(binary)
    if not values.any():
        raise InvalidInput("the mask is empty: paint the region to re-generate in white")
    gray = Image.fromarray((values.astype(np.uint16) * 127 // 255).astype(np.uint8), "L")
    return binary, gray


def _finish(person: Image.Image, mask: Image.Image, mask_gray: Image.Image, **extra
            ) -> PreparedPerson:
    masked = Image.composite(mask_gray, person, mask)
    return PreparedPerson(person=person, mask=mask, masked=masked, **extra)


def _masks_at(result: MaskResult, size: tuple[int, int]) -> tuple[Image.Image, Image.Image]:
    return (result.mask.resize(size, Image.NEAREST), result.mask_gray.resize(size, Image.NEAREST))


def prepare_person(photo: Image.Image, *, size: tuple[int, int], model_type: ModelType | str,
                   category: Category | str, framing: Framing | str = Framing.KEEP,
                   user_mask: Image.Image | None = None,
                   preprocessor: Preprocessor | None = None,
                   person_select: str = "error") -> PreparedPerson:
    """Person image, mask and masked person at ``size`` (W, H); see the module docstring.

    With ``user_mask`` no pose/parsing runs (no preprocessor needed). Raises
    PersonCheckFailed subclasses when the photo has no/several people or lacks body parts.
    """
    model_type, category = parse_model_type(model_type), parse_category(category)
    check_combination(model_type, category)
    mode = Framing(framing)
    photo = photo.convert("RGB")
    if user_mask is None and preprocessor is None:
        raise InvalidInput("a preprocessor (checkpoints) is needed unless a mask is given")

    if mode is Framing.STRETCH:
        person = photo.resize(size)
        if user_mask is not None:
            mask, gray = _user_mask(user_mask, size)
            return _finish(person, mask, gray, framing=mode)
        result = preprocessor.compute_mask(person, model_type, category, person_select)
        return _finish(person, *_masks_at(result, size), framing=mode,
                       keypoints=result.keypoints, labels=result.labels)

    # KEEP: find the person (or the mask) in the photo, then work inside a window.
    if user_mask is not None:
        full_mask = binarize_mask(user_mask.resize(photo.size, Image.NEAREST)
                                  if user_mask.size != photo.size else user_mask)
        box = geo.mask_box(full_mask)
        if box is None:
            raise InvalidInput("the mask is empty: paint the region to re-generate in white")
        window = geo.choose_window(box, photo.size, size)
        person = geo.crop(photo, window, size)
        mask, gray = _user_mask(geo.crop(full_mask, window, size, mask=True), size)
        return _finish(person, mask, gray, framing=mode, window=window)

    view, scale, offset = geo.letterbox(photo, POSE_SIZE)
    chosen = check_person(preprocessor.detect(view), category, person_select)
    window = geo.choose_window(geo.keypoint_box(chosen, scale, offset, photo.size),
                                   photo.size, size)
    log.debug("keep framing: window %s of photo %s", window, photo.size)
    person = geo.crop(photo, window, size)
    # The chosen person fills the window; stray detections at its edge are not "several".
    result = preprocessor.compute_mask(person, model_type, category, "largest")
    return _finish(person, *_masks_at(result, size), framing=mode, window=window,
                   keypoints=result.keypoints, labels=result.labels)


def compose_result(photo: Image.Image, generated: Image.Image,
                   prepared: PreparedPerson) -> Image.Image:
    """The final image: ``generated`` as is for STRETCH; for KEEP the photo at its own size
    with only the (dilated, feathered) mask region replaced."""
    if prepared.window is None:
        return generated
    return geo.paste_back(photo, generated, prepared.mask, prepared.window)
