"""OOTDiffusion's two published weight sets as vto models (torch-free): ``ootd-hd`` and ``ootd-dc``.

Files come from levihsu/OOTDiffusion (its ``checkpoints/`` tree) and openai/clip-vit-large-patch14,
in the published layout under the checkpoint root (see vto.core.checkpoints).
"""

from __future__ import annotations

from functools import partial

from vto.core.models.base import Capabilities, ModelSpec, Need, Range, SizeSpec, WeightFile
from vto.core.types import Category

OOTD_REPO = "levihsu/OOTDiffusion"
CLIP_REPO = "openai/clip-vit-large-patch14"
UNET_STEP = "checkpoint-36000"

_SHARED = [
    "ootd/model_index.json",
    "ootd/scheduler/scheduler_config.json",
    "ootd/text_encoder/config.json",
    "ootd/text_encoder/pytorch_model.bin",
    "ootd/tokenizer/merges.txt",
    "ootd/tokenizer/vocab.json",
    "ootd/tokenizer/tokenizer_config.json",
    "ootd/tokenizer/special_tokens_map.json",
    "ootd/vae/config.json",
    "ootd/vae/diffusion_pytorch_model.bin",
]
_CLIP = ["clip-vit-large-patch14/config.json", "clip-vit-large-patch14/preprocessor_config.json"]


def unet_dir(variant: str, part: str) -> str:
    """``part`` is 'unet_garm' (outfitting UNet) or 'unet_vton' (try-on UNet)."""
    return f"ootd/ootd_{variant}/{UNET_STEP}/{part}"


def files(variant: str) -> list[WeightFile]:
    out = [WeightFile(rel, f"hf:{OOTD_REPO}/checkpoints/{rel}") for rel in _SHARED]
    out += [WeightFile(rel, f"hf:{CLIP_REPO}/{rel.split('/', 1)[1]}") for rel in _CLIP]
    out.append(WeightFile("clip-vit-large-patch14/model.safetensors",
                          f"hf:{CLIP_REPO}/model.safetensors",
                          alternatives=("clip-vit-large-patch14/pytorch_model.bin",)))
    for part in ("unet_garm", "unet_vton"):
        for name in ("config.json", "diffusion_pytorch_model.safetensors"):
            rel = f"{unet_dir(variant, part)}/{name}"
            out.append(WeightFile(rel, f"hf:{OOTD_REPO}/checkpoints/{rel}"))
    return out


def _capabilities(variant: str, categories: tuple[Category, ...]) -> Capabilities:
    return Capabilities(
        categories=categories, size=SizeSpec(default=(768, 1024)),
        steps=Range(20, 1, 100), guidance=Range(2.0, 0.0, 20.0), max_samples=4,
        user_mask=True, needs=frozenset({Need.MASK}), automatic_mask=variant)


_LICENCE = "CC BY-NC-SA 4.0 (non-commercial research)"
_LICENCE_URL = "https://creativecommons.org/licenses/by-nc-sa/4.0/"
_WEIGHTS = ("Hugging Face Hub: levihsu/OOTDiffusion and openai/clip-vit-large-patch14 "
            "('vto download --model {id}')")

OOTD_HD = ModelSpec(
    id="ootd-hd", title="OOTDiffusion HD (half-body, tops)",
    capabilities=_capabilities("hd", (Category.UPPER_BODY,)),
    licence=_LICENCE, licence_url=_LICENCE_URL, weights=_WEIGHTS.format(id="ootd-hd"),
    backend="vto.core.models.ootd.backend:OOTDHDBackend", files=partial(files, "hd"),
    aliases=("hd",))

OOTD_DC = ModelSpec(
    id="ootd-dc", title="OOTDiffusion DC (full-body: tops, bottoms, dresses)",
    capabilities=_capabilities("dc", (Category.UPPER_BODY, Category.LOWER_BODY,
                                          Category.DRESS)),
    licence=_LICENCE, licence_url=_LICENCE_URL, weights=_WEIGHTS.format(id="ootd-dc"),
    backend="vto.core.models.ootd.backend:OOTDDCBackend", files=partial(files, "dc"),
    aliases=("dc",))
