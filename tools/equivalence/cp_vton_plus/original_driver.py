"""Run the ORIGINAL CP-VTON+ test code (minar09/cp-vton-plus) on CPU for vto's equivalence check.

This file is vto's own code. It runs in the original's own virtual environment (torch 2.13.0
CPU, numpy, pillow, tensorboardX) and imports the original from a checkout given on the
command line; nothing of the original is copied here. It runs the original's ``test.py``
``main()`` twice, exactly as its README says: ``--stage GMM``, then the GMM's ``warp-cloth`` and
``warp-mask`` folders copied into the data folder, then ``--stage TOM``.

    python original_driver.py --original /tmp/orig-cpvton/cp-vton-plus --checkpoints CKPT \
        --data DATAROOT --out OUT [--handoff jpeg|png] [--grid-align-corners old|new]

CKPT holds ``GMM/gmm_final.pth`` and ``TOM/tom_final.pth``; DATAROOT the original's dataset
layout (``test_pairs.txt``, ``test/{image,image-parse-new,image-mask,pose,cloth,cloth-mask}``).
OUT receives ``tensors.npz`` (the dataset's tensors, theta, and every tensor handed to
``save_images``, float, before the original quantises and saves it), ``weights.json`` and the
original's own result folders.

Changed from outside only, nothing in the original's files:
* ``torchvision`` is not installed (it would pull another torch): a stub provides
  ``transforms.Compose/ToTensor/Normalize`` with the arithmetic of torchvision 0.2.1, the
  version the code and weights were published with (README), and a ``models`` without VGG19
  (used only by the training loss);
* ``Tensor.cuda`` and ``Module.cuda`` return the object itself (CPU run);
* ``FeatureCorrelation``'s output is made contiguous, as every tensor was under PyTorch 0.4.1
  (today its channels-last strides survive the regressor's convolutions and ``.view`` raises;
  see :func:`install_layout_shim`);
* ``--grid-align-corners old`` (default) gives ``F.grid_sample`` the behaviour of the PyTorch
  0.4.1 the weights were trained and published with (``align_corners=True``; the argument did
  not exist before 1.3.0); ``new`` leaves today's default (False) to show what it changes;
* ``--handoff png`` makes ``Image.save`` write PNG bytes into ``warp-cloth/*.jpg`` and
  ``warp-mask/*.jpg`` (PIL reads by content), i.e. the original with lossless files between the
  stages; ``jpeg`` (default) leaves the original's JPEG files;
* recorders wrap ``CPDataset.__getitem__``, ``GMM.forward``, ``test.save_images`` and
  ``test.load_checkpoint`` (calling the originals) to capture tensors, and the driver checks
  that each checkpoint file exists first (the original's ``load_checkpoint`` silently keeps
  random weights when it does not).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

RECORD: dict[str, np.ndarray] = {}
ORDER: dict[str, list[str]] = {"GMM": [], "TOM": []}
WEIGHTS: dict[str, float] = {}
STAGE = {"name": ""}


# --------------------------------------------------------------------------- shims

def install_torchvision_stub() -> None:
    tv = types.ModuleType("torchvision")
    tr = types.ModuleType("torchvision.transforms")
    models = types.ModuleType("torchvision.models")

    class Compose:
        def __init__(self, transforms):
            self.transforms = transforms

        def __call__(self, x):
            for t in self.transforms:
                x = t(x)
            return x

    class ToTensor:
        # torchvision 0.2.1 transforms.functional.to_tensor for a PIL image ('L' or 'RGB')
        def __call__(self, pic):
            img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
            img = img.view(pic.size[1], pic.size[0], len(pic.mode))
            img = img.transpose(0, 1).transpose(0, 2).contiguous()
            return img.float().div(255)

    class Normalize:
        # torchvision 0.2.1 transforms.functional.normalize: in place, channel by channel via
        # zip(), so a 1-channel image takes the first mean/std. (torchvision >= 0.3 broadcasts
        # and raises on the original's 1-channel images with 3-channel statistics: the known
        # "output with shape [1, 256, 192] doesn't match the broadcast shape" error.)
        def __init__(self, mean, std):
            self.mean, self.std = mean, std

        def __call__(self, tensor):
            for t, m, s in zip(tensor, self.mean, self.std):
                t.sub_(m).div_(s)
            return tensor

    def vgg19(*a, **k):
        raise NotImplementedError("torchvision stub: VGG19 is only used by the training loss")

    tr.Compose, tr.ToTensor, tr.Normalize = Compose, ToTensor, Normalize
    models.vgg19 = vgg19
    tv.transforms, tv.models = tr, models
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tr,
                        "torchvision.models": models})


def install_cpu_shims(grid_align_corners: str) -> None:
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    if grid_align_corners == "old":
        grid_sample = F.grid_sample

        def grid_sample_041(input, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=None):
            return grid_sample(input, grid, mode=mode, padding_mode=padding_mode,
                               align_corners=True if align_corners is None else align_corners)
        F.grid_sample = grid_sample_041


def install_png_handoff() -> None:
    save = Image.Image.save

    def save_png_between_stages(self, fp, format=None, **params):
        between_stages = ("warp-cloth", "warp-mask")
        if isinstance(fp, (str, os.PathLike)) and Path(fp).parent.name in between_stages:
            format = "PNG"
        return save(self, fp, format, **params)
    Image.Image.save = save_png_between_stages


def install_layout_shim(networks) -> None:
    """``FeatureCorrelation``'s output is a permuted view whose strides are exactly
    channels-last; PyTorch >= 1.x convolutions keep that layout, and ``FeatureRegression``'s
    ``x.view(x.size(0), -1)`` then raises. Under the PyTorch 0.4.1 the code was written for,
    convolution outputs were always contiguous NCHW: ``.contiguous()`` on the correlation
    restores that (same values, same flattening order)."""
    forward = networks.FeatureCorrelation.forward

    def contiguous_forward(self, feature_a, feature_b):
        return forward(self, feature_a, feature_b).contiguous()
    networks.FeatureCorrelation.forward = contiguous_forward


def install_recorders(test_module, cp_dataset, networks) -> None:
    get_item = cp_dataset.CPDataset.__getitem__

    def recorded_get_item(self, index):
        result = get_item(self, index)
        name = result["im_name"]
        ORDER[STAGE["name"]].append(name)
        for key in ("agnostic", "cloth", "cloth_mask", "shape", "head", "pose_image", "image"):
            RECORD[f"{STAGE['name']}/dataset/{name}/{key}"] = result[key].numpy().copy()
        return result
    cp_dataset.CPDataset.__getitem__ = recorded_get_item

    gmm_forward = networks.GMM.forward

    def recorded_gmm_forward(self, input_a, input_b):
        grid, theta = gmm_forward(self, input_a, input_b)
        name = ORDER["GMM"][-1]          # batch size 1, no workers: the item just loaded
        RECORD[f"GMM/theta/{name}"] = theta.numpy().copy()
        RECORD[f"GMM/grid/{name}"] = grid.numpy().copy()
        return grid, theta
    networks.GMM.forward = recorded_gmm_forward

    save_images = test_module.save_images

    def recorded_save_images(img_tensors, img_names, save_dir):
        for tensor, name in zip(img_tensors, img_names):
            RECORD[f"{STAGE['name']}/save/{Path(save_dir).name}/{name}"] = tensor.numpy().copy()
        return save_images(img_tensors, img_names, save_dir)
    test_module.save_images = recorded_save_images

    load_checkpoint = test_module.load_checkpoint

    def checked_load_checkpoint(model, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: the original would silently keep random weights")
        load_checkpoint(model, path)
        WEIGHTS[STAGE["name"]] = float(sum(v.double().abs().sum()
                                           for v in model.state_dict().values()
                                           if v.is_floating_point()))
    test_module.load_checkpoint = checked_load_checkpoint


# --------------------------------------------------------------------------- run

def run_stage(test_module, stage: str, data: Path, ckpt: Path, work: Path) -> None:
    STAGE["name"] = stage
    checkpoint = ckpt / stage / f"{stage.lower()}_final.pth"
    sys.argv = ["test.py", "--name", stage, "--stage", stage, "--workers", "0",
                "--batch-size", "1", "--dataroot", str(data), "--datamode", "test",
                "--data_list", "test_pairs.txt", "--checkpoint", str(checkpoint),
                "--result_dir", str(work / "result"),
                "--tensorboard_dir", str(work / "tensorboard")]
    with torch.no_grad():  # main() wraps the tests in no_grad itself; belt and braces
        test_module.main()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--original", type=Path, required=True)
    parser.add_argument("--checkpoints", type=Path, required=True,
                        help="folder with GMM/gmm_final.pth and TOM/tom_final.pth")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--handoff", choices=("jpeg", "png"), default="jpeg")
    parser.add_argument("--grid-align-corners", choices=("old", "new"), default="old")
    args = parser.parse_args()

    torch.manual_seed(0)  # nothing random runs in test mode; seeded in case
    install_torchvision_stub()
    install_cpu_shims(args.grid_align_corners)
    if args.handoff == "png":
        install_png_handoff()

    work = args.out.resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "cwd").mkdir(parents=True)
    data = work / "data"
    shutil.copytree(args.data, data)
    original = args.original.resolve()
    # the GMM dataset opens 'grid.png' relative to the working directory
    (work / "cwd" / "grid.png").symlink_to(original / "grid.png")
    os.chdir(work / "cwd")
    sys.path.insert(0, str(original))
    spec = importlib.util.spec_from_file_location("cpvton_test", original / "test.py")
    test_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_module)
    import cp_dataset
    import networks
    install_layout_shim(networks)
    install_recorders(test_module, cp_dataset, networks)

    ckpt = args.checkpoints.resolve()
    run_stage(test_module, "GMM", data, ckpt, work)
    for folder in ("warp-cloth", "warp-mask"):   # README: copy the GMM results into the data
        shutil.copytree(work / "result" / "GMM" / "test" / folder, data / "test" / folder)
    run_stage(test_module, "TOM", data, ckpt, work)

    np.savez(work / "tensors.npz", **RECORD)
    (work / "weights.json").write_text(json.dumps(WEIGHTS))
    print(f"original: {len(ORDER['GMM'])} GMM and {len(ORDER['TOM'])} TOM items -> {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
