"""CP-VTON+ as a vto model (torch-free): ``cp-vton-plus``, alias ``cp-vton``.

The original CP-VTON (sergeywong/cp-vton) never published weights; its authors' follow-up
CP-VTON+ (minar09/cp-vton-plus) did, with the same two-stage design, so ``cp-vton`` names
CP-VTON+ (the CLI prints a one-line notice when the alias is used).

Weights: the authors publish ``gmm_final.pth`` and ``tom_final.pth`` (PyTorch 0.4.1 state
dicts) in a OneDrive folder linked from the repository's README ("Saved/Pre-trained models").
vto expects them under the checkpoint root as ``cp-vton-plus/GMM/gmm_final.pth`` and
``cp-vton-plus/TOM/tom_final.pth`` (the original's ``checkpoints/GMM``/``checkpoints/TOM``
layout). No public mirror with a size and sha256 was found, so neither is checked; loading is
strict (every tensor by name and shape), which catches a wrong or truncated file.
"""

from __future__ import annotations

from vto.core.models.base import Capabilities, ModelSpec, Need, SizeSpec, WeightFile
from vto.core.types import Category, Framing

REPO_URL = "https://github.com/minar09/cp-vton-plus"
REPO_COMMIT = "5d7a899"  # the commit vto was checked against (tools/equivalence/cp_vton_plus)
CHECKPOINTS_URL = ("https://1drv.ms/u/c/5435770760f02d2f/"
                   "ES8t8GAHdzUggFSABAAAAAAB5ArDGoOr2-DU2pyW7NmH-g?e=7ZUxRA")
WORKING_SIZE = (192, 256)  # (W, H): the original's --fine_width/--fine_height

GMM_FILE = "cp-vton-plus/GMM/gmm_final.pth"
TOM_FILE = "cp-vton-plus/TOM/tom_final.pth"


def _source(name: str) -> str:
    return (f"{name} from the CP-VTON+ authors' checkpoint folder (OneDrive, linked as "
            f"'Saved/Pre-trained models' in {REPO_URL}#readme): {CHECKPOINTS_URL}")


def files() -> list[WeightFile]:
    """The two published state dicts; sizes and sha256 are unknown (no public mirror)."""
    return [WeightFile(GMM_FILE, _source("GMM/gmm_final.pth")),
            WeightFile(TOM_FILE, _source("TOM/tom_final.pth"))]


CP_VTON_PLUS = ModelSpec(
    id="cp-vton-plus",
    title="CP-VTON+ (GMM thin-plate-spline warp + TOM U-Net, 192x256, tops)",
    capabilities=Capabilities(
        # Trained on VITON (women's tops): the garment region is the parser's upper-clothes,
        # dress and coat labels of half-body photos.
        categories=(Category.UPPER_BODY,),
        size=SizeSpec(default=WORKING_SIZE, fixed=True),
        steps=None, guidance=None,
        max_samples=1,            # deterministic: one forward pass, no noise
        user_mask=False,          # the person representation comes from pose and parsing
        needs=frozenset({Need.POSE, Need.PARSE, Need.GARMENT_MASK}),
        # KEEP: a 3:4 window around the person resized to 192x256 and the whole generated
        # window pasted back (TOM re-renders every pixel of it); STRETCH: the original's
        # behaviour, the photo squashed to 192x256 and the output returned as is.
        framings=(Framing.KEEP, Framing.STRETCH)),
    licence=("MIT (code, (c) 2020 EMCOM LAB, SEOULTECH); the weights are trained on the VITON "
             "dataset (Zalando images, withdrawn for copyright, academic research use only): "
             "treat them as non-commercial research"),
    licence_url=f"{REPO_URL}/blob/master/LICENSE",
    weights=(f"download gmm_final.pth and tom_final.pth from the CP-VTON+ authors' OneDrive "
             f"folder ({CHECKPOINTS_URL}, linked from {REPO_URL}) and place them at "
             f"<checkpoints>/{GMM_FILE} and <checkpoints>/{TOM_FILE}; no Hub mirror, so "
             "'vto download' cannot fetch them"),
    backend="vto.core.models.cp_vton_plus.backend:CPVTONPlusBackend",
    files=files,
    aliases=("cp-vton",),
)
