"""Shared CLI pieces: the checkpoint root's sources and the request flags."""

from __future__ import annotations

import argparse

import pytest

from vto.cli.common import add_request_flags, checkpoint_root, request_from_args
from vto.errors import InvalidInput


def test_checkpoint_root_order_never_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()  # the old fallback must not be picked up
    monkeypatch.delenv("VTO_CHECKPOINTS", raising=False)
    monkeypatch.delenv("CHECKPOINT_PATH", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(InvalidInput, match="--checkpoints"):
        checkpoint_root(None)
    (tmp_path / "cache" / "vto" / "checkpoints").mkdir(parents=True)  # `vto download`'s default
    assert checkpoint_root(None) == tmp_path / "cache" / "vto" / "checkpoints"
    monkeypatch.setenv("CHECKPOINT_PATH", "/seed")
    assert checkpoint_root(None).as_posix() == "/seed"
    monkeypatch.setenv("VTO_CHECKPOINTS", "/env")
    assert checkpoint_root(None).as_posix() == "/env"
    assert checkpoint_root("/arg").as_posix() == "/arg"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WEIGHTS", "w")
    assert checkpoint_root("~/$WEIGHTS") == tmp_path / "w"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_request_flags(parser)
    return parser.parse_args(list(argv))


def test_request_flags_are_the_request_vocabulary():
    request = request_from_args(parse("--model-type", "dc", "--category", "dress", "--steps",
                                      "30", "--guidance", "1.5", "--samples", "2", "--size",
                                      "384x512"))
    assert (request.model, request.category.value, request.num_inference_steps,
            request.guidance_scale, request.num_images_per_prompt, request.size) == \
        ("ootd-dc", "dress", 30, 1.5, 2, (384, 512))
    defaults = request_from_args(parse()).resolved()
    assert (defaults.model, defaults.num_inference_steps, defaults.guidance_scale) == \
        ("ootd-hd", 20, 2.0)
    with pytest.raises(InvalidInput, match="not both"):
        request_from_args(parse("--model", "ootd-hd", "--model-type", "dc"))
    with pytest.raises(InvalidInput, match="unknown model"):
        request_from_args(parse("--model", "nope"))
