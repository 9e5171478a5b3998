"""One try-on request type, validated once at the edge (API, CLI and library alike). Torch-free.

    request = TryOnRequest.from_fields({"model": "ootd-dc", "category": "lower_body",
                                        "num_inference_steps": 30}).resolved(limits, (768, 1024))
    check_inputs(request, TryOnInputs(person=photo, garment=garment, mask=None))

Names follow diffusers (``num_inference_steps``, ``guidance_scale``, ``num_images_per_prompt``,
``seed``); :data:`ALIASES` lists the older names the edges still accept. Limits live in one
place, :class:`Limits`: the core's own bounds, which settings may narrow but never widen; a
model's :class:`~vto.core.models.base.Capabilities` narrow them again per model. ``resolved``
fills every default (the model's, or the deployment's) and checks every bound, naming it, so
anything knowable before the models run is refused before a job exists.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, replace
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vto.core.models.base import ModelSpec, Need, RunParams
from vto.core.models.registry import DEFAULT_MODEL, get_spec
from vto.core.types import Category, Framing, parse_category
from vto.errors import InvalidInput

MAX_SEED = 2**31 - 1


def parse_size(text: str | tuple[int, int]) -> tuple[int, int]:
    """'768x1024' -> (768, 1024). Bounds are checked when a request is resolved (per model)."""
    if isinstance(text, tuple):
        return int(text[0]), int(text[1])
    try:
        width, height = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise InvalidInput(f"size must look like WIDTHxHEIGHT (e.g. 768x1024), got {text!r}",
                           field="size") from None
    return width, height


def resolve_seed(seed: int | None) -> int:
    """-1 (or None) picks a random seed, as the original does; the result is reported back."""
    if seed is None or seed == -1:
        return secrets.randbelow(MAX_SEED + 1)
    if not 0 <= int(seed) <= MAX_SEED:
        raise InvalidInput(f"seed must be -1 or between 0 and {MAX_SEED}, got {seed}",
                           field="seed")
    return int(seed)

# Older names still accepted at the edges -> the one vocabulary used inside.
ALIASES = {"n_steps": "num_inference_steps", "steps": "num_inference_steps",
           "n_samples": "num_images_per_prompt", "samples": "num_images_per_prompt",
           "guidance": "guidance_scale", "model_type": "model"}


@dataclass(frozen=True)
class Limits:
    """Bounds on what a request may ask for. :data:`CORE_LIMITS` are vto's own; a deployment
    narrows them with :meth:`narrowed` (refused at start-up if it would widen one)."""

    max_steps: int = 100
    max_samples: int = 4
    max_guidance: float = 20.0
    max_side: int = 4096          # working size, per side
    min_photo_side: int = 64      # person and garment photos, shortest side in pixels
    max_aspect: float = 4.0       # person and garment photos, long side / short side

    def narrowed(self, **values: float | int | None) -> "Limits":
        changes = {}
        for name, value in values.items():
            if value is None:
                continue
            core = getattr(self, name)
            widens = value < core if name == "min_photo_side" else value > core
            if widens or value <= 0:
                raise InvalidInput(f"setting {name}={value} is outside what vto allows "
                                   f"({'at least' if name == 'min_photo_side' else 'at most'} "
                                   f"{core:g})")
            changes[name] = type(core)(value)
        return replace(self, **changes)


CORE_LIMITS = Limits()


class TryOnRequest(BaseModel):
    """What a caller asks for; ``None`` means "the default" until :meth:`resolved` fills it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(DEFAULT_MODEL, description="model id, see GET /v1/models")
    category: Category | None = Field(None, description="garment category (default: the "
                                                        "model's, or the catalog garment's)")
    num_inference_steps: int | None = Field(None, description="denoising steps (diffusion "
                                                              "models only)")
    guidance_scale: float | None = Field(None, description="image guidance scale (diffusion "
                                                           "models only)")
    num_images_per_prompt: int = Field(1, description="images to generate")
    seed: int = Field(-1, ge=-1, le=MAX_SEED, description="-1 picks a random seed")
    width: int | None = Field(None, description="working width (free-size models)")
    height: int | None = Field(None, description="working height (free-size models)")
    framing: Framing = Field(Framing.KEEP, description="keep: paste the result back into the "
                                                       "photo; stretch: the original's squash")
    person_select: Literal["error", "largest"] = "error"

    @field_validator("model", mode="before")
    @classmethod
    def _model_id(cls, value: Any) -> str:
        return get_spec(str(value)).id  # aliases ("hd", "dc") -> canonical id

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: Any) -> Any:
        return None if value in (None, "") else parse_category(value)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> "TryOnRequest":
        """Build from loosely named fields (a form, JSON, CLI flags): aliases mapped, a name
        given twice (under two aliases) or unknown is an InvalidInput naming it."""
        canonical: dict[str, Any] = {}
        for name, value in fields.items():
            key = ALIASES.get(name, name)
            if key in canonical:
                raise InvalidInput(f"{name!r} and another field both set {key!r}; send one",
                                   field=key)
            canonical[key] = value
        try:
            return cls(**canonical)
        except ValidationError as exc:
            raise validation_error(exc) from None

    @property
    def spec(self) -> ModelSpec:
        return get_spec(self.model)

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None

    def resolved(self, limits: Limits = CORE_LIMITS,
                 default_size: tuple[int, int] | None = None,
                 default_steps: int | None = None,
                 default_guidance: float | None = None,
                 default_category: Category | None = None) -> "TryOnRequest":
        """Every default filled and every bound checked (InvalidInput naming the limit).

        ``default_*`` are the deployment's defaults (settings, a catalog garment's category);
        the model's own apply where they are None or the model has no such setting."""
        spec, caps = self.spec, self.spec.capabilities
        name = spec.id
        category = self.category or (default_category if default_category in caps.categories
                                      and default_category is not None else caps.default_category)
        if category not in caps.categories:
            raise InvalidInput(f"model {name} supports categories "
                               f"{', '.join(c.value for c in caps.categories)}; got "
                               f"{category.value}", field="category")
        steps = _setting(name, "num_inference_steps", self.num_inference_steps, caps.steps,
                         default_steps, limits.max_steps, int)
        guidance = _setting(name, "guidance_scale", self.guidance_scale, caps.guidance,
                            default_guidance, limits.max_guidance, float)
        samples_max = min(caps.max_samples, limits.max_samples)
        if not 1 <= self.num_images_per_prompt <= samples_max:
            raise InvalidInput(f"num_images_per_prompt must be between 1 and {samples_max} for "
                               f"model {name}, got {self.num_images_per_prompt}",
                               field="num_images_per_prompt")
        width, height = _size(name, self.size, caps.size, default_size, limits)
        if self.framing not in caps.framings:
            raise InvalidInput(f"model {name} supports framing "
                               f"{', '.join(f.value for f in caps.framings)}", field="framing")
        return self.model_copy(update=dict(category=category, num_inference_steps=steps,
                                           guidance_scale=guidance, width=width,
                                           height=height))

    def run_params(self, seed: int) -> RunParams:
        """What the backend sees (call on a resolved request, with the seed to use)."""
        size = self.size
        assert size is not None and self.category is not None, "resolve the request first"
        return RunParams(category=self.category, size=size,
                         num_inference_steps=self.num_inference_steps or 1,
                         guidance_scale=(self.guidance_scale if self.guidance_scale is not None
                                         else 1.0),
                         num_images_per_prompt=self.num_images_per_prompt, seed=seed)


