"""`vto run-ootd`: the original's flags, its hd/category refusal, and its output files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vto.cli import run_ootd
from vto.cli.main import build_parser, main


def test_flags_and_defaults_are_the_originals():
    args = build_parser().parse_args(["run-ootd", "--model_path", "p.jpg", "--cloth_path", "c.jpg"])
    assert (args.model_type, args.category, args.scale, args.step, args.sample, args.seed,
            args.gpu_id) == ("hd", 0, 2.0, 20, 4, -1, 0)
    args = build_parser().parse_args(["run-ootd", "--model_path", "p", "--cloth_path", "c",
                                      "-c", "2", "-g", "1", "--model_type", "dc"])
    assert (args.category, args.gpu_id, args.model_type) == (2, 1, "dc")


@pytest.mark.parametrize("extra,message", [
    (["--category", "1"], "requires category == 0"),
    (["--model_type", "xl"], "'hd' or 'dc'"),
    (["--model_type", "dc", "--category", "3"], "0, 1 or 2"),
])
def test_refusals_before_loading_anything(extra, message, capsys):
    assert main(["run-ootd", "--model_path", "missing.jpg", "--cloth_path", "missing.jpg",
                 *extra]) == 2
    assert message in capsys.readouterr().err


def test_runs_the_engine_and_stops_at_the_person_check(tiny_checkpoint, examples, tmp_path,
                                                       monkeypatch, capsys):
    # The tiny checkpoint's random pose model finds nobody: the run gets as far as the
    # person check (the original would raise IndexError there) and writes nothing.
    monkeypatch.chdir(tmp_path)
    rc = main(["run-ootd", "--model_path", str(examples / "person" / "model_1.png"),
               "--cloth_path", str(examples / "garment" / "03244_00.jpg"),
               "--checkpoints", str(tiny_checkpoint.root), "--step", "1", "--sample", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "no person found" in err and "with --mask PATH" in err
    assert not (tmp_path / "images_output").exists()


def test_writes_the_originals_files(monkeypatch, tmp_path, examples, capsys):
    """Output naming with a stand-in engine (the real one is exercised above and in tryon)."""
    seen = {}

    class Result:
        seed = 42
        masked_person = Image.new("RGB", (768, 1024), (127, 127, 127))
        images = [Image.new("RGB", (768, 1024), (i, 0, 0)) for i in range(2)]

    class Engine:
        def __init__(self, checkpoints, device=None):
            seen["device"] = device
            self.root = Path(checkpoints)

        def load(self, model):
            seen["loaded"] = model

        def validate(self, request, inputs):
            seen["request"] = request
            return request

        def run(self, request, inputs):
            return Result()

    import vto.core.engine

    monkeypatch.setattr(vto.core.engine, "TryOnEngine", Engine)
    monkeypatch.setattr(type(vto.core.engine.get_spec("ootd-dc")), "missing_files",
                        lambda self, root: [])
    monkeypatch.setenv("VTO_CHECKPOINTS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    rc = main(["run-ootd", "--model_path", str(examples / "person" / "01008_00.jpg"),
               "--cloth_path", str(examples / "garment" / "00055_00.jpg"), "--model_type", "dc",
               "-c", "2", "--sample", "2", "--seed", "7", "--scale", "1.5", "--step", "3"])
    assert rc == 0
    request = seen["request"]
    assert (request.model, request.category.value, request.num_images_per_prompt, request.seed,
            request.guidance_scale, request.num_inference_steps, request.size,
            request.framing.value) == ("ootd-dc", "dress", 2, 7, 1.5, 3, (768, 1024), "stretch")
    out = Path("images_output")
    assert sorted(p.name for p in out.iterdir()) == ["mask.jpg", "out_dc_0.png", "out_dc_1.png"]
    assert "seed: 42" in capsys.readouterr().out
    assert run_ootd.OUTPUT_DIR == Path("images_output")


def test_an_unwritable_output_folder_is_one_line_before_any_model(tmp_path, examples,
                                                                  monkeypatch, capsys):
    import vto.core.engine

    def no_engine(*args, **kwargs):
        raise AssertionError("the engine must not be built when the outputs cannot be written")
    monkeypatch.setattr(vto.core.engine, "TryOnEngine", no_engine)
    monkeypatch.chdir(tmp_path)
    Path("images_output").write_text("a file where the folder goes")
    rc = main(["run-ootd", "--model_path", str(examples / "person" / "model_1.png"),
               "--cloth_path", str(examples / "garment" / "03244_00.jpg")])
    assert rc == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["vto: error: output folder images_output exists and is not a directory"]


def test_own_mask_skips_pose_and_parsing(tiny_checkpoint, examples, tmp_path, monkeypatch,
                                         capsys):
    # With --mask the tiny checkpoint's random pose model is never asked: the run completes.
    monkeypatch.chdir(tmp_path)
    photo = Image.open(examples / "person" / "model_1.png")
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (photo.width // 4, photo.height // 4, 3 * photo.width // 4,
                     photo.height // 2))
    mask.save(tmp_path / "own.png")
    import vto.core.request

    # the original's size is 768x1024; a 64x64 working size keeps this test fast
    real_resolved = vto.core.request.TryOnRequest.resolved

    def small(self, *args, **kwargs):
        return real_resolved(self.model_copy(update={"width": 64, "height": 64}), *args,
                             **kwargs)
    monkeypatch.setattr(vto.core.request.TryOnRequest, "resolved", small)
    rc = main(["run-ootd", "--model_path", str(examples / "person" / "model_1.png"),
               "--cloth_path", str(examples / "garment" / "03244_00.jpg"), "--mask",
               str(tmp_path / "own.png"), "--checkpoints", str(tiny_checkpoint.root),
               "--step", "1", "--sample", "1", "--seed", "3"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "seed: 3" in captured.out
    assert sorted(p.name for p in Path("images_output").iterdir()) == ["mask.jpg", "out_hd_0.png"]
    assert Image.open("images_output/out_hd_0.png").size == Image.open("images_output/mask.jpg").size
