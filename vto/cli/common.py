"""Pieces several commands share: checkpoint/device flags and a terminal progress bar."""

from __future__ import annotations

import argparse
import sys
from vto.core.types import Category, Framing, ModelType


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoints", metavar="DIR",
                        help="checkpoint directory in the published layout (default: $VTO_CHECKPOINTS)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"],
                        help="model precision (default: float16 on CUDA, float32 on CPU)")


def add_choice_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-type", default=ModelType.HD.value, choices=[m.value for m in ModelType],
                        help="hd: half-body weights, tops only; dc: full-body, all categories (default: hd)")
    parser.add_argument("--category", default=Category.UPPER_BODY.value, choices=[c.value for c in Category],
                        help="garment category (default: upper_body)")
    parser.add_argument("--framing", default=Framing.KEEP.value, choices=[f.value for f in Framing],
                        help="keep: work on a window around the person and paste the result back into "
                             "the photo at full resolution (default); stretch: the original's squash "
                             "to the working size")


class StepProgress:
    """A tqdm bar on a terminal, nothing otherwise (pipes and CI logs stay clean)."""

    def __init__(self, description: str, enabled: bool | None = None) -> None:
        self.description = description
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar = None

    def __call__(self, step: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.description, unit="step", file=sys.stderr)
        self._bar.update(step - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

