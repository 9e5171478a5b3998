"""The service's OpenAPI document: FastAPI's, made to state exactly what the service enforces,
so that a client (or a property-based tester) generating requests from it is neither refused
what the schema allows nor allowed what the service refuses.

What :func:`build_openapi` changes in FastAPI's document:

* **problems** — every 422 (FastAPI's own included) is ``application/problem+json``.
* **security** — only declared where a key is needed: nowhere on a server without keys; with
  admin keys but no API keys, only on the catalog writes (``x-vto-admin``), and optional there.
* **forms** — a form field cannot be ``null``: FastAPI's ``anyOf [X, null]`` becomes ``X``
  (an absent field, or an empty one, takes the default); required files are non-empty; enum
  fields are spelled out in place (a ``$ref`` beside the rules below defeats generators).
* **per-model rules** — ``POST /v1/tryon``'s form says, as JSON-schema ``anyOf`` branches (one
  per model id and aliases, per ``model_type``, one for a catalog garment choosing, one for the
  deployment's default model), which categories, step and guidance ranges, sample counts, framings and optional
  images each model accepts, narrowed by the deployment's limits; that exactly one of
  ``garment_image`` and ``garment_id`` is given; and that an older field name and its
  diffusers name are not both sent. ``POST /generate`` likewise, in its own field names;
  ``/vto`` and ``/generate`` offer only models that need no DensePose image.
* **headers** — ``Idempotency-Key``'s accepted form as a pattern.
* **links** — from a created job or garment to the operations on it (OpenAPI links: clients
  and stateful testers follow them).

Chosen over restricting what the schema advertises (e.g. documenting only the default model's
ranges): every model stays reachable from the document, and the rules are generated from the
model registry and the limits, so they cannot drift from the validation (vto.core.request).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from vto.core.models.base import Need, ModelSpec
from vto.core.models.registry import SPECS, get_spec
from vto.core.request import Limits
from vto.service import problems
from vto.service.webhooks import WEBHOOK_URL_PATTERN

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# Idempotency-Key: 1-255 printable ASCII characters, optionally in quotes (an sf-string).
IDEMPOTENCY_KEY_PATTERN = r'^(?:[!#-~][!-~]{0,254}|"[!-~]{1,255}"|"(?:[!-~]{0,253}[!#-~])?)$'
# Model names as ``model_type`` spells them (the older field: OOTDiffusion's variants).
MODEL_TYPES = {"hd": "ootd-hd", "dc": "ootd-dc"}


def build_openapi(app: FastAPI, settings: Any, limits: Limits) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = problems.Problem.model_json_schema()
    problem_422 = problems.responses(422)[422]
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            codes = operation.get("responses", {})
            if "application/json" in codes.get("422", {}).get("content", {}):
                codes["422"] = problem_422
            _security(operation, settings)
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key":
                    _without_null(parameter["schema"])["pattern"] = IDEMPOTENCY_KEY_PATTERN
            form = _form_schema(schema, operation)
            if form is None:
                continue
            _plain_form(form, components["schemas"])
            if (path, method) == ("/v1/tryon", "post") or {"person_image", "garment_id"} <= set(
                    form.get("properties", {})):
                _tryon_rules(form, limits, settings.default_model)
            elif (path, method) == ("/generate", "post"):
                _generate_rules(form, limits)
            elif (path, method) == ("/vto", "post"):
                _vto_rules(form)
    if not settings.api_keys and not settings.admin_keys:
        components.pop("securitySchemes", None)
    _links(schema)
    return schema


# --- links ------------------------------------------------------------------------------------

_ID = "$response.body#/id"
# (source path, method) → (its statuses, [(link name, target path, method, parameters)])
LINKS: dict[tuple[str, str], tuple[tuple[str, ...], list[tuple[str, str, str, dict[str, Any]]]]] = {
    ("/v1/tryon", "post"): (("200", "202"), [
        ("GetJob", "/v1/jobs/{job_id}", "get", {"job_id": _ID}),
        ("JobEvents", "/v1/jobs/{job_id}/events", "get", {"job_id": _ID}),
        ("CancelJob", "/v1/jobs/{job_id}/cancel", "post", {"job_id": _ID}),
        ("FirstOutput", "/v1/jobs/{job_id}/outputs/{index}", "get", {"job_id": _ID, "index": 0})]),
    ("/v1/jobs", "get"): (("200",), [
        ("NewestJob", "/v1/jobs/{job_id}", "get", {"job_id": "$response.body#/jobs/0/id"})]),
    ("/v1/garments", "post"): (("201",), [
        ("GetGarment", "/v1/garments/{garment_id}", "get", {"garment_id": _ID}),
        ("DeleteGarment", "/v1/garments/{garment_id}", "delete", {"garment_id": _ID}),
        ("Thumbnail", "/v1/garments/{garment_id}/thumbnail", "get", {"garment_id": _ID})]),
}


def _links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for (path, method), (statuses, targets) in LINKS.items():
        source = paths.get(path, {}).get(method)
        if source is None:
            continue
        links = {name: {"operationId": target["operationId"], "parameters": parameters}
                 for name, target_path, target_method, parameters in targets
                 if "operationId" in (target := paths.get(target_path, {}).get(target_method, {}))}
        for status in statuses:
            if links and status in source.get("responses", {}):
                source["responses"][status]["links"] = links


# --- security ---------------------------------------------------------------------------------

def _security(operation: dict[str, Any], settings: Any) -> None:
    if "security" not in operation or settings.api_keys:
        return
    if settings.admin_keys and operation.get("x-vto-admin"):
        operation["security"] = [{}, *operation["security"]]  # anyone; an admin key does more
    else:
        del operation["security"]


# --- forms ------------------------------------------------------------------------------------

def _form_schema(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    for media_type in FORM_TYPES:
        body = content.get(media_type, {}).get("schema")
        if body is not None:
            ref = body.get("$ref", "")
            return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else body
    return None


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """``anyOf [X, {type: null}]`` → X merged into ``prop`` (in place); returns ``prop``."""
    options = prop.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            del prop["anyOf"]
            prop.update({k: v for k, v in kept[0].items() if k not in prop})
        else:
            prop["anyOf"] = kept
    if prop.get("default", 0) is None:
        del prop["default"]
    return prop


def _is_file(prop: dict[str, Any]) -> bool:
    return (prop.get("format") == "binary"
            or prop.get("contentMediaType") == "application/octet-stream")


def _plain_form(form: dict[str, Any], components: dict[str, Any]) -> None:
    required = set(form.get("required", []))
    for name, prop in form.get("properties", {}).items():
        _without_null(prop)
        ref = prop.pop("$ref", None)
        if ref:  # an enum of components/schemas, inlined: generators handle the rules better
            prop.update({k: v for k, v in components[ref.rsplit("/", 1)[-1]].items()
                         if k not in prop and k != "title"})
        if _is_file(prop):
            prop["format"] = "binary"
            if name in required:
                prop["minLength"] = 1  # an empty file is no file


# --- the try-on form: per-model rules ---------------------------------------------------------
# Written with anyOf/allOf, dependentSchemas, required and property schemas only (no not/if/
# then, and few branches: property-based generators canonicalise the form whole): an absent
# field is ``false`` (numbers) or ``maxLength: 0`` (strings and files: sent empty = absent).

def _one_of(a: str, b: str) -> dict[str, Any]:
    """Exactly one of the fields ``a`` and ``b`` is given (not empty)."""
    return {"anyOf": [{"required": [a], "properties": {a: {"minLength": 1}, b: {"maxLength": 0}}},
                      {"required": [b], "properties": {b: {"minLength": 1}, a: {"maxLength": 0}}}]}




def _model_rules(spec: ModelSpec, limits: Limits, properties: dict[str, Any]) -> dict[str, Any]:
    """What the form may hold when ``spec`` runs (vto.core.request's checks, as JSON schema)."""
    caps = spec.capabilities
    samples = min(caps.max_samples, limits.max_samples)
    props: dict[str, Any] = {"category": {"enum": [c.value for c in caps.categories]},
                             "framing": {"enum": [f.value for f in caps.framings]},
                             "num_images_per_prompt": {"maximum": samples},
                             "n_samples": {"maximum": samples}}
    for names, allowed, limit in ((("num_inference_steps", "n_steps"), caps.steps,
                                   limits.max_steps),
                                  (("guidance_scale",), caps.guidance, limits.max_guidance)):
        for name in names:
            props[name] = (False if allowed is None else
                           {"minimum": allowed.minimum, "maximum": min(allowed.maximum, limit)})
    for name, wanted in (("mask", caps.user_mask),
                         ("garment_mask", Need.GARMENT_MASK in caps.needs),
                         ("densepose", Need.DENSEPOSE in caps.needs)):
        if not wanted:
            props[name] = {"maxLength": 0}
    rules: dict[str, Any] = {"properties": {k: v for k, v in props.items() if k in properties}}
    if Need.DENSEPOSE in caps.needs and "densepose" in properties:
        rules["required"] = ["densepose"]
        rules["properties"]["densepose"] = {"minLength": 1}
    return rules


def _which_model(properties: dict[str, Any], limits: Limits,
                 default_model: str) -> dict[str, Any]:
    """One branch per way the model is chosen, each with that model's rules."""
    branches: list[dict[str, Any]] = []
    for spec in SPECS:
        rules = _model_rules(spec, limits, properties)
        branches.append({"allOf": [{"required": ["model"],
                                    "properties": {"model": {"enum": [spec.id, *spec.aliases]},
                                                   "model_type": {"maxLength": 0}}}, rules]})
        for model_type in (t for t, m in MODEL_TYPES.items() if m == spec.id):
            branches.append({"allOf": [{"required": ["model_type"],
                                        "properties": {"model_type": {"const": model_type},
                                                       "model": {"maxLength": 0}}}, rules]})
    unnamed = {"model": {"maxLength": 0}, "model_type": {"maxLength": 0}}
    # neither: a catalog garment picks the model (its rules are the catalog's), else the default
    branches.append({"required": ["garment_id"],
                     "properties": {**unnamed, "garment_id": {"minLength": 1}}})
    branches.append({"allOf": [{"properties": {**unnamed, "garment_id": {"maxLength": 0}}},
                               _model_rules(get_spec(default_model), limits, properties)]})
    return {"anyOf": branches}


def _tryon_rules(form: dict[str, Any], limits: Limits, default_model: str) -> None:
    properties = form.get("properties", {})
    form["additionalProperties"] = False  # an unknown field is refused, not ignored
    if "webhook_url" in properties:
        # check_target's syntax, or empty (no webhook)
        properties["webhook_url"]["pattern"] = f"^$|{WEBHOOK_URL_PATTERN}"
    # one name per setting (dependentSchemas: a branch-free "not both")
    dependent = form.setdefault("dependentSchemas", {})
    for name, older in (("num_inference_steps", "n_steps"), ("num_images_per_prompt", "n_samples")):
        if {name, older} <= set(properties):
            dependent[name] = {"properties": {older: False}}
    form["allOf"] = form.get("allOf", []) + [_one_of("garment_image", "garment_id"),
                                             _which_model(properties, limits, default_model)]


# --- the seed's forms: /vto and /generate -----------------------------------------------------
# They send no DensePose image, so models that need one are not offered; /generate's fields are
# the Flask dialect's names (category as 0|1|2) and ``model`` overrides ``modelType``.

def _seed_models() -> list[ModelSpec]:
    return [spec for spec in SPECS if Need.DENSEPOSE not in spec.capabilities.needs]


def _model_enum(prop: dict[str, Any], specs: list[ModelSpec]) -> None:
    names = [name for spec in specs for name in (spec.id, *spec.aliases)]
    description = prop.get("description")
    prop.clear()
    prop.update({"type": "string", "enum": names})
    if description:
        prop["description"] = description


def _vto_rules(form: dict[str, Any]) -> None:
    """``POST /vto``: the catalog garment decides the rest."""
    if "model" in form.get("properties", {}):
        _model_enum(form["properties"]["model"], _seed_models())


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


def _generate_rules(form: dict[str, Any], limits: Limits) -> None:
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
        specs = _seed_models()
        _model_enum(properties["model"], specs)
        for spec in specs:
            branches.append({"allOf": [
                {"required": ["model"],
                 "properties": {"model": {"enum": [spec.id, *spec.aliases]}}},
                _generate_model_rules(spec, limits, properties)]})
    for model_type, model in MODEL_TYPES.items():
        chosen: dict[str, Any] = ({"required": ["modelType"],
                                   "properties": {"modelType": {"const": model_type}}}
                                  if model_type != "hd" else
                                  {"properties": {"modelType": {"const": "hd"}}})  # default
        if "model" in properties:
            chosen["properties"]["model"] = {"maxLength": 0}
        branches.append({"allOf": [chosen, _generate_model_rules(get_spec(model), limits,
                                                                 properties)]})
    form["allOf"] = form.get("allOf", []) + [_one_of("garmentImage", "garmentId"),
                                             {"anyOf": branches}]
