"""The try-on engine: from a request and its images to finished images, behind one port.

    engine = TryOnEngine("~/vto-checkpoints", device="cpu")     # nothing heavy loads yet
    engine.load("ootd-hd")                                       # optional preload
    result = engine.run(TryOnRequest(model="ootd-dc", category="lower_body", seed=42),
                        TryOnInputs(person=photo, garment=garment), on_step=print)
    result.images        # list[PIL.Image.Image], one per sample, RGB (the photo's size for keep)
    result.seed          # the seed actually used (request.seed == -1 -> random)
    result.mask          # "L" at the working size, 255 = re-generated (None if the model has none)
    result.output_mask   # the same region in the output images' coordinates
    result.masked_person # RGB at the working size, grey 127 inside the mask (None likewise)
    result.timings       # seconds: preprocess, inference, compose, total
    engine.classify(image) -> dict[Category, float]             # CLIP zero-shot probabilities

:class:`Engine` is the port the service depends on (a worker process owns the real one; tests
use small fakes). :class:`TryOnEngine` is the real engine: it validates the request (the same
:mod:`vto.core.request` rules as every edge), computes only the needs the model's spec declares
(pose, parsing, the automatic mask, the garment mask), runs the model's backend, and pastes the
result back into the photo. Backends load lazily, once per model, sharing what they can.
Raising ``vto.errors.Cancelled`` in ``on_step`` aborts a run. One run at a time per engine.

Performance (``RuntimeOptions``: memory mode, ``torch.compile``, the cache bound): the person
side of a request (pose, parsing, mask, framing) is kept in the engine's byte-bounded cache
(vto.core.person_cache), so a second garment on the same photo skips pose and parsing;
``run_batch`` runs compatible requests of a batching backend as one denoising batch (each
request keeps its own seed, progress, cancel and failure); ``warm_garment`` fills a backend's
garment cache ahead of traffic (a catalog at start-up) and ``warm_up`` compiles/warms a model.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from PIL import Image

from vto.core.cache import ByteLRU, default_cache_bytes
from vto.core.models.base import (Backend, BatchItem, ModelInputs, Need, RunParams,
                                  RuntimeOptions, SharedParts, StepCallback, paste_region)
from vto.core.models.registry import get_spec
from vto.core.paths import expand_path
from vto.core.request import CORE_LIMITS, Limits, TryOnInputs, TryOnRequest, check_inputs
from vto.core.request import resolve_seed
from vto.core.types import Category
from vto.errors import CheckpointError, InvalidInput

if TYPE_CHECKING:
    from vto.core.preprocess.prepare import PreparedPerson, Preprocessor

#: One item of :meth:`TryOnEngine.run_batch`: a request, its images, its own progress callback.
BatchRequest = tuple[TryOnRequest, TryOnInputs, "StepCallback | None"]

log = logging.getLogger(__name__)


@dataclass
class TryOnResult:
    images: list[Image.Image]
    seed: int
    model: str
    mask: Image.Image | None = None
    masked_person: Image.Image | None = None
    output_mask: Image.Image | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class MaskPreview:
    mask: Image.Image      # "L" 0/255 at the photo's size, 255 = would be re-generated
    masked: Image.Image    # RGB photo with that region grey (127)


class Engine(Protocol):
    """What the service needs from an engine (the worker process owns the real one)."""

    def load(self, model: str) -> None:
        """Load a model's weights now (raises CheckpointError naming what is missing)."""

    def loaded_models(self) -> set[str]: ...

    def run(self, request: TryOnRequest, inputs: TryOnInputs,
            on_step: StepCallback | None = None) -> TryOnResult: ...

    def run_batch(self, items: list[BatchRequest]) -> list[TryOnResult | BaseException]:
        """One entry per item, in order: its result or the exception that ended it (a
        cancel from its callback, a failure); compatible requests may share a batch."""

    def warm_garment(self, request: TryOnRequest, garment: Image.Image) -> bool:
        """Compute and cache what depends only on the garment (False: nothing to warm)."""

    def classify(self, image: Image.Image) -> dict[Category, float]:
        """Zero-shot garment category probabilities (the catalog's guess)."""

    def automatic_mask(self, request: TryOnRequest, inputs: TryOnInputs) -> MaskPreview:
        """The mask a run would use without a user mask, on the photo (to show or edit)."""


