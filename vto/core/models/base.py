"""The backend interface: what every try-on model declares and implements (torch-free).

A model is two halves:

* a :class:`ModelSpec` (this module's vocabulary, no torch): its id, its :class:`Capabilities`
  (categories, working size, whether steps/guidance/samples mean anything, whether it takes a
  user mask, which :class:`Need` s preprocessing must compute), its licence and its weight files.
  The API process validates requests against it without importing torch.
* a :class:`Backend` (torch side, imported lazily from ``ModelSpec.backend``): ``load`` once per
  device, then ``run(inputs, params, on_step)`` per request.

The engine computes only the needs a spec declares, once per request, and hands the backend a
:class:`ModelInputs`; the backend returns images at the working size. Everything model-specific
(resizing the original does, its tensors, its networks) stays in the model's package.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from vto.core.types import Category, Framing

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

T = TypeVar("T")
StepCallback = Callable[[int, int], None]  # (step, total); raising vto.errors.Cancelled stops


class Need(str, Enum):
    """What a model needs computed before it runs (the engine computes each at most once)."""

    POSE = "pose"                  # COCO-18 OpenPose keypoints the model itself consumes
    PARSE = "parse"                # ATR (+ LIP neck) and LIP label maps the model consumes
    MASK = "mask"                  # the region to re-generate: the user's, else automatic
                                   # (OOTD's recipe from pose + parsing, run for it alone)
    GARMENT_MASK = "garment_mask"  # the garment's silhouette in its product photo
    DENSEPOSE = "densepose"        # a DensePose image (uploaded; vto does not compute one)


@dataclass(frozen=True)
class Range:
    """A numeric setting a model understands: its default and the closed interval it allows."""

    default: float
    minimum: float
    maximum: float

    def contains(self, value: float) -> bool:
        return self.minimum <= value <= self.maximum


@dataclass(frozen=True)
class SizeSpec:
    """The working size: ``fixed`` models run at ``default`` only; free ones at any (W, H) whose
    sides are multiples of ``multiple`` between ``minimum`` and ``maximum``."""

    default: tuple[int, int]
    fixed: bool = False
    multiple: int = 8
    minimum: int = 64
    maximum: int = 4096


@dataclass(frozen=True)
class Capabilities:
    categories: tuple[Category, ...]
    size: SizeSpec
    steps: Range | None            # None: no denoising steps (a GAN runs once)
    guidance: Range | None         # None: no guidance scale
    max_samples: int               # images per request; 1 when the model is deterministic
    user_mask: bool                # accepts a user-drawn mask instead of the automatic one
    needs: frozenset[Need]
    framings: tuple[Framing, ...] = (Framing.KEEP, Framing.STRETCH)
    default_category: Category = Category.UPPER_BODY
    automatic_mask: str = "dc"     # OOTD's mask recipe for Need.MASK: 'hd' (arms 60 px) or 'dc' (45)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``GET /v1/models``)."""
        def rng(r: Range | None) -> dict[str, float] | None:
            return None if r is None else {"default": r.default, "min": r.minimum,
                                           "max": r.maximum}
        return {"categories": [c.value for c in self.categories],
                "default_category": self.default_category.value,
                "size": {"default": list(self.size.default), "fixed": self.size.fixed,
                         "multiple": self.size.multiple, "min": self.size.minimum,
                         "max": self.size.maximum},
                "steps": rng(self.steps), "guidance": rng(self.guidance),
                "max_samples": self.max_samples, "user_mask": self.user_mask,
                "needs": sorted(n.value for n in self.needs),
                "framings": [f.value for f in self.framings]}


@dataclass(frozen=True)
class WeightFile:
    """One file a model loads, relative to the checkpoint root.

    ``source`` says where it comes from: ``hf:<repo>/<path in repo>`` for the Hugging Face Hub
    (``vto download`` fetches those), otherwise a URL or sentence for the user to follow.
    ``alternatives`` are other paths that satisfy the same need (e.g. ``.bin`` vs
    ``.safetensors``). ``sha256``/``size`` are checked when given.
    """

    path: str
    source: str
    sha256: str | None = None
    size: int | None = None
    alternatives: tuple[str, ...] = ()

    def present(self, root: Path) -> Path | None:
        for rel in (self.path, *self.alternatives):
            if (root / rel).is_file():
                return root / rel
        return None


@dataclass(frozen=True)
class ModelSpec:
    """Everything vto knows about a model without loading it."""

    id: str
    title: str
    capabilities: Capabilities
    licence: str                   # e.g. "CC BY-NC-SA 4.0 (non-commercial research)"
    licence_url: str
    weights: str                   # one sentence: how the weights are obtained
    backend: str                   # "package.module:Class" of its Backend, imported lazily
    files: Callable[[], list[WeightFile]] = field(repr=False, compare=False,
                                                  default=lambda: [])
    aliases: tuple[str, ...] = ()

    def required_files(self) -> list[WeightFile]:
        return list(self.files())

    def missing_files(self, root: Path) -> list[WeightFile]:
        return [f for f in self.required_files() if f.present(root) is None]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "capabilities": self.capabilities.to_dict(),
                "licence": self.licence, "licence_url": self.licence_url,
                "weights": self.weights, "aliases": list(self.aliases)}


@dataclass(frozen=True)
class RunParams:
    """A validated request as a backend sees it: every default filled, every limit checked
    (see vto.core.request). Fields a model has no use for hold their neutral value."""

    category: Category
    size: tuple[int, int]          # working size (W, H)
    num_inference_steps: int = 1
    guidance_scale: float = 1.0
    num_images_per_prompt: int = 1
    seed: int = 0                  # resolved: never -1 here


@dataclass
class ModelInputs:
    """What preprocessing hands a backend. Only the fields of the spec's needs are filled.

    Coordinates follow the original OOTDiffusion preprocessing: pose and parsing run on the
    working image resized to 384x512, so ``keypoints`` are in that frame and ``parse`` maps
    are 512 rows x 384 columns; a backend scales them to whatever its original expects.
    """

    person: "Image.Image"                      # RGB at the working size
    garment: "Image.Image"                     # RGB, the garment photo as given
    mask: "Image.Image | None" = None          # "L" 0/255 at the working size, 255 = re-generate
    masked_person: "Image.Image | None" = None # RGB at the working size, grey 127 in the mask
    keypoints: "np.ndarray | None" = None      # (18, 2) float, COCO-18, 384x512 frame, (0, 0) = missing
    parse: "np.ndarray | None" = None          # (512, 384) uint8 ATR labels 0..17 + 18 = neck (from LIP)
    parse_lip: "np.ndarray | None" = None      # (512, 384) uint8 LIP labels 0..19
    garment_mask: "Image.Image | None" = None  # "L" 0/255, the size of ``garment``
    densepose: "Image.Image | None" = None     # RGB at the working size


class Memory(str, Enum):
    """How much of the models stays on the accelerator (``--memory``, ``VTO_MEMORY``).

    full: everything resident. balanced: the encoders (VAE encoder, CLIP towers, text encoder)
    wait in host memory between uses (with the caches they rarely run). low: balanced plus
    sequential offload of the UNets and a tiled VAE (4 samples at 768x1024 in 8 GB). auto:
    picked from free device memory at load. On CPU every mode runs like full.
    """

    AUTO = "auto"
    FULL = "full"
    BALANCED = "balanced"
    LOW = "low"


class VaeRuntime(str, Enum):
    """What runs the VAE (``--vae``, ``VTO_VAE``; vto.core.models.vae_runtime). auto: ONNX
    Runtime on CPU in float32 (faster there; the exported graph is kept on disk), torch
    elsewhere. torch: always torch. onnx: ONNX Runtime wherever it can run."""

    AUTO = "auto"
    TORCH = "torch"
    ONNX = "onnx"


@dataclass(frozen=True)
class RuntimeOptions:
    """Engine-wide performance choices (none changes an image beyond 1/255)."""

    memory: Memory = Memory.AUTO
    compile: bool = False          # torch.compile the try-on UNet (static shapes, warmed up)
    cache_bytes: int | None = None # byte bound of the garment/person cache; None: sized to device
    vae: VaeRuntime = VaeRuntime.AUTO  # torch or ONNX Runtime for the VAE (see VaeRuntime)
    export_dir: Path | None = None # where exported graphs are kept (None: in this process only)


class SharedParts:
    """What backends share per process: components loaded from the same files, built once (one
    VAE, text encoder and CLIP tower for OOTD hd and dc, and the garment classifier), the
    runtime options, and one byte-bounded cache of garment and person work
    (vto.core.cache)."""

    def __init__(self, options: RuntimeOptions | None = None, cache: Any = None) -> None:
        from vto.core.cache import DEFAULT_CACHE_BYTES, ByteLRU

        self._lock = threading.RLock()
        self._parts: dict[Hashable, Any] = {}
        self.options = options or RuntimeOptions()
        bound = self.options.cache_bytes
        self.cache = cache if cache is not None else ByteLRU(
            DEFAULT_CACHE_BYTES if bound is None else bound)

    def get(self, key: Hashable, factory: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._parts:
                self._parts[key] = factory()
            return self._parts[key]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._parts


class Backend(Protocol):
    """The torch side of a model (see the module docstring)."""

    spec: ModelSpec

    @classmethod
    def load(cls, root: Path, device: Any, dtype: Any, parts: SharedParts) -> "Backend":
        """Load the weights under ``root`` (the checkpoint directory) onto ``device``.
        Raises vto.errors.CheckpointError naming missing or broken files."""

    def run(self, inputs: ModelInputs, params: RunParams,
            on_step: StepCallback | None = None) -> "list[Image.Image]":
        """``params.num_images_per_prompt`` RGB images at ``params.size``."""


@dataclass
class BatchItem:
    """One request of a batch: its inputs, its parameters and its own progress callback (a
    callback raising vto.errors.Cancelled takes that request, and only it, out of the batch)."""

    inputs: ModelInputs
    params: RunParams
    on_step: StepCallback | None = None


class BatchingBackend(Backend, Protocol):
    """A backend that can denoise several compatible requests as one batch (optional)."""

    def batch_key(self, params: RunParams) -> Hashable | None:
        """Requests with equal keys may share a batch; None: this one runs alone."""

    def run_batch(self, items: list[BatchItem]) -> "list[list[Image.Image] | BaseException]":
        """One entry per item, in order: its images (as ``run`` gives them, from its own seed)
        or the exception that ended it (Cancelled from its callback, or a failure)."""


def paste_region(backend: object, inputs: ModelInputs) -> "Image.Image | None":
    """The region a model re-draws ("L" at the working size), for pasting results back into
    the photo: a backend may define ``paste_region(inputs)`` (e.g. a GAN that reproduces the
    face as well as it can but only *changes* the garment area); None means the whole window."""
    region = getattr(backend, "paste_region", None)
    return region(inputs) if region is not None else None
