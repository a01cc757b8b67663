"""Strict options: every public function refuses a keyword it does not know, by name, with a
"did you mean" — an ignored option is a silent wrong result (``bogus=1``, ``job_id="mine"``).

``strict`` checks a call's keywords against the function's own parameters, plus, for a function
that forwards ``**options`` to a spec model or another function, the names that target accepts.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, Iterable

from .errors import SpecError


def suggest(name: str, allowed: Iterable[str]) -> str:
    """``did you mean 'x'?`` followed by the allowed names (sorted)."""
    allowed = sorted(set(allowed))
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    listing = f"options: {', '.join(allowed)}" if allowed else "it takes no options"
    return f"did you mean {close[0]!r}? {listing}" if close else listing


def check_options(where: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    unknown = [k for k in given if k not in allowed]
    if unknown:
        name = unknown[0]
        raise SpecError(f"{where} has no option {name!r}"
                        + (f" (nor {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else ""),
                        hint=suggest(name, allowed))


def keyword_names(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    """The keyword names ``fn`` takes, and whether it also takes ``**kwargs``."""
    names, var = set(), False
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.add(p.name)
        elif p.kind is p.VAR_KEYWORD:
            var = True
    return names, var


def strict(fn: Callable[..., Any] | None = None, *,
           extra: Callable[[], Iterable[str]] | None = None, prefix: str = "wb.") -> Any:
    """Refuse unknown keywords of ``fn`` (and of what its ``**options`` feed: ``extra()``)."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        own, var = keyword_names(f)
        where = f"{prefix}{f.__name__}()"
        if var and extra is None:
            return f  # its **options go to a callee that checks them itself

        @functools.wraps(f)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if kwargs:
                check_options(where, kwargs, own | set(extra() if extra else ()))
            return f(*args, **kwargs)

        return checked

    return wrap(fn) if fn is not None else wrap


__all__ = ["check_options", "keyword_names", "strict", "suggest"]
