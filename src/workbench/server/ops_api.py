"""``/health``, ``/workers``, ``/notebook-runs`` and ``/schedules``.

The calls behind ``workbench workers`` and ``workbench notebook run|runs|schedule|schedules``.
Notebook paths are read relative to Jupyter Server's root folder, as the file browser shows them.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import NotFound, SpecError
from ..runners.status import health, test_task, workers_info
from ..scheduling import get_run, list_runs, list_schedules, run_notebook, schedule_notebook
from ..runners.notebooks import submit_notebook
from .base import POOL, WorkbenchHandler, authenticated

RUN_ANSWER_WAIT = 0.2  # seconds between looks for a started run's record


class HealthHandler(WorkbenchHandler):
    @authenticated
    async def get(self) -> None:
        report = await self.blocking(health, timeout=self._timeout())
        self.reply(report)

    def _timeout(self) -> float:
        return self.int_arg("timeout", 1, low=1, high=30)


class WorkersHandler(WorkbenchHandler):
    @authenticated
    async def get(self) -> None:
        timeout = self.int_arg("timeout", 1, low=1, high=30)
        self.reply({"workers": await self.blocking(workers_info, timeout)})


class WorkerTestHandler(WorkbenchHandler):
    @authenticated
    async def post(self) -> None:
        timeout = self.int_arg("timeout", 30, low=1, high=300)
        self.reply(await self.blocking(test_task, timeout))


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise SpecError(f"{key} must be a non-empty string" + (" (required)" if required else ""))
    return value


def _parameters(body: dict[str, Any]) -> dict[str, Any]:
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise SpecError("parameters must be an object of name: value")
    return params


class _NotebookHandler(WorkbenchHandler):
    def notebook_path(self, body: dict[str, Any]) -> str:
        path = Path(_text(body, "notebook", required=True) or "")
        if not path.is_absolute():
            root = self.settings.get("server_root_dir") or "."
            path = Path(root).expanduser() / path
        return str(path)


class NotebookRunsHandler(_NotebookHandler):
    @authenticated
    async def get(self) -> None:
        limit = self.int_arg("limit", 50, low=1, high=500)
        schedule = self.get_argument("schedule", None) or None
        rows = await self.blocking(lambda: list_runs(Context.from_settings(), limit=limit,
                                                     schedule_id=schedule))
        self.reply({"runs": rows})

    @authenticated
    async def post(self) -> None:
        """Start a run and answer as soon as it is recorded (202), or with the finished run if it
        ends (or fails to start) first."""
        body = await self.body_object()
        path, params, output = self.notebook_path(body), _parameters(body), _text(body, "output")
        ctx = Context.from_settings()
        if body.get("on_worker"):
            run = await self.blocking(submit_notebook, ctx, path, params, output,
                                      timeout=body.get("timeout"))
            self.reply(run)
            return
        run_id = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(POOL, lambda: run_notebook(
            ctx, path, params, output, run_id=run_id, kernel_name=_text(body, "kernel"),
            cell_timeout=body.get("cell_timeout")))
        while True:
            done, _ = await asyncio.wait({future}, timeout=RUN_ANSWER_WAIT)
            if done:
                self.reply(future.result())  # raises bad input (no such notebook) as an error
                return
            try:
                run = await self.blocking(get_run, ctx, run_id)
            except NotFound:  # not recorded yet
                continue
            self.reply(run, 202)
            return


class SchedulesHandler(_NotebookHandler):
    @authenticated
    async def get(self) -> None:
        self.reply({"schedules": await self.blocking(lambda: list_schedules(Context.from_settings()))})

    @authenticated
    async def post(self) -> None:
        body = await self.body_object()
        cron = _text(body, "cron", required=True)
        path = self.notebook_path(body)
        out = await self.blocking(lambda: schedule_notebook(
            Context.from_settings(), path, cron, _parameters(body), _text(body, "output")))
        self.reply(out, 201)


ROUTES = [
    ("/health", HealthHandler),
    ("/workers", WorkersHandler),
    ("/workers/test", WorkerTestHandler),
    ("/notebook-runs", NotebookRunsHandler),
    ("/schedules", SchedulesHandler),
]
