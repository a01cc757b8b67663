"""An argparse parser whose usage errors are ours: one line (or one JSON object with ``--json``),
the unknown command or flag named, and "did you mean" when something close exists."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any, NoReturn

from ..errors import UsageError

EXIT_USAGE = 2


def _suggest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


class Parser(argparse.ArgumentParser):
    """Raises UsageError instead of printing usage and exiting; `main` reports it."""

    def error(self, message: str) -> NoReturn:
        hint = None
        bad = re.search(r"invalid choice: '([^']*)'", message)
        if bad:
            choices = [c for a in self._actions if isinstance(a, argparse._SubParsersAction)
                       for c in a.choices]
            hint = _suggest(bad.group(1), choices)
            if choices:
                message = f"unknown command {bad.group(1)!r}"
                hint = hint or f"commands: {', '.join(sorted(choices))}"
        unknown = re.search(r"unrecognized arguments: (.*)", message)
        if unknown:
            flags = [o for a in self._actions for o in a.option_strings]
            first = unknown.group(1).split()[0]
            hint = _suggest(first.split("=")[0], flags) if first.startswith("-") else None
            message = f"unknown argument {first!r}" if len(unknown.group(1).split()) == 1 else message
        raise UsageError(f"{self.prog}: {message}",
                         hint=hint or f"see `{self.prog} --help`")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        # Unknown flags are checked against the subcommand that was chosen, not the top level,
        # so the suggestion comes from the flags that command really has.
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            owner = getattr(parsed, "_parser", None) or self
            owner.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed
