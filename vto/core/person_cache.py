"""The person side of a try-on, computed once per photo and kept across requests.

A shop's typical traffic is one customer photo tried with many garments: pose detection,
parsing, the automatic mask and the framing window depend only on the photo and on how the
request frames it, never on the garment. :func:`person_key` names exactly those inputs (the
photo's content hash, the model, category, working size, framing, the user's mask, keypoints
and DensePose image, ``person_select`` and the mask recipe), so a hit is the computation it
replaces; the value (a :class:`~vto.core.preprocess.prepare.PreparedPerson`) lives in the
engine's byte-bounded cache (``SharedParts.cache``).

Cached values are shared by every later request: nobody may mutate them. Their label maps are
made read-only here, and the engine hands backends copies of the arrays (a backend that
scribbles on its inputs cannot poison the next request).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from vto.core.cache import image_hash

if TYPE_CHECKING:
    from vto.core.cache import ByteLRU
    from vto.core.preprocess.prepare import PreparedPerson
    from vto.core.request import TryOnInputs, TryOnRequest

PREFIX = "person"   # every key starts with it: ``cache.discard(("person",))`` drops them all


def person_key(request: "TryOnRequest", inputs: "TryOnInputs") -> Hashable:
    """Everything ``prepare_person`` reads, for a resolved request (see the module docstring)."""
    spec = request.spec
    assert request.category is not None and request.size is not None, "resolve the request first"
    keypoints = (None if inputs.keypoints is None
                 else tuple((float(x), float(y)) for x, y in inputs.keypoints))
    return (PREFIX, image_hash(inputs.person), spec.id, request.category.value,
            tuple(request.size), request.framing.value,
            None if inputs.mask is None else image_hash(inputs.mask),
            keypoints,
            None if inputs.densepose is None else image_hash(inputs.densepose),
            request.person_select, spec.capabilities.automatic_mask)


def cached_person(cache: "ByteLRU", request: "TryOnRequest", inputs: "TryOnInputs",
                  compute: Callable[[], "PreparedPerson"]) -> "PreparedPerson":
    """``compute()``'s result for this photo and framing, from ``cache`` when it was seen.
    Failures (no person, body parts missing) are not cached: they raise every time."""
    return cache.get_or_compute(person_key(request, inputs), lambda: _frozen(compute()))


def _frozen(prepared: "PreparedPerson") -> "PreparedPerson":
    analysis = prepared.analysis
    if analysis is not None:
        for array in (analysis.labels, analysis.labels_lip):
            if array is not None:
                array.flags.writeable = False
    return prepared
