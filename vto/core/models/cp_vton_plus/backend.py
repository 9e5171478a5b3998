"""CP-VTON+ behind vto's backend interface: load the two published state dicts, run GMM → TOM.

One request, as the original's two ``test.py`` stages (see tools/equivalence/cp_vton_plus):

1. person representation from pose and parsing (:mod:`.inputs`), garment and its mask;
2. GMM: TPS grid from (representation with the GMM head, garment mask); warp the garment
   (border padding) and its mask (zero padding);
3. hand the warped pair to the TOM (:mod:`.handoff`: lossless by default, or the original's
   JPEG files in equivalence mode);
4. TOM on (representation with the TOM head, warped garment, warped mask) → rendered person
   and composition mask; try-on = ``c·m + r·(1 − m)``;
5. to uint8 as the original's ``save_images`` (truncation), one 192x256 RGB image.

Everything runs in float32 whatever ``dtype`` is asked for: the networks are small at this
size, and the TPS solve and the mask thresholds are precision-sensitive.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from vto.core.models.base import ModelInputs, RunParams, SharedParts, StepCallback
from vto.core.models.cp_vton_plus import inputs as cp_inputs
from vto.core.models.cp_vton_plus.handoff import DEFAULT_HANDOFF, Handoff, hand_over, to_uint8
from vto.core.models.cp_vton_plus.networks import GMM, TOM, compose, warp
from vto.core.models.cp_vton_plus.spec import CP_VTON_PLUS, GMM_FILE, TOM_FILE
from vto.errors import CheckpointError

log = logging.getLogger(__name__)


def load_state_dict(module: nn.Module, root: Path, rel: str) -> None:
    """Load ``root/rel`` (a plain state dict, legacy or zip container) into ``module``
    strictly; CheckpointError naming the file and the missing/unexpected/misshapen tensors.

    Tolerated (as PyTorch does for files from before 0.4.1): a missing BatchNorm
    ``num_batches_tracked``, a training counter that inference never reads."""
    path = root / rel
    where = f"{rel} under {root}"
    if not path.is_file():
        raise CheckpointError(f"CP-VTON+ weights missing: {where}; {CP_VTON_PLUS.weights}",
                              missing=[rel])
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of a truncated or foreign file
        raise CheckpointError(f"cannot read {where} as a PyTorch state dict: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{where} is not a plain state dict of tensors")
    expected = module.state_dict()
    for key in set(expected) - set(state):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.long)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = [f"{k} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
                 for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    if missing or unexpected or misshapen:
        parts = [f"{label}: {', '.join(names[:8])}{' …' if len(names) > 8 else ''}"
                 for label, names in (("missing tensors", missing),
                                      ("unexpected tensors", unexpected),
                                      ("wrong shapes", misshapen)) if names]
        raise CheckpointError(f"{where} does not match CP-VTON+: {'; '.join(parts)}",
                              missing=missing, unexpected=unexpected)
    module.load_state_dict(state, strict=True)


class CPVTONPlusBackend:
    """GMM + TOM on one device. ``handoff`` chooses how the warped garment reaches the TOM
    (:class:`~vto.core.models.cp_vton_plus.handoff.Handoff`; settable after loading)."""

    spec = CP_VTON_PLUS

    def __init__(self, gmm: GMM, tom: TOM, device: torch.device,
                 handoff: Handoff = DEFAULT_HANDOFF) -> None:
        self.gmm, self.tom, self.device = gmm, tom, device
        self.handoff = Handoff(handoff)
        self._lock = threading.Lock()  # one forward at a time per loaded copy

    @classmethod
    def load(cls, root: Path, device: Any = "cpu", dtype: Any = None,
             parts: SharedParts | None = None, *,
             handoff: Handoff = DEFAULT_HANDOFF) -> "CPVTONPlusBackend":
        root = Path(root)
        missing = CP_VTON_PLUS.missing_files(root)
        if missing:
            names = ", ".join(f.path for f in missing)
            raise CheckpointError(f"CP-VTON+ weights missing under {root}: {names}; "
                                  f"{CP_VTON_PLUS.weights}", missing=[f.path for f in missing])
        if dtype not in (None, torch.float32):
            log.info("CP-VTON+ runs in float32 (asked for %s)", dtype)
        gmm, tom = GMM(), TOM()
        load_state_dict(gmm, root, GMM_FILE)
        load_state_dict(tom, root, TOM_FILE)
        device = torch.device(device)
        return cls(gmm.to(device).eval(), tom.to(device).eval(), device, handoff)

    def tensors(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        """The original's input tensors for ``inputs`` (batch of one, on the device)."""
        if inputs.keypoints is None or inputs.parse_lip is None or inputs.garment_mask is None:
            raise ValueError("CP-VTON+ needs keypoints, parse_lip and garment_mask in ModelInputs")
        person = cp_inputs.person_maps(inputs.person, inputs.keypoints, inputs.parse_lip,
                                       inputs.parse)
        garment = cp_inputs.garment_maps(inputs.garment, inputs.garment_mask)
        rep = cp_inputs.person_tensors(person)
        out = {"agnostic_gmm": rep.agnostic_gmm, "agnostic_tom": rep.agnostic_tom,
               "cloth": cp_inputs.normalise(garment.image),
               "cloth_mask": cp_inputs.garment_mask_tensor(garment.mask)}
        return {k: v[None].to(self.device) for k, v in out.items()}

    @torch.inference_mode()
    def forward(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Both stages on prepared tensors; every intermediate, for checks and diagnosis."""
        grid, theta = self.gmm(tensors["agnostic_gmm"], tensors["cloth_mask"])
        warped_cloth = warp(tensors["cloth"], grid, "border")
        warped_mask = warp(tensors["cloth_mask"], grid, "zeros")
        cloth, cloth_mask = hand_over(warped_cloth, warped_mask, self.handoff)
        rendered, composition = self.tom(torch.cat([tensors["agnostic_tom"], cloth, cloth_mask], 1))
        return {"theta": theta, "grid": grid, "warped_cloth": warped_cloth,
                "warped_mask": warped_mask, "tom_cloth": cloth, "tom_cloth_mask": cloth_mask,
                "rendered": rendered, "composition_mask": composition,
                "tryon": compose(cloth, rendered, composition)}

    def run(self, inputs: ModelInputs, params: RunParams,
            on_step: StepCallback | None = None) -> list[Image.Image]:
        """One 192x256 RGB try-on (``params`` carries nothing this model varies)."""
        tensors = self.tensors(inputs)
        with self._lock:
            result = self.forward(tensors)
        image = Image.fromarray(to_uint8(result["tryon"][0]))
        if on_step is not None:
            on_step(1, 1)
        return [image]