class TryOnEngine:
    """The real engine on one device (see the module docstring)."""

    def __init__(self, checkpoints: Path | str, device: Any = None, dtype: Any = None, *,
                 limits: Limits = CORE_LIMITS, keypoint_source: Callable | None = None,
                 options: RuntimeOptions | None = None) -> None:
        from vto.core.devices import parse_dtype, resolve_device

        self.root = expand_path(checkpoints)  # "~/ckpt", "$VTO_HOME/ckpt" as a shell would
        self.device = resolve_device(device)
        self.dtype = parse_dtype(dtype, self.device)
        self.limits = limits
        self.keypoint_source = keypoint_source
        self.options = options or RuntimeOptions()
        bound = self.options.cache_bytes
        self.parts = SharedParts(self.options, ByteLRU(
            default_cache_bytes(self.device, self.options.memory) if bound is None else bound))
        self._backends: dict[str, Backend] = {}
        self._preprocessor: Preprocessor | None = None
        self._classifier: Any = None
        self._load_lock = threading.RLock()
        self._run_lock = threading.Lock()  # one run at a time on this device

    # -- loading -------------------------------------------------------------------------------

    def loaded_models(self) -> set[str]:
        return set(self._backends)

    def backend(self, model: str) -> Backend:
        spec = get_spec(model)
        with self._load_lock:
            if spec.id not in self._backends:
                missing = spec.missing_files(self.root)
                if missing:
                    shown = ", ".join(f.path for f in missing[:6])
                    more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
                    raise CheckpointError(
                        f"checkpoint directory {self.root} is missing {len(missing)} file(s) "
                        f"of model {spec.id}: {shown}{more}; get them with 'vto download --dir "
                        f"{self.root} --model {spec.id}'", missing=[f.path for f in missing])
                module, _, name = spec.backend.partition(":")
                backend_class = getattr(importlib.import_module(module), name)
                started = time.perf_counter()
                self._backends[spec.id] = backend_class.load(self.root, self.device, self.dtype,
                                                             self.parts)
                log.info("loaded %s in %.1f s", spec.id, time.perf_counter() - started)
            return self._backends[spec.id]

    def load(self, model: str) -> None:
        self.backend(model)

    @property
    def preprocessor(self) -> "Preprocessor":
        from vto.core.preprocess.prepare import Preprocessor

        with self._load_lock:
            if self._preprocessor is None:
                self._preprocessor = Preprocessor(self.root, device=str(self.device),
                                                  keypoint_source=self.keypoint_source)
            return self._preprocessor

    # -- running -------------------------------------------------------------------------------

    def validate(self, request: TryOnRequest, inputs: TryOnInputs | None = None) -> TryOnRequest:
        """The request resolved against the limits (and its images checked): everything that
        can be refused before any model work. Returns the resolved request."""
        resolved = request.resolved(self.limits)
        if inputs is not None:
            check_inputs(resolved, inputs, self.limits)
        return resolved

    def run(self, request: TryOnRequest, inputs: TryOnInputs,
            on_step: StepCallback | None = None) -> TryOnResult:
        job = self._prepare(request, inputs, on_step)
        backend = self.backend(job.request.model)
        with self._run_lock:
            images = backend.run(job.model_inputs, job.params, on_step)
        return self._finish(job, backend, images)

    def run_batch(self, items: list[BatchRequest]) -> list[TryOnResult | BaseException]:
        """Several requests at once: each is validated and prepared on its own, then the
        requests a batching backend calls compatible (``batch_key``) denoise as one batch;
        everything else runs one by one. One entry per item, in order: its result, or the
        exception that ended it (its callback's Cancelled, its failure) — one item's failure
        never ends another's run (a failure of the whole batch call is every member's)."""
        results: list[TryOnResult | BaseException | None] = [None] * len(items)
        groups: dict[Any, list[tuple[int, _Job]]] = {}
        for index, (request, inputs, on_step) in enumerate(items):
            try:
                job = self._prepare(request, inputs, on_step)
                backend = self.backend(job.request.model)
                key = batch_key(backend, job.params)
            except Exception as exc:  # noqa: BLE001 - this item's failure, reported as such
                results[index] = exc
                continue
            group = ("batch", job.request.model, key) if key is not None else ("alone", index)
            groups.setdefault(group, []).append((index, job))
        for members in groups.values():
            backend = self.backend(members[0][1].request.model)
            if len(members) == 1:
                index, job = members[0]
                try:
                    with self._run_lock:
                        images = backend.run(job.model_inputs, job.params, job.on_step)
                    results[index] = self._finish(job, backend, images)
                except Exception as exc:  # noqa: BLE001
                    results[index] = exc
                continue
            try:
                with self._run_lock:
                    outcomes: list[Any] = backend.run_batch(  # type: ignore[attr-defined]
                        [BatchItem(job.model_inputs, job.params, job.on_step)
                         for _, job in members])
                if len(outcomes) != len(members):
                    raise RuntimeError(f"{members[0][1].request.model}: run_batch returned "
                                       f"{len(outcomes)} entries for {len(members)} requests")
            except Exception as exc:  # noqa: BLE001 - the whole batch failed: every member did
                outcomes = [exc] * len(members)
            for (index, job), outcome in zip(members, outcomes):
                if isinstance(outcome, BaseException):
                    results[index] = outcome
                    continue
                try:
                    results[index] = self._finish(job, backend, outcome)
                except Exception as exc:  # noqa: BLE001
                    results[index] = exc
        assert all(result is not None for result in results)
        return results  # type: ignore[return-value]

    def _prepare(self, request: TryOnRequest, inputs: TryOnInputs,
                 on_step: StepCallback | None) -> "_Job":
        """Everything before the model: validation, the seed, the person side (cached)."""
        from vto.core.person_cache import cached_person
        from vto.core.preprocess.prepare import prepare_person

        if inputs.garment is None:
            raise InvalidInput("a garment image is needed", field="garment_image")
        request = self.validate(request, inputs)
        spec = request.spec
        caps = spec.capabilities
        seed = resolve_seed(request.seed)
        started = time.perf_counter()
        # Person checks and the mask come first: a photo without a person fails in seconds.
        needs = caps.needs
        analyse = bool(needs & {Need.POSE, Need.PARSE}) or (Need.MASK in needs
                                                            and inputs.mask is None)
        prepared = cached_person(self.parts.cache, request, inputs, lambda: prepare_person(
            inputs.person, size=request.size, needs=needs, category=request.category,
            recipe=caps.automatic_mask, framing=request.framing, user_mask=inputs.mask,
            user_keypoints=inputs.keypoints, densepose=inputs.densepose,
            preprocessor=self.preprocessor if analyse else None,
            person_select=request.person_select))
        analysis = prepared.analysis
        parsed = analysis is not None and Need.PARSE in needs
        model_inputs = ModelInputs(  # arrays copied: the cached ones are shared (read-only)
            person=prepared.person, garment=inputs.garment.convert("RGB"), mask=prepared.mask,
            masked_person=prepared.masked,
            keypoints=analysis.keypoint_array if analysis and Need.POSE in needs else None,
            parse=analysis.labels.copy() if parsed else None,
            parse_lip=(analysis.labels_lip.copy() if parsed and analysis.labels_lip is not None
                       else None),
            garment_mask=self._garment_mask(inputs) if Need.GARMENT_MASK in needs else None,
            densepose=prepared.densepose)
        return _Job(request=request, inputs=inputs, seed=seed, prepared=prepared,
                    model_inputs=model_inputs, params=request.run_params(seed),
                    on_step=on_step, started=started, prepared_at=time.perf_counter())

    def _finish(self, job: "_Job", backend: Backend, images: list[Image.Image]) -> TryOnResult:
        """The backend's images pasted back into the photo, with masks and timings."""
        from vto.core.preprocess.prepare import compose_result

        inferred_at = time.perf_counter()
        request, prepared = job.request, job.prepared
        if prepared.mask is None and prepared.window is not None:
            region = paste_region(backend, job.model_inputs)  # None: the whole window
            if region is not None:  # a copy: the cached person is shared, never changed
                prepared = replace(prepared, mask=region.convert("L").resize(request.size,
                                                                            Image.NEAREST))
        person = job.inputs.person
        images = [compose_result(person, image, prepared) for image in images]
        finished = time.perf_counter()
        return TryOnResult(
            images=images, seed=job.seed, model=request.model, mask=prepared.mask,
            masked_person=prepared.masked, output_mask=prepared.mask_on_photo(person.size)
            if request.framing.value == "keep" else prepared.mask,
            timings={"preprocess": job.prepared_at - job.started,
                     "inference": inferred_at - job.prepared_at,
                     "compose": finished - inferred_at, "total": finished - job.started})

    # -- warming -------------------------------------------------------------------------------

    def warm_garment(self, request: TryOnRequest, garment: Image.Image) -> bool:
        """Cache what depends only on ``garment`` for ``request``'s model, category, size and
        steps (a catalog at start-up), through the backend's ``warm(garment, params)``;
        False when the backend keeps no garment cache."""
        request = self.validate(request)
        backend = self.backend(request.model)
        warm = getattr(backend, "warm", None)
        if warm is None:
            return False
        with self._run_lock:
            warm(garment.convert("RGB"), request.run_params(0))
        return True

    def warm_up(self, request: TryOnRequest) -> bool:
        """Run a model once at ``request``'s shapes ahead of traffic (``torch.compile`` traces
        and tunes on its first call), through the backend's — or its pipeline's —
        ``warm_up(params)``; False when it has none."""
        request = self.validate(request)
        backend = self.backend(request.model)
        hook = (getattr(backend, "warm_up", None)
                or getattr(getattr(backend, "pipeline", None), "warm_up", None))
        if hook is None:
            return False
        with self._run_lock:
            hook(request.run_params(0))
        return True

    def automatic_mask(self, request: TryOnRequest, inputs: TryOnInputs) -> MaskPreview:
        """The automatic mask of ``request``'s model for this photo, in photo coordinates.
        Kept in the person cache: the run that follows a preview skips pose and parsing (with
        no user mask, keypoints or DensePose image, the person side of a run with any needs
        that include the mask is exactly this)."""
        from vto.core.person_cache import cached_person
        from vto.core.preprocess.prepare import prepare_person

        photo = TryOnInputs(person=inputs.person)
        request = self.validate(request, photo)
        caps = request.spec.capabilities
        if Need.MASK not in caps.needs:
            raise InvalidInput(f"model {request.model} does not inpaint a masked region")
        prepared = cached_person(self.parts.cache, request, photo, lambda: prepare_person(
            inputs.person, size=request.size, needs={Need.MASK}, category=request.category,
            recipe=caps.automatic_mask, framing=request.framing, preprocessor=self.preprocessor,
            person_select=request.person_select))
        mask = prepared.mask_on_photo(inputs.person.size)
        assert mask is not None
        grey = Image.new("RGB", inputs.person.size, (127, 127, 127))
        return MaskPreview(mask=mask, masked=Image.composite(grey, inputs.person.convert("RGB"),
                                                             mask))

    @staticmethod
    def _garment_mask(inputs: TryOnInputs) -> Image.Image:
        if inputs.garment_mask is not None:
            return inputs.garment_mask.convert("L")
        from vto.core.preprocess.garment_mask import garment_mask

        return garment_mask(inputs.garment.convert("RGB"))

    # -- catalog helper ------------------------------------------------------------------------

    def classify(self, image: Image.Image) -> dict[Category, float]:
        """Zero-shot garment category with the checkpoint's CLIP (the tower OOTD uses)."""
        from vto.core.checkpoints import CheckpointDir
        from vto.core.classify import GarmentClassifier

        with self._load_lock:
            if self._classifier is None:
                self._classifier = GarmentClassifier.from_checkpoints(
                    CheckpointDir(self.root), self.device, self.parts)
        with self._run_lock:
            return self._classifier(image)


@dataclass
class _Job:
    """One request between preparation and composition (see ``TryOnEngine.run_batch``)."""

    request: TryOnRequest           # resolved
    inputs: TryOnInputs
    seed: int
    prepared: "PreparedPerson"      # possibly the cached one: never mutated
    model_inputs: ModelInputs
    params: RunParams
    on_step: StepCallback | None
    started: float
    prepared_at: float


def batch_key(backend: object, params: RunParams) -> Any:
    """The backend's batch key for ``params``; None when it cannot batch (or says alone)."""
    key = getattr(backend, "batch_key", None)
    if key is None or not callable(getattr(backend, "run_batch", None)):
        return None
    return key(params)
