"""The request bodies' cross-field rules as JSON schema, for the OpenAPI document
(vto.service.openapi): what vto.core.request and the routes enforce, per model, narrowed by the
deployment's limits, so that the documented bodies are exactly the accepted ones.

* ``POST /v1/tryon`` (form and JSON, flat or in Cog's ``input`` envelope): exactly one of
  ``garment_image`` and ``garment_id``; an older field name and its diffusers name not both;
  one ``anyOf`` branch per way the model is chosen (each model id with its aliases, each
  ``model_type``, a catalog garment choosing, the deployment's default model), each stating
  that model's categories, framings, step, guidance and sample ranges and optional images.
* ``POST /v1/masks``: the same branches, for models with an automatic mask.
* ``POST /generate``: the Flask dialect's names (category as 0|1|2; ``model`` overrides
  ``modelType``); ``/vto`` and ``/generate`` offer only models that need no DensePose image.

Written with ``anyOf``/``allOf``, ``dependentSchemas``, ``required`` and property schemas only
(no ``not``/``if``/``then``, few branches: property-based generators canonicalise a body whole
and give up on more). "Absent" is spelled per body: in a form a field left out (files and
strings may also be sent empty: ``maxLength: 0``; numbers: ``false``); in JSON ``null`` too
(``type: null`` for numbers; enums admit ``null``), and an empty string where the route treats
it so (garment id, images, webhook URL). One spelling is left out: FastAPI also reads an
*empty* optional enum or number form field as absent, but a document saying so (``""`` in
every enum, ``type: [integer, string]``) is more than the generators can canonicalise.

Images in JSON are http(s) URLs (the webhooks' URL rules, as the fetcher applies them) or
``data:`` URIs; the pattern documents the URLs only, since JSON schema cannot say which
``data:`` URIs hold an image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vto.core.models.base import ModelSpec, Need
from vto.core.models.registry import SPECS, get_spec
from vto.core.request import MAX_SEED, Limits
from vto.service.webhooks import WEBHOOK_URL_PATTERN

# Model names as ``model_type`` spells them (the older field: OOTDiffusion's variants).
MODEL_TYPES = {"hd": "ootd-hd", "dc": "ootd-dc"}
IMAGE_FIELDS = ("person_image", "garment_image", "mask", "garment_mask", "densepose")


@dataclass(frozen=True)
class Flavor:
    """How a body spells an absent value (see the module docstring)."""

    json: bool

    def no_number(self) -> Any:
        """A number field left out (or null in JSON)."""
        return {"type": "null"} if self.json else False

    def enum(self, values: list[Any]) -> dict[str, Any]:
        return {"enum": [*values, None] if self.json else values}


FORM, JSON = Flavor(json=False), Flavor(json=True)
PRESENT = {"type": "string", "minLength": 1}
EMPTY = {"maxLength": 0}  # absent, or sent empty (null is no string: it passes too)


def one_of(a: str, b: str) -> dict[str, Any]:
    """Exactly one of the fields ``a`` and ``b`` is given (not empty)."""
    return {"anyOf": [{"required": [a], "properties": {a: PRESENT, b: EMPTY}},
                      {"required": [b], "properties": {b: PRESENT, a: EMPTY}}]}


def option(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null alternative of ``anyOf [X, {type: null}]`` (else ``prop`` itself), to
    narrow in place."""
    for choice in prop.get("anyOf", []):
        if choice.get("type") != "null":
            return choice
    return prop


def names(spec: ModelSpec) -> list[str]:
    return [spec.id, *spec.aliases]


# --- one model --------------------------------------------------------------------------------

def model_rules(spec: ModelSpec, limits: Limits, properties: dict[str, Any],
                flavor: Flavor) -> dict[str, Any]:
    """What the body may hold when ``spec`` runs (vto.core.request's checks)."""
    caps = spec.capabilities
    samples = {"minimum": 1, "maximum": min(caps.max_samples, limits.max_samples)}
    props: dict[str, Any] = {"category": flavor.enum([c.value for c in caps.categories]),
                             "framing": flavor.enum([f.value for f in caps.framings]),
                             "num_images_per_prompt": samples, "n_samples": samples}
    for fields, allowed, limit in ((("num_inference_steps", "n_steps"), caps.steps,
                                    limits.max_steps),
                                   (("guidance_scale",), caps.guidance, limits.max_guidance)):
        for name in fields:
            props[name] = (flavor.no_number() if allowed is None else
                           {"minimum": allowed.minimum, "maximum": min(allowed.maximum, limit)})
    for name, wanted in (("mask", caps.user_mask),
                         ("garment_mask", Need.GARMENT_MASK in caps.needs),
                         ("densepose", Need.DENSEPOSE in caps.needs)):
        if not wanted:
            props[name] = EMPTY
    rules: dict[str, Any] = {"properties": {k: v for k, v in props.items() if k in properties}}
    if Need.DENSEPOSE in caps.needs and "densepose" in properties:
        rules["required"] = ["densepose"]
        rules["properties"]["densepose"] = PRESENT
    return rules


