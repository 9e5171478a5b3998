"""Full-size OOTDiffusion models with random weights, built in memory from the published configs.

`vto bench` must run anywhere, without downloading 10 GB of weights: compute and memory depend
on the architecture, not on the weight values. These are the published shapes — SD 1.5's
UNet (4 input channels for the garment UNet, 8 for the try-on UNet), SD's AutoencoderKL, CLIP
ViT-L/14's text encoder and vision tower with projection — with OOTDiffusion's scheduler and
processor configs (vto.dev.tiny holds the ones the release ships) and a small CLIP BPE
tokenizer (only its token ids reach the models; the text encoder keeps CLIP's 49408 rows).

Building is fast and has no transient copy: each module is constructed on the meta device,
then materialised with ``to_empty`` and filled from a seeded generator (see
:func:`_fill_uniform`). Weights are uniform with a standard deviation of ``1/sqrt(fan_in)``
(unit gain, so activations stay finite in fp16 through 20 steps); norms get a random affine as
in vto.dev.tiny (so the try-on and garment ``norm1`` differ, as in real weights).

``Shapes.tiny()`` builds vto.dev.tiny's shapes the same way (tests).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vto.core.models.base import SharedParts
from vto.core.types import ModelType

UNET_FULL = dict(  # runwayml/stable-diffusion-v1-5 unet/config.json (OOTD's UNets share it)
    sample_size=64, out_channels=4, center_input_sample=False, flip_sin_to_cos=True,
    freq_shift=0,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, downsample_padding=1,
    mid_block_scale_factor=1, act_fn="silu", norm_num_groups=32, norm_eps=1e-5,
    cross_attention_dim=768, attention_head_dim=8, use_linear_projection=False,
)

VAE_FULL = dict(  # stable-diffusion-v1-5 vae/config.json
    in_channels=3, out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512), layers_per_block=2, act_fn="silu",
    latent_channels=4, norm_num_groups=32, sample_size=512, scaling_factor=0.18215,
)

TEXT_FULL = dict(  # CLIP ViT-L/14 text tower (SD 1.5's text_encoder)
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
    num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
    projection_dim=768, layer_norm_eps=1e-5,
)

VISION_FULL = dict(  # openai/clip-vit-large-patch14 vision tower
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
    image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
)


@dataclass(frozen=True)
class Shapes:
    """The four architectures' constructor arguments (full size or vto.dev.tiny's)."""

    unet: dict
    vae: dict
    text: dict
    vision: dict

    @classmethod
    def full(cls) -> "Shapes":
        return cls(UNET_FULL, VAE_FULL, TEXT_FULL, VISION_FULL)

    @classmethod
    def tiny(cls) -> "Shapes":
        from vto.dev import tiny

        text = dict(vocab_size=49408, hidden_size=tiny.HIDDEN, intermediate_size=64,
                    num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                    hidden_act="quick_gelu", projection_dim=tiny.HIDDEN)
        vision = dict(hidden_size=tiny.HIDDEN, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, image_size=224, patch_size=14,
                      projection_dim=tiny.HIDDEN, hidden_act="quick_gelu")
        return cls(dict(tiny.UNET_CONFIG), dict(tiny.VAE_CONFIG), text, vision)

    @classmethod
    def from_checkpoints(cls, root: Path | str, model_type: ModelType | str) -> "Shapes":
        """The architectures a checkpoint directory declares (configs only, no weights)."""
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPVisionConfig

        from vto.core.checkpoints import CheckpointDir

        ckpt = CheckpointDir(Path(root))
        unet = UNet2DConditionModel.load_config(ckpt.unet(ModelType(model_type), "unet_vton"))
        return cls(dict(unet), dict(AutoencoderKL.load_config(ckpt.ootd / "vae")),
                   CLIPTextConfig.from_pretrained(ckpt.ootd / "text_encoder").to_dict(),
                   CLIPVisionConfig.from_pretrained(ckpt.clip).to_dict())


# -- construction on any device (meta: no memory, no math) --------------------------------------

def make_unet(shapes: Shapes, in_channels: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_config({**shapes.unet, "in_channels": in_channels})


def make_vae(shapes: Shapes):
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_config(shapes.vae)


def make_text_encoder(shapes: Shapes, bos: int = 49406, eos: int = 49407):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(**{**shapes.text, "bos_token_id": bos,
                                           "eos_token_id": eos, "pad_token_id": 1}))


def make_image_encoder(shapes: Shapes):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(**shapes.vision))


def on_meta(factory, *args, **kwargs) -> nn.Module:
    """Build a module whose parameters have shapes and no storage (instant, zero bytes)."""
    with torch.device("meta"):
        return factory(*args, **kwargs).eval()


_POOL = 1_000_003  # prime: the rows of a weight matrix start at different points of the pool


def _fill_uniform(p: torch.Tensor, bound: float, gen: torch.Generator) -> None:
    """U(-bound, bound), drawn once per ``_POOL`` values and repeated beyond: drawing 2 billion
    values one by one takes ~20 s on two cores, copying ~1 s; the compute is the same."""
    flat = p.view(-1)
    pool = torch.empty(min(flat.numel(), _POOL), device=p.device, dtype=p.dtype)
    pool.uniform_(-bound, bound, generator=gen)
    for start in range(0, flat.numel(), _POOL):
        chunk = flat[start:start + _POOL]
        chunk.copy_(pool[:chunk.numel()])


def materialize(module: nn.Module, device: torch.device, dtype: torch.dtype,
                seed: int) -> nn.Module:
    """Give a meta module storage on ``device`` and seeded random values (see module docstring)."""
    # nn.Module.to, not ModelMixin.to: on meta the cast is free, and diffusers' override warns
    module = nn.Module.to(module, dtype=dtype).to_empty(device=device)
    gen = torch.Generator(device).manual_seed(seed)
    norms = {id(p) for m in module.modules() if isinstance(m, (nn.LayerNorm, nn.GroupNorm))
             for p in m.parameters(recurse=False)}
    with torch.no_grad():
        for name, p in module.named_parameters():
            if id(p) in norms:
                _fill_uniform(p, 0.25, gen)
                if name.endswith("weight"):
                    p.add_(1.0)
                else:
                    p.mul_(0.4)  # U(-0.1, 0.1)
            elif p.dim() >= 2:
                _fill_uniform(p, math.sqrt(3.0 / p[0].numel()), gen)  # std 1/sqrt(fan_in)
            else:  # biases, CLIP's class embedding
                _fill_uniform(p, 0.03, gen)
        for name, b in module.named_buffers():
            # to_empty leaves buffers uninitialised: the only ones these models hold are ids
            if name.endswith("position_ids"):
                b.copy_(torch.arange(b.shape[-1], device=device).expand_as(b))
            else:
                raise RuntimeError(f"random model: no rule to initialise buffer {name}")
    return module


# -- configs the pipeline reads -----------------------------------------------------------------

def make_scheduler():
    """UniPC from the OOTD release's scheduler config, converted as vto's loader converts it."""
    import diffusers
    from vto.dev.tiny import MODEL_INDEX, SCHEDULER_CONFIG

    _, class_name = MODEL_INDEX["scheduler"]
    config = getattr(diffusers, class_name).from_config(SCHEDULER_CONFIG).config
    return diffusers.UniPCMultistepScheduler.from_config(config, final_sigmas_type="sigma_min")


def make_tokenizer():
    """vto.dev.tiny's small CLIP BPE tokenizer (its ids all fall inside CLIP's vocabulary)."""
    from transformers import CLIPTokenizer
    from vto.dev.tiny import write_tokenizer

    with tempfile.TemporaryDirectory() as folder:
        write_tokenizer(Path(folder))
        return CLIPTokenizer.from_pretrained(folder)


def make_image_processor():
    from transformers import CLIPImageProcessorPil
    from vto.dev.tiny import CLIP_PROCESSOR_CONFIG

    return CLIPImageProcessorPil.from_dict(dict(CLIP_PROCESSOR_CONFIG))


# -- pipelines ----------------------------------------------------------------------------------

def build(factory, *args, device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    """``factory(*args)`` with random weights on ``device`` (on meta: shapes only)."""
    module = on_meta(factory, *args)
    if device.type == "meta":
        return nn.Module.to(module, dtype=dtype)
    return materialize(module, device, dtype, seed)


@dataclass
class RandomModels:
    """Random hd/dc pipelines sharing one VAE, text encoder, tokenizer, CLIP tower, processor
    (on the meta device: the same pipelines without storage, for counting FLOPs)."""

    shapes: Shapes
    device: torch.device
    dtype: torch.dtype
    parts: SharedParts = field(default_factory=SharedParts)
    seed: int = 0

    def shared(self) -> dict[str, Any]:
        def part(name: str):
            tokenizer = self.parts.get(("bench", "tokenizer"), make_tokenizer)
            fp32 = torch.float32  # CLIP towers run in fp32, as vto's loader keeps them
            makers = {
                "vae": lambda: build(make_vae, self.shapes, device=self.device,
                                     dtype=self.dtype, seed=self.seed + 1),
                "text_encoder": lambda: build(
                    make_text_encoder, self.shapes, tokenizer.bos_token_id,
                    tokenizer.eos_token_id, device=self.device, dtype=fp32, seed=self.seed + 2),
                "image_encoder": lambda: build(make_image_encoder, self.shapes,
                                               device=self.device, dtype=fp32, seed=self.seed + 3),
                "image_processor": make_image_processor,
                "tokenizer": lambda: tokenizer,
            }
            return self.parts.get(("bench", name, str(self.device), str(self.dtype)), makers[name])

        return {name: part(name) for name in
                ("vae", "text_encoder", "tokenizer", "image_encoder", "image_processor")}

    def pipeline(self, model_type: ModelType | str):
        from vto.core.models.ootd.pipeline import OOTDPipeline

        model_type = ModelType(model_type)
        offset = 10 + 2 * list(ModelType).index(model_type)
        unets = [build(make_unet, self.shapes, channels, device=self.device, dtype=self.dtype,
                       seed=self.seed + offset + i) for i, channels in enumerate((4, 8))]
        return OOTDPipeline(**self.shared(), unet_garm=unets[0], unet_vton=unets[1],
                            scheduler=make_scheduler(), model_type=model_type,
                            device=self.device, dtype=self.dtype, cache=self.parts.cache,
                            options=self.parts.options)


def pipelines(names: list[str], *, device: torch.device, dtype: torch.dtype,
              checkpoints: Path | str | None = None, tiny: bool = False,
              parts: SharedParts | None = None) -> dict[str, Any]:
    """hd and/or dc as the bench runs them, sharing ``parts``: real weights from
    ``checkpoints`` through vto's loader, else random full-size (or tiny) models."""
    parts = parts if parts is not None else SharedParts()
    if checkpoints is not None:
        return {name: load_pipeline(checkpoints, name, device, dtype, parts) for name in names}
    models = RandomModels(Shapes.tiny() if tiny else Shapes.full(), device, dtype, parts)
    return {name: models.pipeline(name) for name in names}


def load_pipeline(root: Path | str, model_type: ModelType | str, device: torch.device,
                  dtype: torch.dtype, parts: SharedParts):
    """Real weights through vto's normal loader (``vto bench --checkpoints DIR``)."""
    from vto.core.checkpoints import CheckpointDir
    from vto.core.models.ootd.pipeline import OOTDPipeline

    return OOTDPipeline.from_checkpoints(CheckpointDir(Path(root)), model_type, device, dtype,
                                         parts)


def param_bytes(*modules: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for m in modules for p in m.parameters())
