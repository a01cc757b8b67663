"""``/health``, ``/workers``, ``/notebook-runs`` and ``/schedules``.

The calls behind ``workbench workers`` and ``workbench notebook run|runs|schedule|schedules``.
Notebook paths are read relative to Jupyter Server's root folder, as the file browser shows them,
and are confined to it as Jupyter's contents API confines its paths: a notebook, and the output
of a run in this server, must resolve (``..`` and symlinks followed) inside the root folder, and
not under a hidden folder unless the contents manager allows hidden files (SECURITY.md).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from ..context import Context
from ..errors import AccessDenied, NotFound, SpecError
from ..security import inside
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


_ROOT_HINT = ("give a path under Jupyter Server's root folder (ServerApp.root_dir), relative to it "
              "as the file browser shows it")


class _NotebookHandler(WorkbenchHandler):
    def root_dir(self) -> str:
        return os.path.realpath(os.path.expanduser(self.settings.get("server_root_dir") or "."))

    def confined(self, text: str, what: str) -> str:
        """``text`` (relative to the root folder, or absolute) resolved, if it stays inside the
        root folder and out of hidden folders; ``AccessDenied`` otherwise, before anything is
        opened, so a refusal says nothing about what is there."""
        if "\x00" in text:
            raise SpecError(f"the {what} path contains a NUL character")
        root = self.root_dir()
        given = text.removeprefix("file://")
        joined = os.path.join(root, given)  # an absolute path stays as it is
        real = os.path.realpath(joined)
        if not inside(real, root):
            raise AccessDenied(f"the {what} {text[:200]!r} is outside the server's root folder",
                               hint=_ROOT_HINT)
        if not getattr(self.contents_manager, "allow_hidden", False):
            parts = (os.path.relpath(os.path.abspath(joined), root).split(os.sep)
                     + os.path.relpath(real, root).split(os.sep))
            if any(p.startswith(".") and p not in (".", "..") for p in parts):
                raise AccessDenied(f"the {what} {text[:200]!r} is in a hidden folder or file",
                                   hint="Jupyter Server hides these (ContentsManager.allow_hidden)")
        return real + (os.sep if given.endswith("/") and real != root else "")

    def notebook_path(self, body: dict[str, Any]) -> str:
        return self.confined(_text(body, "notebook", required=True) or "", "notebook")

    def output_path(self, body: dict[str, Any]) -> str | None:
        """A local run's output: inside the root folder, or unset (the workbench storage)."""
        output = _text(body, "output")
        if output is None:
            return None
        if "://" in output and not output.startswith("file://"):
            raise AccessDenied(f"the output {output[:200]!r} is not a path under the server's root "
                               "folder", hint="leave output unset (the run is stored in the "
                               "workbench storage), or " + _ROOT_HINT)
        return self.confined(output, "output")


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
        path, params = self.notebook_path(body), _parameters(body)
        ctx = await self.blocking(Context.from_settings)
        if body.get("on_worker"):
            # the worker writes the output only into the workbench storage (its own rule)
            run = await self.blocking(submit_notebook, ctx, path, params, _text(body, "output"),
                                      timeout=body.get("timeout"))
            self.reply(run)
            return
        output = self.output_path(body)
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
        # beat runs schedules on a worker, which writes the output only into the workbench storage
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
