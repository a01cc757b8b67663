"""``/jobs``: submit, list, show, cancel and re-run jobs, and follow one as Server-Sent Events.

Everything here is the public API (``wb.submit``, ``wb.job``, ``wb.list_jobs``) that a notebook
or ``workbench`` command calls; the handlers only translate HTTP to those calls.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import json
import os
import threading
from typing import Any

from tornado.iostream import StreamClosedError

from .. import api
from ..context import Context
from ..engines.steps import step_label
from ..errors import AccessDenied, ConfigError, SpecError
from ..security import check_loaded_step, check_python_step
from ..settings import get_settings
from ..spec import models as m
from ..spec import pipeline_from_dict
from .base import API_PREFIX, WorkbenchHandler, authenticated

KEEPALIVE = 15.0  # seconds between comment lines on a quiet stream (proxies drop idle ones)
RUNNERS = ("local", "celery")
HANDLES_KEPT = 256

# The handles this server opened, newest last: every stream of a job replays the same events
# with the same numbers (a local job's own handle has them all; a fresh handle on a finished
# job would only have its outcome), so Last-Event-ID means the same thing on reconnect.
_HANDLES: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
_HANDLES_LOCK = threading.Lock()


def handle(job_id: str, job: Any = None) -> Any:
    """This server's handle on a job (``wb.job(id)`` the first time), kept for replays."""
    with _HANDLES_LOCK:
        kept = _HANDLES.get(job_id)
        if kept is not None:
            _HANDLES.move_to_end(job_id)
            return kept
    job = job if job is not None else api.job(job_id)
    with _HANDLES_LOCK:
        job = _HANDLES.setdefault(job_id, job)
        while len(_HANDLES) > HANDLES_KEPT:
            _HANDLES.popitem(last=False)
    return job


def job_row(rec: dict[str, Any]) -> dict[str, Any]:
    """A job record as the API shows it: who, which dataset, how long, how far."""
    spec = rec.get("spec") or {}
    sink, source = spec.get("sink") or {}, spec.get("source") or {}
    start = rec.get("started_at") or rec.get("submitted_at")
    end = rec.get("finished_at")
    return {
        "id": rec["id"], "name": rec.get("name"), "status": rec["status"],
        "runner": rec.get("runner"), "who": rec.get("owner"),
        "dataset": sink.get("name") or (source.get("name") if source.get("kind") == "dataset" else None),
        "submitted_at": rec.get("submitted_at"), "started_at": rec.get("started_at"),
        "finished_at": end, "duration": (end - start) if end and start else None,
        "attempts": rec.get("attempts"), "worker": rec.get("worker"),
        "progress": rec.get("progress"), "cancel_requested": bool(rec.get("cancel_requested")),
        "error": rec.get("error"), "result": rec.get("result"),
    }


def own_job(job_id: str) -> dict[str, Any]:
    """The job's record if it belongs to this server's namespace (another's is not found)."""
    ctx = Context.from_settings()
    return ctx.catalog.get_job(job_id, ctx.namespace)


PYTHON_STEPS_VAR = "WORKBENCH_HTTP_PYTHON_STEPS"


def any_python_step() -> bool:
    """``WORKBENCH_HTTP_PYTHON_STEPS=any``: the operator lets jobs submitted over HTTP run any
    importable function in this server; ``registered`` (the default): only the steps a worker
    would run."""
    value = (os.environ.get(PYTHON_STEPS_VAR) or "registered").strip().lower()
    if value not in ("registered", "any"):
        raise ConfigError(f"{PYTHON_STEPS_VAR}={value!r}: use 'registered' (the default) or 'any'")
    return value == "any"


def check_server_steps(pipeline: m.Pipeline, runner: str | None) -> None:
    """A job that will run in this server process (``runner=local``, or no broker) runs only
    registered Python steps, as on a worker (SECURITY.md), unless the operator opted in. A job
    for the workers is checked by them."""
    settings = get_settings()
    if (runner or ("celery" if settings.broker_url else "local")) != "local" or any_python_step():
        return
    as_worker = settings.with_(role="worker")
    for i, step in enumerate(pipeline.steps):
        if not isinstance(step, m.PythonStep):
            continue
        label, ref = step_label(i, step), step.function
        try:
            check_python_step(ref, as_worker, step=label)  # before anything is imported
        except AccessDenied:
            raise _refused(f"Python step {ref!r} is not registered, so it was not loaded", label) \
                from None
        module, _, attr = ref.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue  # a registered module that does not load: the job reports it
        try:
            check_loaded_step(ref, fn, as_worker, step=label)
        except AccessDenied as exc:
            raise _refused(exc.message, label) from None


def _refused(message: str, label: str) -> AccessDenied:
    return AccessDenied(
        f"{message}: a job submitted over HTTP runs in the server, which runs only registered "
        "Python steps", step=label,
        hint="register it (a 'workbench.steps' entry point, or its module in WORKBENCH_PYTHON_STEPS "
             "where the server runs), submit the job to the workers, or let this server run any "
             f"importable function with {PYTHON_STEPS_VAR}=any")


