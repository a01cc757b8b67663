"""Notebooks on the workers: send a parameterized run to the ``notebooks`` queue and wait.

>>> submit_notebook(ctx, "/shared/report.ipynb", {"region": "north"})

The run itself (papermill, the catalog record, the stored output) is ``scheduling.run_notebook``,
which the worker's ``workbench.run_notebook`` task calls; this module only sends it there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import BrokerUnavailable, Cancelled, ConfigError, WorkbenchError
from ..scheduling import check_notebook, check_parameters, get_run
from ..worker.task_result import wait_for_result
from .celery_runner import CeleryRunner


def submit_notebook(ctx: Context, path: str | Path, parameters: dict[str, Any] | None = None,
                    output: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
    """Run a notebook as a task on the workers' ``notebooks`` queue and wait for its run record.

    The path must be readable by the workers (a shared folder); the run is recorded in the
    catalog by the worker exactly as ``run_notebook`` records it here.
    """
    nb_path = check_notebook(path)
    params = check_parameters(parameters)
    if not ctx.settings.broker_url:
        raise ConfigError("running a notebook on the workers needs a broker",
                          hint="set WORKBENCH_BROKER_URL=redis://…, or run it here without --on-worker")
    app = CeleryRunner(ctx)._app()  # the app for this context's broker (one per broker URL)
    task = {"id": None, "namespace": ctx.namespace, "notebook": str(nb_path), "parameters": params,
            "output": output}
    # ``expires``: a worker that receives the message after the caller gave up discards it, so a
    # run given up on here never starts later (and never runs twice when it is sent again).
    try:
        result = app.send_task("workbench.run_notebook", args=[task], queue="notebooks",
                               expires=timeout)
    except Exception as exc:
        raise BrokerUnavailable(f"cannot run the notebook on the workers: {exc}") from None
    try:
        answer = wait_for_result(result, timeout)
    except Exception as exc:
        if isinstance(exc, WorkbenchError):
            raise
        if type(exc).__name__ != "TimeoutError":
            raise BrokerUnavailable(f"cannot run the notebook on the workers: {exc}") from None
        result.revoke()  # a worker holding it unstarted drops it now; one that started goes on
        raise Cancelled(
            f"no worker finished the run within {timeout:g}s: it was withdrawn, and a worker that "
            "has not started it will not", file=str(nb_path),
            hint="start a worker that serves the 'notebooks' queue (`workbench worker` serves every "
                 "queue; `workbench doctor` shows queues nobody serves), or give --timeout more "
                 "seconds; a run a worker had already started goes on: `workbench notebook runs`"
        ) from None
    finally:
        # Forget the result in Celery's pending table now: left to the garbage collector at
        # interpreter exit, it printed a traceback from a half torn-down redis client.
        app.backend.remove_pending_result(result)
    if answer.get("id"):
        return get_run(ctx, answer["id"])
    return {"notebook": str(nb_path), "parameters": params, **answer}
