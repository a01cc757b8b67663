"""What is up: the services a workbench needs, and the Celery workers (for the CLI and HTTP).

``health()`` asks each part once and reports it with a state (``ok``, ``down``, ``not used``,
``missing``) instead of raising, so one dead service never hides the others. ``workers_info()``
is Celery's inspect, shaped for people and JSON; ``test_task()`` sends the workers' own health
check and returns its answer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from ..catalog import open_catalog
from ..context import Context
from ..errors import BrokerUnavailable, WorkbenchError, as_workbench_error
from ..masking import mask_text, mask_url
from ..names import check_namespace
from ..settings import get_settings
from ..storage import open_storage
from ..worker.config import QUEUES
from ..worker.task_result import wait_for_result
from .celery_runner import CeleryRunner

HEALTH_TASK = "workbench.health_check"
# kombu's Redis transport keeps a queue's messages in a list named after it, plus one list per
# priority step (the queue name, a separator and the step).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def _runner(ctx: Context | None = None) -> Any:
    return CeleryRunner(ctx)


def workers_info(timeout: float = 1.0, *, ctx: Context | None = None) -> list[dict[str, Any]]:
    """Who is up, what they consume and run, and their counters (Celery's inspect)."""
    runner = _runner(ctx)
    runner.ping()  # a clear BrokerUnavailable instead of an empty list
    app = runner._app()
    pings = app.control.inspect(timeout=timeout).ping() or {}
    # Everyone who answered the ping is known now: stop waiting once they all reply.
    insp = app.control.inspect(timeout=timeout, limit=len(pings) or None)
    stats = insp.stats() or {}
    active = insp.active() or {}
    queues = insp.active_queues() or {}
    registered = insp.registered() or {}
    out = []
    for name in sorted(pings):
        st = stats.get(name, {})
        pool = st.get("pool", {})
        out.append({
            "name": name,
            "pid": st.get("pid"),
            "concurrency": pool.get("max-concurrency"),
            "processes": pool.get("processes"),
            "queues": sorted(q["name"] for q in queues.get(name, [])),
            "active": [{"task": t.get("name"), "id": t.get("id"),
                        "job_id": (t.get("args") or [None])[0] if isinstance(t.get("args"), list)
                        else None, "started": t.get("time_start")} for t in active.get(name, [])],
            "processed": st.get("total", {}),
            "uptime": st.get("uptime"),
            "registered": len(registered.get(name, [])),
            "registered_tasks": sorted(registered.get(name, [])),
        })
    return out


def test_task(timeout: float = 30.0, *, ctx: Context | None = None) -> dict[str, Any]:
    """Send the workers' health-check task on the ``maintenance`` queue and return its answer."""
    runner = _runner(ctx)
    runner.ping()
    started = time.monotonic()
    try:
        answer = wait_for_result(runner._app().send_task(HEALTH_TASK, queue="maintenance"), timeout)
    except Exception as exc:
        if type(exc).__name__ == "TimeoutError":
            raise BrokerUnavailable(f"no worker answered the test task within {timeout:g}s",
                                    hint="start a worker that consumes the 'maintenance' queue "
                                         "(`workbench worker`)") from None
        raise as_workbench_error(exc) from None
    return {"task": HEALTH_TASK, "seconds": round(time.monotonic() - started, 3), **answer}


def _probe(check: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    t = time.monotonic()
    try:
        extra = check() or {}
    except Exception as exc:
        err = as_workbench_error(exc)
        return {"state": "down", "error": err.to_dict() if isinstance(exc, WorkbenchError)
                else {"type": type(exc).__name__, "message": mask_text(str(exc))}}
    state = extra.pop("state", "ok")
    return {"state": state, "ms": round((time.monotonic() - t) * 1000, 2), **extra}


class _Unopened:
    """A catalog that could not be opened: every use raises the error of the opening, so the
    catalog's probe reports it down (masked) and the other parts are still probed."""

    def __init__(self, error: WorkbenchError) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        raise self._error


def health_context() -> Context:
    """The context ``health()`` and ``workbench doctor`` check: ``Context.from_settings()``,
    except that a catalog that cannot be opened (down, unreachable, its driver missing) is kept
    as its error instead of ending the whole check."""
    settings = get_settings()
    check_namespace(settings.namespace)
    try:
        catalog: Any = open_catalog(settings.catalog_url)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is the catalog's state
        catalog = _Unopened(as_workbench_error(exc))
    return Context(settings, open_storage(settings), catalog)


def keys_dir(ctx: Context) -> Path:
    """Where the signing keys are looked for (``WORKBENCH_KEYS_DIR``, else the home's ``keys``)."""
    return Path(os.environ.get("WORKBENCH_KEYS_DIR") or ctx.settings.home / "keys")


def health(ctx: Context | None = None, *, timeout: float = 1.0) -> dict[str, Any]:
    """Each part with its state: broker, catalog, storage, keys, workers."""
    ctx = ctx or health_context()
    broker = ctx.settings.broker_url
    parts: dict[str, dict[str, Any]] = {}

    def catalog() -> dict[str, Any]:
        ctx.catalog.list_jobs(ctx.namespace, limit=1)
        return {"dialect": ctx.catalog.dialect}

    def storage() -> dict[str, Any]:
        # a listing answers only when the bucket (or folder) is there and readable
        next(iter(ctx.storage.list(f"{ctx.namespace}/health/")), None)
        # its base URL: ``uri("")`` is no key an object store takes
        return {"url": mask_url(ctx.storage.url)}

    parts["catalog"] = _probe(catalog)
    parts["storage"] = _probe(storage)
    if not broker:
        parts["broker"] = {"state": "not used", "detail": "no WORKBENCH_BROKER_URL: jobs run in "
                                                          "the process that submits them"}
        parts["keys"] = {"state": "not used"}
        parts["workers"] = {"state": "not used", "count": 0}
    else:
        runner = _runner(ctx)
        parts["broker"] = _probe(lambda: (runner.ping(), None)[1])

        def keys() -> dict[str, Any]:
            folder = keys_dir(ctx)
            found = sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []
            return {"state": "ok" if found else "missing", "dir": str(folder), "files": found}

        parts["keys"] = _probe(keys)
        if parts["broker"]["state"] == "ok":
            def workers() -> dict[str, Any]:
                pings = runner._app().control.inspect(timeout=timeout).ping() or {}
                return {"state": "ok" if pings else "none", "count": len(pings),
                        "names": sorted(pings)}

            parts["workers"] = _probe(workers)
        else:
            parts["workers"] = {"state": "unknown", "count": 0, "detail": "the broker is down"}
    ok = all(p["state"] in ("ok", "not used") for p in parts.values())
    return {"ok": ok, "namespace": ctx.namespace, **parts}


def queue_backlog(ctx: Context | None = None, *, timeout: float = 1.0) -> dict[str, dict[str, Any]]:
    """Each queue's waiting messages and the workers that consume it. A queue that holds
    messages nobody consumes (a due schedule with no maintenance worker) is the case to warn of."""
    import redis  # the broker's client: only needed when a broker is configured

    ctx = ctx or Context.from_settings()
    client = redis.Redis.from_url(ctx.settings.broker_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        waiting = {q: sum(client.llen(q + s) for s in _PRIORITY_SUFFIXES) for q in QUEUES}
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"cannot read the queues: {exc}",
                                hint="check WORKBENCH_BROKER_URL and that Redis is running") from None
    served: dict[str, list[str]] = {q: [] for q in QUEUES}
    for w in workers_info(timeout, ctx=ctx):
        for q in w["queues"]:
            served.setdefault(q, []).append(w["name"])
    return {q: {"waiting": waiting.get(q, 0), "workers": served.get(q, [])} for q in QUEUES}


__all__ = ["health", "health_context", "keys_dir", "queue_backlog", "test_task", "workers_info"]
