"""`vto dev …`: developer tools (tiny random checkpoints for tests and smoke runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vto.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dev", help="developer tools")
    dev = p.add_subparsers(dest="dev_command", metavar="TOOL", required=True)
    tiny = dev.add_parser("tiny-checkpoint",
                          help="write a tiny random checkpoint in the published layout",
                          description="Random weights in each model's published layout and "
                                      "format (noise, not clothes): for tests and smoke runs.")
    tiny.add_argument("dir", help="where to write it")
    tiny.add_argument("--model", action="append", metavar="ID",
                      help="model whose files to write (repeatable; 'all'; default: ootd-hd "
                           "and ootd-dc)")
    tiny.add_argument("--seed", type=int, default=0, help="random seed of the weights (default: 0)")
    tiny.set_defaults(func=run_tiny)


def run_tiny(args: argparse.Namespace) -> int:
    from vto.core.models.registry import get_spec
    from vto.dev.writers import write_models

    root = Path(args.dir).expanduser()
    models = args.model or ["ootd-hd"]
    if models != ["all"]:
        for model in models:
            spec = get_spec(model)
            if root.is_dir() and not spec.missing_files(root):
                raise InvalidInput(f"{root} already holds model {spec.id}; pick a new directory")
    written = write_models(root, models, seed=args.seed)
    print(f"{root} ({', '.join(written)}; random weights: noise, not clothes)")
    return 0