def which_model(properties: dict[str, Any], limits: Limits, default_model: str,
                flavor: Flavor, specs: list[ModelSpec], *, catalog: bool) -> dict[str, Any]:
    """One branch per way the model is chosen, each with that model's rules."""
    branches: list[dict[str, Any]] = []
    for spec in specs:
        rules = model_rules(spec, limits, properties, flavor)
        branches.append({"allOf": [{"required": ["model"],
                                    "properties": {"model": {"enum": names(spec)},
                                                   "model_type": EMPTY}}, rules]})
        for model_type in (t for t, m in MODEL_TYPES.items() if m == spec.id):
            branches.append({"allOf": [{"required": ["model_type"],
                                        "properties": {"model_type": {"const": model_type},
                                                       "model": EMPTY}}, rules]})
    unnamed = {"model": EMPTY, "model_type": EMPTY}
    if catalog:  # a catalog garment picks the model (its rules are the catalog's)
        branches.append({"required": ["garment_id"],
                         "properties": {**unnamed, "garment_id": PRESENT}})
        unnamed["garment_id"] = EMPTY
    default = get_spec(default_model)
    if default in specs:
        branches.append({"allOf": [{"properties": unnamed},
                                   model_rules(default, limits, properties, flavor)]})
    return {"anyOf": branches}


ALIAS_PAIRS = (("num_inference_steps", "n_steps"), ("num_images_per_prompt", "n_samples"))


def _one_name_per_setting(body: dict[str, Any], flavor: Flavor) -> None:
    """An older field name and its diffusers name are not both given: dependentSchemas, a
    branch-free "not both". Its one inexactness: a diffusers name sent null beside the older
    name counts as both here, while the service reads only the older one. In JSON bodies the
    rule is stated in words only (``x-vto-one-of``): with the JSON model's nullable fields it
    is more than the generators can canonicalise."""
    properties = body.get("properties", {})
    pairs = [pair for pair in ALIAS_PAIRS if set(pair) <= set(properties)]
    if flavor.json:
        if pairs:
            body["x-vto-one-of"] = [list(pair) for pair in pairs]
        return
    body.setdefault("dependentSchemas", {}).update(
        {name: {"properties": {older: False}} for name, older in pairs})


def _json_fields(body: dict[str, Any], model_names: list[str]) -> None:
    """Bounds the JSON model leaves out: image URLs, model names, seed, webhook URL."""
    properties = body.get("properties", {})
    required = set(body.get("required", []))
    for name in IMAGE_FIELDS:
        if name in properties:
            option(properties[name])["pattern"] = (WEBHOOK_URL_PATTERN if name in required
                                                   else f"^$|{WEBHOOK_URL_PATTERN}")
    if "model" in properties:
        option(properties["model"])["enum"] = model_names
    if "seed" in properties:
        option(properties["seed"]).update(minimum=-1, maximum=MAX_SEED)
    if "webhook_url" in properties:
        option(properties["webhook_url"])["pattern"] = f"^$|{WEBHOOK_URL_PATTERN}"


# --- the routes' bodies -----------------------------------------------------------------------

def tryon_rules(body: dict[str, Any], limits: Limits, default_model: str,
                flavor: Flavor) -> None:
    """``POST /v1/tryon``: a form, or one object of the JSON body (flat, or Cog's ``input``)."""
    properties = body.get("properties", {})
    body["additionalProperties"] = False  # an unknown field is refused, not ignored
    if flavor.json:
        _json_fields(body, [n for spec in SPECS for n in names(spec)])
    elif "webhook_url" in properties:
        properties["webhook_url"]["pattern"] = f"^$|{WEBHOOK_URL_PATTERN}"
    _one_name_per_setting(body, flavor)
    body["allOf"] = body.get("allOf", []) + [
        one_of("garment_image", "garment_id"),
        which_model(properties, limits, default_model, flavor, list(SPECS), catalog=True)]


