"""HR-VITON (sangyun884/HR-VITON, ECCV 2022) as a vto model (torch-free): ``hr-viton``.

Two published networks at 1024x768 (HxW): the try-on condition generator (``mtviton.pth``)
warps the garment with a feature-pyramid appearance flow and predicts the segmentation of the
dressed person; the SPADE image generator (``gen.pth``) paints the person from the
clothing-agnostic image, the DensePose image and the warped garment, conditioned on that
segmentation. Trained on VITON-HD (half-body photos, tops only).

Inputs: OpenPose keypoints and human parsing (both for the clothing-agnostic person image and
label map), the garment's silhouette in its product photo, and a DensePose image of the
person, which vto does not compute: requests must upload one (``densepose``).

Samples: the image generator adds Gaussian noise (scaled by learned per-channel weights)
before every normalisation, and the original draws it from the unseeded global generator, so
each seed gives a different image; the warp and the segmentation are deterministic, so the
samples of one request differ in generated detail only. Hence up to 4 samples per request.
"""

from __future__ import annotations

from vto.core.models.base import Capabilities, ModelSpec, Need, SizeSpec, WeightFile
from vto.core.types import Category

CONDITION_FILE = "hr-viton/mtviton.pth"
GENERATOR_FILE = "hr-viton/gen.pth"

_DRIVE = "https://drive.google.com/file/d/{id}/view (HR-VITON README, '{what}'; save as {path})"


def files() -> list[WeightFile]:
    # Sizes and hashes are not published and no public mirror lists them, so none is checked.
    return [
        WeightFile(CONDITION_FILE, _DRIVE.format(id="1XJTCdRBOPVgVTmqzhVGFAgMm2NLkw5uQ",
                                                 what="Try-on condition generator",
                                                 path=CONDITION_FILE)),
        WeightFile(GENERATOR_FILE, _DRIVE.format(id="1T5_YDUhYSSKPC_nZMk2NeC-XXUFoYeNy",
                                                 what="Try-on image generator",
                                                 path=GENERATOR_FILE)),
    ]


HR_VITON = ModelSpec(
    id="hr-viton",
    title="HR-VITON (half-body, tops; needs a DensePose image)",
    capabilities=Capabilities(
        categories=(Category.UPPER_BODY,),
        size=SizeSpec(default=(768, 1024), fixed=True),
        steps=None, guidance=None, max_samples=4, user_mask=False,
        needs=frozenset({Need.POSE, Need.PARSE, Need.GARMENT_MASK, Need.DENSEPOSE})),
    licence="CC BY-NC 4.0 (non-commercial)",
    licence_url="https://creativecommons.org/licenses/by-nc/4.0/",
    weights=("Google Drive links in the HR-VITON README (no Hub mirror): 'Try-on condition "
             "generator' mtviton.pth (about 0.19 GB) and 'Try-on image generator' gen.pth "
             "(about 0.40 GB), saved as hr-viton/mtviton.pth and hr-viton/gen.pth under the "
             "checkpoint directory; sha256 not published"),
    backend="vto.core.models.hr_viton.backend:HRVITONBackend",
    files=files,
    aliases=("hrviton", "hr_viton"))
