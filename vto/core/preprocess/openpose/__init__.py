"""OpenPose body keypoints (CMU COCO-18): the network (:mod:`.network`) and the original's
decoding of its maps into people (:mod:`.decode`), joined by :class:`BodyPoseDetector`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vto.core.preprocess.openpose.decode import (HEIGHT, PART_NAMES, WIDTH, Person, _hwc3,
                                                 _resize_short_side, estimate_from_maps,
                                                 keypoints_dict, network_input,
                                                 people_from_detection, to_original_keypoints,
                                                 upsample_maps)
from vto.core.preprocess.openpose.network import BodyPoseNet, load_body_model
from vto.errors import InvalidInput

__all__ = ["BodyPoseDetector", "BodyPoseNet", "HEIGHT", "PART_NAMES", "Person", "WIDTH",
           "keypoints_dict", "load_body_model", "to_original_keypoints"]

log = logging.getLogger(__name__)


class BodyPoseDetector:
    """``detector(image_384x512) -> list[Person]`` (all people, most prominent first)."""

    def __init__(self, net: BodyPoseNet, device: str = "cpu") -> None:
        self.net = net
        self.device = device

    @classmethod
    def from_checkpoint(cls, path: Path, device: str = "cpu") -> "BodyPoseDetector":
        return cls(load_body_model(path, device), device)

    def maps(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """Full-size (512×384) float64 heat maps (19 ch) and PAFs (38 ch) for ``image``."""
        if image.mode not in ("RGB", "RGBA", "L"):
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        rgb = _resize_short_side(_hwc3(np.asarray(image)), WIDTH)
        if rgb.shape[:2] != (HEIGHT, WIDTH):
            raise InvalidInput(f"pose detection needs a 384x512 image, got "
                               f"{image.width}x{image.height}")
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        tensor, pad = network_input(bgr)
        with torch.no_grad():
            pafs, heat = self.net(torch.from_numpy(tensor).to(self.device))
        return upsample_maps(pafs[0].float().cpu().numpy(), heat[0].float().cpu().numpy(),
                             tensor.shape[2:], pad, (HEIGHT, WIDTH))

    def detect_raw(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """The original Body() result: (candidate N×4 in pixels, subset M×20)."""
        heat, paf = self.maps(image)
        return estimate_from_maps(heat, paf)

    def __call__(self, image: Image.Image) -> list[Person]:
        candidate, subset = self.detect_raw(image)
        people = people_from_detection(candidate, subset)
        log.debug("openpose: %d peaks, %d people", len(candidate), len(people))
        return people
