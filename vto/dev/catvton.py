"""A tiny random CatVTON checkpoint in exactly the published layout and file formats.

Written under the checkpoint root as vto.core.models.catvton.spec lays it out, so both vto and
the original ``CatVTONPipeline`` (``base_ckpt=ROOT/stable-diffusion-inpainting``,
``attn_ckpt=ROOT/catvton``) load it unchanged:

* the base inpainting UNet (9 input channels, SD1.5 block types, few channels, one layer per
  block, 2 heads) as ``unet/diffusion_pytorch_model.bin`` + ``config.json``, as the base repo;
* the released-format attention file: the ``attn1`` projections of every transformer block,
  keyed by the original's ``ModuleList`` indices (``0.to_q.weight``, ``8.to_q.weight``, …),
  drawn independently of the UNet's own ``attn1`` so a file that fails to load shows;
* sd-vae-ft-mse's format: ``diffusion_pytorch_model.safetensors`` with the legacy attention key
  names (``query``/``key``/``value``/``proj_attn``) of that 2022 file, and a config without
  ``scaling_factor`` (0.18215 by default), as the real one;
* the base repo's scheduler config (PNDM settings, read as DDIM).

Every LayerNorm/GroupNorm affine is random (vto.dev.tiny.randomize_norms): with the default
(1, 0), a cross-attention "skip" that dropped ``norm2(h)`` would differ less visibly.
Deterministic for a seed; the global RNG is left as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vto.core.models.catvton import spec
from vto.dev.tiny import randomize_norms

UNET_CONFIG = dict(
    sample_size=16,
    in_channels=9,  # noisy latent 4 + mask 1 + masked-image latent 4, as SD1.5 inpainting
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    block_out_channels=(32, 32, 64, 64),
    layers_per_block=1,
    attention_head_dim=2,  # diffusers' legacy name: 2 heads
    cross_attention_dim=32,  # unused (cross-attention is skipped) but present, as in SD1.5
    norm_num_groups=8,
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
)

# booksforcharlie/stable-diffusion-inpainting (= runwayml's) scheduler/scheduler_config.json
SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}

# current diffusers name -> the legacy name in sd-vae-ft-mse's files
_LEGACY_VAE_ATTENTION = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def _legacy_vae_key(key: str) -> str:
    if ".mid_block.attentions." in key:
        for new, old in _LEGACY_VAE_ATTENTION.items():
            key = key.replace(f".{new}.", f".{old}.")
    return key


def _write_unet(root: Path, gen: torch.Generator) -> torch.nn.Module:
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(**UNET_CONFIG)
    randomize_norms(unet, gen)
    folder = root / spec.UNET_CONFIG.rsplit("/", 1)[0]
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in unet.state_dict().items()},
               folder / "diffusion_pytorch_model.bin")  # the base repo ships .bin only
    # a 2022-style config as the base repo's: only these keys, diffusers' defaults for the rest
    _write_json(folder / "config.json", {"_class_name": "UNet2DConditionModel",
                                         "_diffusers_version": "0.6.0", "act_fn": "silu",
                                         "center_input_sample": False, "downsample_padding": 1,
                                         "flip_sin_to_cos": True, "freq_shift": 0,
                                         "mid_block_scale_factor": 1, "norm_eps": 1e-05,
                                         **UNET_CONFIG})
    return unet


def _write_attention(root: Path, unet: torch.nn.Module, gen: torch.Generator) -> None:
    from safetensors.torch import save_file

    from vto.core.models.catvton.checkpoints import released_names

    params = dict(unet.named_parameters())
    state = {}
    for param, names in released_names(unet).items():
        shape = params[param].shape
        scale = 0.1 if len(shape) == 1 else shape[1] ** -0.5
        state[names[0]] = (scale * torch.randn(shape, generator=gen)).contiguous()
    path = root / spec.ATTENTION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, path, metadata={"format": "pt"})


def _write_vae(root: Path, gen: torch.Generator) -> None:
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    vae = AutoencoderKL(**VAE_CONFIG)
    randomize_norms(vae, gen)
    folder = root / spec.VAE_CONFIG.rsplit("/", 1)[0]
    folder.mkdir(parents=True, exist_ok=True)
    state = {_legacy_vae_key(k): v.contiguous() for k, v in vae.state_dict().items()}
    save_file(state, folder / "diffusion_pytorch_model.safetensors", metadata={"format": "pt"})
    _write_json(folder / "config.json", {"_class_name": "AutoencoderKL",
                                         "_diffusers_version": "0.4.2", "act_fn": "silu",
                                         **VAE_CONFIG})


def write_tiny_checkpoint(root: Path | str, seed: int = 0) -> Path:
    """Write the tiny CatVTON files under ``root`` (deterministic for a seed); returns ``root``."""
    root = Path(root)
    with torch.random.fork_rng(devices=[]):
        def gen(offset: int) -> torch.Generator:
            torch.manual_seed(seed * 1000 + offset)  # module constructors draw from the global RNG
            return torch.Generator().manual_seed(seed * 1000 + 500 + offset)

        _write_json(root / spec.SCHEDULER_CONFIG, SCHEDULER_CONFIG)
        unet = _write_unet(root, gen(1))
        _write_attention(root, unet, gen(2))
        _write_vae(root, gen(3))
    missing = spec.CATVTON.missing_files(root)
    assert not missing, f"tiny CatVTON checkpoint lacks {[f.path for f in missing]}"
    return root
