"""Names of the Redis keys workbench uses besides Celery's own (one place, so nothing collides)."""

from __future__ import annotations


def events(namespace: str, job_id: str) -> str:
    """The job's event stream (XADD by the worker, XREAD by every client watching it)."""
    return f"wb:{namespace}:events:{job_id}"


def events_pattern(namespace: str | None = None) -> str:
    return f"wb:{namespace or '*'}:events:*"


def cancel(namespace: str, job_id: str) -> str:
    """Set when the owner asks to cancel; checked between batches (the catalog keeps it too)."""
    return f"wb:{namespace}:cancel:{job_id}"


def queued(namespace: str, job_id: str) -> str:
    """Exists while a job's message should be in the queue: gone after a Redis restart lost it."""
    return f"wb:{namespace}:queued:{job_id}"


def metrics(namespace: str) -> str:
    return f"wb:{namespace}:metrics"


def fanout(namespace: str, job_id: str, attempt: int) -> str:
    """Rows/bytes done per part of a fanned-out job, summed into one progress."""
    return f"wb:{namespace}:fanout:{job_id}:a{attempt}"


def lock(namespace: str, job_id: str, what: str) -> str:
    return f"wb:{namespace}:lock:{what}:{job_id}"


def hub_wake(token: str) -> str:
    """A private stream that wakes a client's reader thread when a job is added."""
    return f"wb:hub:{token}"