def tryon_json_rules(body: dict[str, Any], limits: Limits, default_model: str) -> None:
    """The JSON body of ``POST /v1/tryon``: ``oneOf`` the flat object and Cog's envelope."""
    for shape in body.get("oneOf", [body]):
        inner = shape.get("properties", {}).get("input")
        if inner is not None and "person_image" in inner.get("properties", {}):
            tryon_rules(inner, limits, default_model, JSON)
            if "webhook" in shape["properties"]:
                option(shape["properties"]["webhook"])["pattern"] = f"^$|{WEBHOOK_URL_PATTERN}"
        elif "person_image" in shape.get("properties", {}):
            tryon_rules(shape, limits, default_model, JSON)


def mask_rules(body: dict[str, Any], limits: Limits, default_model: str,
               flavor: Flavor) -> None:
    """``POST /v1/masks``: models with an automatic mask, chosen as for a try-on."""
    specs = [spec for spec in SPECS if Need.MASK in spec.capabilities.needs]
    properties = body.get("properties", {})
    body["additionalProperties"] = False  # an unknown field is refused, not ignored
    if flavor.json:
        _json_fields(body, [n for spec in specs for n in names(spec)])
    elif "model" in properties:
        properties["model"] = {"type": "string", "enum": [n for s in specs for n in names(s)],
                               "description": properties["model"].get("description", "")}
    body["allOf"] = body.get("allOf", []) + [
        which_model(properties, limits, default_model, flavor, specs, catalog=False)]


def seed_models() -> list[ModelSpec]:
    """The models the seed's routes can run: they send no DensePose image."""
    return [spec for spec in SPECS if Need.DENSEPOSE not in spec.capabilities.needs]


def model_enum(prop: dict[str, Any], specs: list[ModelSpec]) -> None:
    description = prop.get("description")
    prop.clear()
    prop.update({"type": "string", "enum": [n for spec in specs for n in names(spec)]})
    if description:
        prop["description"] = description


def vto_rules(form: dict[str, Any]) -> None:
    """``POST /vto``: the catalog garment decides the rest."""
    if "model" in form.get("properties", {}):
        model_enum(form["properties"]["model"], seed_models())


def _generate_model_rules(spec: ModelSpec, limits: Limits,
                          properties: dict[str, Any]) -> dict[str, Any]:
    caps = spec.capabilities
    props: dict[str, Any] = {"category": {"enum": [c.index for c in caps.categories]},
                             "nSamples": {"maximum": min(caps.max_samples, limits.max_samples)}}
    for name, allowed, limit in (("nSteps", caps.steps, limits.max_steps),
                                 ("imageScale", caps.guidance, limits.max_guidance)):
        props[name] = (False if allowed is None else
                       {"minimum": allowed.minimum, "maximum": min(allowed.maximum, limit)})
    return {"properties": {k: v for k, v in props.items() if k in properties}}


def generate_rules(form: dict[str, Any], limits: Limits) -> None:
    """``POST /generate``: one garment; each model's ranges (``model``, else ``modelType``,
    hd by default); the deployment's limits."""
    properties = form.get("properties", {})
    for name, limit in (("nSteps", limits.max_steps), ("imageScale", limits.max_guidance),
                        ("nSamples", limits.max_samples)):
        if name in properties and "maximum" in properties[name]:
            properties[name]["maximum"] = min(properties[name]["maximum"], limit)
    if "modelSelection" in properties:
        properties["modelSelection"]["minLength"] = 1
    branches: list[dict[str, Any]] = []
    if "model" in properties:
        specs = seed_models()
        model_enum(properties["model"], specs)
        for spec in specs:
            branches.append({"allOf": [{"required": ["model"],
                                        "properties": {"model": {"enum": names(spec)}}},
                                       _generate_model_rules(spec, limits, properties)]})
    for model_type, model in MODEL_TYPES.items():
        chosen: dict[str, Any] = ({"required": ["modelType"],
                                   "properties": {"modelType": {"const": model_type}}}
                                  if model_type != "hd" else  # hd: also the default
                                  {"properties": {"modelType": {"const": "hd"}}})
        if "model" in properties:
            chosen["properties"]["model"] = EMPTY
        branches.append({"allOf": [chosen, _generate_model_rules(get_spec(model), limits,
                                                                 properties)]})
    form["allOf"] = form.get("allOf", []) + [one_of("garmentImage", "garmentId"),
                                             {"anyOf": branches}]