def _submit(spec: Any, runner: str | None) -> dict[str, Any]:
    pipeline = pipeline_from_dict(spec)
    check_server_steps(pipeline, runner)
    job = api.submit(pipeline, runner=runner)
    handle(job.id, job)
    return {"job_id": job.id, "status": job.status, "runner": job.runner}


def _cancel(job_id: str) -> dict[str, Any]:
    own_job(job_id)
    handle(job_id).cancel()
    return {"job_id": job_id, "status": own_job(job_id)["status"]}


def _rerun(job_id: str) -> dict[str, Any]:
    rec = own_job(job_id)
    return {**_submit(rec["spec"], None), "rerun_of": job_id}


def _links(job_id: str) -> dict[str, str]:
    base = f"{API_PREFIX}/jobs/{job_id}"
    return {"self": base, "events": f"{base}/events"}


class JobsHandler(WorkbenchHandler):
    @authenticated
    async def get(self) -> None:
        limit = self.int_arg("limit", 50, low=1, high=500)
        offset = self.int_arg("offset", 0)
        status = self.get_argument("status", None) or None
        rows = await self.blocking(api.list_jobs, limit=limit, offset=offset, status=status,
                                   who=self.get_argument("who", None) or None,
                                   dataset=self.get_argument("dataset", None) or None)
        self.reply({"jobs": [job_row(r) for r in rows], "limit": limit, "offset": offset,
                    "next_offset": offset + len(rows) if len(rows) == limit else None})

    @authenticated
    async def post(self) -> None:
        runner = self.get_argument("runner", None) or None
        if runner is not None and runner not in RUNNERS:
            raise SpecError(f"unknown runner {runner!r}", hint=f"use one of: {', '.join(RUNNERS)}")
        spec = await self.body(yaml_ok=True)
        out = await self.blocking(_submit, spec, runner)
        self.set_header("Location", _links(out["job_id"])["self"])
        self.reply({**out, "links": _links(out["job_id"])}, 202)


class JobHandler(WorkbenchHandler):
    @authenticated
    async def get(self, job_id: str) -> None:
        rec = await self.blocking(own_job, job_id)
        self.reply({**job_row(rec), "spec": rec.get("spec"), "links": _links(job_id)})

    @authenticated
    async def delete(self, job_id: str) -> None:
        self.reply(await self.blocking(_cancel, job_id))


class RerunHandler(WorkbenchHandler):
    @authenticated
    async def post(self, job_id: str) -> None:
        out = await self.blocking(_rerun, job_id)
        self.set_header("Location", _links(out["job_id"])["self"])
        self.reply({**out, "links": _links(out["job_id"])}, 202)


class JobEventsHandler(WorkbenchHandler):
    """``text/event-stream``: every event of the job from its first, then live, until it ends.

    Each event's ``id`` is its position in the job's stream (1, 2, …), so a client that
    reconnects with ``Last-Event-ID: n`` (what ``EventSource`` sends by itself) gets event n+1
    onwards. A reconnect after the last event of an ended job gets 204, which tells
    ``EventSource`` to stop.
    """

    _closed: asyncio.Event | None = None

    def on_connection_close(self) -> None:
        if self._closed is not None:
            self._closed.set()

    def _after(self) -> int:
        text = self.request.headers.get("Last-Event-ID") or self.get_argument("last_event_id", "")
        if not text:
            return 0
        try:
            return max(0, int(text))
        except ValueError:
            raise SpecError(f"Last-Event-ID must be an event number, not {text!r}") from None

    @authenticated
    async def get(self, job_id: str) -> None:
        after = self._after()
        await self.blocking(own_job, job_id)
        job = await self.blocking(handle, job_id)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        self._closed = asyncio.Event()
        unsubscribe = await self.blocking(
            job.subscribe, lambda ev: loop.call_soon_threadsafe(queue.put_nowait, ev))
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx in front must not buffer the stream
        seq, sent = 0, False
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, closed}, timeout=KEEPALIVE,
                                             return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    getter.cancel()
                    return
                if getter not in done:
                    getter.cancel()
                    self.write(": keep-alive\n\n")
                    await self.flush()
                    continue
                ev = getter.result()
                seq += 1
                if seq > after:
                    if not sent:
                        self.write("retry: 2000\n\n")
                    data = json.dumps(ev.to_dict(), default=str, separators=(",", ":"))
                    self.write(f"id: {seq}\nevent: {ev.kind}\ndata: {data}\n\n")
                    await self.flush()
                    sent = True
                if ev.terminal:
                    break
        except StreamClosedError:
            return
        finally:
            closed.cancel()
            unsubscribe()
        if not sent:  # the client has every event of an ended job: tell EventSource to stop
            self.clear()
            self.set_status(204)
            self.finish()
            return
        self.finish(set_content_type="text/event-stream; charset=utf-8")


ROUTES = [
    ("/jobs", JobsHandler),
    ("/jobs/{job_id}", JobHandler),
    ("/jobs/{job_id}/rerun", RerunHandler),
    ("/jobs/{job_id}/events", JobEventsHandler),
]
