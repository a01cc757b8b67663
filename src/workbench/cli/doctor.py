"""``workbench doctor``: is everything this machine is configured to use reachable and served?

The parts are ``runners.status.health()`` (what ``GET /workbench/api/v1/health`` serves too),
plus two things a person at a terminal wants checked: that storage really takes a write, and that
no queue holds messages no worker consumes. Each line is ``ok``, ``WARN`` or ``FAIL`` with what
was found and what to do; the command exits 1 if a check fails, so it fits a deploy script.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..context import Context
from ..errors import WorkbenchError
from ..runners.status import health, health_context, queue_backlog
from .output import add_command, output

# health() states -> doctor's verdicts
_VERDICT = {"ok": "ok", "not used": "ok", "none": "warn", "missing": "warn", "down": "fail",
            "unknown": "warn"}
_ADVICE = {
    "broker": "check WORKBENCH_BROKER_URL and that Redis is running",
    "catalog": "check WORKBENCH_CATALOG_URL and that the database is up",
    "storage": "check WORKBENCH_STORAGE_URL and the storage credentials",
    "keys": "create them with `workbench keys init` (or set WORKBENCH_KEYS_DIR)",
    "workers": "start one with `workbench worker` (it serves every queue)",
}


def register(sub) -> None:
    p = add_command(sub, "doctor", cmd_doctor,
                    "check the broker, catalog, storage and workers, and queues nobody serves")
    p.add_argument("--timeout", type=float, default=2.0,
                   help="seconds to wait for workers to answer (default: 2)")


def _line(check: str, status: str, detail: str) -> dict[str, Any]:
    return {"check": check, "status": status, "detail": detail}


def _part(name: str, part: dict[str, Any]) -> dict[str, Any]:
    status = _VERDICT.get(part["state"], "warn")
    if "error" in part:
        detail = part["error"].get("message", "")
    elif name == "workers" and part.get("names"):
        detail = f"{part['count']} up: {', '.join(part['names'])}"
    elif name == "catalog" and part.get("dialect"):
        detail = f"{part['dialect']} answers"
    elif name == "storage" and part.get("url"):
        detail = f"{part['url']} answers"
    else:
        detail = part.get("detail") or part["state"]
    if status != "ok" and name in _ADVICE:
        detail += f" — {_ADVICE[name]}"
    return _line(name, status, detail)


def _storage_write(ctx: Context) -> dict[str, Any]:
    key = f"{ctx.namespace}/_doctor/{uuid.uuid4().hex}"
    try:
        ctx.storage.put_bytes(key, b"ok")
        try:
            same = ctx.storage.get_bytes(key) == b"ok"
        finally:
            ctx.storage.delete(key)
    except WorkbenchError as err:
        return _line("storage write", "fail", f"{err} — {_ADVICE['storage']}")
    return _line("storage write", "ok" if same else "fail",
                 "write, read and delete work" if same else "read back other bytes than were written")


def _queues(ctx: Context, timeout: float) -> list[dict[str, Any]]:
    lines = []
    for queue, q in queue_backlog(ctx, timeout=timeout).items():
        n, workers = q["waiting"], q["workers"]
        if workers:
            lines.append(_line(f"queue {queue}", "ok", f"{n} waiting; served by {', '.join(workers)}"))
        elif n:
            lines.append(_line(f"queue {queue}", "warn",
                               f"{n} message{'s' if n != 1 else ''} wait and no worker serves this queue: "
                               f"start `workbench worker` (every queue) or add {queue} to a worker's "
                               "--queues"))
        else:
            lines.append(_line(f"queue {queue}", "ok", "empty; no worker serves it"))
    return lines


def doctor(ctx: Context, timeout: float) -> list[dict[str, Any]]:
    parts = health(ctx, timeout=timeout)
    checks = [_part(name, parts[name]) for name in ("catalog", "storage", "broker", "keys", "workers")]
    if parts["storage"]["state"] == "ok":
        checks.insert(2, _storage_write(ctx))
    if parts["broker"]["state"] == "ok":
        try:
            checks += _queues(ctx, timeout)
        except WorkbenchError as err:
            checks.append(_line("queues", "fail", str(err)))
    return checks


def cmd_doctor(args) -> int:
    ctx = health_context()  # a catalog that is down is one failed check, not the end of them
    checks = doctor(ctx, args.timeout)
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    output(args, {"namespace": ctx.namespace, "home": str(ctx.settings.home), "checks": checks},
           lambda: "\n".join(f"{marks[c['status']]}  {c['check']:<22} {c['detail']}" for c in checks))
    return 1 if any(c["status"] == "fail" for c in checks) else 0
