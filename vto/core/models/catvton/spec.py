"""CatVTON (Zheng-Chong/CatVTON) as a vto model (torch-free): ``catvton``.

CatVTON is a Stable Diffusion 1.5 *inpainting* UNet that sees the person and the garment side by
side: both are encoded by the VAE and concatenated along the height, the UNet denoises the
doubled latent with its cross-attention skipped (no text, no CLIP), and the person half is
decoded. Only the self-attention weights (49.57M parameters) were trained; they replace the
base model's.

Files, under the checkpoint root, laid out as the three Hub repositories they come from (so the
original's own loaders accept the same folders: ``base_ckpt=ROOT/stable-diffusion-inpainting``,
``attn_ckpt=ROOT/catvton``)::

    ROOT/catvton/mix-48k-1024/attention/model.safetensors    zhengchong/CatVTON, the released
                                                              self-attention weights (fp32)
    ROOT/stable-diffusion-inpainting/scheduler/scheduler_config.json   booksforcharlie/
    ROOT/stable-diffusion-inpainting/unet/config.json                  stable-diffusion-inpainting,
    ROOT/stable-diffusion-inpainting/unet/diffusion_pytorch_model.bin  the SD1.5 inpainting base
    ROOT/sd-vae-ft-mse/config.json                            stabilityai/sd-vae-ft-mse
    ROOT/sd-vae-ft-mse/diffusion_pytorch_model.safetensors    (or .bin)

The base repository is the one the original's ``app.py``/``inference.py`` name
(``booksforcharlie/stable-diffusion-inpainting``, a copy of the deleted
runwayml/stable-diffusion-inpainting); it ships the UNet as ``.bin`` only, a converted
``.safetensors`` is accepted too. Its text encoder, tokenizer, VAE and safety checker are not
used (CatVTON has no text; it uses sd-vae-ft-mse; vto runs no safety checker).
"""

from __future__ import annotations

from vto.core.models.base import Capabilities, ModelSpec, Need, Range, SizeSpec, WeightFile
from vto.core.types import Category

CATVTON_REPO = "zhengchong/CatVTON"
BASE_REPO = "booksforcharlie/stable-diffusion-inpainting"
VAE_REPO = "stabilityai/sd-vae-ft-mse"
VERSION = "mix-48k-1024"  # the original's attn_ckpt_version="mix" (the app's choice)

ATTENTION_DIR = f"catvton/{VERSION}/attention"
BASE_DIR = "stable-diffusion-inpainting"
VAE_DIR = "sd-vae-ft-mse"

ATTENTION_FILE = f"{ATTENTION_DIR}/model.safetensors"
SCHEDULER_CONFIG = f"{BASE_DIR}/scheduler/scheduler_config.json"
UNET_CONFIG = f"{BASE_DIR}/unet/config.json"
UNET_WEIGHTS = f"{BASE_DIR}/unet/diffusion_pytorch_model.bin"
VAE_CONFIG = f"{VAE_DIR}/config.json"
VAE_WEIGHTS = f"{VAE_DIR}/diffusion_pytorch_model.safetensors"


def _swap_suffix(path: str) -> str:
    stem, _, suffix = path.rpartition(".")
    return f"{stem}.{'safetensors' if suffix == 'bin' else 'bin'}"


def files() -> list[WeightFile]:
    """Exactly the files the backend reads (vto.core.models.catvton.checkpoints)."""
    def hub(repo: str, rel: str, folder: str, **kw) -> WeightFile:
        return WeightFile(rel, f"hf:{repo}/{rel.removeprefix(folder + '/')}", **kw)

    return [
        hub(CATVTON_REPO, ATTENTION_FILE, "catvton"),
        hub(BASE_REPO, SCHEDULER_CONFIG, BASE_DIR),
        hub(BASE_REPO, UNET_CONFIG, BASE_DIR),
        hub(BASE_REPO, UNET_WEIGHTS, BASE_DIR, alternatives=(_swap_suffix(UNET_WEIGHTS),)),
        hub(VAE_REPO, VAE_CONFIG, VAE_DIR),
        hub(VAE_REPO, VAE_WEIGHTS, VAE_DIR, alternatives=(_swap_suffix(VAE_WEIGHTS),)),
    ]


CATVTON = ModelSpec(
    id="catvton",
    title="CatVTON (person and garment concatenated; tops, bottoms, dresses)",
    capabilities=Capabilities(
        # The original's cloth types "upper", "lower", "overall" (they only choose the mask).
        categories=(Category.UPPER_BODY, Category.LOWER_BODY, Category.DRESS),
        size=SizeSpec(default=(768, 1024)),          # app.py's --width/--height
        steps=Range(50, 1, 100),                     # CatVTONPipeline / app defaults
        guidance=Range(2.5, 0.0, 20.0),              # at <= 1.0 no guidance branch runs
        max_samples=4,                               # one batched call, as the original's batches
        user_mask=True,
        # vto's automatic mask is OOTDiffusion's (pose + parsing); CatVTON's own
        # DensePose/SCHP AutoMasker is not used.
        needs=frozenset({Need.MASK})),  # the automatic mask runs pose + parsing itself
    licence="CC BY-NC-SA 4.0 (non-commercial research); base model CreativeML OpenRAIL-M, "
            "VAE MIT",
    licence_url="https://creativecommons.org/licenses/by-nc-sa/4.0/",
    weights=(f"Hugging Face Hub: {CATVTON_REPO} ({VERSION} attention), {BASE_REPO} and "
             f"{VAE_REPO} ('vto download --model catvton')"),
    backend="vto.core.models.catvton.backend:CatVTONBackend",
    files=files,
)
