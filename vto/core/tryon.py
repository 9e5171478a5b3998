"""The try-on engine: from photos to finished images, behind one call.

    engine = TryOnEngine(checkpoints_dir, device="cpu", dtype=None)   # nothing heavy yet
    engine.load(ModelType.HD)            # optional preload (the service's /ready waits on it)
    result = engine.run(TryOnRequest(person=..., garment=...), callback=on_step)
    result.images        # list[PIL.Image.Image], one per sample, RGB
    result.seed          # the seed actually used (request.seed == -1 -> random)
    result.mask          # PIL "L" at the working size, 255 = re-generated region
    result.output_mask   # the same region in the output images' coordinates (the photo's for keep)
    result.masked_person # PIL RGB at the working size (grey 127 inside the mask)
    result.timings       # seconds: preprocess, diffusion, total
    engine.classify_garment(image) -> dict[Category, float]   # CLIP zero-shot probabilities

``callback(step, total)`` runs after every denoising step; raising vto.errors.Cancelled in it
aborts the run. Bad input raises vto.errors.VtoError subclasses. One engine may serve several
threads; models load once per model type, and runs on one device are serialised.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from vto.core.checkpoints import CheckpointDir
from vto.core.models.ootd.pipeline import OOTDPipeline, StepCallback, check_settings
from vto.core.types import Category, Framing, ModelType, check_combination
from vto.errors import InvalidInput

log = logging.getLogger(__name__)

DEFAULT_SIZE = (768, 1024)


def parse_size(text: str | tuple[int, int]) -> tuple[int, int]:
    """'768x1024' -> (768, 1024); a multiple of 8 (the VAE's factor), 64..4096 per side."""
    if isinstance(text, tuple):
        width, height = text
    else:
        try:
            width, height = (int(v) for v in str(text).lower().split("x"))
        except ValueError:
            raise InvalidInput(f"size must look like WIDTHxHEIGHT (e.g. 768x1024), got {text!r}") from None
    if not (64 <= width <= 4096 and 64 <= height <= 4096) or width % 8 or height % 8:
        raise InvalidInput(f"size must be multiples of 8 between 64 and 4096 per side, got {width}x{height}")
    return width, height


def resolve_device(device: str | None) -> torch.device:
    if not device or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise InvalidInput(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(f"device {device!r} asked for, but this machine has no CUDA GPU; use --device cpu")
    if resolved.type not in ("cpu", "cuda"):
        raise InvalidInput(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    return resolved


_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
           "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def parse_dtype(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """fp16 on CUDA and fp32 on CPU by default; half precision on CPU is refused (slow, lossy)."""
    if isinstance(name, torch.dtype):
        return name
    if not name:
        return torch.float16 if device.type == "cuda" else torch.float32
    if name not in _DTYPES:
        raise InvalidInput(f"dtype must be float32, float16 or bfloat16, got {name!r}")
    dtype = _DTYPES[name]
    if device.type == "cpu" and dtype is not torch.float32:
        raise InvalidInput(f"{name} needs a CUDA device; on CPU use float32")
    return dtype


@dataclass
class TryOnRequest:
    person: Image.Image
    garment: Image.Image
    model_type: ModelType = ModelType.HD
    category: Category = Category.UPPER_BODY
    mask: Image.Image | None = None  # white = region to re-generate, in the photo's coordinates
    steps: int = 20
    guidance_scale: float = 2.0
    samples: int = 1
    seed: int = -1
    size: tuple[int, int] = DEFAULT_SIZE
    framing: Framing = Framing.KEEP
    person_select: str = "error"  # several people: "error" or "largest"


@dataclass
class TryOnResult:
    images: list[Image.Image]
    seed: int
    mask: Image.Image
    masked_person: Image.Image
    output_mask: Image.Image
    timings: dict[str, float] = field(default_factory=dict)


class TryOnEngine:
    """Loads models lazily per model type and runs try-ons on one device."""

    def __init__(self, checkpoints: CheckpointDir | Path | str, device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None,
                 keypoint_source: Callable | None = None) -> None:
        self.checkpoints = checkpoints if isinstance(checkpoints, CheckpointDir) else CheckpointDir(Path(checkpoints))
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = parse_dtype(dtype, self.device)
        self.keypoint_source = keypoint_source
        self._pipelines: dict[ModelType, OOTDPipeline] = {}
        self._preprocessor = None
        self._classifier = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one job at a time per device

    # -- loading -------------------------------------------------------------------------------

    @property
    def loaded_model_types(self) -> set[ModelType]:
        return set(self._pipelines)

    def pipeline(self, model_type: ModelType) -> OOTDPipeline:
        with self._load_lock:
            if model_type not in self._pipelines:
                started = time.perf_counter()
                self._pipelines[model_type] = OOTDPipeline.from_checkpoints(
                    self.checkpoints, model_type, self.device, self.dtype)
                log.info("loaded %s model in %.1f s", model_type.value, time.perf_counter() - started)
            return self._pipelines[model_type]

    def load(self, model_type: ModelType | str) -> None:
        self.pipeline(ModelType(model_type))

    @property
    def preprocessor(self):
        from vto.core.preprocess.prepare import Preprocessor

        with self._load_lock:
            if self._preprocessor is None:
                self._preprocessor = Preprocessor(self.checkpoints.root, device=str(self.device),
                                                  keypoint_source=self.keypoint_source)
            return self._preprocessor

    # -- running -------------------------------------------------------------------------------

    def validate(self, request: TryOnRequest) -> None:
        """Everything that can be checked before any model work (cheap; the service calls it on submit)."""
        check_combination(request.model_type, request.category)
        parse_size(request.size)
        check_settings(request.steps, request.guidance_scale, request.samples)

    def run(self, request: TryOnRequest, callback: StepCallback | None = None) -> TryOnResult:
        from vto.core.preprocess.prepare import compose_result, prepare_person

        self.validate(request)
        started = time.perf_counter()
        # Person checks and the mask come first: a photo without a person fails in seconds.
        prepared = prepare_person(
            request.person, size=request.size, model_type=request.model_type,
            category=request.category, framing=request.framing, user_mask=request.mask,
            preprocessor=None if request.mask is not None else self.preprocessor,
            person_select=request.person_select)
        # The original squashes the garment to the working size with PIL's bicubic filter.
        garment = request.garment.convert("RGB").resize(request.size, Image.BICUBIC)
        preprocessed = time.perf_counter()
        pipe = self.pipeline(request.model_type)
        with self._run_lock:
            output = pipe(garment=garment, person=prepared.person, person_masked=prepared.masked,
                          mask=prepared.mask, category=request.category, num_samples=request.samples,
                          num_steps=request.steps, image_scale=request.guidance_scale,
                          seed=request.seed, callback=callback)
        diffused = time.perf_counter()
        images = [compose_result(request.person, image, prepared) for image in output.images]
        finished = time.perf_counter()
        return TryOnResult(images=images, seed=output.seed, mask=prepared.mask,
                           masked_person=prepared.masked,
                           output_mask=prepared.mask if request.framing is Framing.STRETCH
                           else prepared.mask_on_photo(request.person.size),
                           timings={"preprocess": preprocessed - started,
                                    "diffusion": diffused - preprocessed,
                                    "compose": finished - diffused, "total": finished - started})

    # -- catalogue helper ----------------------------------------------------------------------

    def classify_garment(self, image: Image.Image) -> dict[Category, float]:
        """Zero-shot garment category with the CLIP model of the checkpoint."""
        from vto.core.classify import GarmentClassifier

        with self._load_lock:
            if self._classifier is None:
                self._classifier = GarmentClassifier.from_checkpoints(self.checkpoints, self.device)
        return self._classifier(image)
