"""Every model from a clean directory, as a user runs it: `vto dev tiny-checkpoint --model X DIR`
then `vto tryon --model X …` on CPU (random weights: noise, not clothes)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.cli.test_tryon import vto
from tests.service.fakes import POSE


@pytest.fixture(scope="module")
def photos(tmp_path_factory, examples):
    d = tmp_path_factory.mktemp("photos")
    photo = Image.open(examples / "person" / "model_1.png").convert("RGB").resize((192, 256))
    photo.save(d / "person.png")
    Image.open(examples / "garment" / "03244_00.jpg").save(d / "garment.jpg")
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (48, 64, 144, 208))
    mask.save(d / "mask.png")
    # a standing person's keypoints in this photo's pixels (tiny random pose weights find nobody)
    points = [[x * photo.width / 384, y * photo.height / 512] for x, y in POSE]
    (d / "keypoints.json").write_text(json.dumps({"pose_keypoints_2d": points}))
    return d


def run(root, photos, out, *extra: str):
    return vto("tryon", "--checkpoints", str(root), "--person", str(photos / "person.png"),
               "--garment", str(photos / "garment.jpg"), "--device", "cpu", "--seed", "3",
               "--out", str(out), *extra)


def test_catvton_from_a_clean_directory(tmp_path, photos):
    root = tmp_path / "ck"
    made = vto("dev", "tiny-checkpoint", "--model", "catvton", str(root))
    assert made.returncode == 0, made.stderr
    proc = run(root, photos, tmp_path / "o", "--model", "catvton", "--mask",
               str(photos / "mask.png"), "--size", "96x128", "--steps", "2", "--samples", "2")
    assert proc.returncode == 0, proc.stderr
    for name in ("0.png", "1.png"):
        assert Image.open(tmp_path / "o" / name).size == (192, 256)  # keep: the photo's size


def test_cp_vton_plus_from_a_clean_directory_with_the_alias_notice(tmp_path, photos):
    root = tmp_path / "ck"
    assert vto("dev", "tiny-checkpoint", "--model", "cp-vton-plus", str(root)).returncode == 0
    proc = run(root, photos, tmp_path / "o", "--model", "cp-vton", "--keypoints",
               str(photos / "keypoints.json"))
    assert proc.returncode == 0, proc.stderr
    assert "cp-vton has no published weights; using CP-VTON+" in proc.stderr
    assert Image.open(tmp_path / "o" / "0.png").size == (192, 256)
    # outside its capabilities: one line, exit 2, before anything loads
    for extra, words in ((("--steps", "5"), "has no num_inference_steps"),
                         (("--category", "dress"), "supports categories upper_body"),
                         (("--mask", str(photos / "mask.png")), "does not take a mask")):
        bad = run(root, photos, tmp_path / "bad", "--model", "cp-vton-plus", *extra)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1


def test_viton_hd_from_a_clean_directory_pastes_back_only_what_it_redraws(tmp_path, photos):
    root = tmp_path / "ck"
    assert vto("dev", "tiny-checkpoint", "--model", "viton-hd", str(root)).returncode == 0
    proc = run(root, photos, tmp_path / "o", "--model", "viton-hd", "--keypoints",
               str(photos / "keypoints.json"), "--save-mask")
    assert proc.returncode == 0, proc.stderr
    result = Image.open(tmp_path / "o" / "0.png")
    photo = Image.open(photos / "person.png")
    assert result.size == photo.size
    import numpy as np

    region = np.asarray(Image.open(tmp_path / "o" / "mask.png")) > 0
    assert 0 < region.mean() < 0.9  # not the whole window: the head and legs stay the photo's
    same = np.all(np.asarray(result) == np.asarray(photo), axis=-1)
    assert same[0:20].mean() > 0.9  # the top rows (head) are the photo's own pixels


def test_hr_viton_needs_a_densepose_image(tmp_path, photos):
    root = tmp_path / "ck"
    assert vto("dev", "tiny-checkpoint", "--model", "hr-viton", str(root)).returncode == 0
    missing = run(root, photos, tmp_path / "bad", "--model", "hr-viton", "--keypoints",
                  str(photos / "keypoints.json"))
    assert missing.returncode == 2 and "needs a DensePose image" in missing.stderr
    densepose = Image.new("RGB", (192, 256), (20, 120, 200))
    densepose.paste((200, 60, 30), (60, 40, 132, 220))  # a body-shaped block of "parts"
    densepose.save(tmp_path / "densepose.png")
    proc = run(root, photos, tmp_path / "o", "--model", "hr-viton", "--keypoints",
               str(photos / "keypoints.json"), "--densepose", str(tmp_path / "densepose.png"))
    assert proc.returncode == 0, proc.stderr
    assert Image.open(tmp_path / "o" / "0.png").size == (192, 256)
