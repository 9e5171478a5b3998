"""The OpenAPI document states what the service enforces (vto.service.openapi): security only
where a key is needed, forms without null, and per-model rules that accept exactly the
combinations vto.core.request accepts."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema
import pytest
from PIL import Image

from vto.core.models.registry import SPECS
from vto.core.request import TryOnInputs, TryOnRequest, check_inputs
from vto.errors import InvalidInput
from vto.service.app import create_app
from vto.service.openapi import IDEMPOTENCY_KEY_PATTERN
from vto.service.webhooks import WEBHOOK_URL_PATTERN
from vto.service.service import _check_idempotency_key
from vto.service.settings import Settings
from vto.service.webhooks import check_target

W, H = 96, 128


def document(tmp_path, **settings: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(data_dir=tmp_path, width=W, height=H,
                                  preload_models=["ootd-hd"])
    values.update(settings)
    return create_app(Settings(**values)).openapi()


def validator(schema: dict[str, Any]) -> Any:
    """A compiled JSON-schema validator (jsonschema_rs, schemathesis' own; else jsonschema)."""
    try:
        import jsonschema_rs
    except ImportError:
        return jsonschema.Draft202012Validator(schema)
    return jsonschema_rs.Draft202012Validator(schema)


def form_validator(doc: dict[str, Any], path: str) -> Any:
    body = doc["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    return validator({"$ref": body["$ref"], "components": doc["components"]})


def json_validator(doc: dict[str, Any], path: str) -> Any:
    body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return validator({**body, "components": doc["components"]})


def test_security_is_declared_only_where_a_key_is_needed(tmp_path):
    bare = document(tmp_path)
    assert "securitySchemes" not in bare["components"]
    assert not [op for ops in bare["paths"].values() for op in ops.values() if "security" in op]

    keyed = document(tmp_path, api_keys=["tenant-key-1"])
    assert "security" in keyed["paths"]["/v1/tryon"]["post"]
    assert "security" not in keyed["paths"]["/health"]["get"]

    admin = document(tmp_path, admin_keys=["admin-key-1"])
    assert "security" not in admin["paths"]["/v1/tryon"]["post"]
    delete = admin["paths"]["/v1/garments/{garment_id}"]["delete"]
    assert delete["security"][0] == {} and len(delete["security"]) > 1  # optional: anyone may try


def test_forms_have_no_null_and_required_files_are_not_empty(tmp_path):
    doc = document(tmp_path)
    for path in ("/v1/tryon", "/v1/garments", "/vto", "/generate"):
        ref = doc["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"][
            "schema"]["$ref"]
        form = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        for name, prop in form["properties"].items():
            assert "null" not in str(prop.get("anyOf", "")) and prop.get("type") != "null", name
        for name in form.get("required", []):
            if form["properties"][name].get("format") == "binary":
                assert form["properties"][name]["minLength"] == 1, (path, name)


STEPS = [None, 0, 1, 50, 51, 100, 101]
GUIDANCE = [None, 0.0, 20.0, 20.5]
SAMPLES = [None, 1, 2, 3, 5]
MODELS = [None, *[name for spec in SPECS for name in (spec.id, *spec.aliases)]]


def enforced(fields: dict[str, Any], files: dict[str, bool], limits: Any) -> bool:
    """What the service does with a form (garment uploaded): vto.core.request's checks."""
    photo = Image.new("RGB", (W, H))
    mask = Image.new("L", (W, H))
    mask.paste(255, (10, 10, 50, 50))
    try:
        request = TryOnRequest.from_fields({k: v for k, v in fields.items() if v is not None})
        if "model" not in request.model_fields_set and "model_type" not in fields:
            request = request.model_copy(update={"model": "ootd-hd"})
        request = request.resolved(limits, default_size=(W, H))
        check_inputs(request, TryOnInputs(
            person=photo, garment=photo, mask=mask if files["mask"] else None,
            garment_mask=mask if files["garment_mask"] else None), limits)
    except InvalidInput:
        return False
    return True


def test_the_tryon_form_documents_exactly_the_per_model_rules(tmp_path):
    """Every combination of model (ids, aliases, model_type), category, steps (under both
    names), guidance, samples and optional images: the schema accepts it iff vto does."""
    settings = Settings(data_dir=tmp_path, width=W, height=H, preload_models=["ootd-hd"],
                        max_steps=50, max_samples=2)
    doc = document(tmp_path, max_steps=50, max_samples=2)
    validator = form_validator(doc, "/v1/tryon")
    as_json = json_validator(doc, "/v1/tryon")
    limits = settings.limits()
    checked = mismatches = 0
    for model, category, steps, guidance, samples, mask, garment_mask, old_names in (
            itertools.product(MODELS + ["model_type:hd", "model_type:dc"],
                              [None, "upper_body", "lower_body", "dress"], STEPS, GUIDANCE,
                              SAMPLES, [False, True], [False, True], [False, True])):
        fields: dict[str, Any] = {"category": category, "guidance_scale": guidance}
        if model and model.startswith("model_type:"):
            fields["model_type"] = model.split(":")[1]
        else:
            fields["model"] = model
        fields["n_steps" if old_names else "num_inference_steps"] = steps
        fields["n_samples" if old_names else "num_images_per_prompt"] = samples
        form = {k: v for k, v in fields.items() if v is not None}
        form.update(person_image="x", garment_image="x")
        if mask:
            form["mask"] = "x"
        if garment_mask:
            form["garment_mask"] = "x"
        documented = validator.is_valid(form)
        actual = enforced(fields, {"mask": mask, "garment_mask": garment_mask}, limits)
        # the JSON body: images as URLs, an absent value null (or left out), flat or in Cog's
        # envelope
        body: dict[str, Any] = {k: v for k, v in fields.items()}
        body.update(person_image="https://img.test/p.png",
                    garment_image="https://img.test/g.png",
                    mask="https://img.test/m.png" if mask else None,
                    garment_mask="https://img.test/gm.png" if garment_mask else "")
        if checked % 2:
            body = {"input": {k: v for k, v in body.items() if v is not None}}
        assert as_json.is_valid(body) == actual, (body, actual)
        checked += 1
        if documented != actual:
            mismatches += 1
            assert documented == actual, (form, documented, actual)
    assert checked > 10_000 and mismatches == 0


def test_the_masks_bodies_document_exactly_what_they_enforce(tmp_path):
    """POST /v1/masks, form and JSON: a model with an automatic mask, its categories and
    framings; the default model when none is named."""
    from vto.core.models.base import Need

    doc = document(tmp_path)
    form, body = form_validator(doc, "/v1/masks"), json_validator(doc, "/v1/masks")
    limits = Settings(data_dir=tmp_path).limits()
    photo = Image.new("RGB", (W, H))
    for model, category, framing in itertools.product(
            MODELS + ["model_type:hd", "model_type:dc", ""], [None, "upper_body", "dress"],
            [None, "keep", "stretch"]):
        fields: dict[str, Any] = {"category": category, "framing": framing}
        if model.startswith("model_type:") if model else False:
            fields["model_type"] = model.split(":")[1]
        else:
            fields["model"] = model
        present = {k: v for k, v in fields.items() if v is not None}
        try:
            request = TryOnRequest.from_fields(present)
            if "model" not in request.model_fields_set:
                request = request.model_copy(update={"model": "ootd-hd"})
            request = request.resolved(limits, default_size=(W, H))
            assert Need.MASK in request.spec.capabilities.needs
            check_inputs(request, TryOnInputs(person=photo), limits)
            actual = True
        except (AssertionError, InvalidInput):
            actual = False
        if model != "":  # in a form "" is the default model: the JSON case below checks it
            assert form.is_valid({**present, "person_image": "x"}) == actual, (fields, actual)
        assert body.is_valid({**fields, "person_image": "https://img.test/p.png"}) == actual, (
            fields, actual)


def test_the_tryon_form_cross_field_rules(tmp_path):
    validator = form_validator(document(tmp_path), "/v1/tryon")
    base = {"person_image": "x"}
    assert not validator.is_valid(base)  # no garment
    assert not validator.is_valid({**base, "garment_image": "x", "garment_id": "shirt"})
    assert validator.is_valid({**base, "garment_image": "x", "garment_id": ""})  # empty = absent
    assert validator.is_valid({**base, "garment_id": "shirt", "category": "dress"})
    assert not validator.is_valid({**base, "garment_image": "x", "n_steps": 2,
                                   "num_inference_steps": 2})
    assert not validator.is_valid({**base, "garment_image": "x", "model": "hd",
                                   "model_type": "hd"})
    assert not validator.is_valid({**base, "garment_image": "x", "unknown": "1"})
    assert not validator.is_valid({**base, "garment_image": "x", "webhook_url": "ftp://x"})


@pytest.mark.parametrize("url", ["", "http://example.com", "https://a.b:8443/hook?x=1#y",
                                 "HTTPS://[2001:db8::1]/x", "http://a:0", "http://a:65536",
                                 "ftp://example.com", "http://user:pw@example.com/",
                                 "http:///x", "http://exa mple.com", "https://:443/",
                                 "HtTP://[2cD]#x", "http://[v1.x]/", "http://[::ffff:1.2.3.4]/",
                                 "http://[fe80::1%25eth0]/", "http://[1:2:3:4:5:6:7:8]:9/",
                                 "http://[::1.2.3.04]/", "http://[1::2::3]/"])
def test_the_webhook_pattern_is_what_the_check_accepts(url):
    def accepted(value: str) -> bool:
        if not value:
            return True  # empty: no webhook
        try:
            check_target(value, allow_private=True, resolve=lambda host: ["203.0.113.7"])
        except InvalidInput:
            return False
        return True

    import re
    assert bool(re.fullmatch(f"^$|{WEBHOOK_URL_PATTERN}", url)) == accepted(url), url


@pytest.mark.parametrize("key", ["a", "abc-123", '"quoted"', '"', '""', '"a', 'a"', "x" * 255,
                                 "x" * 256, '"' + "x" * 255 + '"', '"' + "x" * 256 + '"',
                                 "has space", "é"])
def test_the_idempotency_key_pattern_is_what_the_service_accepts(key):
    import re
    try:
        _check_idempotency_key(key)
        accepted = True
    except InvalidInput:
        accepted = False
    assert bool(re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key)) == accepted, key


def test_the_generate_form_documents_exactly_what_it_enforces(tmp_path):
    """/generate (the Flask dialect): model or modelType, category 0|1|2, nSteps, imageScale,
    nSamples: the schema accepts a combination iff the route and vto.core.request do."""
    from vto.core.types import Category

    settings = Settings(data_dir=tmp_path, width=W, height=H, preload_models=["ootd-hd"],
                        max_steps=50)
    validator = form_validator(document(tmp_path, max_steps=50), "/generate")
    limits = settings.limits()
    photo = Image.new("RGB", (W, H))
    checked = 0
    for model, model_type, category, steps, scale, samples in itertools.product(
            MODELS, [None, "hd", "dc"], [0, 1, 2], [None, 0, 1, 50, 51, 101], [None, 20.0, 20.5],
            [1, 2, 4, 5]):
        form = {k: v for k, v in {"model": model, "modelType": model_type, "category": category,
                                  "nSteps": steps, "imageScale": scale, "nSamples": samples,
                                  "modelSelection": "someone", "garmentImage": "x"}.items()
                if v is not None}
        fields: dict[str, Any] = {"model": model or f"ootd-{model_type or 'hd'}",
                                  "category": Category.from_index(category),
                                  "num_images_per_prompt": samples}
        if steps is not None:
            fields["num_inference_steps"] = steps
        if scale is not None:
            fields["guidance_scale"] = scale
        try:  # the route's own bounds, then vto.core.request
            assert (steps is None or 1 <= steps <= 100) and (scale is None or scale <= 20)
            assert 1 <= samples <= 4
            request = TryOnRequest.from_fields(fields).resolved(limits, default_size=(W, H))
            check_inputs(request, TryOnInputs(person=photo, garment=photo), limits)
            actual = True
        except (AssertionError, InvalidInput):
            actual = False
        assert validator.is_valid(form) == actual, (form, actual)
        checked += 1
    assert checked > 1000


@pytest.mark.parametrize("cursor, ok", [("1715012345.123456_" + "a" * 32, True),
                                        ("1e+20_" + "0" * 32, True),
                                        ("inf_" + "0" * 32, False), ("nan_" + "0" * 32, False),
                                        ("1.5_" + "Z" * 32, False), ("-1_" + "0" * 32, False)])
def test_list_cursors_are_what_the_pattern_says(cursor, ok):
    import re

    from vto.service.service import CURSOR_PATTERN, _decode_cursor

    try:
        _decode_cursor(cursor)
        accepted = True
    except InvalidInput:
        accepted = False
    assert accepted == ok == bool(re.fullmatch(CURSOR_PATTERN, cursor))
