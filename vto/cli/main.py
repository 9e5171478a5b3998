"""`vto` command line: one sub-command per module in this package.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func=run`` (``run(args) -> int``). Errors a user can cause are :class:`vto.errors.VtoError`;
they are printed as one line on stderr and the process exits with status 2. Anything else is a
bug and keeps its traceback (with ``VTO_DEBUG=1`` VtoErrors do too).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from vto.errors import VtoError

# Sub-command modules, in the order `vto --help` lists them. A module that fails to import
# (e.g. an optional part not installed) only disables its own command.
COMMANDS = [
    "vto.cli.tryon",
    "vto.cli.mask",
    "vto.cli.run_ootd",
    "vto.cli.download",
    "vto.cli.serve",
    "vto.cli.worker",
    "vto.cli.bench",
    "vto.cli.dev",
]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 (not a usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"vto: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vto", description="Virtual try-on with OOTDiffusion.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but one of its imports is missing
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except VtoError as exc:
        if os.environ.get("VTO_DEBUG"):
            raise
        print(f"vto: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vto: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
