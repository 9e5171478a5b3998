"""CatVTON try-on pipeline on stock diffusers parts (Zheng-Chong/CatVTON ``model/pipeline.py``).

Reads like the method: the person with the try-on region blanked and the garment (padded to
the person's size) are encoded by the VAE and concatenated along the height; the SD1.5
inpainting UNet, its cross-attention skipped (vto.core.models.catvton.attention), denoises the
doubled latent with DDIM (eta = 1), seeing the mask ``[mask ‖ 0]`` and the latents
``[person ‖ garment]``; classifier-free guidance runs against the same input with the garment
latent zeroed. The person half is decoded. There is no repaint: outside the mask the person is
re-generated too, as in the original (vto's ``keep`` framing pastes only the mask region back).

Numerically faithful to the original (same weights, seed and inputs -> every pixel within
1/255 on CPU fp32, tools/equivalence/catvton). Its three random draws come from two streams,
each seeded with ``seed``:

* ``encode``: the VAE posterior samples of the masked person, then of the garment. The original
  draws them from torch's *global* RNG (``latent_dist.sample()`` without a generator).
* ``noise``: the initial latents, then one DDIM variance noise per step, from the generator
  the original is given.

So the original matches vto when called on CPU right after
``torch.manual_seed(seed)`` with ``generator=torch.Generator("cpu").manual_seed(seed)``.
``num_images_per_prompt = n`` is the original called once with a batch of ``n`` copies of the
inputs (its only way to make several images in one call): the draws are one batch each.

Before the pipeline, the original app (``app.py``) centre-crops the person and pads the garment
to the working size and blurs the mask (Gaussian, radius 9) which the pipeline then binarises at
0.5; vto does the same (the crop is a no-op on vto's working-size person).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from vto.core.models.catvton import checkpoints
from vto.core.models.catvton.attention import CatVTONAttention, install
from vto.errors import InvalidInput

StepCallback = Callable[[int, int], None]
CONCAT_DIM = -2          # person above garment: concatenation along the height
MASK_BLUR_RADIUS = 9     # app.py: mask_processor.blur(mask, blur_factor=9)
DDIM_ETA = 1.0           # CatVTONPipeline.__call__(eta=1.0)


def resize_and_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Centre-crop to the aspect ratio of ``size``, then resize (LANCZOS), as the original's
    ``resize_and_crop`` (integer arithmetic included). Identity when already at ``size``."""
    w, h = image.size
    target_w, target_h = size
    if w / h < target_w / target_h:
        new_w, new_h = w, w * target_h // target_w
    else:
        new_w, new_h = h * target_w // target_h, h
    image = image.crop(((w - new_w) // 2, (h - new_h) // 2, (w + new_w) // 2, (h + new_h) // 2))
    return image.resize(size, Image.LANCZOS)


def resize_and_pad(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Fit inside ``size`` (LANCZOS) and centre on white, as the original's
    ``resize_and_padding``."""
    w, h = image.size
    target_w, target_h = size
    if w / h < target_w / target_h:
        new_w, new_h = w * target_h // h, target_h
    else:
        new_w, new_h = target_w, h * target_w // w
    canvas = Image.new("RGB", size, (255, 255, 255))
    canvas.paste(image.resize((new_w, new_h), Image.LANCZOS),
                 ((target_w - new_w) // 2, (target_h - new_h) // 2))
    return canvas


class CatVTONPipeline:
    """The CatVTON weights loaded on one device, ready to try garments on."""

    def __init__(self, *, unet, vae, scheduler, device: torch.device, dtype: torch.dtype) -> None:
        self.unet, self.vae, self.scheduler = unet, vae, scheduler
        self.device, self.dtype = device, dtype
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.attention: CatVTONAttention = install(unet)

    @classmethod
    def from_checkpoints(cls, root: Path | str, device: str | torch.device = "cpu",
                         dtype: torch.dtype | None = None) -> "CatVTONPipeline":
        """Load from a checkpoint root in the published layout (CheckpointError if not)."""
        root, device = Path(root).expanduser(), torch.device(device)
        dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
        checkpoints.verify(root)
        unet = checkpoints.load_unet(root, dtype)
        checkpoints.load_attention(unet, root)
        vae = checkpoints.load_vae(root, dtype)
        return cls(unet=unet.to(device), vae=vae.to(device),
                   scheduler=checkpoints.load_scheduler(root), device=device, dtype=dtype)

    # -- 1. images ----------------------------------------------------------------------------

    @staticmethod
    def prepare_images(person: Image.Image, garment: Image.Image, mask: Image.Image,
                       size: tuple[int, int]) -> tuple[Image.Image, Image.Image, Image.Image]:
        """The app's preparation: person cropped, garment padded, mask binarised (any
        non-zero value is painted) and blurred; all at ``size`` (W, H)."""
        person = resize_and_crop(person.convert("RGB"), size)
        garment = resize_and_pad(garment.convert("RGB"), size)
        mask = mask.convert("L").point(lambda v: 255 if v > 0 else 0)
        mask = resize_and_crop(mask, size).filter(ImageFilter.GaussianBlur(MASK_BLUR_RADIUS))
        return person, garment, mask

    def pixels(self, image: Image.Image) -> torch.Tensor:
        """RGB -> (1, 3, H, W) in [-1, 1], the original's ``prepare_image`` arithmetic."""
        array = np.array(image.convert("RGB"))[None].transpose(0, 3, 1, 2)
        tensor = torch.from_numpy(array).to(dtype=torch.float32) / 127.5 - 1.0
        return tensor.to(self.device, self.dtype)

    def mask_pixels(self, mask: Image.Image) -> torch.Tensor:
        """L -> (1, 1, H, W), 1 where the blurred mask is >= 0.5 (``prepare_mask_image``)."""
        values = np.asarray(mask.convert("L"))[None, None].astype(np.float32) / 255.0
        return torch.from_numpy((values >= 0.5).astype(np.float32)).to(self.device, self.dtype)

    # -- 2. latents ---------------------------------------------------------------------------

    def encode(self, pixels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        """A posterior *sample*, scaled, for ``n`` copies of one image (one draw of n). The
        copies are encoded as a batch, as the original's batched call does: encoding once and
        repeating differs from it in the last bits."""
        pixels = pixels.to(memory_format=torch.contiguous_format).float().to(self.dtype)
        posterior = self.vae.encode(pixels.repeat(n, 1, 1, 1)).latent_dist
        return posterior.sample(generator=generator) * self.vae.config.scaling_factor

    def decode(self, latents: torch.Tensor) -> list[Image.Image]:
        person_latents = latents.split(latents.shape[CONCAT_DIM] // 2, dim=CONCAT_DIM)[0]
        person_latents = 1 / self.vae.config.scaling_factor * person_latents
        image = self.vae.decode(person_latents.to(self.device, self.dtype)).sample
        image = (image / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).float().numpy()
        return [Image.fromarray(x) for x in (image * 255).round().astype(np.uint8)]

    def check_inputs(self, person: Image.Image, mask: Image.Image, size: tuple[int, int],
                     num_inference_steps: int, num_images_per_prompt: int) -> None:
        if person.size != mask.size:
            raise InvalidInput(f"person and mask must have the same size, got {person.size} "
                               f"and {mask.size}")
        if any(side <= 0 or side % self.vae_scale_factor for side in size):
            raise InvalidInput(f"working size must be multiples of {self.vae_scale_factor}, "
                               f"got {size[0]}x{size[1]}")
        if num_inference_steps < 1 or num_images_per_prompt < 1:
            raise InvalidInput("steps and images per prompt must be at least 1")

    # -- the method ----------------------------------------------------------------------------

    @torch.inference_mode()
    def __call__(self, *, person: Image.Image, garment: Image.Image, mask: Image.Image,
                 size: tuple[int, int] = (768, 1024), num_inference_steps: int = 50,
                 guidance_scale: float = 2.5, num_images_per_prompt: int = 1, seed: int = 0,
                 callback: StepCallback | None = None) -> list[Image.Image]:
        # 0. Check inputs; at guidance <= 1.0 only the garment branch runs (as the original)
        self.check_inputs(person, mask, size, num_inference_steps, num_images_per_prompt)
        self.attention.check()
        n, cfg = int(num_images_per_prompt), guidance_scale > 1.0
        encode_rng = torch.Generator("cpu").manual_seed(int(seed))  # the original's global RNG
        noise_rng = torch.Generator("cpu").manual_seed(int(seed))   # the original's generator

        # 1. Person (cropped), garment (padded) and mask (blurred) at the working size
        person, garment, mask = self.prepare_images(person, garment, mask, size)
        person_pixels, garment_pixels = self.pixels(person), self.pixels(garment)
        mask_pixels = self.mask_pixels(mask)
        masked_person_pixels = person_pixels * (mask_pixels < 0.5)

        # 2. Encode: masked person, then garment (this order: one random stream)
        masked_latents = self.encode(masked_person_pixels, n, encode_rng)
        garment_latents = self.encode(garment_pixels, n, encode_rng)
        mask_latents = F.interpolate(mask_pixels, size=masked_latents.shape[-2:],
                                     mode="nearest").repeat(n, 1, 1, 1)

        # 3. Concatenate along the height: [person ‖ garment] latents, [mask ‖ 0] mask
        condition = torch.cat([masked_latents, garment_latents], dim=CONCAT_DIM)
        mask_condition = torch.cat([mask_latents, torch.zeros_like(mask_latents)], dim=CONCAT_DIM)

        # 4. Initial noise and DDIM timesteps (a fresh scheduler: calls share no state)
        from diffusers import DDIMScheduler
        from diffusers.utils.torch_utils import randn_tensor

        scheduler = DDIMScheduler.from_config(self.scheduler.config)
        latents = randn_tensor(condition.shape, generator=noise_rng, device=self.device,
                               dtype=self.dtype)
        scheduler.set_timesteps(int(num_inference_steps), device=self.device)
        timesteps = scheduler.timesteps
        latents = latents * scheduler.init_noise_sigma

        # 5. Guidance pairs: first without the garment (its latent zeroed), then with it
        if cfg:
            without_garment = torch.cat([masked_latents, torch.zeros_like(garment_latents)],
                                        dim=CONCAT_DIM)
            condition = torch.cat([without_garment, condition])
            mask_condition = torch.cat([mask_condition] * 2)

        # 6. Denoising loop
        for i, t in enumerate(timesteps):
            model_input = torch.cat([latents] * 2) if cfg else latents
            model_input = scheduler.scale_model_input(model_input, t)
            model_input = torch.cat([model_input, mask_condition, condition], dim=1)
            noise_pred = self.unet(model_input, t.to(self.device), encoder_hidden_states=None,
                                   return_dict=False)[0]
            # perform guidance
            if cfg:
                noise_without, noise_with = noise_pred.chunk(2)
                noise_pred = noise_without + guidance_scale * (noise_with - noise_without)
            # x_t -> x_t-1 (DDIM with eta = 1: one variance draw per step)
            latents = scheduler.step(noise_pred, t, latents, eta=DDIM_ETA, generator=noise_rng,
                                     return_dict=False)[0]
            if callback is not None:
                callback(i + 1, len(timesteps))

        # 7. Decode the person half
        return self.decode(latents)
