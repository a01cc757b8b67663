"""Exponential backoff with jitter and a cap, for operations that fail with a ``TransientError``.

botocore's own retries are switched off for our clients (see ``s3.py``): one retry layer, whose
policy tests can shrink, whose errors are already classified, and whose attempts never multiply
with a second hidden layer.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from ..errors import WorkbenchError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the wait before try n+1 grows as ``base * 2**n`` up to ``cap``.

    The wait is "equal jitter": half of it fixed, half random, so a herd of clients throttled at
    the same moment spreads out while each still backs off for real.
    """

    attempts: int = 5
    base: float = 0.25
    cap: float = 8.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * (2 ** retry))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


NO_RETRY = RetryPolicy(attempts=1)


def retry_call(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    classify: Callable[[BaseException], WorkbenchError],
    on_retry: Callable[[int, float, WorkbenchError], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``; retry while the classified error is transient; raise the classified error.

    ``classify`` turns any exception (a botocore one, a socket error) into a ``WorkbenchError``;
    ``on_retry(attempt, delay, error)`` is told before each wait (for a ``Retrying`` event or a log).
    """
    attempt = 1
    while True:
        try:
            return fn()
        except WorkbenchError as exc:
            err: WorkbenchError = exc
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            err = classify(exc)
            err.__cause__ = None
        if not err.retryable or attempt >= policy.attempts:
            raise err from None
        wait = policy.delay(attempt - 1)
        if on_retry is not None:
            on_retry(attempt, wait, err)
        sleep(wait)
        attempt += 1
