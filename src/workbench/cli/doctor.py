"""``workbench doctor``: is everything this machine is configured to use reachable and served?

Each check is ``ok``, ``warn`` or ``fail`` with a line saying what was found and what to do. The
command exits 1 if any check fails, so it fits a deploy script or a container's health check.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable

from ..context import Context
from ..dbconn import mask_dsn
from ..errors import BrokerUnavailable, WorkbenchError
from ..settings import Settings, get_settings
from .output import add_command, output
from .worker import ALL_QUEUES, workers_info

# kombu's Redis transport keeps a queue's messages in a list named after it, plus one list per
# priority step (the queue name, a separator and the step).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def register(sub) -> None:
    p = add_command(sub, "doctor", cmd_doctor,
                    "check the broker, catalog, storage and workers, and queues nobody serves")
    p.add_argument("--timeout", type=float, default=2.0,
                   help="seconds to wait for workers to answer (default: 2)")


def _check(name: str, fn: Callable[[], tuple[str, str]]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        status, detail = fn()
    except WorkbenchError as err:
        status, detail = "fail", str(err)
    except Exception as exc:  # a check must report, never crash the report
        status, detail = "fail", f"{type(exc).__name__}: {exc}"
    return {"check": name, "status": status, "detail": detail,
            "seconds": round(time.monotonic() - started, 3)}


def _shown(url: str) -> str:
    return mask_dsn(url) if "@" in url else url


def _catalog(settings: Settings) -> tuple[str, str]:
    ctx = Context.from_settings(settings)
    ctx.catalog.list_jobs(settings.namespace, limit=1)
    return "ok", f"{_shown(settings.catalog_url)} answers"


def _storage(settings: Settings) -> tuple[str, str]:
    storage = Context.from_settings(settings).storage
    key = f"{settings.namespace}/_doctor/{uuid.uuid4().hex}"
    storage.put_bytes(key, b"ok")
    try:
        if storage.get_bytes(key) != b"ok":
            return "fail", f"{storage.uri(key)} read back other bytes than were written"
    finally:
        storage.delete(key)
    return "ok", f"{_shown(settings.storage_url)}: write, read and delete work"


def _queue_lengths(broker_url: str) -> dict[str, int]:
    # heavy optional dependency: imported on first use
    import redis  # the broker client: only needed when a broker is configured

    client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        return {q: sum(client.llen(q + s) for s in _PRIORITY_SUFFIXES) for q in ALL_QUEUES.split(",")}
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"cannot reach the broker at {_shown(broker_url)}: {exc}",
                                hint="check WORKBENCH_BROKER_URL and that Redis is running") from None


def doctor(settings: Settings, timeout: float) -> list[dict[str, Any]]:
    checks = [_check("catalog", lambda: _catalog(settings)),
              _check("storage", lambda: _storage(settings))]
    if not settings.broker_url:
        checks.append({"check": "broker", "status": "ok", "seconds": 0.0,
                       "detail": "not configured: jobs run on this machine (set WORKBENCH_BROKER_URL "
                                 "to use Celery workers)"})
        return checks
    lengths: dict[str, int] = {}

    def broker() -> tuple[str, str]:
        lengths.update(_queue_lengths(settings.broker_url))
        return "ok", f"{_shown(settings.broker_url)} answers"

    checks.append(_check("broker", broker))
    if checks[-1]["status"] == "fail":
        return checks
    served: dict[str, list[str]] = {q: [] for q in lengths}

    def workers() -> tuple[str, str]:
        info = workers_info(timeout)
        for w in info:
            for q in w["queues"]:
                served.setdefault(q, []).append(w["name"])
        if not info:
            return "warn", "no worker answered: start one with `workbench worker` (it serves every queue)"
        return "ok", f"{len(info)} up: " + ", ".join(w["name"] for w in info)

    checks.append(_check("workers", workers))
    for queue, waiting in sorted(lengths.items()):
        if served.get(queue):
            status, detail = "ok", f"{waiting} waiting; served by {', '.join(served[queue])}"
        elif waiting:
            status, detail = "warn", (
                f"{waiting} message{'s' if waiting != 1 else ''} wait and no worker serves this queue: "
                f"start `workbench worker` (every queue) or add {queue} to a worker's --queues")
        else:
            status, detail = "ok", "empty; no worker serves it"
        checks.append({"check": f"queue {queue}", "status": status, "detail": detail, "seconds": 0.0})
    return checks


def cmd_doctor(args) -> int:
    settings = get_settings()
    checks = doctor(settings, args.timeout)
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    output(args, {"namespace": settings.namespace, "home": str(settings.home), "checks": checks},
           lambda: "\n".join(f"{marks[c['status']]}  {c['check']:<22} {c['detail']}" for c in checks))
    return 1 if any(c["status"] == "fail" for c in checks) else 0
