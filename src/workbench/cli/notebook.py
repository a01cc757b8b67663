"""``workbench notebook run|schedule|schedules|runs|unschedule``: notebooks as jobs."""

from __future__ import annotations

import argparse
from typing import Any

from ..context import Context
from ..runners.notebooks import submit_notebook
from ..scheduling import (
    list_runs, list_schedules, parse_value, run_due_schedules, run_notebook, schedule_notebook,
    unschedule,
)
from ..textview import human_time
from .output import add_command as _add
from .output import output, whole_number


def _params(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="a notebook parameter (repeatable); numbers and true/false are typed")


def register(sub) -> None:
    nb = sub.add_parser("notebook", help="run and schedule parameterized notebooks",
                        description="Run and schedule parameterized notebooks (papermill).")
    nsub = nb.add_subparsers(dest="notebook_command", metavar="ACTION")
    nb.set_defaults(handler=lambda args: (nb.print_help(), 2)[1])

    p = _add(nsub, "run", cmd_run, "run a notebook with parameters; store the executed notebook")
    p.add_argument("notebook", help="the .ipynb file")
    _params(p)
    p.add_argument("--output", help="where to store the executed notebook (a path or s3://…); "
                                    "default: the workbench storage")
    p.add_argument("--kernel", help="kernel name (default: the notebook's)")
    p.add_argument("--cell-timeout", type=float, help="seconds one cell may run")
    p.add_argument("--on-worker", action="store_true",
                   help="run it as a task on the workers' 'notebooks' queue (needs a broker)")
    p.add_argument("--timeout", type=float, default=None,
                   help="with --on-worker: seconds to wait for the run to end")

    p = _add(nsub, "schedule", cmd_schedule, "run a notebook on a cron schedule (beat fires it)")
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("--cron", required=True, help="five cron fields, e.g. '0 6 * * *'")
    _params(p)
    p.add_argument("--output", help="where to store each executed notebook")

    _add(nsub, "schedules", cmd_schedules, "list schedules with their last and next run")

    p = _add(nsub, "unschedule", cmd_unschedule, "disable a schedule")
    p.add_argument("schedule_id", help="the id `workbench notebook schedules` lists")

    p = _add(nsub, "runs", cmd_runs, "list recent notebook runs")
    p.add_argument("--limit", type=whole_number(1), default=20,
                   help="how many runs, newest first (default: 20)")
    p.add_argument("--schedule", help="only the runs of this schedule")

    p = _add(nsub, "tick", cmd_tick, "run the schedules that are due now (what beat calls)")


def _ctx():
    return Context.from_settings()


def _parameters(args) -> dict[str, Any]:
    return {k: parse_value(v) for k, v in args.parameter}


def _when(ts: float | None) -> str:
    return human_time(ts, seconds=False)


def _run_text(r: dict[str, Any]) -> str:
    lines = [f"run {r['id']} {r['status']} in {r['duration'] or 0:.1f}s: {r['notebook']}"]
    if r.get("output_uri"):
        lines.append(f"  output: {r['output_uri']}")
    if r.get("error"):
        e = r["error"]
        cell = f" in cell {r['failed_cell']}" if r.get("failed_cell") is not None else ""
        lines.append(f"  failed{cell}: {e.get('type')}: {e.get('message')}")
    return "\n".join(lines)


def cmd_run(args) -> int:
    if args.on_worker:
        run = submit_notebook(_ctx(), args.notebook, _parameters(args), args.output,
                              timeout=args.timeout)
    else:
        run = run_notebook(_ctx(), args.notebook, _parameters(args), args.output,
                           kernel_name=args.kernel, cell_timeout=args.cell_timeout)
    output(args, run, lambda: _run_text(run))
    return 0 if run["status"] == "succeeded" else 1


def cmd_schedule(args) -> int:
    s = schedule_notebook(_ctx(), args.notebook, args.cron, _parameters(args), args.output)
    output(args, s, lambda: f"schedule {s['id']}: {s['notebook']} at '{s['cron']}', "
                            f"next run {_when(s['next_run_at'])}")
    return 0


def cmd_schedules(args) -> int:
    items = list_schedules(_ctx())

    def text() -> str:
        if not items:
            return "no schedules (`workbench notebook schedule NB --cron ...` adds one)"
        rows = [f"{'id':16}  {'cron':14}  {'last run':16}  {'status':9}  {'next run':16}  notebook"]
        for s in items:
            rows.append(f"{s['id']:16}  {s['cron']:14}  {_when(s['last_run_at']):16}  "
                        f"{(s['last_status'] or '-'):9}  "
                        f"{(_when(s['next_run_at']) if s['enabled'] else 'disabled'):16}  "
                        f"{s['notebook']}")
        return "\n".join(rows)

    output(args, {"schedules": items}, text)
    return 0


def cmd_unschedule(args) -> int:
    s = unschedule(_ctx(), args.schedule_id)
    output(args, s, f"schedule {s['id']} disabled")
    return 0


def cmd_runs(args) -> int:
    items = list_runs(_ctx(), limit=args.limit, schedule_id=args.schedule)
    output(args, {"runs": items}, lambda: "\n".join(_run_text(r) for r in items) or "no runs")
    return 0


def cmd_tick(args) -> int:
    fired = run_due_schedules(_ctx())
    output(args, {"runs": fired},
           lambda: "\n".join(_run_text(r) for r in fired if "id" in r) or "nothing due")
    return 0 if all(r.get("status") == "succeeded" for r in fired) else 1
