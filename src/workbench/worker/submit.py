"""Sending a job to the workers (used by the CeleryRunner, the stuck-job check and the CLI)."""

from __future__ import annotations

from typing import Any

from ..errors import BrokerUnavailable
from . import keys
from .stream import redis_errors

RUN_TASK = "workbench.run_pipeline"


def send_run(app: Any, redis: Any, namespace: str, job_id: str, spec: dict[str, Any],
             options: dict[str, Any] | None = None) -> None:
    """Queue ``run_pipeline`` for a job whose catalog record exists.

    The Celery task id is the job id, so ``revoke``, Flower and the result backend all speak of
    the job. A marker key says the message should be in Redis: if Redis loses its data, the
    marker goes too and the stuck-job check queues the job again.
    """

    errors = redis_errors() + _kombu_errors()
    try:
        redis.set(keys.queued(namespace, job_id), "1", ex=30 * 86400)
        app.send_task(RUN_TASK, args=[job_id, spec, options or {}], task_id=job_id,
                      queue="pipeline", retry=True,
                      retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2,
                                    "interval_max": 0.5})
    except errors as exc:
        raise BrokerUnavailable(f"could not queue job {job_id}: {type(exc).__name__}: {exc}",
                                hint="check that Redis is running at WORKBENCH_BROKER_URL") from None


def _kombu_errors() -> tuple[type[BaseException], ...]:
    # heavy optional dependency: imported on first use
    from kombu.exceptions import OperationalError

    return (OperationalError,)
