"""The service's OpenAPI document: FastAPI's, made to state exactly what the service enforces,
so that a client (or a property-based tester) generating requests from it is neither refused
what the schema allows nor allowed what the service refuses.

What :func:`build_openapi` changes in FastAPI's document:

* **problems** — every 422 (FastAPI's own included) is ``application/problem+json``.
* **security** — only declared where a key is needed: nowhere on a server without keys; with
  admin keys but no API keys, only on the catalog writes (``x-vto-admin``), and optional there.
* **forms** — a form field cannot be ``null``: FastAPI's ``anyOf [X, null]`` becomes ``X`` (a
  field left out takes its default); required files are non-empty; enum fields are spelled
  out in place (a ``$ref`` beside the request rules defeats generators).
* **request rules** — the bodies of ``POST /v1/tryon`` (form and JSON), ``/v1/masks``,
  ``/generate`` and ``/vto`` state their cross-field and per-model rules, generated from the
  model registry and the deployment's limits (vto.service.request_rules).
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

from vto.core.request import Limits
from vto.service import problems
from vto.service import request_rules as rules

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# Idempotency-Key: 1-255 printable ASCII characters, optionally in quotes (an sf-string).
IDEMPOTENCY_KEY_PATTERN = r'^(?:[!#-~][!-~]{0,254}|"[!-~]{1,255}"|"(?:[!-~]{0,253}[!#-~])?)$'


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
            _bodies(schema, (path, method), operation, settings, limits)
    if not settings.api_keys and not settings.admin_keys:
        components.pop("securitySchemes", None)
    _links(schema)
    return schema


def _bodies(schema: dict[str, Any], route: tuple[str, str], operation: dict[str, Any],
            settings: Any, limits: Limits) -> None:
    form, body = _form_schema(schema, operation), _json_schema(operation)
    if form is not None:
        _plain_form(form, schema["components"]["schemas"])
    default = settings.default_model
    if route == ("/v1/tryon", "post"):
        if form is not None:
            rules.tryon_rules(form, limits, default, rules.FORM)
        if body is not None:
            rules.tryon_json_rules(body, limits, default)
    elif route == ("/v1/masks", "post"):
        for flavor, shape in ((rules.FORM, form), (rules.JSON, body)):
            if shape is not None:
                rules.mask_rules(shape, limits, default, flavor)
    elif route == ("/generate", "post") and form is not None:
        rules.generate_rules(form, limits)
    elif route == ("/vto", "post") and form is not None:
        rules.vto_rules(form)


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


def _json_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    """The inline schema of a JSON request body (the routes declare them inline)."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    return body.get("schema")


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

