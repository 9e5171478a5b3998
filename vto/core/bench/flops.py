"""FLOPs per image of each scenario, counted on the meta device: any size, no memory, no math.

The pipelines are the real ones (vto.core.bench.models on the meta device: same modules, the
real fusion processors, the real garment/person cache holding meta tensors), run through the
same plan as the timed bench (vto.core.bench.scenarios), so each path is counted with exactly
the component passes it makes — CLIP vision, text encoder, VAE encodes, garment UNet, K/V
hoisting, the try-on UNet at every step, VAE decode — under torch's ``FlopCounterMode``
(matrix products, convolutions and attention; elementwise work is not counted). Only
decoding to PIL is replaced (meta tensors hold no pixels); the VAE decode itself runs.

Speed: meta kernels of elementwise ops run in Python, so a 20-step run would take ~15 s. The
try-on UNet's count is therefore kept per call signature — input and prompt shapes and the
fusion's mode (2N queries / hoisted K/V / per-step garment K/V) — and a repeated call adds
that count instead of running again: denoising steps make exactly the same passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vto.core.bench.models import RandomModels, Shapes
from vto.core.bench.scenarios import BenchConfig, Measurement, run_plan
from vto.core.cache import ByteLRU
from vto.core.models.base import SharedParts
from vto.core.types import ModelType


class FlopMeter:
    """Counts a measured run; ``add`` takes the counts of calls not re-run (see above)."""

    def __init__(self) -> None:
        self.counter: FlopCounterMode | None = None
        self.extra = 0

    def __call__(self, run: Callable[[], list], jobs: int, images: int) -> Measurement:
        self.extra = 0
        with FlopCounterMode(display=False) as self.counter:
            run()
        flops = int(self.counter.get_total_flops()) + self.extra
        self.counter = None
        return Measurement(jobs=jobs, images=images, flops=flops)

    def total(self) -> int:
        return int(self.counter.get_total_flops()) + self.extra if self.counter else 0


def meta_pipeline(model_type: ModelType | str = ModelType.HD, *, shapes: Shapes | None = None,
                  dtype: torch.dtype = torch.float16, meter: FlopMeter | None = None):
    """An OOTDPipeline on the meta device (built in about a second), with an unbounded cache;
    with ``meter``, its try-on UNet calls are counted once per signature (module docstring)."""
    parts = SharedParts(cache=ByteLRU(2**62))  # meta tensors hold no memory
    pipe = RandomModels(shapes or Shapes.full(), torch.device("meta"), dtype,
                        parts).pipeline(model_type)

    def decode(latents: torch.Tensor) -> list:
        pipe.vae.decode(latents / pipe.vae.config.scaling_factor)
        return [None] * latents.shape[0]

    pipe.decode = decode  # the instance's own: decode runs, only the PIL conversion is skipped
    if meter is not None:
        pipe.denoise = _memoised_denoise(pipe, meter)
    return pipe


def _memoised_denoise(pipe, meter: FlopMeter):
    real = pipe.denoise
    seen: dict[tuple, int] = {}
    channels = pipe.unet_vton.config.out_channels

    def denoise(model_input: torch.Tensor, t, prompt: torch.Tensor) -> torch.Tensor:
        key = (tuple(model_input.shape), tuple(prompt.shape), pipe.fusion.all_queries,
               bool(pipe.fusion.features.kv))
        if key in seen and meter.counter is not None:
            meter.extra += seen[key]
            return torch.empty(model_input.shape[0], channels, *model_input.shape[2:],
                               device=model_input.device, dtype=pipe.dtype)
        before = meter.total()
        out = real(model_input, t, prompt)
        if meter.counter is not None:
            seen[key] = meter.total() - before
        return out

    return denoise


def count_flops(config: BenchConfig, names: Sequence[str], *,
                model_type: ModelType | str = ModelType.HD,
                checkpoints: Path | str | None = None,
                dtype: torch.dtype = torch.float16,
                progress: Callable[[str], None] = lambda line: None
                ) -> dict[tuple[str, str], Measurement]:
    """Per (scenario, mode): the FLOPs of the measured run (see the module docstring).
    ``checkpoints``: count the architectures that directory declares (configs only)."""
    shapes = Shapes.from_checkpoints(checkpoints, model_type) if checkpoints else None
    meter = FlopMeter()
    pipe = meta_pipeline(model_type, shapes=shapes, dtype=dtype, meter=meter)
    return run_plan(pipe, config, names, meter, progress)
