"""VITON-HD as a vto model (torch-free): ``viton-hd`` (shadow2496/VITON-HD, CVPR 2021).

Weights: the three files the original ``test.py`` loads (``seg_final.pth``, ``gmm_final.pth``,
``alias_final.pth``), published in the authors' Google Drive folder linked from the README
("Pre-trained networks"); vto expects them under ``viton-hd/`` in the checkpoint root. The
authors publish no Hub copy, so ``vto download`` cannot fetch them.
"""

from __future__ import annotations

from vto.core.models.base import Capabilities, ModelSpec, Need, SizeSpec, WeightFile
from vto.core.types import Category

REPO_URL = "https://github.com/shadow2496/VITON-HD"
REPO_COMMIT = "02afa4b"  # the commit vto was checked against (tools/equivalence/viton_hd)
DIRECTORY = "viton-hd"
DRIVE_FOLDER = ("https://drive.google.com/drive/folders/0B8kXrnobEVh9fnJHX3lCZzEtd20yUVAtTk5H"
                "dWk2OVV0RGl6YXc0NWhMOTlvb1FKX3Z1OUk?resourcekey=0-OIXHrDwCX8ChjypUbJo4fQ")
SEG, GMM, ALIAS = "seg_final.pth", "gmm_final.pth", "alias_final.pth"

# sha256/size: the Drive folder publishes neither. The one public mirror found, the Hub repo
# aiyets/StableVITON (checkpoints/alias_final.pth), lists 402 MB and the sha256 below; 402.4 MB
# is exactly 100,596,515 float32 parameters, the published generator's size. Expected sizes
# of the other two from their parameter counts: seg ~138 MB (34.5M), gmm ~76 MB (19.05M);
# their hashes are unknown (None).
ALIAS_SHA256 = "c76a83d3d720558e3daf85b946c9215c6ac4f0609895a9079eb4fe4089546734"


def files() -> list[WeightFile]:
    source = f"Google Drive, VITON-HD's 'Pre-trained networks' folder: {DRIVE_FOLDER}"
    return [WeightFile(f"{DIRECTORY}/{SEG}", source),
            WeightFile(f"{DIRECTORY}/{GMM}", source),
            WeightFile(f"{DIRECTORY}/{ALIAS}", source, sha256=ALIAS_SHA256)]


VITON_HD = ModelSpec(
    id="viton-hd", title="VITON-HD (GAN, half-body, tops, 1024x768)",
    capabilities=Capabilities(
        categories=(Category.UPPER_BODY,),
        size=SizeSpec((768, 1024), fixed=True),
        steps=None, guidance=None,
        # The generator is stochastic (a random binary channel into the segmentation
        # generator, Gaussian noise in every ALIAS norm), so samples from one seed differ;
        # each costs one full pass.
        max_samples=4,
        user_mask=False,
        needs=frozenset({Need.POSE, Need.PARSE, Need.GARMENT_MASK})),
    # (framings: both. KEEP works on a 3:4 window around the person at 768x1024; the model
    # re-renders the whole image, its new content lies in inputs.repaint_mask.)
    licence="CC BY-NC 4.0 (non-commercial; code and weights, (c) 2021 NeStyle Inc.)",
    licence_url="https://creativecommons.org/licenses/by-nc/4.0/",
    weights=(f"download {SEG} (~138 MB), {GMM} (~76 MB) and {ALIAS} (~402 MB) from the "
             f"VITON-HD authors' Google Drive folder ({DRIVE_FOLDER}, linked from {REPO_URL}) "
             f"into <checkpoints>/{DIRECTORY}/ ('vto download' cannot fetch them: no Hub copy "
             "by the authors); sha256 known for alias_final.pth only (a third-party copy)"),
    backend="vto.core.models.viton_hd.backend:VITONHDBackend",
    files=files,
    aliases=("vitonhd",))
