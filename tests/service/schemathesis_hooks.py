"""Schemathesis hooks for vto's property-based tests (loaded with SCHEMATHESIS_HOOKS=…).

* ``format: binary`` is drawn from valid images: schemathesis' own samples are 1x1 files and
  random bytes, which a try-on service rightly refuses (a photo has at least 64 px a side, which
  JSON schema cannot say). Every drawn image is 96x128 with a white rectangle on a dark ground,
  so it serves as a person, a garment and a mask (non-empty, not full, the photo's size).
* A positive case's ``Idempotency-Key`` is made unique: re-using a key with another request is
  refused by design (state no schema can express).
* Schemathesis fills id fields with ids seen in earlier responses (its data feedback), also
  inside positive cases whose other fields were drawn for "no catalog garment". When a positive
  try-on case names a garment id that way, the fields that must agree with that garment (the
  garment upload, category, model) are left out: the garment decides them (vto.service.service
  JobService.resolve), which no schema can say of an id it does not know.
* In a positive JSON try-on case that gives a setting under both its names (which the JSON
  body's schema states in words only: vto.service.request_rules), the older name is dropped.
* Every response's status (and whether it carries Retry-After) is appended to the file named
  by ``VTO_ST_STATUSES``, one a line, for the reliability suite's summary.
"""

from __future__ import annotations

import io
import os
import uuid

import schemathesis
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from vto.service.request_rules import ALIAS_PAIRS


def _image(ground: int, box: tuple[int, int, int, int], kind: str) -> bytes:
    image = Image.new("RGB", (96, 128), (ground, ground // 2, 40))
    ImageDraw.Draw(image).rectangle(box, fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


IMAGES = st.builds(_image, st.integers(0, 90),
                   st.tuples(st.integers(8, 30), st.integers(8, 40), st.integers(60, 88),
                             st.integers(80, 120)),
                   st.sampled_from(["PNG", "JPEG", "WEBP"]))

schemathesis.openapi.format("binary", IMAGES)


# Per form: the garment id field, and what a catalog garment decides.
GARMENT_DECIDES = {"/v1/tryon": ("garment_id", ("garment_image", "category", "model", "model_type",
                                                 "garment_mask", "densepose")),
                   "/generate": ("garmentId", ("garmentImage", "category", "modelType"))}


@schemathesis.hook
def before_call(context, case, kwargs):  # noqa: ANN001, ANN201 - schemathesis' hook signature
    headers = case.headers or {}
    meta = case.meta
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    body = case.body
    if not positive or not isinstance(body, dict):
        return
    fields = body["input"] if isinstance(body.get("input"), dict) else body  # Cog's envelope
    decided = GARMENT_DECIDES.get(case.path)
    if decided and fields.get(decided[0]):
        for name in decided[1]:
            fields.pop(name, None)
    if case.path == "/v1/tryon":  # JSON bodies state "one name per setting" in words only
        for name, older in ALIAS_PAIRS:
            if fields.get(name) is not None and fields.get(older) is not None:
                fields.pop(older)


@schemathesis.hook
def after_call(context, case, response):  # noqa: ANN001, ANN201
    path = os.environ.get("VTO_ST_STATUSES")
    if path:
        with open(path, "a", encoding="ascii") as out:
            retry_after = 1 if response.headers.get("retry-after") else 0
            out.write(f"{response.status_code} {retry_after}\n")
