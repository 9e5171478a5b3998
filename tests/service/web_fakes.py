"""The engine behind the page's browser tests (tests/service/test_web.py), loaded by the worker
process of a real `vto serve` from ``VTO_ENGINE_FACTORY=tests.service.web_fakes:web``.

The fake engine of tests/service/fakes.py, plus the one situation the page must handle that
needs a photo: a photo without any detail (one flat colour) has nobody in it, so its automatic
mask and a run without a user mask fail as the real engine fails (NoPersonFound, before any
step); with a user mask the run goes ahead, as it does for real.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from tests.service.fakes import FakeEngine
from vto.core.engine import MaskPreview
from vto.core.request import TryOnInputs, TryOnRequest
from vto.errors import NoPersonFound


def _blank(photo: Image.Image) -> bool:
    low, high = photo.convert("L").getextrema()
    return high - low < 8


def _nobody() -> NoPersonFound:
    return NoPersonFound("no person found in the photo; use a photo that shows one person from "
                         "the front, or pass your own mask")


class WebEngine(FakeEngine):
    def check(self, request: TryOnRequest, inputs: TryOnInputs) -> None:
        if inputs.mask is None and _blank(inputs.person):
            raise _nobody()
        super().check(request, inputs)

    def automatic_mask(self, request: TryOnRequest, inputs: TryOnInputs) -> MaskPreview:
        if _blank(inputs.person):
            raise _nobody()
        return super().automatic_mask(request, inputs)


def web(settings: Any) -> WebEngine:
    return WebEngine(settings)
