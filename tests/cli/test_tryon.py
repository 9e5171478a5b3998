"""`vto tryon`, `vto dev tiny-checkpoint` and `vto download` end to end, as a user runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def vto(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vto", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_inputs, examples):
    d = tmp_path_factory.mktemp("inputs")
    photo = Image.open(examples / "person" / "model_1.png").convert("RGB").resize((192, 256))
    photo.save(d / "person.png")
    Image.open(examples / "garment" / "03244_00.jpg").save(d / "garment.jpg")
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (48, 64, 144, 208))
    mask.save(d / "mask.png")
    (d / "notes.txt").write_text("not an image")
    return d


def tryon_args(ckpt, files, out, *extra):
    return ["tryon", "--checkpoints", str(ckpt.root), "--person", str(files / "person.png"),
            "--garment", str(files / "garment.jpg"), "--mask", str(files / "mask.png"),
            "--size", "96x128", "--steps", "2", "--device", "cpu", "--out", str(out), *extra]


def test_tryon_writes_one_png_per_sample_and_reports_the_seed(tiny_checkpoint, files, tmp_path):
    out = tmp_path / "o"
    proc = vto(*tryon_args(tiny_checkpoint, files, out, "--samples", "2", "--seed", "5",
                           "--framing", "stretch", "--save-mask"))
    assert proc.returncode == 0, proc.stderr
    assert "seed: 5" in proc.stdout
    for name in ("0.png", "1.png", "mask.png", "masked.png", "mask-working.png",
                 "masked-working.png"):
        assert (out / name).is_file() and str(out / name) in proc.stdout
    # not a terminal: one plain line while the model loads, on stderr (stdout: the results)
    assert proc.stderr.count("vto: loading ootd-hd…") == 1, proc.stderr
    assert "loading" not in proc.stdout
    assert Image.open(out / "0.png").size == (96, 128)  # stretch: the working size, as the original
    assert Image.open(out / "mask.png").mode == "L"
    masked = np.asarray(Image.open(out / "masked.png"))
    inside = np.asarray(Image.open(out / "mask.png")) == 255
    assert (masked[inside] == 127).all()  # the original's grey fill


def test_tryon_default_framing_keeps_the_photo_size(tiny_checkpoint, files, tmp_path):
    out = tmp_path / "o"
    proc = vto(*tryon_args(tiny_checkpoint, files, out, "--seed", "1", "--save-mask"))
    assert proc.returncode == 0, proc.stderr
    result, photo = Image.open(out / "0.png"), Image.open(files / "person.png")
    assert result.size == photo.size
    # every output at the photo's size; what the model saw under names that say so
    assert Image.open(out / "mask.png").size == photo.size  # aligned with the result
    assert Image.open(out / "masked.png").size == photo.size
    assert Image.open(out / "mask-working.png").size == (96, 128)
    assert Image.open(out / "masked-working.png").size == (96, 128)
    inside = np.asarray(Image.open(out / "mask.png")) == 255
    assert (np.asarray(Image.open(out / "masked.png"))[inside] == 127).all()
    far = (slice(0, 20), slice(0, 20))  # far from the mask: the photo's own pixels
    assert np.array_equal(np.asarray(result)[far], np.asarray(photo)[far])


def test_same_seed_same_image(tiny_checkpoint, files, tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert vto(*tryon_args(tiny_checkpoint, files, out, "--seed", "9", "--framing", "stretch")).returncode == 0
    assert np.array_equal(np.asarray(Image.open(outs[0] / "0.png")), np.asarray(Image.open(outs[1] / "0.png")))


@pytest.mark.parametrize("change, message", [
    ({"--person": "missing.png"}, "--person .*missing.png does not exist"),
    ({"--garment": "notes.txt"}, "not .*image|cannot|unsupported|image"),
    ({"--mask": "notes.txt"}, "image"),
    ({"--category": "dress"}, "model ootd-hd supports categories upper_body; got dress"),
    ({"--size": "100x128"}, "multiples of 8"),
    ({"--size": "big"}, "WIDTHxHEIGHT"),
    ({"--steps": "0"}, "steps must be between 1 and 100"),
    ({"--samples": "9"}, "num_images_per_prompt must be between 1 and 4"),
    ({"--device": "cuda"}, "no CUDA GPU"),
    ({"--dtype": "float16"}, "needs a CUDA device"),
    ({"--checkpoints": "/nonexistent/ck"}, "is missing .* 'vto download --dir /nonexistent/ck"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_checkpoint, files, tmp_path, capsys, change, message):
    """In-process (the same main() the console script runs), so each case costs no start-up."""
    from vto.cli.main import main

    args = tryon_args(tiny_checkpoint, files, tmp_path / "o")
    for flag, value in change.items():
        value = str(files / value) if flag in ("--person", "--garment", "--mask") else value
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vto: error:"), lines
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o").exists()  # nothing written on failure


def test_bad_input_in_a_real_process_has_no_traceback(tiny_checkpoint, files, tmp_path):
    args = tryon_args(tiny_checkpoint, files, tmp_path / "o")
    args[args.index("--garment") + 1] = str(files / "notes.txt")
    proc = vto(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "--garment" in proc.stderr


def test_unknown_choice_is_a_usage_line(tiny_checkpoint, files, tmp_path):
    proc = vto(*tryon_args(tiny_checkpoint, files, tmp_path / "o", "--model-type", "xl"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_dev_tiny_checkpoint_per_model_into_one_directory(tmp_path, tiny_checkpoint):
    proc = vto("dev", "tiny-checkpoint", "--model", "cp-vton-plus", str(tmp_path / "ck"))
    assert proc.returncode == 0, proc.stderr
    assert "noise, not clothes" in proc.stdout
    assert (tmp_path / "ck" / "cp-vton-plus" / "GMM" / "gmm_final.pth").is_file()
    assert (tmp_path / "ck" / "openpose" / "ckpts" / "body_pose_model.pth").is_file()
    again = vto("dev", "tiny-checkpoint", "--model", "cp-vton", str(tmp_path / "ck"))
    assert again.returncode == 2 and "already holds model cp-vton-plus" in again.stderr


def test_download_without_network_is_one_line(tmp_path):
    # a closed loopback port stands in for "no network": the client fails at once
    proc = vto("download", "--dir", str(tmp_path / "ck"), "--model", "hd",
               env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                    "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2"}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be reached" in lines[0], proc.stderr


@pytest.mark.parametrize("out", ["/proc/vto-no-such/out", "{files}/notes.txt",
                                 "{files}/notes.txt/o"])
def test_an_unwritable_out_is_one_line_before_any_model(tiny_checkpoint, files, tmp_path,
                                                        capsys, monkeypatch, out):
    import vto.core.engine

    def no_engine(*args, **kwargs):
        raise AssertionError("the engine must not be built when --out is unusable")
    monkeypatch.setattr(vto.core.engine, "TryOnEngine", no_engine)
    from vto.cli.main import main

    args = tryon_args(tiny_checkpoint, files, out.format(files=files))
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vto: error: --out"), lines


def test_an_existing_output_that_cannot_be_replaced_is_refused_first(tiny_checkpoint, files,
                                                                     tmp_path, capsys):
    from vto.cli.main import main

    (tmp_path / "o" / "0.png").mkdir(parents=True)  # a directory where 0.png goes
    assert main(tryon_args(tiny_checkpoint, files, tmp_path / "o")) == 2
    assert "0.png there is a directory" in capsys.readouterr().err


def test_paths_expand_home_and_variables(tiny_checkpoint, files, tmp_path, monkeypatch, capsys):
    from vto.cli.main import main

    monkeypatch.setenv("HOME", str(files))
    monkeypatch.setenv("VTO_TEST_OUT", str(tmp_path))
    args = ["tryon", "--checkpoints", "$VTO_TEST_CK", "--person", "~/person.png",
            "--garment", "${HOME}/garment.jpg", "--mask", "~/mask.png", "--size", "96x128",
            "--steps", "1", "--device", "cpu", "--out", "$VTO_TEST_OUT/results"]
    monkeypatch.setenv("VTO_TEST_CK", str(tiny_checkpoint.root))
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "results" / "0.png").is_file()


def test_memory_and_compile_flags_reach_the_engine(tiny_checkpoint, files, tmp_path,
                                                   monkeypatch):
    from vto.cli.main import main
    from vto.core import engine as engines
    from vto.core.models.base import Memory, RuntimeOptions, VaeRuntime
    from vto.core.paths import default_export_dir

    built = []

    class Recording(engines.TryOnEngine):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            built.append(self.options)

    monkeypatch.setattr(engines, "TryOnEngine", Recording)
    assert main(tryon_args(tiny_checkpoint, files, tmp_path / "o", "--memory", "low")) == 0
    assert built == [RuntimeOptions(memory=Memory.LOW, compile=False,
                                    export_dir=default_export_dir())]
    assert (tmp_path / "o" / "0.png").is_file()
    from vto.cli.main import parse
    from vto.cli.common import runtime_options_from_args

    args = parse(tryon_args(tiny_checkpoint, files, tmp_path / "p", "--compile", "--memory",
                            "balanced"))
    kept = default_export_dir()  # ~/.cache/vto/exports unless VTO_EXPORT_DIR says otherwise
    assert runtime_options_from_args(args) == RuntimeOptions(memory=Memory.BALANCED,
                                                             compile=True, export_dir=kept)
    assert runtime_options_from_args(parse(tryon_args(tiny_checkpoint, files, tmp_path / "q"))
                                     ) == RuntimeOptions(memory=Memory.AUTO, compile=False,
                                                         export_dir=kept)
    args = parse(tryon_args(tiny_checkpoint, files, tmp_path / "r", "--vae", "torch"))
    assert runtime_options_from_args(args).vae is VaeRuntime.TORCH


@pytest.mark.parametrize("command", ["tryon", "serve", "worker"])
def test_a_bad_memory_mode_is_one_line_and_exit_2(command, tiny_checkpoint, files, tmp_path,
                                                  capsys):
    from vto.cli.main import main

    args = (tryon_args(tiny_checkpoint, files, tmp_path / "o", "--memory", "huge")
            if command == "tryon" else [command, "--memory", "huge"])
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--memory" in lines[0] and "balanced" in lines[0], lines


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_map_the_flags_to_settings(command, monkeypatch):
    from vto.cli.main import parse
    from vto.cli.serve import settings_from_args
    from vto.core.models.base import Memory, VaeRuntime

    monkeypatch.setenv("VTO_MEMORY", "full")
    monkeypatch.setenv("VTO_COMPILE", "0")
    monkeypatch.setenv("VTO_VAE", "torch")
    plain = settings_from_args(parse([command]))
    assert (plain.memory, plain.compile, plain.vae) == (Memory.FULL, False, VaeRuntime.TORCH)
    flagged = settings_from_args(parse([command, "--memory", "low", "--compile", "--vae", "onnx"]))
    assert (flagged.memory, flagged.compile, flagged.vae) == (Memory.LOW, True, VaeRuntime.ONNX)
