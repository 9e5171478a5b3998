"""OOTDiffusion try-on pipeline on stock diffusers parts (spec: shared/design/ootd-inference.md §3–5).

Reads like the method: encode the garment into a prompt (CLIP image embedding beside a text
token), encode person, masked person and garment with the VAE, run the outfitting UNet once
to record garment features, then denoise with the try-on UNet, whose self-attention sees the
garment tokens (vto.core.models.ootd.fusion), with image guidance against a zero-garment branch and
"repainting" of everything outside the mask from the noised original. Decode.

Numerically faithful to levihsu/OOTDiffusion (same weights, same seed -> same images within
1/255), with the decisions of spec §12: the plain sigma-space math (the original's "cold"
path), guidance at exactly 1.0 runs only the conditional branch, duplicate Karras timesteps
(>= 45 steps) never crash, nothing unused is loaded.

Faster than the original with the same math: the garment's keys/values are projected once per
garment, not every step (fusion); garment and person work is cached across requests (caching);
compatible requests share the try-on UNet's batch (batch); memory modes and compile (memory).
``original_math()`` switches all of it off for `vto bench`'s baseline.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vto.core.checkpoints import CheckpointDir
from vto.core.cache import ByteLRU
from vto.core.models.base import Memory, RuntimeOptions, SharedParts, StepCallback
from vto.core.models.ootd.batch import TryOnCall, TryOnOutput, run_batch
from vto.core.models.ootd.caching import GarmentWork, PersonWork, garment_work, person_work
from vto.core.models.ootd.fusion import Fusion, install
from vto.core.models.ootd.memory import apply_options, original_layout, warm_up
from vto.core.models.vae_runtime import TorchVae, VaeRunner, vae_runner
from vto.core.types import Category, ModelType
from vto.errors import CheckpointError, InvalidInput

log = logging.getLogger(__name__)



def _load_scheduler(ckpt: CheckpointDir):
    """UniPC from the checkpoint's scheduler config, converted the way the original converts it.

    The original loads the config with the class model_index.json names (so that class's
    defaults fill missing keys), then ``UniPCMultistepScheduler.from_config``. Current diffusers
    changed UniPC's last step unless ``final_sigmas_type="sigma_min"`` (the 0.24 behaviour).
    """
    import diffusers

    folder = ckpt.ootd / "scheduler"
    index = json.loads((ckpt.ootd / "model_index.json").read_text())
    library, class_name = index.get("scheduler", ["diffusers", "UniPCMultistepScheduler"])
    loader = getattr(diffusers, class_name, None) if library == "diffusers" else None
    config = (loader or diffusers.UniPCMultistepScheduler).from_pretrained(folder).config
    return diffusers.UniPCMultistepScheduler.from_config(config, final_sigmas_type="sigma_min")


def _load_text_encoder(folder, device):
    from transformers import CLIPTextModel

    model, info = CLIPTextModel.from_pretrained(folder, torch_dtype=torch.float32,
                                                output_loading_info=True)
    if info.get("missing_keys"):  # a silently random encoder is the failure mode to rule out
        raise CheckpointError(f"text encoder in {folder} lacks weights: {info['missing_keys'][:5]}")
    return model.to(device).eval()


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence transformers/diffusers chatter that is expected for these files: the vision
    tower ignores CLIP's text weights, and the release ships .bin (no safetensors)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as hf_logging

    verbosity, diffusers_verbosity = hf_logging.get_verbosity(), diffusers_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
        diffusers_logging.set_verbosity(diffusers_verbosity)


def _load_vae(ckpt: CheckpointDir, device: torch.device, dtype: torch.dtype):
    from diffusers import AutoencoderKL

    folder = ckpt.ootd / "vae"  # the release ships .bin; a converted tree may have safetensors
    vae = AutoencoderKL.from_pretrained(
        folder, torch_dtype=dtype,
        use_safetensors=(folder / "diffusion_pytorch_model.safetensors").is_file())
    return vae.to(device).eval()


def _load_tokenizer(ckpt: CheckpointDir, device: torch.device, dtype: torch.dtype):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(ckpt.ootd / "tokenizer")


def _load_image_encoder(ckpt: CheckpointDir, device: torch.device, dtype: torch.dtype):
    # Both CLIP encoders run in fp32, as in the original; the prompt is cast afterwards.
    return load_clip_vision(ckpt.clip, device)


def _load_image_processor(ckpt: CheckpointDir, device: torch.device, dtype: torch.dtype):
    from transformers import CLIPImageProcessorPil

    # The PIL backend resizes like the original's processor (the torchvision one does not).
    return CLIPImageProcessorPil.from_pretrained(ckpt.clip)


def load_clip_vision(folder, device: torch.device):
    """CLIP ViT-L/14's vision tower with projection, fp32 (prompts and the garment classifier)."""
    from transformers import CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection.from_pretrained(
        folder, torch_dtype=torch.float32).to(device).eval()


