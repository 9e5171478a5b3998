"""The library versions vto's fidelity figures hold on, and a check of the installed OpenCV.

Masks are pixel-identical to the original OOTDiffusion only on OpenCV 4.7.0.72 (the original's
pin): contour simplification (findContours TC89), polygon fill, hole filling and resizes moved
by up to ~60 pixels along mask outlines in later releases. The repository's
``constraints/fidelity.txt`` pins the same release (a test keeps the two in step). Any other
OpenCV works, with slightly different mask outlines: :func:`warn_if_unverified_opencv` says so
once per process, `vto doctor` on its OpenCV line.

vto depends on ``opencv-python-headless`` only. Each OpenCV distribution on PyPI (opencv-python,
opencv-contrib-python, their -headless twins) installs the same ``cv2`` folder, so with two of
them the one installed last silently wins: :func:`cv2_distributions` finds that.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

VERIFIED_OPENCV_DIST = "opencv-python-headless"
VERIFIED_OPENCV = "4.7.0.72"                         # the wheel's version (pip)
VERIFIED_CV2_VERSION = VERIFIED_OPENCV.rsplit(".", 1)[0]  # what cv2.__version__ says: "4.7.0"
VERIFIED_NUMPY = "1.26"                              # the series that OpenCV wheel is built for
PIN_HINT = f"pip install '{VERIFIED_OPENCV_DIST}=={VERIFIED_OPENCV}' 'numpy==1.26.*'"

_warned = False
_lock = threading.Lock()


@dataclass(frozen=True)
class OpenCVStatus:
    cv2_version: str                  # cv2.__version__ of the cv2 that imports
    distributions: dict[str, str]     # every installed distribution that ships cv2 -> version

    @property
    def verified(self) -> bool:
        return (self.cv2_version == VERIFIED_CV2_VERSION
                and self.distributions.get(VERIFIED_OPENCV_DIST) == VERIFIED_OPENCV)

    @property
    def clash(self) -> bool:
        return len(self.distributions) > 1


def cv2_distributions() -> dict[str, str]:
    """{distribution name: version} of every installed distribution that provides ``cv2``."""
    from importlib import metadata

    names = metadata.packages_distributions().get("cv2", [])
    found = {}
    for name in sorted(set(names)):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - a half-removed install
            continue
    return found


def opencv_status() -> OpenCVStatus:
    import cv2

    return OpenCVStatus(cv2_version=str(cv2.__version__), distributions=cv2_distributions())


def describe_unverified(cv2_version: str) -> str:
    return (f"OpenCV {cv2_version} is not the verified {VERIFIED_CV2_VERSION} "
            f"({VERIFIED_OPENCV_DIST}=={VERIFIED_OPENCV}): automatic masks can differ from the "
            f"original's by a few pixels along their outlines; for identical masks: {PIN_HINT}")


def warn_if_unverified_opencv() -> None:
    """Log one warning per process when the cv2 in use is not the verified release.

    Cheap after the first call; called where masks are computed. Only ``cv2.__version__`` is
    looked at here (the distribution scan is `vto doctor`'s job).
    """
    global _warned
    if _warned:
        return
    with _lock:
        if _warned:
            return
        _warned = True
    import cv2

    if str(cv2.__version__) != VERIFIED_CV2_VERSION:
        log.warning("%s", describe_unverified(str(cv2.__version__)))
