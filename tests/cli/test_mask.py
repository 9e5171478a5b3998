"""`vto mask`: the mask-only path from the original's label map + keypoints, its errors, and
the photo path on the tiny checkpoint (whose random pose model finds nobody)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.core.preprocess.test_masking import body_keypoints, body_labels
from vto.cli.main import main
from vto.core.preprocess.masking import get_mask_location
from vto.core.preprocess.parsing import to_palette_image


@pytest.fixture()
def inputs(tmp_path, examples):
    to_palette_image(body_labels()).save(tmp_path / "labels.png")
    Image.fromarray(body_labels()).save(tmp_path / "labels_l.png")
    (tmp_path / "kp.json").write_text(json.dumps({"pose_keypoints_2d": body_keypoints()}))
    Image.open(examples / "person" / "model_1.png").convert("RGB").resize((300, 400)).save(
        tmp_path / "person.png")
    return tmp_path


def _mask_args(d, *extra):
    return ["mask", "--parse", str(d / "labels.png"), "--keypoints", str(d / "kp.json"),
            "--out", str(d / "out"), *extra]


@pytest.mark.parametrize("model_type,category", [("hd", "upper_body"), ("dc", "lower_body"),
                                                 ("dc", "dress")])
def test_mask_from_parse_and_keypoints_is_the_384x512_mask(inputs, model_type, category, capsys):
    assert main(_mask_args(inputs, "--model-type", model_type, "--category", category)) == 0
    written = Image.open(inputs / "out" / "mask.png")
    expected, _ = get_mask_location(model_type, category, body_labels(),
                                    {"pose_keypoints_2d": body_keypoints()})
    assert written.mode == "L" and written.size == (384, 512)
    assert written.tobytes() == expected.tobytes()
    assert not (inputs / "out" / "masked.png").exists()
    assert "mask.png" in capsys.readouterr().out


def test_mask_with_person_writes_the_originals_masked_image(inputs):
    args = _mask_args(inputs, "--person", str(inputs / "person.png"))
    args[2] = str(inputs / "labels_l.png")                        # an "L" label map works too
    assert main(args) == 0
    mask, gray = get_mask_location("hd", "upper_body", body_labels(), body_keypoints())
    person = Image.open(inputs / "person.png").convert("RGB").resize((768, 1024))
    expected = Image.composite(gray.resize((768, 1024), Image.NEAREST), person,
                               mask.resize((768, 1024), Image.NEAREST))
    assert Image.open(inputs / "out" / "masked.png").tobytes() == expected.tobytes()


@pytest.mark.parametrize("change,message", [
    (lambda d, a: a[:3] + a[5:], "go together"),                                # no --keypoints
    (lambda d, a: a + ["--model-type", "hd", "--category", "dress"], "upper_body"),
    (lambda d, a: [x.replace("kp.json", "missing.json") for x in a], "does not exist"),
    (lambda d, a: (d / "kp.json").write_text('{"pose_keypoints_2d": [[1, 2]]}') and a,
     "18 [x, y] points"),
    (lambda d, a: (d / "kp.json").write_text("{not json") and a, "JSON"),
    (lambda d, a: Image.new("RGB", (384, 512)).save(d / "labels.png") or a, "\"L\" or \"P\""),
    (lambda d, a: Image.new("L", (384, 512), 40).save(d / "labels.png") or a, "0..18"),
])
def test_bad_mask_inputs_are_one_line_errors(inputs, change, message, capsys):
    assert main(change(inputs, _mask_args(inputs))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vto: error:") and message in err and "\n" not in err


def test_photo_path_runs_pose_and_reports_no_person(inputs, tiny_checkpoint, capsys):
    rc = main(["mask", "--person", str(inputs / "person.png"), "--checkpoints",
               str(tiny_checkpoint.root), "--framing", "stretch", "--out", str(inputs / "o")])
    assert rc == 2
    assert "no person found" in capsys.readouterr().err
    assert not (inputs / "o").exists()


def test_photo_path_without_checkpoints_says_so(inputs, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("VTO_CHECKPOINTS", raising=False)
    monkeypatch.delenv("CHECKPOINT_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["mask", "--person", str(inputs / "person.png"), "--out", "o"]) == 2
    assert "checkpoint" in capsys.readouterr().err
