"""Notebooks on the workers: send a parameterized run to the ``notebooks`` queue and wait.

>>> submit_notebook(ctx, "/shared/report.ipynb", {"region": "north"})

The run itself (papermill, the catalog record, the stored output) is ``scheduling.run_notebook``,
which the worker's ``workbench.run_notebook`` task calls; this module only sends it there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import BrokerUnavailable, ConfigError, WorkbenchError
from ..scheduling import check_notebook, check_parameters, get_run
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
    try:
        result = app.send_task("workbench.run_notebook", args=[task], queue="notebooks")
        answer = result.get(timeout=timeout)
    except Exception as exc:
        if isinstance(exc, WorkbenchError):
            raise
        if type(exc).__name__ == "TimeoutError":
            raise WorkbenchError(f"no answer from the notebooks queue after {timeout}s",
                                 hint="is a worker consuming the 'notebooks' queue?") from None
        raise BrokerUnavailable(f"cannot run the notebook on the workers: {exc}") from None
    if answer.get("id"):
        return get_run(ctx, answer["id"])
    return {"notebook": str(nb_path), "parameters": params, **answer}
