"""How every command prints: text for people, one JSON object with ``--json``, and errors
without tracebacks."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

from ..errors import InternalError, WorkbenchError
from ..names import INT64_MAX

EXIT_FAILED = 1  # the command ran and the work failed (bad input, failed check, …)
EXIT_INTERNAL = 3  # a bug: please report it


def whole_number(low: int = 0, high: int = INT64_MAX) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high`` (at most the largest number
    the catalog stores); anything else is a usage error naming the bounds."""

    def parse(text: str) -> int:
        try:
            value = int(text) if len(text) <= 4000 else None
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, not {text[:40]}")
        return value

    return parse


def to_jsonable(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return obj


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(obj), default=str) + "\n")
    sys.stdout.flush()


def output(args: Any, obj: Any, text: str | Callable[[], str]) -> None:
    if getattr(args, "json", False):
        emit_json(obj)
    else:
        sys.stdout.write((text() if callable(text) else text).rstrip("\n") + "\n")


def report_error(args: Any, err: WorkbenchError) -> int:
    if getattr(args, "json", False):
        emit_json({"error": err.to_dict()})
    elif not getattr(err, "shown", False):  # the progress view already printed it: once is enough
        sys.stderr.write(f"error: {err}\n")
    return EXIT_INTERNAL if isinstance(err, InternalError) else EXIT_FAILED


def add_command(sub: Any, name: str, handler: Callable[[Any], int | None], help: str) -> Any:
    """A subcommand that takes ``--json`` and reports failures as error objects."""
    p = sub.add_parser(name, help=help, description=help)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=guarded(handler), _parser=p)
    return p


def guarded(handler: Callable[[Any], int | None]) -> Callable[[Any], int]:
    """Run a command; any failure becomes an error report and an exit code, never a traceback."""

    def run(args: Any) -> int:
        try:
            return int(handler(args) or 0)
        except WorkbenchError as err:
            return report_error(args, err)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            return 130
        except Exception as exc:  # a bug; keep the JSON contract, show the trace only on request
            if os.environ.get("WORKBENCH_DEBUG"):
                raise
            return report_error(args, InternalError(f"{type(exc).__name__}: {exc}",
                                                    hint="set WORKBENCH_DEBUG=1 for the traceback"))

    return run