def _setting(model: str, field: str, value: float | None, allowed: Any, deployment: Any,
             limit: float, kind: type) -> Any:
    if allowed is None:  # the model has no such setting
        if value is not None:
            raise InvalidInput(f"model {model} has no {field}; leave it out", field=field)
        return None
    if value is None:
        value = deployment if deployment is not None else allowed.default
    value = kind(value)
    low, high = allowed.minimum, min(allowed.maximum, limit)
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidInput(f"{field} must be between {low:g} and {high:g} for model {model}, "
                           f"got {value:g}", field=field)
    return value


def _size(model: str, size: tuple[int, int] | None, allowed: Any,
          deployment: tuple[int, int] | None, limits: Limits) -> tuple[int, int]:
    if allowed.fixed:
        if size is not None and tuple(size) != tuple(allowed.default):
            raise InvalidInput(f"model {model} runs at {allowed.default[0]}x{allowed.default[1]} "
                               f"only, got {size[0]}x{size[1]}", field="width")
        return tuple(allowed.default)
    width, height = size or deployment or allowed.default
    high = min(allowed.maximum, limits.max_side)
    for side in (width, height):
        if not allowed.minimum <= side <= high or side % allowed.multiple:
            raise InvalidInput(f"working size must be multiples of {allowed.multiple} between "
                               f"{allowed.minimum} and {high} per side for model {model}, got "
                               f"{width}x{height}", field="width")
    return int(width), int(height)


