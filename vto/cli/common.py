"""Pieces several commands share: request flags (one vocabulary with the API), checkpoint and
device flags, and a terminal progress bar. Nothing heavy is imported here (``vto --help``
stays fast)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vto.core.types import Category, Framing
from vto.errors import InvalidInput

if TYPE_CHECKING:
    from vto.core.models.base import RuntimeOptions
    from vto.core.request import TryOnRequest

CHECKPOINTS_ENV = ("VTO_CHECKPOINTS", "CHECKPOINT_PATH")  # the seed deployment's name too


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoints", metavar="DIR",
                        help="checkpoint directory in the published layout "
                             "(default: $VTO_CHECKPOINTS)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"],
                        help="model precision (default: float16 on CUDA, float32 on CPU)")


MEMORY_MODES = ("auto", "full", "balanced", "low")
VAE_RUNTIMES = ("auto", "torch", "onnx")  # vto.core.models.base.VaeRuntime


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """--memory, --vae and --compile (vto.core.models.base.RuntimeOptions; None: the
    environment's VTO_MEMORY / VTO_VAE / VTO_COMPILE for serve and worker, else auto / auto /
    off). None changes an image beyond 1/255."""
    parser.add_argument("--memory", default=None, choices=MEMORY_MODES,
                        help="what stays on the accelerator: full (everything), balanced (the "
                             "encoders wait in host memory between uses), low (balanced plus "
                             "UNet offload and a tiled VAE: 8 GB cards), auto (picked from free "
                             "device memory; default). CPU runs every mode like full")
    parser.add_argument("--vae", default=None, choices=VAE_RUNTIMES,
                        help="what runs the VAE: auto (ONNX Runtime on CPU, where it is faster; "
                             "exported once and kept in $VTO_EXPORT_DIR or ~/.cache/vto/exports; "
                             "torch elsewhere; default), torch, onnx")
    parser.add_argument("--compile", action="store_true", default=None,
                        help="torch.compile the try-on UNet (slow first run, faster after; "
                             "serve and worker warm it up before reporting ready)")


def runtime_options_from_args(args: argparse.Namespace) -> "RuntimeOptions":
    from vto.core.models.base import Memory, RuntimeOptions, VaeRuntime
    from vto.core.paths import default_export_dir

    return RuntimeOptions(memory=Memory(args.memory or "auto"), compile=bool(args.compile),
                          vae=VaeRuntime(getattr(args, "vae", None) or "auto"),
                          export_dir=default_export_dir())


def add_request_flags(parser: argparse.ArgumentParser, *, diffusion: bool = True) -> None:
    """The request's fields as flags; None means "the model's default"."""
    from vto.core.models.registry import SPECS

    ids = ", ".join(spec.id for spec in SPECS)
    parser.add_argument("--model", default=None, metavar="ID",
                        help=f"try-on model: {ids} (default: ootd-hd)")
    parser.add_argument("--model-type", default=None, choices=["hd", "dc"],
                        help="OOTDiffusion weights, same as --model ootd-hd / ootd-dc")
    parser.add_argument("--category", default=None, choices=[c.value for c in Category],
                        help="garment category (default: the model's first, upper_body)")
    parser.add_argument("--framing", default=Framing.KEEP.value, choices=[f.value for f in Framing],
                        help="keep: work on a window around the person and paste the result back "
                             "into the photo at full resolution (default); stretch: the "
                             "original's squash to the working size")
    parser.add_argument("--person-select", default="error", choices=["error", "largest"],
                        help="several people in the photo: fail, or dress the most prominent one")
    parser.add_argument("--size", default=None,
                        help="working size WxH, multiples of 8 (default: the model's, 768x1024)")
    if diffusion:
        parser.add_argument("--steps", type=int, default=None,
                            help="denoising steps (default: the model's, 20 for OOTDiffusion)")
        parser.add_argument("--guidance", type=float, default=None,
                            help="image guidance scale (default: the model's, 2.0 for OOTD)")
        parser.add_argument("--samples", type=int, default=1, help="images to generate (default: 1)")
        parser.add_argument("--seed", type=int, default=-1,
                            help="random seed; -1 picks one (default: -1)")


def request_from_args(args: argparse.Namespace) -> "TryOnRequest":
    """The CLI flags as the one request type (aliases and bounds as the API applies them)."""
    from vto.core.request import TryOnRequest, parse_size

    if args.model and args.model_type:
        raise InvalidInput("give --model or --model-type, not both")
    fields: dict[str, Any] = {"model": args.model or args.model_type or "ootd-hd",
                              "category": args.category, "framing": args.framing,
                              "person_select": args.person_select}
    for flag, name in (("steps", "num_inference_steps"), ("guidance", "guidance_scale"),
                       ("samples", "num_images_per_prompt"), ("seed", "seed")):
        if getattr(args, flag, None) is not None:
            fields[name] = getattr(args, flag)
    if args.size:
        fields["width"], fields["height"] = parse_size(args.size)
    from vto.core.models.registry import notice

    if (line := notice(fields["model"])) is not None:
        print(f"vto: {line}", file=sys.stderr)
    return TryOnRequest.from_fields(fields)


def checkpoint_root(arg: str | None) -> Path:
    """--checkpoints DIR, else $VTO_CHECKPOINTS (or the seed's $CHECKPOINT_PATH), else where
    `vto download` puts weights by default if it exists; never the working directory."""
    from vto.core.download import default_checkpoint_dir

    value = arg or next((os.environ[name] for name in CHECKPOINTS_ENV if os.environ.get(name)),
                        None)
    if not value and default_checkpoint_dir().is_dir():
        value = str(default_checkpoint_dir())
    if not value:
        raise InvalidInput(
            "no checkpoint directory given: pass --checkpoints DIR or set VTO_CHECKPOINTS "
            "(get the weights with 'vto download --dir DIR', or a tiny test checkpoint with "
            "'vto dev tiny-checkpoint DIR')")
    return Path(os.path.expandvars(value)).expanduser()


class StepProgress:
    """A tqdm bar on a terminal, nothing otherwise (pipes and CI logs stay clean)."""

    def __init__(self, description: str, enabled: bool | None = None) -> None:
        self.description = description
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar = None

    def __call__(self, step: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.description, unit="step", file=sys.stderr)
        self._bar.update(step - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def load_keypoints(path: str) -> list[tuple[float, float]]:
    """OpenPose COCO-18 keypoints from JSON: {"pose_keypoints_2d": [[x, y] x 18]} (or the flat
    [x, y, c] x 18 form OpenPose writes)."""
    import json

    file = Path(path).expanduser()
    if not file.is_file():
        raise InvalidInput(f"--keypoints file '{path}' does not exist")
    try:
        data = json.loads(file.read_text())
        if "people" in data:  # OpenPose's own output file
            data = data["people"][0]
        flat = [float(v) for v in _flatten(data["pose_keypoints_2d"])]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise InvalidInput(f"--keypoints must be JSON like {{\"pose_keypoints_2d\": "
                           f"[[x, y] x 18]}} ({type(exc).__name__})") from None
    step = 3 if len(flat) == 54 else 2
    if len(flat) != 18 * step:
        raise InvalidInput(f"--keypoints needs 18 points, got {len(flat) / step:g}")
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), step)]


def _flatten(values: Any) -> list[Any]:
    return [v for item in values for v in (_flatten(item) if isinstance(item, list) else [item])]
