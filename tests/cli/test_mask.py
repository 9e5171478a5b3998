"""`vto mask`: the mask-only path from the original's label map + keypoints, its errors, and
the photo path on the tiny checkpoint (whose random pose model finds nobody)."""

from __future__ import annotations

import json

import numpy as np
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
    photo = Image.open(inputs / "person.png").convert("RGB")
    person = photo.resize((768, 1024))
    expected = Image.composite(gray.resize((768, 1024), Image.NEAREST), person,
                               mask.resize((768, 1024), Image.NEAREST))
    out = inputs / "out"
    assert Image.open(out / "masked-working.png").tobytes() == expected.tobytes()
    assert Image.open(out / "mask-working.png").tobytes() == \
        mask.resize((768, 1024), Image.NEAREST).tobytes()
    # mask.png and masked.png are at the photo's size, like every other output of vto
    on_photo = mask.resize(photo.size, Image.NEAREST)
    assert Image.open(out / "mask.png").tobytes() == on_photo.tobytes()
    masked = np.asarray(Image.open(out / "masked.png"))
    assert masked.shape[:2] == (400, 300)
    inside = np.asarray(on_photo) == 255
    assert (masked[inside] == 127).all() and (masked[~inside] == np.asarray(photo)[~inside]).all()


@pytest.mark.parametrize("framing", ["keep", "stretch"])
def test_own_mask_writes_every_output_at_the_photo_size_and_working_size(inputs, framing):
    mask = Image.new("L", (300, 400), 0)
    mask.paste(255, (90, 100, 210, 260))
    mask.save(inputs / "own.png")
    assert main(["mask", "--person", str(inputs / "person.png"), "--mask",
                 str(inputs / "own.png"), "--framing", framing, "--out",
                 str(inputs / "o")]) == 0
    out = inputs / "o"
    assert Image.open(out / "mask.png").tobytes() == mask.tobytes()   # no models needed
    assert Image.open(out / "masked.png").size == (300, 400)
    assert Image.open(out / "mask-working.png").size == (768, 1024)
    assert Image.open(out / "masked-working.png").size == (768, 1024)


@pytest.mark.parametrize("extra,message", [
    (lambda d: ["--mask", str(d / "small.png")], "--mask is 30x40 but --person is 300x400"),
    (lambda d: ["--mask", str(d / "black.png")], "empty"),
    (lambda d: ["--mask", str(d / "small.png"), "--parse", str(d / "labels.png"),
                "--keypoints", str(d / "kp.json")], "leave out --parse"),
])
def test_own_mask_refusals(inputs, extra, message, capsys):
    Image.new("L", (30, 40), 255).save(inputs / "small.png")
    Image.new("L", (300, 400), 0).save(inputs / "black.png")
    args = ["mask", "--person", str(inputs / "person.png"), "--out", str(inputs / "o"),
            *extra(inputs)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vto: error:") and message in err and "\n" not in err
    assert not (inputs / "o").exists()


def test_paths_expand_home_and_variables(inputs, monkeypatch):
    monkeypatch.setenv("HOME", str(inputs))
    monkeypatch.setenv("VTO_TEST_OUT", str(inputs / "expanded"))
    assert main(["mask", "--parse", "~/labels.png", "--keypoints", "${HOME}/kp.json",
                 "--out", "$VTO_TEST_OUT/masks"]) == 0
    assert (inputs / "expanded" / "masks" / "mask.png").is_file()


def test_an_unwritable_out_is_one_line_before_any_work(inputs, tiny_checkpoint, capsys):
    (inputs / "a-file").write_text("x")
    for out in ("/proc/vto-no-such/out", str(inputs / "a-file" / "out"), str(inputs / "a-file")):
        assert main(["mask", "--person", str(inputs / "person.png"), "--checkpoints",
                     str(tiny_checkpoint.root), "--out", out]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("vto: error: --out") and "\n" not in err, err
        assert "loading" not in err


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
    err = capsys.readouterr().err
    assert "no person found" in err and "pass your own mask with --mask PATH" in err
    assert not (inputs / "o").exists()


def test_photo_path_without_checkpoints_says_so(inputs, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("VTO_CHECKPOINTS", raising=False)
    monkeypatch.delenv("CHECKPOINT_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["mask", "--person", str(inputs / "person.png"), "--out", "o"]) == 2
    assert "checkpoint" in capsys.readouterr().err
