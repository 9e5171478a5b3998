"""Checkpoint layout: the tiny checkpoint is the published layout, loads fully, breaks clearly."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from vto.core.checkpoints import CheckpointDir
from vto.core.models.ootd.pipeline import OOTDPipeline
from vto.core.types import ModelType
from vto.errors import CheckpointError

PUBLISHED = [
    "ootd/model_index.json", "ootd/scheduler/scheduler_config.json",
    "ootd/text_encoder/config.json", "ootd/text_encoder/pytorch_model.bin",
    "ootd/tokenizer/vocab.json", "ootd/tokenizer/merges.txt",
    "ootd/vae/config.json", "ootd/vae/diffusion_pytorch_model.bin",
    "ootd/ootd_hd/checkpoint-36000/unet_garm/diffusion_pytorch_model.safetensors",
    "ootd/ootd_hd/checkpoint-36000/unet_vton/config.json",
    "ootd/ootd_dc/checkpoint-36000/unet_garm/config.json",
    "ootd/ootd_dc/checkpoint-36000/unet_vton/diffusion_pytorch_model.safetensors",
    "clip-vit-large-patch14/config.json", "clip-vit-large-patch14/model.safetensors",
    "clip-vit-large-patch14/preprocessor_config.json",
    "humanparsing/parsing_atr.onnx", "humanparsing/parsing_lip.onnx",
    "openpose/ckpts/body_pose_model.pth",
]


def test_tiny_checkpoint_has_the_published_layout(tiny_checkpoint):
    for rel in PUBLISHED:
        assert (tiny_checkpoint.root / rel).is_file(), rel
    assert tiny_checkpoint.missing(list(ModelType)) == []
    text = torch.load(tiny_checkpoint.root / "ootd/text_encoder/pytorch_model.bin", weights_only=True)
    assert all(k.startswith("text_model.") for k in text)  # the published key names
    garm_config = json.loads((tiny_checkpoint.unet(ModelType.HD, "unet_garm") / "config.json").read_text())
    assert garm_config["_class_name"] == "UNetGarm2DConditionModel"
    assert garm_config["in_channels"] == 4
    vton_config = json.loads((tiny_checkpoint.unet(ModelType.HD, "unet_vton") / "config.json").read_text())
    assert vton_config["in_channels"] == 8


def test_tiny_checkpoint_is_deterministic(tiny_checkpoint, tmp_path):
    from vto.dev.tiny import write_tiny_checkpoint

    again = write_tiny_checkpoint(tmp_path / "again", seed=0)
    rel = "ootd/ootd_dc/checkpoint-36000/unet_vton/diffusion_pytorch_model.safetensors"
    a, b = load_file(tiny_checkpoint.root / rel), load_file(again.root / rel)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    norm = "down_blocks.0.attentions.0.transformer_blocks.0.norm1.weight"
    assert not torch.allclose(a[norm], torch.ones_like(a[norm]))  # norms are randomised


def test_every_tensor_is_loaded_from_the_files(tiny_checkpoint):
    """No component may silently keep random init (the transformers-5 text_model. pitfall)."""
    pipe = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.DC, "cpu")
    text_file = torch.load(tiny_checkpoint.root / "ootd/text_encoder/pytorch_model.bin", weights_only=True)
    for name, tensor in pipe.text_encoder.state_dict().items():
        key = name if name.startswith("text_model.") else f"text_model.{name}"
        assert torch.equal(tensor, text_file[key]), name
    clip_file = load_file(tiny_checkpoint.clip / "model.safetensors")
    for name, tensor in pipe.image_encoder.state_dict().items():
        key = name if name in clip_file else f"vision_model.{name}"
        assert torch.equal(tensor, clip_file[key]), name
    unet_file = load_file(tiny_checkpoint.unet(ModelType.DC, "unet_vton") / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(t, unet_file[n]) for n, t in pipe.unet_vton.state_dict().items())
    vae_file = torch.load(tiny_checkpoint.ootd / "vae" / "diffusion_pytorch_model.bin", weights_only=True)
    assert all(torch.equal(t, vae_file[n]) for n, t in pipe.vae.state_dict().items())


def test_missing_files_are_listed_with_the_fix(tiny_checkpoint, tmp_path):
    broken = CheckpointDir(tmp_path / "ck")
    shutil.copytree(tiny_checkpoint.root, broken.root)
    (broken.unet(ModelType.DC, "unet_vton") / "diffusion_pytorch_model.safetensors").unlink()
    (broken.root / "humanparsing" / "parsing_lip.onnx").unlink()
    broken.verify([ModelType.HD], preprocessing=False)  # hd alone is still complete
    with pytest.raises(CheckpointError) as err:
        broken.verify([ModelType.DC])
    message = str(err.value)
    assert "ootd_dc/checkpoint-36000/unet_vton/diffusion_pytorch_model.safetensors" in message
    assert "humanparsing/parsing_lip.onnx" in message
    assert f"vto download --dir {broken.root} --model dc" in message
    with pytest.raises(CheckpointError, match="does not exist"):
        CheckpointDir(tmp_path / "nowhere").verify([ModelType.HD])


def test_corrupt_weights_fail_as_checkpoint_error(tiny_checkpoint, tmp_path):
    broken = CheckpointDir(tmp_path / "ck")
    shutil.copytree(tiny_checkpoint.root, broken.root)
    (broken.unet(ModelType.HD, "unet_garm") / "diffusion_pytorch_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="could not load the hd model"):
        OOTDPipeline.from_checkpoints(broken, ModelType.HD)




def test_pose_and_parsing_files_are_checked_with_the_fix(tiny_checkpoint, tmp_path):
    from vto.core.preprocess.prepare import Preprocessor

    broken = CheckpointDir(tmp_path / "ck")
    shutil.copytree(tiny_checkpoint.root, broken.root)
    (broken.root / "openpose" / "ckpts" / "body_pose_model.pth").unlink()
    with pytest.raises(CheckpointError, match=r"openpose/ckpts/body_pose_model.pth; get them with 'vto download"):
        Preprocessor(broken.root).load()
