"""`vto download`: models by id/alias, links from a hand-written HF cache, offline and
unreachable-Hub failures in one line, files that are not on the Hub. Loopback only."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_hub import fill_cache
from vto.cli.main import main
from vto.core import download as dl
from vto.core.models import registry
from vto.core.models.base import ModelSpec, WeightFile
from vto.core.models.ootd.spec import OOTD_DC, OOTD_HD

REPO = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def hf_env(tmp_path, monkeypatch) -> dict[str, str]:
    """An offline Hugging Face environment over an empty cache (and the same for subprocesses)."""
    env = {"HF_HUB_CACHE": str(tmp_path / "hf-cache"), "HF_HUB_OFFLINE": "1",
           "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
           "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VTO_CHECKPOINTS", raising=False)
    return env


def vto(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vto", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO)})


def test_links_every_file_from_the_cache_with_hf_hub_offline(tmp_path, hf_env):
    """A subprocess: huggingface_hub reads HF_HUB_OFFLINE/HF_HUB_CACHE at import, as in real use."""
    fill_cache(Path(hf_env["HF_HUB_CACHE"]), dl.model_files([OOTD_HD, OOTD_DC]))
    done = vto("download", "--dir", str(tmp_path / "ck"), "--model", "hd", "--model", "ootd-dc",
               env=hf_env)
    assert done.returncode == 0, done.stderr
    assert "0 present, 24 in the Hugging Face cache, 0 to download" in done.stdout
    assert f"{tmp_path / 'ck'}: complete (24 linked; sizes checked)" in done.stdout
    assert (tmp_path / "ck" / "ootd/ootd_dc/checkpoint-36000/unet_vton/config.json").is_symlink()
    again = vto("download", "--dir", str(tmp_path / "ck"), "--verify", env=hf_env)
    assert again.returncode == 0 and "24 present" in again.stdout
    assert "complete (0 linked; sha256-verified)" in again.stdout


def test_offline_with_an_empty_cache_is_one_line(tmp_path, hf_env):
    done = vto("download", "--dir", str(tmp_path / "ck"), "--model", "hd", env=hf_env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("vto: error: HF_HUB_OFFLINE is set and 20 file(s) are not in "
                                  "the Hugging Face cache")


def test_unreachable_hub_is_one_line(tmp_path, hf_env):
    env = {**hf_env, "HF_HUB_OFFLINE": "0"}
    done = vto("download", "--dir", str(tmp_path / "ck"), "--model", "dc", env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"the Hugging Face Hub ({env['HF_ENDPOINT']}) cannot be reached" in done.stderr


def test_default_directory_is_under_the_user_cache(tmp_path, hf_env, capsys):
    fill_cache(Path(hf_env["HF_HUB_CACHE"]), dl.model_files([OOTD_HD]))
    assert main(["download", "--model", "ootd-hd", "--no-progress"]) == 0
    default = tmp_path / "xdg" / "vto" / "checkpoints"
    assert (default / "ootd/model_index.json").is_symlink()
    assert "use it with" not in capsys.readouterr().out  # commands find the default by themselves


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path, hf_env, capsys):
    fill_cache(Path(hf_env["HF_HUB_CACHE"]), dl.model_files([OOTD_HD])[:2])
    assert main(["download", "--dir", str(tmp_path / "ck"), "--model", "hd", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "0 present, 2 in the Hugging Face cache, 18 to download, 0 not on the Hub" in out
    assert "  link     ootd/model_index.json  <- levihsu/OOTDiffusion:checkpoints/ootd/model_index.json" in out
    assert "  fetch    clip-vit-large-patch14/model.safetensors  <- openai/clip-vit-large-patch14:model.safetensors" in out
    assert not (tmp_path / "ck").exists()


def test_unknown_model_names_the_choices(tmp_path, hf_env, capsys):
    assert main(["download", "--dir", str(tmp_path / "ck"), "--model", "sd15"]) == 2
    assert "unknown model 'sd15'; choose one of ootd-hd, ootd-dc" in capsys.readouterr().err


GENERATOR = b"generator weights"


@pytest.fixture()
def gan_spec(monkeypatch) -> ModelSpec:
    """A registered model whose weights are not on the Hub (as the GAN models will be)."""
    files = [WeightFile("gan/gen.pth", "https://example.org/gan (the authors' release page)",
                        sha256=hashlib.sha256(GENERATOR).hexdigest(), size=len(GENERATOR)),
             WeightFile("gan/config.json", "hf:org/gan/config.json")]
    spec = ModelSpec(id="gan-test", title="GAN", capabilities=OOTD_HD.capabilities.__class__(
        categories=OOTD_HD.capabilities.categories, size=OOTD_HD.capabilities.size, steps=None,
        guidance=None, max_samples=1, user_mask=False, needs=frozenset()),
        licence="-", licence_url="-", weights="by hand", backend="x:Y", files=lambda: files)
    monkeypatch.setattr(registry, "SPECS", (*registry.SPECS, spec))
    monkeypatch.setitem(registry._BY_NAME, "gan-test", spec)
    return spec


def test_files_not_on_the_hub_are_listed_then_checked(tmp_path, hf_env, gan_spec, capsys):
    fill_cache(Path(hf_env["HF_HUB_CACHE"]), gan_spec.required_files())
    ck = tmp_path / "ck"
    assert main(["download", "--dir", str(ck), "--model", "gan-test"]) == 2
    captured = capsys.readouterr()
    sha = hashlib.sha256(GENERATOR).hexdigest()
    assert "These files are not on the Hugging Face Hub; get them and place them under" in captured.out
    assert (f"  gan/gen.pth: from https://example.org/gan (the authors' release page) "
            f"[0.0 MB (17 bytes), sha256 {sha}]") in captured.out
    assert "1 file(s) missing or failing their check" in captured.err
    assert (ck / "gan/config.json").is_symlink()  # the Hub part is done anyway

    (ck / "gan/gen.pth").write_bytes(b"generator weightZ")
    assert main(["download", "--dir", str(ck), "--model", "gan-test"]) == 2
    assert "-> placed copy is wrong: sha256" in capsys.readouterr().out

    (ck / "gan/gen.pth").write_bytes(GENERATOR)
    assert main(["download", "--dir", str(ck), "--model", "gan-test"]) == 0
    assert "complete" in capsys.readouterr().out
