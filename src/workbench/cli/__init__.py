"""The ``workbench`` command line. Every command takes ``--json``."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import UsageError
from .output import report_error
from .parser import EXIT_USAGE, Parser

# Feature modules, each with ``register(subparsers)``; listed here, not self-registered.
COMMAND_MODULES = [
    "workbench.cli.core",
    "workbench.cli.init",
    "workbench.cli.storage",
    "workbench.cli.worker",
    "workbench.cli.notebook",
    "workbench.cli.doctor",
    "workbench.cli.setup",
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="workbench",
        description="A Jupyter-first data-engineering workbench. Every command takes --json.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if exc.name == name:  # a feature module not present in this build
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        # A usage error honours --json too: scripts get the same error object as for a failure.
        report_error(argparse.Namespace(json="--json" in argv), err)
        return EXIT_USAGE
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
