"""From a person photo to what a model needs: the person at the working size, pose, parsing,
the mask and the masked person — each computed only when the model's needs ask for it.

    preprocessor = Preprocessor(checkpoints_root, device="cpu")   # models load on first use
    prepared = prepare_person(photo, size=(768, 1024), needs={Need.MASK}, recipe=ModelType.HD,
                              category=Category.UPPER_BODY, framing=Framing.KEEP,
                              preprocessor=preprocessor)
    ... the model on prepared.person / prepared.masked / prepared.mask ...
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
from typing import Callable, Collection, Sequence

import numpy as np
from PIL import Image

from vto.core.preprocess import framing as geo
from vto.core.images import binarize_mask
from vto.core.preprocess.masking import get_mask_location
from vto.core.preprocess.openpose import BodyPoseDetector, Person, keypoints_dict
from vto.core.preprocess.parsing import HumanParser
from vto.core.preprocess.persons import check_person
from vto.core.checkpoints import CheckpointDir
from vto.core.models.base import Need
from vto.core.types import Category, Framing, ModelType, parse_category, parse_model_type
from vto.errors import InvalidInput

log = logging.getLogger(__name__)

POSE_SIZE = (384, 512)
BODY_MODEL = Path("openpose/ckpts/body_pose_model.pth")
PARSING_DIR = Path("humanparsing")

KeypointSource = Callable[[Image.Image], list[Person]]
LabelSource = Callable[[Image.Image], np.ndarray]


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

    def parse_both(self, image_384x512: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
        """(ATR labels with the neck, LIP labels); an injected label source gives no LIP map."""
        parser = self._parser()
        both = getattr(parser, "both", None)
        return both(image_384x512) if both is not None else (parser(image_384x512), None)

    def analyse(self, person: Image.Image, category: Category | str,
                person_select: str = "error", *, recipe: ModelType | str | None = None,
                people: list[Person] | None = None) -> Analysis:
        """Pose and parsing on ``person.resize((384, 512))`` (bicubic, as the original), the
        person checks, and with ``recipe`` ('hd' or 'dc' arm widths) the original's mask.
        ``people`` (in that 384x512 frame) replaces pose detection (the caller's keypoints)."""
        category = parse_category(category)
        small = person.convert("RGB").resize(POSE_SIZE)
        people = self.detect(small) if people is None else people
        chosen = check_person(people, category, person_select)
        labels, labels_lip = self.parse_both(small)
        keypoints = keypoints_dict(chosen)
        mask = mask_gray = None
        if recipe is not None:
            mask, mask_gray = get_mask_location(parse_model_type(recipe), category, labels,
                                                keypoints)
        return Analysis(keypoints, labels, labels_lip, chosen, people, mask, mask_gray)


@dataclass
class Analysis:
    """What pose and parsing found on one 384x512 person image."""

    keypoints: dict              # {"pose_keypoints_2d": [[x, y] × 18]}, [0, 0] = missing
    labels: np.ndarray           # (512, 384) uint8 ATR labels 0..17, 18 = neck (from LIP)
    labels_lip: np.ndarray | None  # (512, 384) uint8 LIP labels 0..19
    person: Person               # the person checked and chosen
    people: list[Person]         # everyone detected, most prominent first
    mask: Image.Image | None = None       # "L" 384×512, 255 = re-generate (with a recipe)
    mask_gray: Image.Image | None = None  # "L" 384×512, 127 = re-generate

    @property
    def keypoint_array(self) -> np.ndarray:
        return np.asarray(self.keypoints["pose_keypoints_2d"], dtype=np.float64).reshape(18, 2)


@dataclass
class PreparedPerson:
    """The person side of a try-on at the working size: what a model's needs ask for."""

    person: Image.Image                     # RGB: the original's image_ori
    framing: Framing = Framing.STRETCH
    window: geo.Window | None = None        # None for STRETCH
    mask: Image.Image | None = None         # "L" 0/255, 255 = re-generate (Need.MASK)
    masked: Image.Image | None = None       # RGB, grey 127 inside the mask
    analysis: Analysis | None = field(default=None, repr=False)  # pose + parsing, if run
    densepose: Image.Image | None = None    # the user's DensePose image, framed like person

    def mask_on_photo(self, photo_size: tuple[int, int]) -> Image.Image | None:
        """The mask in the photo's own coordinates (for --save-mask and debugging)."""
        if self.mask is None:
            return None
        if self.window is None:
            return self.mask.resize(photo_size, Image.NEAREST)
        return geo.mask_to_photo(self.mask, self.window)


def _user_mask(mask: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, Image.Image]:
    """A user mask at the working size: "L", NEAREST, binarised; gray = mask * 127 / 255."""
    binary = binarize_mask(mask.resize(size, Image.NEAREST) if mask.size != size else mask)
    values = np.asarray(binary)
    if not values.any():
        raise InvalidInput("the mask is empty inside the person's window: paint the region to "
                           "re-generate in white")
    gray = Image.fromarray((values.astype(np.uint16) * 127 // 255).astype(np.uint8), "L")
    return binary, gray


def _masked(person: Image.Image, mask: Image.Image, mask_gray: Image.Image) -> Image.Image:
    return Image.composite(mask_gray, person, mask)


def user_person(points: Sequence[Sequence[float]]) -> Person:
    """A Person from caller-given COCO-18 keypoints, (0, 0) = missing."""
    keypoints = [None if (x, y) == (0, 0) else (float(x), float(y)) for x, y in points]
    visible = sum(p is not None for p in keypoints)
    return Person(keypoints=keypoints, part_scores=[1.0 if p else None for p in keypoints],
                  score=float(visible), n_parts=visible)


def _moved(person: Person, scale: tuple[float, float], offset: tuple[float, float]) -> Person:
    """``person`` with every keypoint mapped by ``p * scale + offset``."""
    points = [None if p is None else (p[0] * scale[0] + offset[0], p[1] * scale[1] + offset[1])
              for p in person.keypoints]
    return Person(keypoints=points, part_scores=person.part_scores, score=person.score,
                  n_parts=person.n_parts)


def prepare_person(photo: Image.Image, *, size: tuple[int, int], needs: Collection[Need],
                   category: Category | str, recipe: ModelType | str = ModelType.DC,
                   framing: Framing | str = Framing.KEEP,
                   user_mask: Image.Image | None = None,
                   user_keypoints: Sequence[Sequence[float]] | None = None,
                   densepose: Image.Image | None = None,
                   preprocessor: Preprocessor | None = None,
                   person_select: str = "error") -> PreparedPerson:
    """The person at ``size`` (W, H) and what ``needs`` ask for; see the module docstring.

    Pose and parsing run only when a need asks for them: Need.POSE/PARSE, or Need.MASK
    without ``user_mask`` (the automatic mask, OOTD's ``recipe``: 'hd' or 'dc' arm widths).
    ``user_keypoints`` (COCO-18 in photo pixels) replace pose detection.
    Raises PersonCheckFailed subclasses when the photo has no/several people or lacks the
    body parts the category needs.
    """
    category = parse_category(category)
    mode = Framing(framing)
    photo = photo.convert("RGB")
    needs = set(needs)
    auto_mask = Need.MASK in needs and user_mask is None
    analyse = auto_mask or bool(needs & {Need.POSE, Need.PARSE})
    if analyse and preprocessor is None:
        raise InvalidInput("a preprocessor (checkpoints) is needed unless a mask is given")

    if mode is Framing.STRETCH:
        window, person_select_here = None, person_select
        person = photo.resize(size)
        full_mask = user_mask
    else:
        # KEEP: find the person (or the user's mask) in the photo, then work in a window.
        full_mask = (binarize_mask(user_mask.resize(photo.size, Image.NEAREST)
                                   if user_mask.size != photo.size else user_mask)
                     if user_mask is not None else None)
        if full_mask is not None:
            box = geo.mask_box(full_mask)
            if box is None:
                raise InvalidInput("the mask is empty: paint the region to re-generate in white")
        elif user_keypoints is not None:
            box = geo.keypoint_box(check_person([user_person(user_keypoints)], category), 1.0,
                                   (0.0, 0.0), photo.size)
        else:
            assert preprocessor is not None
            view, scale, offset = geo.letterbox(photo, POSE_SIZE)
            chosen = check_person(preprocessor.detect(view), category, person_select)
            box = geo.keypoint_box(chosen, scale, offset, photo.size)
        window = geo.choose_window(box, photo.size, size)
        log.debug("keep framing: window %s of photo %s", window, photo.size)
        person = geo.crop(photo, window, size)
        # The chosen person fills the window; stray detections at its edge are not "several".
        person_select_here = "largest"

    prepared = PreparedPerson(person=person, framing=mode, window=window)
    if densepose is not None:
        prepared.densepose = (densepose.convert("RGB").resize(size, Image.NEAREST)
                              if window is None else geo.crop(densepose, window, size, mask=True))
    if analyse:
        assert preprocessor is not None
        # Pose and parsing see 384x512. A working image smaller than that (e.g. CP-VTON+'s
        # 192x256) would be upscaled into it; take the same region from the photo instead.
        view = person
        if size[0] < POSE_SIZE[0] or size[1] < POSE_SIZE[1]:
            view = photo.resize(POSE_SIZE) if window is None else geo.crop(photo, window,
                                                                           POSE_SIZE)
        given = None
        if user_keypoints is not None:  # photo pixels -> the 384x512 frame of the view
            x0, y0, (w, h) = ((0, 0, photo.size) if window is None
                              else (window.x0, window.y0, window.size))
            sx, sy = POSE_SIZE[0] / w, POSE_SIZE[1] / h
            given = [_moved(user_person(user_keypoints), (sx, sy), (-x0 * sx, -y0 * sy))]
        prepared.analysis = preprocessor.analyse(view, category, person_select_here,
                                                 recipe=recipe if auto_mask else None,
                                                 people=given)
    if Need.MASK in needs:
        if full_mask is not None:
            cropped = full_mask if window is None else geo.crop(full_mask, window, size, mask=True)
            mask, gray = _user_mask(cropped, size)
        else:
            assert prepared.analysis is not None and prepared.analysis.mask is not None
            mask = prepared.analysis.mask.resize(size, Image.NEAREST)
            gray = prepared.analysis.mask_gray.resize(size, Image.NEAREST)
        prepared.mask, prepared.masked = mask, _masked(person, mask, gray)
    return prepared


def compose_result(photo: Image.Image, generated: Image.Image,
                   prepared: PreparedPerson) -> Image.Image:
    """The final image: ``generated`` as is for STRETCH; for KEEP the photo at its own size
    with only the (dilated, feathered) mask region replaced — the whole window for models
    that re-draw the whole person."""
    if prepared.window is None:
        return generated
    region = prepared.mask if prepared.mask is not None else Image.new("L", generated.size, 255)
    return geo.paste_back(photo, generated, region, prepared.window)
