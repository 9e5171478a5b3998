"""Seconds per image of every vto model on this machine, side by side, with random weights.

Compute depends on the architecture, not on the weight values, so each model is built at its
PUBLISHED size with random weights (nothing to download) and timed through its vto backend's
``run(ModelInputs, RunParams)`` on synthetic inputs:

* ootd-dc, catvton: diffusion at a chosen working size (384x512 by default), the same number
  of steps for both, each model's default guidance, one sample. Built in memory on the meta
  device and filled in place (vto.core.bench.models): OOTD = two SD 1.5 UNets (garment 4 input
  channels, try-on 8) + SD VAE + CLIP ViT-L/14 text and vision towers; CatVTON = the SD 1.5
  inpainting UNet (9 input channels) + the SD VAE (sd-vae-ft-mse's architecture) + DDIM.
* viton-hd, hr-viton (768x1024) and cp-vton-plus (192x256): GANs with fixed sizes, written as
  published-format random checkpoints at full width (vto.dev) to a temporary folder, then
  loaded through their backends' ``load`` as from a real checkpoint.

Each model gets one untimed warm-up run (1 step for diffusion; a whole run for a GAN), then
``--repeat`` timed runs, of which the best is reported. ``--tiny`` uses tiny shapes (the test:
seconds, not minutes); the numbers then mean nothing.

    PYTHONPATH=$PWD python tools/timing/seconds_per_image.py --threads 16 --json timing.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image, ImageDraw
from torch import nn

from vto.core.models.base import ModelInputs, RunParams, SharedParts
from vto.core.types import Category

MODELS = ("ootd-dc", "catvton", "viton-hd", "hr-viton", "cp-vton-plus")
DIFFUSION_SIZE = (384, 512)      # (W, H) working size of ootd-dc and catvton
TINY_DIFFUSION_SIZE = (64, 88)   # latent 8x11: small, and not a power of two
DEVICE, DTYPE = torch.device("cpu"), torch.float32


@dataclass
class Built:
    """A loaded backend and what to run it with."""

    backend: Any
    size: tuple[int, int]
    guidance: float | None       # None: no guidance (a GAN)
    diffusion: bool              # whether --steps applies
    load_s: float                # building/filling (diffusion) or backend.load (GAN)


@dataclass
class Row:
    model: str
    working_size: str
    steps: int | None
    guidance: float | None
    seconds_per_image: float
    load_seconds: float
    parameters: int
    runs: list[float]            # every timed run, seconds


# -- synthetic inputs: one drawn person and garment for every model ---------------------------

def synthetic_inputs(size: tuple[int, int]) -> ModelInputs:
    """Everything any backend reads (vto.dev.hr_viton's drawn person: label maps, keypoints,
    DensePose, garment and its mask), plus a torso mask and masked person at ``size``."""
    from vto.dev.hr_viton import synthetic_inputs as drawn

    inputs = drawn()  # person and DensePose at 768x1024, labels/keypoints in the 384x512 frame
    w, h = size
    person = inputs.person.resize(size, Image.BICUBIC)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=255)
    masked = Image.composite(Image.new("RGB", size, (127, 127, 127)), person, mask)
    return dataclasses.replace(inputs, person=person, mask=mask, masked_person=masked,
                               densepose=inputs.densepose.resize(size, Image.NEAREST))


# -- building each model -----------------------------------------------------------------------

def build_ootd_dc(tiny: bool, size: tuple[int, int], folder: Path) -> Built:
    from vto.core.bench.models import RandomModels, Shapes
    from vto.core.models.ootd.backend import OOTDDCBackend

    start = time.perf_counter()
    shapes = Shapes.tiny() if tiny else Shapes.full()
    pipe = RandomModels(shapes, DEVICE, DTYPE).pipeline("dc")  # no cache: every run does all work
    backend = OOTDDCBackend(pipe)
    return Built(backend, size, OOTDDCBackend.spec.capabilities.guidance.default, True,
                 time.perf_counter() - start)


def build_catvton(tiny: bool, size: tuple[int, int], folder: Path) -> Built:
    from diffusers import DDIMScheduler

    from vto.core.bench.models import Shapes, make_unet, make_vae, materialize, on_meta
    from vto.core.models.catvton.backend import CatVTONBackend
    from vto.core.models.catvton.pipeline import CatVTONPipeline
    from vto.dev.catvton import SCHEDULER_CONFIG

    start = time.perf_counter()
    shapes = Shapes.tiny() if tiny else Shapes.full()
    unet = materialize(on_meta(make_unet, shapes, 9), DEVICE, DTYPE, seed=1)
    vae = materialize(on_meta(make_vae, shapes), DEVICE, DTYPE, seed=2)
    # a PNDM config read as DDIM, as vto.core.models.catvton.checkpoints.load_scheduler does
    scheduler = DDIMScheduler.from_config(SCHEDULER_CONFIG)
    pipe = CatVTONPipeline(unet=unet, vae=vae, scheduler=scheduler, device=DEVICE, dtype=DTYPE)
    backend = CatVTONBackend(pipe)
    return Built(backend, size, CatVTONBackend.spec.capabilities.guidance.default, True,
                 time.perf_counter() - start)


def _load_gan(backend_cls: Any, root: Path, size: tuple[int, int]) -> Built:
    start = time.perf_counter()
    backend = backend_cls.load(root, DEVICE, DTYPE, SharedParts())
    return Built(backend, size, None, False, time.perf_counter() - start)


def build_viton_hd(tiny: bool, size: tuple[int, int], folder: Path) -> Built:
    from vto.core.models.viton_hd.backend import VITONHDBackend
    from vto.core.models.viton_hd.networks import VitonHDConfig
    from vto.dev.viton_hd import TINY_CONFIG, write_tiny_checkpoint

    # seg and GMM have hard-coded widths: only the ALIAS generator's ngf (64 published) narrows
    root = write_tiny_checkpoint(folder / "viton-hd", 0, TINY_CONFIG if tiny else VitonHDConfig())
    return _load_gan(VITONHDBackend, root, (768, 1024))


def build_hr_viton(tiny: bool, size: tuple[int, int], folder: Path) -> Built:
    from vto.core.models.hr_viton.backend import HRVITONBackend
    from vto.dev.hr_viton import write_tiny_checkpoint

    widths = dict(ngf=2, condition_ngf=8) if tiny else dict(ngf=64)  # published: 64 and 96
    root = write_tiny_checkpoint(folder / "hr-viton", seed=0, **widths)
    return _load_gan(HRVITONBackend, root, (768, 1024))


def build_cp_vton_plus(tiny: bool, size: tuple[int, int], folder: Path) -> Built:
    from vto.core.models.cp_vton_plus.backend import CPVTONPlusBackend
    from vto.dev.cp_vton_plus import write_tiny_checkpoint

    # no width option in the original: always full size (~160 MB, about a second to write)
    root = write_tiny_checkpoint(folder / "cp-vton-plus", seed=0)
    return _load_gan(CPVTONPlusBackend, root, (192, 256))


BUILDERS: dict[str, Callable[[bool, tuple[int, int], Path], Built]] = {
    "ootd-dc": build_ootd_dc, "catvton": build_catvton, "viton-hd": build_viton_hd,
    "hr-viton": build_hr_viton, "cp-vton-plus": build_cp_vton_plus,
}


def count_parameters(obj: Any, depth: int = 3) -> int:
    """Parameters of every nn.Module reachable through ``obj``'s attributes (the backend ->
    pipeline/networks -> modules), each tensor once (OOTD's pipeline shares nothing twice, but
    hooks and processors may hold a second reference)."""
    seen: dict[int, int] = {}

    def walk(o: Any, d: int) -> None:
        if isinstance(o, nn.Module):
            seen.update((id(p), p.numel()) for p in o.parameters())
        elif d > 0 and hasattr(o, "__dict__") and not isinstance(o, type):
            for value in vars(o).values():
                walk(value, d - 1)

    walk(obj, depth)
    return sum(seen.values())


# -- timing ------------------------------------------------------------------------------------

def time_model(name: str, built: Built, steps: int, repeat: int, warmup: bool) -> Row:
    inputs = synthetic_inputs(built.size)

    def params(n_steps: int) -> RunParams:
        return RunParams(category=Category.UPPER_BODY, size=built.size,
                         num_inference_steps=n_steps if built.diffusion else 1,
                         guidance_scale=built.guidance if built.guidance is not None else 1.0,
                         num_images_per_prompt=1, seed=0)

    if warmup:  # kernels, allocator, lazy imports: not part of seconds per image
        built.backend.run(inputs, params(1))
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        images = built.backend.run(inputs, params(steps))
        runs.append(time.perf_counter() - start)
        assert len(images) == 1, f"{name}: {len(images)} images for one sample"
    return Row(name, f"{built.size[0]}x{built.size[1]}", steps if built.diffusion else None,
               built.guidance, min(runs), built.load_s, count_parameters(built.backend), runs)


def markdown(rows: list[Row]) -> str:
    def cell(value: Any, fmt: str = "{}") -> str:
        return "-" if value is None else fmt.format(value)

    lines = ["| model | working size | steps | guidance | seconds per image | load seconds "
             "| parameters |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r.model} | {r.working_size} | {cell(r.steps)} | {cell(r.guidance)} "
              f"| {r.seconds_per_image:.2f} | {r.load_seconds:.2f} "
              f"| {r.parameters / 1e6:.1f} M |" for r in rows]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated subset of {', '.join(MODELS)}")
    parser.add_argument("--steps", type=int, default=20, help="diffusion steps (both models)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs; the best is shown")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--size", default=None,
                        help="WxH working size of ootd-dc and catvton (default 384x512)")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (tests; seconds)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="skip the untimed warm-up run (tests)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if args.steps < 1 or args.repeat < 1:
        parser.error("--steps and --repeat must be at least 1")
    if args.size:
        args.size = tuple(int(v) for v in args.size.lower().split("x"))
    else:
        args.size = TINY_DIFFUSION_SIZE if args.tiny else DIFFUSION_SIZE
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vto-timing-") as folder:
        for name in args.models:  # one at a time: each model's memory is freed before the next
            print(f"{name}: building ...", file=sys.stderr, flush=True)
            built = BUILDERS[name](args.tiny, args.size, Path(folder))
            shutil.rmtree(Path(folder) / name, ignore_errors=True)  # a GAN's files: loaded now
            print(f"{name}: loaded in {built.load_s:.1f} s, timing ...", file=sys.stderr,
                  flush=True)
            rows.append(time_model(name, built, args.steps, args.repeat, args.warmup))
            del built
    print(markdown(rows))
    print(f"\n{torch.get_num_threads()} torch threads, {platform.processor() or platform.machine()}"
          f", torch {torch.__version__}, float32, {'TINY shapes' if args.tiny else 'full size'}")
    if args.json:
        args.json.write_text(json.dumps({
            "threads": torch.get_num_threads(), "torch": torch.__version__, "tiny": args.tiny,
            "machine": platform.machine(), "rows": [dataclasses.asdict(r) for r in rows]},
            indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
