"""Memory modes and kernel choices for one loaded pipeline (none changes an image beyond 1/255).

* full: everything resident on the device.
* balanced: the encoders (the VAE's encoder side, the CLIP vision tower, the text encoder) wait
  in host memory and visit the device only for their forward — with the garment and person
  caches they rarely run, so the cost is small and their ~1.5 GB (fp32 CLIP) stay free.
* low: balanced, plus sequential offload of both UNets (accelerate's ``cpu_offload``: each
  layer's weights come to the device for its own forward only) and a tiled VAE.
* auto: chosen from the device's free memory after loading (see :func:`resolve_memory`).

On CPU there is nothing to offload to: every mode runs like full (and is accepted).
Kernels, CUDA only: channels-last UNets and VAE (cuDNN's faster convolution layout); with
``compile``, ``torch.compile`` of the try-on UNet with static shapes (one graph per batch
shape; :func:`warm_up` builds the one a service expects before it reports ready).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torch import nn

from vto.core.models.base import Memory, RuntimeOptions

if TYPE_CHECKING:
    from vto.core.models.ootd.pipeline import OOTDPipeline

log = logging.getLogger(__name__)

GiB = 2**30
#: auto: free device memory (after loading) at which everything stays resident / the encoders do.
FULL_FREE_BYTES = 6 * GiB
BALANCED_FREE_BYTES = 3 * GiB
#: torch.compile backend (tests use "eager": same tracing, no C++ toolchain needed)
COMPILE_BACKEND = "inductor"


def _bytes(*modules: nn.Module | None) -> int:
    return sum(p.numel() * p.element_size() for m in modules if m is not None
               for p in m.parameters())


def _encoders(pipe: "OOTDPipeline") -> list[nn.Module]:
    vae_encoder_side = [pipe.vae.encoder, getattr(pipe.vae, "quant_conv", None)]
    return [m for m in (*vae_encoder_side, pipe.image_encoder, pipe.text_encoder) if m is not None]


def resolve_memory(pipe: "OOTDPipeline", mode: Memory | str) -> Memory:
    """The mode that runs: CPU is always full; auto looks at free device memory."""
    mode = Memory(mode)
    if pipe.device.type != "cuda":
        return Memory.FULL
    if mode is not Memory.AUTO:
        return mode
    free, _ = torch.cuda.mem_get_info(pipe.device)
    if free >= FULL_FREE_BYTES:
        return Memory.FULL
    if free + _bytes(*_encoders(pipe)) >= BALANCED_FREE_BYTES:
        return Memory.BALANCED
    return Memory.LOW


def keep_on_host(module: nn.Module, device: torch.device, host: str = "cpu") -> None:
    """Keep ``module`` in host memory; move it to ``device`` for each forward and back after.
    Idempotent (hd and dc share their encoders)."""
    if getattr(module, "_vto_on_demand", False):
        return
    module.to(host)

    def arrive(mod, args):
        mod.to(device)

    def leave(mod, args, output):
        mod.to(host)

    module.register_forward_pre_hook(arrive)
    module.register_forward_hook(leave)
    object.__setattr__(module, "_vto_on_demand", True)


def offload_sequentially(unet: nn.Module, device: torch.device) -> None:
    """Each layer's weights visit the device for its own forward only (accelerate when
    installed; otherwise the same on-demand hooks on every leaf module that holds weights)."""
    try:
        from accelerate import cpu_offload
    except ImportError:
        for module in unet.modules():
            if any(True for _ in module.parameters(recurse=False)):
                keep_on_host(module, device)
        return
    cpu_offload(unet, execution_device=device)


def apply_options(pipe: "OOTDPipeline", options: RuntimeOptions,
                  force_device: bool = False) -> Memory:
    """Apply the memory mode and kernel options to a freshly loaded pipeline; returns the
    resolved mode. ``force_device`` runs the offload hooks on CPU too (tests of the hooks)."""
    mode = resolve_memory(pipe, options.memory)
    if force_device and Memory(options.memory) is not Memory.AUTO:
        mode = Memory(options.memory)
    cuda = pipe.device.type == "cuda"
    if cuda:  # convolutions prefer NHWC on tensor cores; before any offload moves weights
        for model in (pipe.unet_garm, pipe.unet_vton, pipe.vae):
            model.to(memory_format=torch.channels_last)
    if mode in (Memory.BALANCED, Memory.LOW) and (cuda or force_device):
        for module in _encoders(pipe):
            keep_on_host(module, pipe.device)
    if mode is Memory.LOW and (cuda or force_device):
        for unet in (pipe.unet_garm, pipe.unet_vton):
            offload_sequentially(unet, pipe.device)
        pipe.vae.enable_tiling()
    if options.compile:
        if mode is Memory.LOW:
            log.warning("--compile is ignored in the low memory mode (offload hooks move weights "
                        "during the forward)")
        else:
            # static shapes: one graph per batch shape, built by warm_up before serving
            pipe._denoiser = torch.compile(pipe.unet_vton, dynamic=False,
                                           backend=COMPILE_BACKEND)
    log.info("ootd-%s: memory mode %s%s", pipe.model_type.value, mode.value,
             ", try-on UNet compiled" if pipe._denoiser is not pipe.unet_vton else "")
    return mode


def synthetic_inputs(size: tuple[int, int]) -> dict[str, Image.Image]:
    """Plain images at ``size`` (W, H) for a warm-up run: their content does not matter."""
    w, h = size
    person = Image.linear_gradient("L").resize(size).convert("RGB")
    garment = Image.new("RGB", size, (200, 60, 60))
    mask = Image.new("L", size, 0)
    mask.paste(255, (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    masked = Image.composite(Image.new("RGB", size, (127, 127, 127)), person, mask)
    return {"garment": garment, "person": person, "person_masked": masked, "mask": mask}


def warm_up(pipe: "OOTDPipeline", size: tuple[int, int], *, num_steps: int = 1,
            num_samples: int = 1, image_scale: float = 2.0) -> None:
    """One try-on on synthetic images with the cache set aside (nothing stored)."""
    cache, pipe.cache = pipe.cache, None
    try:
        pipe(**synthetic_inputs(size), num_steps=num_steps, num_samples=num_samples,
             image_scale=image_scale, seed=0)
    finally:
        pipe.cache = cache
