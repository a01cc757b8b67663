"""Wait for a Celery task's result by reading its stored record, not by Celery's pub/sub wait.

``AsyncResult.get()`` on the Redis backend subscribes to the task's channel and waits for the
result to be published there; a result published while that subscription is not listening (a
Redis restart the client has not noticed yet) is only found again if redis-py reports the broken
connection to Celery, and a client can then wait out its whole timeout for a result that sits in
Redis (celery/celery#4857). A kernel or a Jupyter server lives through Redis restarts.

Reading the record itself needs no subscription: every read takes a pooled connection that
redis-py checks before use. The pause between reads grows from 10 ms to a quarter second, so a
quick task is answered quickly and a long one costs four small GETs a second.
"""

from __future__ import annotations

import time
from typing import Any

FIRST_PAUSE = 0.01
LONGEST_PAUSE = 0.25


def wait_for_result(result: Any, timeout: float) -> Any:
    """The task's return value once its record says it ended (its exception re-raised if it
    failed); Celery's ``TimeoutError`` when it has not ended within ``timeout`` seconds. A Redis
    error while reading is raised to the caller as it is."""
    # heavy optional dependency: imported on first use
    from celery.exceptions import TimeoutError as CeleryTimeout

    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE
    while not result.ready():  # one GET of the task's record; kept by Celery once it ended
        left = deadline - time.monotonic()
        if left <= 0:
            raise CeleryTimeout(f"the task {result.id} did not end within {timeout:g}s")
        time.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_PAUSE)
    return result.get(timeout=timeout)  # answered from the record just read, no subscription
