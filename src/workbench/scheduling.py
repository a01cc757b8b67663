"""Notebooks as jobs: parameterized runs with papermill, and cron schedules fired by beat.

>>> from workbench.scheduling import run_notebook, schedule_notebook
>>> run = run_notebook(ctx, "notebooks/report.ipynb", {"region": "north"})
>>> run["status"], run["output_uri"]
>>> schedule_notebook(ctx, "notebooks/report.ipynb", "0 6 * * *", {"region": "north"})

A run is recorded in the catalog's ``notebook_runs`` table (parameters, duration, status, the
index of the failing cell and its error) and its executed notebook is stored, failed or not, under
``<namespace>/notebooks/<run id>/`` in the workbench storage, or at ``output`` when given (a local
path or an ``s3://``/``r2://`` URL). Schedules live in the ``schedules`` table, so they survive a
restart of beat; beat's periodic task calls ``run_due_schedules(ctx)``.

On a worker (``settings.on_worker``) a notebook runs only from a folder of
``WORKBENCH_NOTEBOOK_ROOTS`` or from the namespace's own storage, both checked after resolving
``..`` and symlinks, and its output goes only under the storage's ``<namespace>/notebooks/``
prefix: a task cannot make a worker execute or write a file anywhere else (SECURITY.md).

Kernels started here get ``WORKBENCH_DISPLAY=text``, so job views in scheduled runs print plain
lines into the saved notebook instead of widgets nobody can see.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import yaml

from .catalog import notebook_runs, schedules
from .context import Context
from .errors import AccessDenied, InputError, NotFound, SourceError, SpecError, WorkbenchError
from .masking import mask_value
from .security import check_notebook_path, inside
from .storage import open_storage

_ENV_LOCK = threading.Lock()  # the kernel inherits os.environ at start; change it one run at a time


# ----------------------------------------------------------------------------- parameters
def parse_value(text: str) -> Any:
    """A ``-p key value`` value as papermill's CLI reads it: numbers, booleans, null, else text."""

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool, list, dict)) or value is None else text


def check_notebook(path: str | Path) -> Path:
    try:
        p = Path(path).expanduser().absolute()
        found = p.is_file()
    except ValueError as exc:  # an embedded NUL byte
        raise SpecError(f"the notebook path is not a valid path: {exc}") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise SpecError(f"the notebook path is too long ({len(str(path))} characters)",
                            hint="give the path of an .ipynb file") from None
        raise SourceError(f"cannot read the notebook: {exc.strerror}", file=str(path)) from None
    if not found:
        raise NotFound("notebook not found", file=str(p), hint="give the path of an .ipynb file")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"cannot read the notebook: {exc.strerror}", file=str(p)) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SourceError(f"not a notebook (invalid JSON: {exc})", file=str(p)) from None
    if not isinstance(data, dict) or "cells" not in data:
        raise SourceError("not a notebook (no 'cells')", file=str(p))
    return p


def check_parameters(parameters: dict[str, Any] | None) -> dict[str, Any]:
    params = dict(parameters or {})
    for key in params:
        if not isinstance(key, str) or not key.isidentifier():
            raise SpecError(f"parameter name {key!r} is not a Python identifier",
                            hint="papermill assigns each parameter as a variable")
    try:
        json.dumps(params)
    except TypeError as exc:
        raise SpecError(f"parameters must be JSON values: {exc}") from None
    return params


# ----------------------------------------------------------------------------- output
def _worker_output_key(ctx: Context, output: str | None, run_id: str, stem: str) -> str:
    """On a worker: the storage key an output may go to, inside ``<namespace>/notebooks/``."""
    prefix = f"{ctx.namespace}/notebooks/"
    if output is None:
        return f"{prefix}{run_id}/{stem}.ipynb"
    base = ctx.storage.uri(prefix).rstrip("/") + "/"
    text = output.removeprefix("file://")
    local = "://" not in base
    if local and inside(text, base) or not local and text.startswith(base):
        rel = (os.path.relpath(os.path.realpath(text), os.path.realpath(base)) if local
               else text[len(base):])
        parts = [p for p in rel.replace(os.sep, "/").split("/") if p not in ("", ".")]
        if parts and ".." not in parts:
            name = "/".join(parts)
            if not name.endswith(".ipynb"):
                name = f"{name}/{stem}-{run_id[:12]}.ipynb"
            return prefix + name
    raise AccessDenied(
        "on a worker a notebook's output goes only to the workbench storage's notebooks folder, "
        f"not to {output!r}",
        hint=f"leave the output unset (it goes to {base}<run id>/), or name a place under {base}")


