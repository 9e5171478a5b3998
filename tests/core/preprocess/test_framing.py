"""Framing: STRETCH reproduces the original's preprocessing, KEEP crops a window around the
person and pastes only the re-generated region back (everything else byte-identical)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vto.core.preprocess import framing
from vto.core.images import open_image
from vto.core.preprocess.masking import get_mask_location
from vto.core.preprocess.openpose import Person, keypoints_dict
from vto.core.models.base import Need
from vto.core.preprocess.parsing import HumanParser
from vto.dev.parsing_weights import write_random_parsing_model
from vto.core.preprocess.prepare import Preprocessor, compose_result, prepare_person
from vto.core.types import Framing
from vto.errors import InvalidInput, NoPersonFound, SeveralPersonsFound
from tests.conftest import EXAMPLES

SIZE = (768, 1024)


def standing_person(image: Image.Image) -> list[Person]:
    """Stand-in pose detector: one person filling the middle of any 384×512 image."""
    base = [(192, 60), (192, 110), (150, 112), (135, 200), (130, 280), (234, 112), (249, 200),
            (254, 280), (165, 280), (165, 380), (165, 470), (219, 280), (219, 380), (219, 470),
            (182, 50), (202, 50), (172, 56), (212, 56)]
    points = [(float(x), float(y)) for x, y in base]
    return [Person(points, [1.0] * 18, 20.0, 18)]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ckpt")
    write_random_parsing_model(root / "humanparsing" / "parsing_atr.onnx", "atr", seed=0)
    write_random_parsing_model(root / "humanparsing" / "parsing_lip.onnx", "lip", seed=1)
    return root


@pytest.fixture(scope="module")
def preprocessor(checkpoints) -> Preprocessor:
    return Preprocessor(checkpoints, keypoint_source=standing_person)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return open_image(EXAMPLES / "person" / "model_1.png")


def test_stretch_is_the_original_pipeline(preprocessor, checkpoints, photo):
    small_photo = photo.resize((600, 900))           # not 3:4: STRETCH squashes like the original
    prepared = prepare_person(small_photo, size=SIZE, needs={Need.MASK}, recipe="hd", category="upper_body",
                              framing=Framing.STRETCH, preprocessor=preprocessor)
    # the original, step by step (run_ootd.py)
    model_img = small_photo.resize(SIZE)
    parse = HumanParser.from_checkpoint(checkpoints / "humanparsing")(model_img.resize((384, 512)))
    keypoints = keypoints_dict(standing_person(model_img.resize((384, 512)))[0])
    mask, mask_gray = get_mask_location("hd", "upper_body", parse, keypoints)
    mask = mask.resize(SIZE, Image.NEAREST)
    mask_gray = mask_gray.resize(SIZE, Image.NEAREST)
    masked = Image.composite(mask_gray, model_img, mask)
    assert prepared.person.tobytes() == model_img.tobytes()
    assert prepared.mask.tobytes() == mask.tobytes()
    assert prepared.masked.tobytes() == masked.tobytes()
    assert prepared.window is None and prepared.analysis.keypoints == keypoints
    assert np.array_equal(prepared.analysis.labels, parse)
    generated = Image.new("RGB", SIZE, (0, 255, 0))
    assert compose_result(small_photo, generated, prepared) is generated


def test_stretch_with_user_mask(photo):
    user = Image.new("RGB", (300, 400), (0, 0, 0))
    user.paste((200, 200, 200), (100, 100, 200, 300))
    prepared = prepare_person(photo, size=SIZE, needs={Need.MASK}, recipe="dc", category="lower_body",
                              framing="stretch", user_mask=user)
    values = np.asarray(prepared.mask)
    assert prepared.mask.mode == "L" and prepared.mask.size == SIZE
    assert set(np.unique(values)) == {0, 255}
    assert np.array_equal(np.asarray(user.convert("L").resize(SIZE, Image.NEAREST)) >= 127,
                          values == 255)
    masked = np.asarray(prepared.masked)
    assert (masked[values == 255] == 127).all()
    assert np.array_equal(masked[values == 0], np.asarray(photo.resize(SIZE))[values == 0])


def test_empty_user_mask_and_missing_preprocessor(photo):
    with pytest.raises(InvalidInput, match="empty"):
        prepare_person(photo, size=SIZE, needs={Need.MASK}, recipe="hd", category="upper_body",
                       framing="keep", user_mask=Image.new("L", photo.size))
    with pytest.raises(InvalidInput, match="preprocessor"):
        prepare_person(photo, size=SIZE, needs={Need.MASK}, recipe="hd", category="upper_body", framing="keep")


def _wide_scene(photo: Image.Image) -> Image.Image:
    scene = Image.new("RGB", (1900, 1100), (30, 90, 160))
    scene.paste(photo.resize((600, 800)), (900, 250))
    return scene


def _assert_only_mask_region_changed(photo, result, prepared):
    """Outside the paste-back alpha the result is the photo, byte for byte."""
    assert result.size == photo.size and result.mode == "RGB"
    before, after = np.asarray(photo), np.asarray(result)
    win = prepared.window
    alpha = Image.new("L", photo.size, 0)
    alpha.paste(Image.fromarray(framing.window_alpha(prepared.mask, win)), (win.x0, win.y0))
    support = np.asarray(alpha) > 0
    changed = np.any(before != after, axis=2)
    assert changed.any()
    assert not (changed & ~support).any()
    assert np.array_equal(before[~support], after[~support])
    return changed


def test_keep_with_user_mask_pastes_back_into_the_photo(photo):
    scene = _wide_scene(photo)
    user = Image.new("L", scene.size, 0)
    user.paste(255, (1050, 500, 1350, 800))
    prepared = prepare_person(scene, size=SIZE, needs={Need.MASK}, recipe="hd", category="upper_body",
                              framing=Framing.KEEP, user_mask=user)
    win = prepared.window
    assert win.size[0] * 4 == win.size[1] * 3                   # 3:4 window
    assert win.x0 <= 1050 and win.x1 >= 1350 and win.y0 <= 500 and win.y1 >= 800
    assert prepared.person.size == prepared.mask.size == SIZE
    on_photo = np.asarray(prepared.mask_on_photo(scene.size)) > 0
    assert on_photo[600, 1200] and not on_photo[600, 200]
    generated = Image.new("RGB", SIZE, (255, 0, 255))
    result = compose_result(scene, generated, prepared)
    changed = _assert_only_mask_region_changed(scene, result, prepared)
    assert np.asarray(result)[650, 1200].tolist() == [255, 0, 255]   # mask interior replaced
    assert not changed[:, :900].any()


def test_keep_with_pose_finds_a_window_around_the_person(preprocessor, photo):
    scene = _wide_scene(photo)
    prepared = prepare_person(scene, size=SIZE, needs={Need.MASK}, recipe="dc", category="dress",
                              framing="keep", preprocessor=preprocessor)
    win = prepared.window
    assert win.size[0] * 4 == win.size[1] * 3
    # the fake detector puts the person in the middle of the letterboxed view
    centre_x = (win.x0 + win.x1) / 2
    assert abs(centre_x - 950) < 60
    assert prepared.analysis.keypoints is not None
    assert prepared.analysis.labels.shape == (512, 384)
    assert prepared.analysis.labels_lip.shape == (512, 384)
    values = np.asarray(prepared.mask)
    masked = np.asarray(prepared.masked)
    assert (masked[values == 255] == 127).all()
    assert np.array_equal(masked[values == 0], np.asarray(prepared.person)[values == 0])
    result = compose_result(scene, Image.new("RGB", SIZE, (0, 0, 0)), prepared)
    _assert_only_mask_region_changed(scene, result, prepared)


def test_keep_person_checks(checkpoints, photo):
    nobody = Preprocessor(checkpoints, keypoint_source=lambda image: [])
    with pytest.raises(NoPersonFound):
        prepare_person(photo, size=SIZE, needs={Need.MASK}, recipe="hd", category="upper_body",
                       preprocessor=nobody)
    twins = Preprocessor(checkpoints, keypoint_source=lambda image: standing_person(image) * 2)
    with pytest.raises(SeveralPersonsFound):
        prepare_person(photo, size=SIZE, needs={Need.MASK}, recipe="hd", category="upper_body",
                       preprocessor=twins)
    prepared = prepare_person(photo, size=SIZE, needs={Need.MASK}, recipe="hd", category="upper_body",
                              preprocessor=twins, person_select="largest")
    assert prepared.mask.size == SIZE


def test_exif_rotated_photo_keeps_its_upright_size():
    photo = Image.open(EXAMPLES / "person" / "049447_0.jpg").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 8                                   # stored rotated, "rotate 270 to view"
    buffer = io.BytesIO()
    photo.transpose(Image.Transpose.ROTATE_270).save(buffer, "JPEG", exif=exif.tobytes())
    upright = open_image(buffer.getvalue())
    assert upright.size == (768, 1024)
    user = Image.new("L", upright.size, 0)
    user.paste(255, (300, 300, 500, 600))
    prepared = prepare_person(upright, size=SIZE, needs={Need.MASK}, recipe="dc", category="upper_body",
                              framing="keep", user_mask=user)
    result = compose_result(upright, Image.new("RGB", SIZE, (9, 9, 9)), prepared)
    assert result.size == upright.size
    _assert_only_mask_region_changed(upright, result, prepared)


@pytest.mark.parametrize("photo_size,box,expect", [
    ((768, 1024), (100, 0, 668, 1024), (0, 0, 768, 1024)),       # framed photo: used whole
    ((768, 1024), (100, 40, 668, 930), (0, 0, 768, 1024)),       # nearly fills it: snapped
    ((1920, 1080), (800, 100, 1100, 1000), None),                # wide: crop inside photo
    ((600, 2000), (0, 100, 600, 1900), None),                    # tall & narrow: padded
    ((4000, 3000), (1900, 1200, 2000, 1500), None),              # small person: zoom in
])
def test_choose_window(photo_size, box, expect):
    win = framing.choose_window(box, photo_size, SIZE)
    assert win.size[0] * 4 == win.size[1] * 3
    assert win.x0 <= box[0] and win.x1 >= box[2] and win.y0 <= box[1] and win.y1 >= box[3]
    if expect:
        assert (win.x0, win.y0, win.x1, win.y1) == expect
    if win.size[0] <= photo_size[0] and win.size[1] <= photo_size[1]:
        assert not any(win.padding)                              # fits -> no padding
    if photo_size == (4000, 3000):
        assert win.size[1] < 600


def test_padded_window_replicates_edges():
    photo = Image.new("RGB", (100, 400), (10, 20, 30))
    photo.paste((200, 0, 0), (0, 0, 1, 400))
    win = framing.Window(-50, 0, 250, 400, (100, 400))
    crop = framing.crop(photo, win, (300, 400))
    assert crop.getpixel((10, 200)) == (200, 0, 0)               # left edge replicated
    mask = framing.crop(Image.new("L", (100, 400), 255), win, (300, 400), mask=True)
    assert mask.getpixel((10, 200)) == 0 and mask.getpixel((100, 200)) == 255
