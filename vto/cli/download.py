"""`vto download`: fetch the published weights into a checkpoint directory."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vto.core.checkpoints import CheckpointDir, download
from vto.core.types import ModelType


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download the published weights (resumable)",
                       description="Fetch exactly the files a model type needs from the Hugging Face "
                                   "Hub (levihsu/OOTDiffusion and openai/clip-vit-large-patch14), "
                                   "then verify the tree. Re-run to resume.")
    p.add_argument("--dir", default=os.environ.get("VTO_CHECKPOINTS", "checkpoints"),
                   help="checkpoint directory (default: $VTO_CHECKPOINTS or ./checkpoints)")
    p.add_argument("--model", default="all", choices=["hd", "dc", "all"], help="which weights (default: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model_types = list(ModelType) if args.model == "all" else [ModelType(args.model)]
    ckpt = CheckpointDir(Path(args.dir))
    fetched = download(ckpt, model_types)
    print(f"{ckpt.root}: complete ({len(fetched)} file(s) downloaded)")
    return 0