def validation_error(exc: ValidationError) -> InvalidInput:
    """A pydantic error as one sentence naming the field (and every field in ``errors``)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ())) or "request"
    message = str(first.get("msg", "invalid"))
    if first.get("type") == "extra_forbidden":
        unknown = [".".join(str(p) for p in e.get("loc", ())) for e in errors
                   if e.get("type") == "extra_forbidden"]
        return InvalidInput(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    return InvalidInput(f"{where}: {message}", field=where)


# --- the images of a request ---------------------------------------------------------------


@dataclass
class TryOnInputs:
    """The images of one request, decoded (vto.core.images.open_image / open_mask)."""

    person: Image.Image
    garment: Image.Image | None = None        # None only where no garment is needed (masks)
    mask: Image.Image | None = None           # "L", white = re-generate, the photo's size
    garment_mask: Image.Image | None = None   # "L", white = garment, the garment photo's size
    densepose: Image.Image | None = None      # RGB, the photo's size
    keypoints: list[tuple[float, float]] | None = None  # COCO-18 in photo pixels, (0, 0) = missing


def check_inputs(request: TryOnRequest, inputs: TryOnInputs,
                 limits: Limits = CORE_LIMITS) -> None:
    """Everything about the images that can be refused before any model runs."""
    spec, caps = request.spec, request.spec.capabilities
    for label, image in (("person_image", inputs.person), ("garment_image", inputs.garment)):
        if image is not None:
            _check_photo(label, image, limits)
    if inputs.mask is not None:
        if not caps.user_mask:
            raise InvalidInput(f"model {spec.id} does not take a mask; leave it out",
                               field="mask")
        _same_size("mask", inputs.mask, "person_image", inputs.person)
        check_mask_coverage(inputs.mask)
    if inputs.garment_mask is not None and inputs.garment is not None:
        if Need.GARMENT_MASK not in caps.needs:
            raise InvalidInput(f"model {spec.id} does not use a garment mask; leave it out",
                               field="garment_mask")
        _same_size("garment_mask", inputs.garment_mask, "garment_image", inputs.garment)
        check_mask_coverage(inputs.garment_mask, "garment_mask", full_ok=True)
    if inputs.keypoints is not None:
        if not caps.needs & {Need.POSE, Need.MASK}:
            raise InvalidInput(f"model {spec.id} does not use keypoints; leave them out",
                               field="keypoints")
        if len(inputs.keypoints) != 18:
            raise InvalidInput(f"keypoints must be 18 COCO-18 [x, y] points, got "
                               f"{len(inputs.keypoints)}", field="keypoints")
    if Need.DENSEPOSE in caps.needs:
        if inputs.densepose is None:
            raise InvalidInput(f"model {spec.id} needs a DensePose image of the person "
                               "(densepose); vto does not compute one", field="densepose")
        _same_size("densepose", inputs.densepose, "person_image", inputs.person)
    elif inputs.densepose is not None:
        raise InvalidInput(f"model {spec.id} does not use a DensePose image; leave it out",
                           field="densepose")


def _check_photo(label: str, image: Image.Image, limits: Limits) -> None:
    short, long_ = sorted(image.size)
    if short < limits.min_photo_side:
        raise InvalidInput(f"{label} is {image.width}x{image.height}; each side must be at "
                           f"least {limits.min_photo_side} pixels", field=label)
    if long_ / short > limits.max_aspect:
        raise InvalidInput(f"{label} is {image.width}x{image.height}; its long side may be at "
                           f"most {limits.max_aspect:g} times its short side", field=label)


def _same_size(label: str, image: Image.Image, other_label: str, other: Image.Image) -> None:
    if image.size != other.size:
        raise InvalidInput(f"{label} is {image.width}x{image.height} but {other_label} is "
                           f"{other.width}x{other.height}; they must be the same size",
                           field=label)


def check_mask_coverage(mask: Image.Image, label: str = "mask", *, full_ok: bool = False) -> None:
    """A mask must mark something (and, unless ``full_ok``, leave something unmarked)."""
    values = mask.convert("L").point(lambda v: 255 if v >= 127 else 0)
    low, high = values.getextrema()
    if high == 0:
        raise InvalidInput(f"the {label} is empty (all black): paint the region to "
                           "re-generate in white", field=label)
    if low == 255 and not full_ok:
        raise InvalidInput(f"the {label} is full (all white): it must leave part of the "
                           "photo black", field=label)
