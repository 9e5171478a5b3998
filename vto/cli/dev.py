"""`vto dev …`: developer tools (tiny random checkpoints for tests and smoke runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vto.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dev", help="developer tools")
    dev = p.add_subparsers(dest="dev_command", metavar="TOOL", required=True)
    tiny = dev.add_parser("tiny-checkpoint", help="write a tiny random checkpoint in the published layout")
    tiny.add_argument("dir", help="where to write it")
    tiny.add_argument("--seed", type=int, default=0, help="random seed of the weights (default: 0)")
    tiny.set_defaults(func=run_tiny)


def run_tiny(args: argparse.Namespace) -> int:
    from vto.dev.tiny import write_tiny_checkpoint

    root = Path(args.dir)
    if root.exists() and any(root.iterdir()):
        raise InvalidInput(f"{root} is not empty; pick a new directory")
    write_tiny_checkpoint(root, seed=args.seed)
    print(root)
    return 0