def shared_key(name: str, ckpt: CheckpointDir, device: torch.device,
               dtype: torch.dtype | None = None) -> tuple[str, ...]:
    """The SharedParts key of an OOTD component (the classifier reuses the image encoder)."""
    return ("ootd", name, str(ckpt.root), str(device), str(dtype))


_SHARED_LOADERS = {
    "vae": _load_vae,
    "text_encoder": lambda ckpt, device, dtype: _load_text_encoder(ckpt.ootd / "text_encoder",
                                                                   device),
    "tokenizer": _load_tokenizer,
    "image_encoder": _load_image_encoder,
    "image_processor": _load_image_processor,
}


class OOTDPipeline:
    """One model type (hd or dc) loaded from a checkpoint directory, ready to try garments on."""

    def __init__(self, *, vae, text_encoder, tokenizer, image_encoder, image_processor,
                 unet_garm, unet_vton, scheduler, model_type: ModelType,
                 device: torch.device, dtype: torch.dtype, cache: ByteLRU | None = None,
                 options: RuntimeOptions | None = None) -> None:
        """``cache``: where garment and person work is kept across requests (None: nothing kept;
        ``SharedParts.cache`` when loaded with ``from_checkpoints``). ``options``: memory mode
        and compile (vto.core.models.ootd.memory; default: full residency, no compile)."""
        self.vae, self.text_encoder, self.tokenizer = vae, text_encoder, tokenizer
        self.image_encoder, self.image_processor = image_encoder, image_processor
        self.unet_garm, self.unet_vton, self.scheduler = unet_garm, unet_vton, scheduler
        self.model_type, self.device, self.dtype = model_type, torch.device(device), dtype
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.cache = cache
        self._original = False
        self.garment_lock = threading.Lock()  # garment passes write the fusion's shared dict
        self.fusion: Fusion = install(unet_garm, unet_vton)
        self._denoiser = unet_vton
        self.options = options or RuntimeOptions(memory=Memory.FULL)
        self.memory = apply_options(self, self.options)  # the resolved mode
        # the VAE's calls: ONNX Runtime on CPU (vto.core.models.vae_runtime), torch elsewhere and
        # under original_math()
        self._torch_vae = TorchVae(vae)
        self._vae_runner = vae_runner(vae, self.options.vae, self.device, dtype,
                                      self.options.export_dir)
        self.fusion.check()  # no offload helper may have replaced the fusion processors

    @classmethod
    def from_checkpoints(cls, ckpt: CheckpointDir, model_type: ModelType | str,
                         device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                         parts: SharedParts | None = None) -> "OOTDPipeline":
        """Load one weight set. Everything hd and dc load from the same files (VAE, text
        encoder, tokenizer, CLIP tower and processor, scheduler config) comes from ``parts``,
        so both loaded together hold one copy; the two UNets are each model's own."""
        from diffusers import UNet2DConditionModel

        model_type = ModelType(model_type)
        device = torch.device(device)
        dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
        parts = parts if parts is not None else SharedParts()
        ckpt.verify([model_type], preprocessing=False)
        with quiet_loading():
            try:
                # fp32 parts (CLIP towers, tokenizer) are shared whatever the pipeline dtype
                shared = {name: parts.get(shared_key(name, ckpt, device,
                                                     dtype if name == "vae" else None),
                                          lambda load=load: load(ckpt, device, dtype))
                          for name, load in _SHARED_LOADERS.items()}
                unets = [UNet2DConditionModel.from_pretrained(ckpt.unet(model_type, part),
                                                              torch_dtype=dtype).to(device).eval()
                         for part in ("unet_garm", "unet_vton")]
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                raise CheckpointError(f"could not load the {model_type.value} model from "
                                      f"{ckpt.root}: {str(exc).splitlines()[0]}") from exc
        return cls(**shared, unet_garm=unets[0], unet_vton=unets[1],
                   scheduler=_load_scheduler(ckpt), model_type=model_type, device=device,
                   dtype=dtype, cache=parts.cache, options=parts.options)

    # -- 1. prompt ----------------------------------------------------------------------------

    def tokenize(self, text: str, max_length: int) -> torch.Tensor:
        return self.tokenizer([text], max_length=max_length, padding="max_length",
                              truncation=True, return_tensors="pt").input_ids.to(self.device)

    def encode_prompt(self, garment: Image.Image, category: Category) -> torch.Tensor:
        """(1, L, C) prompt: text token(s) beside the garment's CLIP image embedding (spec §3).

        hd: ["" -> BOS, EOS] with the EOS position overwritten by the image embedding.
        dc: the category word truncated to 3 tokens (so "upperbody" keeps only "upper", a quirk
        the weights were trained with), then the image embedding appended.
        """
        pixels = self.image_processor(images=garment, return_tensors="pt")["pixel_values"]
        image_embeds = self.image_encoder(pixels.to(self.device)).image_embeds.unsqueeze(1)
        if self.model_type is ModelType.HD:
            prompt = self.text_encoder(self.tokenize("", 2))[0]
            prompt[:, 1:] = image_embeds
        else:
            prompt = self.text_encoder(self.tokenize(category.prompt_word, 3))[0]
            prompt = torch.cat([prompt, image_embeds], dim=1)
        return prompt

    # -- 2. images, mask, noise ---------------------------------------------------------------

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """PIL RGB -> (1, 3, H, W) in [-1, 1], as diffusers' VaeImageProcessor.preprocess."""
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)[None] / 255.0
        # NHWC memory seen as NCHW, as diffusers builds it: the convolutions then pick the same
        # (channels-last) kernels as the original's, which keeps the latents bitwise closer.
        tensor = torch.from_numpy(pixels).permute(0, 3, 1, 2)
        return (2.0 * tensor - 1.0).to(self.device, self.dtype)

    def prepare_mask(self, mask: Image.Image, latent_hw: tuple[int, int]) -> torch.Tensor:
        """Binarise at 127 and downsample (nearest) to the latent grid, as the original."""
        values = np.array(mask.convert("L"))
        values = np.where(values >= 127, 255, 0).astype(np.uint8)
        tensor = (torch.from_numpy(values) / 255).reshape(1, 1, *values.shape)
        return F.interpolate(tensor, size=latent_hw).to(self.device, self.dtype)

    def encode_latents(self, image: Image.Image) -> torch.Tensor:
        """Posterior mean, NOT scaled by the VAE scaling factor (only the repaint latents are)."""
        return self.vae_runner.encode_mode(self.preprocess(image))

    def prepare_noise(self, num_samples: int, latent_hw: tuple[int, int], seed: int) -> torch.Tensor:
        """The original's one random draw: on CPU, in the pipeline dtype, from manual_seed(seed)."""
        generator = torch.Generator("cpu").manual_seed(seed)
        shape = (num_samples, self.vae.config.latent_channels, *latent_hw)
        noise = torch.randn(shape, generator=generator, dtype=self.dtype).to(self.device)
        return noise * self.scheduler.init_noise_sigma

    def decode(self, latents: torch.Tensor) -> list[Image.Image]:
        image = self.vae_runner.decode(latents / self.vae.config.scaling_factor)
        image = (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
        return [Image.fromarray(x) for x in (image * 255).round().astype(np.uint8)]

    def check_inputs(self, garment: Image.Image, person: Image.Image, person_masked: Image.Image,
                     mask: Image.Image) -> None:
        size = person.size
        if any(im.size != size for im in (garment, person_masked, mask)):
            raise InvalidInput("garment, person, masked person and mask must have the same size, got "
                               f"{[im.size for im in (garment, person, person_masked, mask)]}")
        if size[0] % self.vae_scale_factor or size[1] % self.vae_scale_factor:
            raise InvalidInput(f"working size must be a multiple of {self.vae_scale_factor}, got "
                               f"{size[0]}x{size[1]}")

    # -- the method ----------------------------------------------------------------------------

    def denoise(self, model_input: torch.Tensor, t: torch.Tensor,
                prompt: torch.Tensor) -> torch.Tensor:
        """One try-on UNet call (compiled when ``options.compile``)."""
        return self._denoiser(model_input, t, encoder_hidden_states=prompt, return_dict=False)[0]

    @torch.inference_mode()
    def __call__(self, *, garment: Image.Image, person: Image.Image, person_masked: Image.Image,
                 mask: Image.Image, category: Category = Category.UPPER_BODY, num_samples: int = 1,
                 num_steps: int = 20, image_scale: float = 2.0, seed: int = -1,
                 callback: StepCallback | None = None) -> TryOnOutput:
        """One try-on (a batch of one, vto.core.models.ootd.batch). Steps: prompt (text token(s)
        + garment CLIP embedding), latents of garment, person and masked person, the outfitting
        pass (garment tokens -> each try-on block's garment K/V), the denoising loop with image
        guidance against a zero-garment branch and repainting outside the mask, decode."""
        call = TryOnCall(garment=garment, person=person, person_masked=person_masked, mask=mask,
                         category=category, num_samples=num_samples, num_steps=num_steps,
                         image_scale=image_scale, seed=seed, callback=callback)
        result = self.run_batch([call])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    @torch.inference_mode()
    def run_batch(self, calls: Sequence[TryOnCall | Mapping[str, Any]]
                  ) -> list[TryOnOutput | BaseException]:
        """Denoise compatible requests (same working size and step count) as one batch; each
        call holds ``__call__``'s keyword arguments (a TryOnCall or a dict) with its own
        callback. One result per call: its TryOnOutput (images equal to a lone run's within
        1/255, from its own seed) or the exception that ended it (Cancelled from its callback)."""
        return run_batch(self, calls, original=self.original)

    @property
    def vae_runner(self) -> VaeRunner:
        """torch under :meth:`original_math`, else the runner the options chose."""
        return self._torch_vae if self.original else self._vae_runner

    @property
    def original(self) -> bool:
        """Whether the original's computation runs (see :meth:`original_math`)."""
        return self._original or self.fusion.all_queries

    @contextmanager
    def original_math(self) -> Iterator[None]:
        """The original's computation, as `vto bench`'s baseline: 2N-query attention with the
        garment K/V recomputed every step, no garment/person caches, the garment UNet at full
        batch, two branches even at guidance 1.0, and the original's NCHW weight layout. Images
        equal vto's within 1/255."""
        previous = self._original, self.fusion.all_queries
        self._original = True
        self.fusion.set_all_queries(True)
        try:
            with original_layout(self):
                yield
        finally:
            self._original = previous[0]
            self.fusion.set_all_queries(previous[1])

    @torch.inference_mode()
    def cache_garment(self, garment: Image.Image, category: Category = Category.UPPER_BODY,
                      guided: bool = True) -> GarmentWork:
        """Compute a (catalog) garment's work into the cache now: prompt, latents and the
        hoisted K/V (with the zero-garment branch when ``guided``). ``garment`` at the working
        size, as a request would bring it."""
        return garment_work(self, garment, Category(category), zero_branch=guided,
                            cache=self.cache)

    @torch.inference_mode()
    def cache_person(self, person: Image.Image, person_masked: Image.Image) -> PersonWork:
        """Compute a person photo's latents (and its masked version's) into the cache now."""
        return person_work(self, person, person_masked, cache=self.cache)

    def prepare(self) -> None:
        """Export (or load the kept export of) the VAE for ONNX Runtime now, at load time,
        rather than in the first request; nothing to do when torch runs it."""
        prepare = getattr(self._vae_runner, "prepare", None)
        if prepare is not None:
            prepare()

    def warm_up(self, size: tuple[int, int] = (768, 1024), num_steps: int = 1,
                num_samples: int = 1, image_scale: float = 2.0) -> None:
        """One throw-away try-on at ``size`` (W, H) on synthetic images, caches untouched: loads
        kernels and, with ``options.compile``, compiles the try-on UNet for that batch shape
        (the service calls it before /ready)."""
        warm_up(self, size, num_steps=num_steps, num_samples=num_samples, image_scale=image_scale)
