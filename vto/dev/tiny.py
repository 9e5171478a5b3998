"""A tiny, randomly initialised checkpoint in exactly the published layout and file formats.

Tests and smoke runs use it instead of the real weights (which cannot be downloaded here).
Every component is present and loads through the same code paths as the real ones: VAE and
text encoder as ``.bin`` with the published key names (``text_model.`` prefix), both UNets of
hd and dc as safetensors with the OOTD class names in their configs, a CLIP ViT with its
processor config, a small CLIP BPE tokenizer, the scheduler config the OOTD release ships,
the two human-parsing ONNX models with the real input/output signatures and an OpenPose body
model with the real architecture. Architectures are SD1.5-shaped (same block types, the same
16 transformer blocks) with few channels and heads.

Every LayerNorm/GroupNorm affine is randomised (spec §11): with the default (1, 0) the garment
and try-on ``norm1`` would coincide and a fusion using the wrong norm would go unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from vto.core.checkpoints import CheckpointDir
from vto.dev.openpose_weights import write_random_body_model
from vto.dev.parsing_weights import write_random_parsing_model
from vto.core.types import ModelType

HIDDEN = 32  # text hidden size = CLIP projection = UNet cross_attention_dim, as 768 in the real model

UNET_CONFIG = dict(
    sample_size=16,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(32, 32, 64, 64),
    layers_per_block=2,
    attention_head_dim=2,  # diffusers' legacy name: 2 heads
    cross_attention_dim=HIDDEN,
    norm_num_groups=8,
    use_linear_projection=False,
)

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(16, 16, 32, 32),  # four blocks: 8x downsampling as in SD
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=8,
    sample_size=64,
    scaling_factor=0.18215,
)

# The scheduler config of the OOTD release (DPM-Solver++ settings with Karras sigmas),
# loaded through the model_index class (PNDMScheduler) and converted to UniPC like the original.
SCHEDULER_CONFIG = {
    "_class_name": "DPMSolverMultistepScheduler",
    "_diffusers_version": "0.20.0.dev0",
    "algorithm_type": "dpmsolver++",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "dynamic_thresholding_ratio": 0.995,
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "solver_order": 2,
    "solver_type": "midpoint",
    "steps_offset": 1,
    "thresholding": False,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": True,
    "variance_type": None,
}

MODEL_INDEX = {
    "_class_name": "OotdPipeline",
    "_diffusers_version": "0.24.0.dev0",
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "requires_safety_checker": True,
    "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet_garm": ["pipelines_ootd.unet_garm_2d_condition", "UNetGarm2DConditionModel"],
    "unet_vton": ["pipelines_ootd.unet_vton_2d_condition", "UNetVton2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}

CLIP_PROCESSOR_CONFIG = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": 224,
}

# Words the tiny BPE vocabulary can spell as whole tokens: the dc prompts and the zero-shot
# catalogue prompts. Like the real CLIP BPE, "upperbody" becomes ["upper", "body</w>"].
_WORDS = ["upper", "lower", "body", "dress", "a", "photo", "of", "shirt", "top", "pants",
          "skirt", "garment", "clothing", "the"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_tokenizer(folder: Path) -> int:
    """Write a small CLIP BPE tokenizer (vocab.json, merges.txt, configs); returns vocab size."""
    chars = list(_bytes_to_unicode().values())
    vocab: list[str] = chars + [c + "</w>" for c in chars]
    merges: list[str] = []
    for word in _WORDS:
        for final in (False, True):
            symbols = list(word)
            if final:
                symbols[-1] += "</w>"
            while len(symbols) > 1:  # merge left to right: ((u p) p) e ...
                merged = symbols[0] + symbols[1]
                rule = f"{symbols[0]} {symbols[1]}"
                if rule not in merges:
                    merges.append(rule)
                    vocab.append(merged)
                symbols = [merged] + symbols[2:]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {**special, "model_max_length": 77, "do_lower_case": True, "errors": "replace",
         "add_prefix_space": False, "tokenizer_class": "CLIPTokenizer"}, indent=2))
    return len(vocab)


def randomize_norms(module: nn.Module, generator: torch.Generator) -> None:
    """Give every LayerNorm/GroupNorm a random affine (see the module docstring)."""
    for m in module.modules():
        if isinstance(m, (nn.LayerNorm, nn.GroupNorm)) and m.weight is not None:
            with torch.no_grad():
                m.weight.copy_(1 + 0.5 * (torch.rand(m.weight.shape, generator=generator) - 0.5))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=generator))


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def _text_config(vocab_size: int) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=HIDDEN, intermediate_size=64,
                num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                hidden_act="quick_gelu", projection_dim=HIDDEN,
                bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=1)


def _write_text_encoder(folder: Path, vocab_size: int, gen: torch.Generator) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(**_text_config(vocab_size))
    model = CLIPTextModel(config)
    randomize_norms(model, gen)
    folder.mkdir(parents=True, exist_ok=True)
    config.architectures = ["CLIPTextModel"]
    config.to_json_file(folder / "config.json")
    # The published SD1.5 file: text_model.-prefixed keys plus the position_ids buffer.
    state = {f"text_model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    state["text_model.embeddings.position_ids"] = torch.arange(77).unsqueeze(0)
    torch.save(state, folder / "pytorch_model.bin")


def _write_clip(folder: Path, vocab_size: int, gen: torch.Generator) -> None:
    from safetensors.torch import save_file
    from transformers import CLIPConfig, CLIPModel

    vision = dict(hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, image_size=224, patch_size=14, projection_dim=HIDDEN,
                  hidden_act="quick_gelu")
    config = CLIPConfig(text_config=_text_config(vocab_size), vision_config=vision,
                        projection_dim=HIDDEN)
    config.architectures = ["CLIPModel"]
    model = CLIPModel(config)
    randomize_norms(model, gen)
    folder.mkdir(parents=True, exist_ok=True)
    config.to_json_file(folder / "config.json")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              folder / "model.safetensors", metadata={"format": "pt"})
    _write_json(folder / "preprocessor_config.json", CLIP_PROCESSOR_CONFIG)
    write_tokenizer(folder)


def _write_unet(folder: Path, in_channels: int, class_name: str, gen: torch.Generator) -> None:
    from diffusers import UNet2DConditionModel

    model = UNet2DConditionModel(in_channels=in_channels, **UNET_CONFIG)
    randomize_norms(model, gen)
    model.save_pretrained(folder, safe_serialization=True)
    config = json.loads((folder / "config.json").read_text())
    config["_class_name"] = class_name  # as in the release: the OOTD subclasses' names
    _write_json(folder / "config.json", config)


def _write_vae(folder: Path, gen: torch.Generator) -> None:
    from diffusers import AutoencoderKL

    model = AutoencoderKL(**VAE_CONFIG)
    randomize_norms(model, gen)
    model.save_pretrained(folder, safe_serialization=False)  # the release ships .bin only


def write_tiny_checkpoint(root: Path | str, seed: int = 0) -> CheckpointDir:
    """Write the tiny OOTDiffusion checkpoint (hd, dc, CLIP, pose, parsing) to ``root``
    (deterministic for a given seed)."""
    ckpt = CheckpointDir(Path(root))
    # One generator per component, so a change in one never shifts another's weights.
    def gen(offset: int) -> torch.Generator:
        torch.manual_seed(seed * 1000 + offset)  # module constructors draw from the global RNG
        return torch.Generator().manual_seed(seed * 1000 + 500 + offset)

    _write_json(ckpt.ootd / "model_index.json", MODEL_INDEX)
    _write_json(ckpt.ootd / "scheduler" / "scheduler_config.json", SCHEDULER_CONFIG)
    _write_json(ckpt.ootd / "feature_extractor" / "preprocessor_config.json", CLIP_PROCESSOR_CONFIG)
    vocab_size = write_tokenizer(ckpt.ootd / "tokenizer")
    _write_text_encoder(ckpt.ootd / "text_encoder", vocab_size, gen(1))
    _write_vae(ckpt.ootd / "vae", gen(2))
    for i, model_type in enumerate(ModelType):
        _write_unet(ckpt.unet(model_type, "unet_garm"), 4, "UNetGarm2DConditionModel", gen(10 + 2 * i))
        _write_unet(ckpt.unet(model_type, "unet_vton"), 8, "UNetVton2DConditionModel", gen(11 + 2 * i))
    _write_clip(ckpt.clip, vocab_size, gen(3))
    write_preprocessing(ckpt.root, seed)
    ckpt.verify(list(ModelType))
    return ckpt


def write_preprocessing(root: Path | str, seed: int = 0) -> None:
    """The pose and parsing models every automatic mask needs (tiny, random, real formats)."""
    ckpt = CheckpointDir(Path(root))
    ckpt.humanparsing.mkdir(parents=True, exist_ok=True)
    write_random_parsing_model(ckpt.humanparsing / "parsing_atr.onnx", "atr", seed)
    write_random_parsing_model(ckpt.humanparsing / "parsing_lip.onnx", "lip", seed)
    ckpt.body_pose_model.parent.mkdir(parents=True, exist_ok=True)
    write_random_body_model(ckpt.body_pose_model, seed)