def _store_output(ctx: Context, local: Path, run_id: str, stem: str, output: str | None) -> str:
    data = local.read_bytes()
    if ctx.settings.on_worker:
        key = _worker_output_key(ctx, output, run_id, stem)
        ctx.storage.put_bytes(key, data)
        return ctx.storage.uri(key)
    if output is None:
        key = f"{ctx.namespace}/notebooks/{run_id}/{stem}.ipynb"
        ctx.storage.put_bytes(key, data)
        return ctx.storage.uri(key)
    if "://" in output and not output.startswith("file://"):

        base, _, name = output.rstrip("/").rpartition("/")
        if not name.endswith(".ipynb"):  # a prefix: keep the run's own name under it
            base, name = output.rstrip("/"), f"{stem}-{run_id[:12]}.ipynb"
        store = open_storage(ctx.settings, base)
        store.put_bytes(name, data)
        return store.uri(name)
    target = Path(output.removeprefix("file://")).expanduser().absolute()
    if target.is_dir() or output.endswith("/"):
        target = target / f"{stem}-{run_id[:12]}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(target)  # readers never see a half-written notebook
    return str(target)


def _source_index(output_nb: Path, cell_index: int) -> int:
    """The failing cell's index in the notebook the user wrote (without papermill's cells)."""
    try:
        nb = json.loads(output_nb.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return cell_index
    cells = [c for c in nb.get("cells", [])
             if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    injected = sum(1 for c in cells[:cell_index]
                   if "injected-parameters" in c.get("metadata", {}).get("tags", []))
    return cell_index - injected


# ----------------------------------------------------------------------------- runs
def _record(row: Any) -> dict[str, Any]:
    m = dict(row._mapping)
    m["parameters"] = json.loads(m.pop("parameters_json") or "{}")
    m["error"] = json.loads(m.pop("error_json")) if m.get("error_json") else None
    m["duration"] = (m["finished_at"] - m["started_at"]) if m.get("finished_at") else None
    return m


def run_notebook(ctx: Context, path: str | Path, parameters: dict[str, Any] | None = None,
                 output: str | None = None, *, schedule_id: str | None = None,
                 kernel_name: str | None = None, cell_timeout: float | None = None,
                 run_id: str | None = None) -> dict[str, Any]:
    """Run a notebook with papermill; returns the run record (``status`` succeeded or failed).

    A failing cell does not raise: the run ends ``failed`` with ``failed_cell`` (its index in the
    notebook as written) and ``error``, and the executed notebook is stored all the same. Bad input
    (no such notebook, not a notebook, bad parameter names) raises before anything is recorded.
    """
    # heavy optional dependency: imported on first use
    import papermill as pm

    with tempfile.TemporaryDirectory(prefix="wb-nbsrc-") as fetched:
        nb_path = _worker_notebook(ctx, path, Path(fetched)) if ctx.settings.on_worker \
            else check_notebook(path)
        shown = str(path) if "://" in str(path) else str(nb_path)  # a fetched copy: its origin
        return _run(pm, ctx, nb_path, shown, parameters, output, schedule_id=schedule_id,
                    kernel_name=kernel_name, cell_timeout=cell_timeout, run_id=run_id)


def _worker_notebook(ctx: Context, path: str | Path, fetched: Path) -> Path:
    """On a worker: the notebook from an allowed folder, or fetched from the namespace's
    storage; anything else is refused before it is read."""
    text = str(path)
    base = ctx.storage.uri(f"{ctx.namespace}/").rstrip("/") + "/"
    if "://" in base and text.startswith(base):
        rel = text[len(base):]
        if ".." in rel.split("/") or not rel.endswith(".ipynb"):
            raise AccessDenied(f"notebook {rel!r} is not a notebook of this namespace's storage")
        target = fetched / Path(rel).name
        target.write_bytes(ctx.storage.get_bytes(f"{ctx.namespace}/{rel}"))
        return check_notebook(target)
    if "://" not in base and inside(text, base):
        return check_notebook(os.path.realpath(text))
    check_notebook_path(text, ctx.settings)
    return check_notebook(os.path.realpath(text))


def _run(pm: Any, ctx: Context, nb_path: Path, shown: str, parameters: dict[str, Any] | None,
         output: str | None, *, schedule_id: str | None, kernel_name: str | None,
         cell_timeout: float | None, run_id: str | None) -> dict[str, Any]:
    params = check_parameters(parameters)
    run_id = run_id or uuid.uuid4().hex
    if ctx.settings.on_worker:  # refused before the notebook runs, not after
        _worker_output_key(ctx, output, run_id, nb_path.stem)
    started = time.time()
    ctx.catalog.execute(notebook_runs.insert().values(
        id=run_id, namespace=ctx.namespace, notebook=shown, parameters_json=json.dumps(params),
        status="running", started_at=started, schedule_id=schedule_id))
    status, failed_cell, error, output_uri = "succeeded", None, None, None
    with tempfile.TemporaryDirectory(prefix="wb-nbrun-") as tmp:
        out_local = Path(tmp) / f"{nb_path.stem}.ipynb"
        try:
            with _ENV_LOCK:
                saved = os.environ.get("WORKBENCH_DISPLAY")
                os.environ["WORKBENCH_DISPLAY"] = "text"
                try:
                    pm.execute_notebook(
                        str(nb_path), str(out_local), parameters=params, kernel_name=kernel_name,
                        progress_bar=False, log_output=False, cwd=str(nb_path.parent),
                        execution_timeout=cell_timeout)
                finally:
                    if saved is None:
                        os.environ.pop("WORKBENCH_DISPLAY", None)
                    else:
                        os.environ["WORKBENCH_DISPLAY"] = saved
        except pm.PapermillExecutionError as exc:
            status = "failed"
            failed_cell = _source_index(out_local, exc.cell_index)
            error = {"type": exc.ename, "message": str(exc.evalue), "cell": failed_cell,
                     "execution_count": exc.exec_count,
                     "source": (exc.source or "")[:2000], "hint": "open the output notebook to "
                     "see the cell's traceback"}
        except BaseException as exc:  # kernel died, timeout, missing kernel: still a failed run
            status = "failed"
            error = {"type": type(exc).__name__, "message": str(exc).strip()[:2000] or type(exc).__name__,
                     "hint": "check the kernel name and the notebook's dependencies"}
            if isinstance(exc, KeyboardInterrupt):
                status = "cancelled"
        if out_local.exists():
            try:
                output_uri = _store_output(ctx, out_local, run_id, nb_path.stem, output)
            except WorkbenchError as exc:
                status = "failed"
                error = error or {**exc.to_dict(), "hint": exc.hint or "check the output location"}
    ctx.catalog.execute(notebook_runs.update().where(notebook_runs.c.id == run_id).values(
        status=status, finished_at=time.time(), failed_cell=failed_cell, output_uri=output_uri,
        error_json=json.dumps(mask_value(error)) if error else None))
    return get_run(ctx, run_id)


def get_run(ctx: Context, run_id: str) -> dict[str, Any]:
    rows = ctx.catalog.execute(notebook_runs.select().where(
        notebook_runs.c.id == run_id, notebook_runs.c.namespace == ctx.namespace))
    if not rows:
        raise NotFound(f"no notebook run {run_id!r}", hint="`workbench notebook runs` lists them")
    return _record(rows[0])


def list_runs(ctx: Context, *, limit: int = 50, schedule_id: str | None = None) -> list[dict[str, Any]]:
    q = (notebook_runs.select().where(notebook_runs.c.namespace == ctx.namespace)
         .order_by(notebook_runs.c.started_at.desc()).limit(limit))
    if schedule_id:
        q = q.where(notebook_runs.c.schedule_id == schedule_id)
    return [_record(r) for r in ctx.catalog.execute(q)]


# ----------------------------------------------------------------------------- schedules
def _check_cron(cron: str) -> str:
    # heavy optional dependency: imported on first use
    from croniter import croniter

    cron = " ".join(str(cron).split())
    if not croniter.is_valid(cron):
        raise SpecError(f"invalid cron expression {cron!r}",
                        hint="five fields: minute hour day-of-month month day-of-week, "
                             "e.g. '0 6 * * *' for 06:00 every day")
    return cron


def next_run(cron: str, after: float) -> float:
    # heavy optional dependency: imported on first use
    from croniter import croniter

    return float(croniter(cron, after).get_next(float))


def _schedule(row: Any) -> dict[str, Any]:
    m = dict(row._mapping)
    m["parameters"] = json.loads(m.pop("parameters_json") or "{}")
    m["next_run_at"] = next_run(m["cron"], m["last_run_at"] or m["created_at"]) if m["enabled"] else None
    return m


def schedule_notebook(ctx: Context, notebook: str | Path, cron: str,
                      parameters: dict[str, Any] | None = None, output: str | None = None, *,
                      schedule_id: str | None = None) -> dict[str, Any]:
    """Register a schedule; beat runs the notebook at each time ``cron`` matches."""
    nb_path = check_notebook(notebook)
    cron = _check_cron(cron)
    params = check_parameters(parameters)
    sid = schedule_id or uuid.uuid4().hex[:16]
    ctx.catalog.execute(schedules.insert().values(
        id=sid, namespace=ctx.namespace, notebook=str(nb_path), cron=cron,
        parameters_json=json.dumps(params), output=output, created_at=time.time(), enabled=True))
    return get_schedule(ctx, sid)


def get_schedule(ctx: Context, schedule_id: str) -> dict[str, Any]:
    rows = ctx.catalog.execute(schedules.select().where(
        schedules.c.id == schedule_id, schedules.c.namespace == ctx.namespace))
    if not rows:
        raise NotFound(f"no schedule {schedule_id!r}", hint="`workbench notebook schedules` lists them")
    return _schedule(rows[0])


def list_schedules(ctx: Context, *, all_namespaces: bool = False) -> list[dict[str, Any]]:
    q = schedules.select().order_by(schedules.c.created_at)
    if not all_namespaces:
        q = q.where(schedules.c.namespace == ctx.namespace)
    return [_schedule(r) for r in ctx.catalog.execute(q)]


def unschedule(ctx: Context, schedule_id: str) -> dict[str, Any]:
    """Disable a schedule (its runs stay in the history)."""
    record = get_schedule(ctx, schedule_id)
    ctx.catalog.execute(schedules.update().where(schedules.c.id == schedule_id)
                        .values(enabled=False))
    return {**record, "enabled": False, "next_run_at": None}


def due_schedules(ctx: Context, now: float | None = None) -> list[dict[str, Any]]:
    """Enabled schedules (of every namespace) whose next run time is at or before ``now``."""
    now = time.time() if now is None else now
    return [s for s in list_schedules(ctx, all_namespaces=True)
            if s["enabled"] and s["next_run_at"] is not None and s["next_run_at"] <= now]


def _claim(ctx: Context, schedule: dict[str, Any], now: float) -> bool:
    """Mark a due schedule as run at ``now``; False if another beat/worker claimed it first."""
    last = schedule["last_run_at"]
    cond = schedules.c.last_run_at.is_(None) if last is None else schedules.c.last_run_at == last
    n = ctx.catalog.execute(schedules.update().where(schedules.c.id == schedule["id"], cond)
                            .values(last_run_at=now, last_status="running"))
    return bool(n)


def run_due_schedules(ctx: Context, now: float | None = None, *,
                      dispatch: Callable[[dict[str, Any]], Any] | None = None) -> list[dict[str, Any]]:
    """Run every due schedule once; beat's periodic task calls this.

    Each due schedule is claimed atomically first, so two beats (or a beat restarted mid-run) never
    run one occurrence twice; missed occurrences while beat was down collapse into one run.
    ``dispatch(schedule)`` sends the run elsewhere (a task on the ``notebooks`` queue); without it
    the notebook runs here and its run record is returned.
    """
    now = time.time() if now is None else now
    fired = []
    for sched in due_schedules(ctx, now):
        if not _claim(ctx, sched, now):
            continue
        sctx = ctx if sched["namespace"] == ctx.namespace else Context(
            ctx.settings.with_(namespace=sched["namespace"]), ctx.storage, ctx.catalog)
        if dispatch is not None:
            fired.append({"schedule_id": sched["id"], "dispatched": dispatch(sched)})
            continue
        try:
            run = run_notebook(sctx, sched["notebook"], sched["parameters"], sched["output"],
                               schedule_id=sched["id"])
        except InputError as exc:  # the notebook was moved or broken since it was scheduled
            run = {"schedule_id": sched["id"], "status": "failed", "error": exc.to_dict()}
        finish_scheduled_run(ctx, sched["id"], run["status"])
        fired.append(run)
    return fired


def finish_scheduled_run(ctx: Context, schedule_id: str, status: str) -> None:
    ctx.catalog.execute(schedules.update().where(schedules.c.id == schedule_id)
                        .values(last_status=status))


__all__ = ["due_schedules", "get_run", "get_schedule", "list_runs", "list_schedules", "next_run",
           "parse_value", "run_due_schedules", "run_notebook", "schedule_notebook", "unschedule"]
