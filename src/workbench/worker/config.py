"""Worker settings from the environment, with the embedded defaults documented here.

The client (``CeleryRunner``), the workers, beat and Flower all build the Celery app from this one
module, so the broker options (the visibility timeout above all) can never differ between them.

==================================  =========================  ===========================================
variable                            default                    meaning
==================================  =========================  ===========================================
WORKBENCH_BROKER_URL                redis://localhost:6379/0   the Redis broker (also the event streams)
WORKBENCH_RESULT_BACKEND            the broker URL             where Celery keeps task results
WORKBENCH_RESULT_EXPIRES            86400                      seconds a task result is kept
WORKBENCH_SOFT_TIME_LIMIT_<KIND>    see TIME_LIMITS            seconds before a task is asked to stop
WORKBENCH_HARD_TIME_LIMIT_<KIND>    see TIME_LIMITS            seconds before its process is killed
WORKBENCH_VISIBILITY_TIMEOUT        longest hard limit + 600   seconds before Redis redelivers an unacked
                                                               task; must exceed every hard limit
WORKBENCH_RESTORE_INTERVAL          30                         seconds between sweeps that hand back the tasks
                                                               of a worker that died (after the timeout)
WORKBENCH_MAX_RETRIES               3                          retries of a transient error (so 4 attempts);
                                                               also how often a crashing job is re-run
WORKBENCH_RETRY_BACKOFF             2                          first retry delay, doubled each time
WORKBENCH_RETRY_BACKOFF_MAX         300                        cap of the retry delay (plus 0-25% jitter)
WORKBENCH_MAX_TASKS_PER_CHILD       1000                       a pool process is replaced after this many
WORKBENCH_MAX_MEMORY_PER_CHILD      4000000                    ... or once its resident memory (KiB) passes
WORKBENCH_HEARTBEAT_INTERVAL        5                          seconds between a running job's heartbeats
WORKBENCH_STALE_AFTER               60                         a running job without a heartbeat this long
                                                               is stuck (its worker is gone): re-queued, or
                                                               failed once its attempts are spent
WORKBENCH_STUCK_CHECK_INTERVAL      20                         beat: how often stuck jobs are looked for
                                                               (every worker also looks once at start)
WORKBENCH_CLEANUP_INTERVAL          86400                      beat: cleanup of soft-deleted data
WORKBENCH_RETENTION_SECONDS         604800                     beat's cleanup: deleted versions and dead writes
                                                               older than this are removed (gc --retention)
WORKBENCH_EXPIRE_INTERVAL           3600                       beat: expiry of old event streams
WORKBENCH_SCHEDULE_CHECK_INTERVAL   60                         beat: how often notebook schedules are looked at
WORKBENCH_STREAM_MAXLEN             10000                      events kept per job stream (approximate)
WORKBENCH_STREAM_TTL                604800                     seconds a job's event stream lives
WORKBENCH_REDIS_OUTAGE_WINDOW       300                        seconds a worker rides out Redis being away:
                                                               a finished task waits this long to deliver
                                                               its events and result
WORKBENCH_CATALOG_RETRY_WINDOW      300                        seconds catalog calls are retried through an
                                                               outage (then the task is retried later)
WORKBENCH_METRICS_PORT              9808                       Prometheus port of a worker (0: off)
WORKBENCH_LOG_FORMAT                json                       json (one object per line) or text
WORKBENCH_KEYS_DIR                  <WORKBENCH_HOME>/keys      the signing keys (``workbench keys init``);
                                                               the home's set is made on first use
WORKBENCH_TASK_MAX_AGE              86400                      seconds after which a signed task message
                                                               is refused as a replay; must exceed the
                                                               visibility timeout
WORKBENCH_ROLE                      kernel                     worker for workers and beat (the worker
                                                               commands set it); decides the signing key
==================================  =========================  ===========================================

Task kinds (``<KIND>`` above): PIPELINE, INGESTION, TRANSFORMATION, PERSISTENCE, NOTEBOOKS,
MAINTENANCE.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..masking import mask_url, remember

DEFAULT_BROKER = "redis://localhost:6379/0"

QUEUES = ("ingestion", "transformation", "persistence", "pipeline", "notebooks", "maintenance")

# (soft, hard) seconds per task kind; a kind is also the queue its tasks go to.
TIME_LIMITS: dict[str, tuple[float, float]] = {
    "pipeline": (3300.0, 3600.0),
    "ingestion": (3300.0, 3600.0),
    "transformation": (3300.0, 3600.0),
    "persistence": (1700.0, 1800.0),
    "notebooks": (3300.0, 3600.0),
    "maintenance": (540.0, 600.0),
}


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _num(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class WorkerConfig:
    broker_url: str = DEFAULT_BROKER
    result_backend: str = DEFAULT_BROKER
    namespace: str = "default"
    result_expires: int = 86400
    time_limits: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(TIME_LIMITS))
    visibility_timeout: int = 4200
    restore_interval: int = 30
    max_retries: int = 3
    retry_backoff: float = 2.0
    retry_backoff_max: float = 300.0
    max_tasks_per_child: int = 1000
    max_memory_per_child: int = 4_000_000
    heartbeat_interval: float = 5.0
    stale_after: float = 60.0
    stuck_check_interval: float = 20.0
    cleanup_interval: float = 86400.0
    expire_interval: float = 3600.0
    schedule_check_interval: float = 60.0
    stream_maxlen: int = 10_000
    stream_ttl: int = 604_800
    metrics_port: int = 9808
    redis_outage_window: float = 300.0
    log_format: str = "json"
    keys_dir: str | None = None  # None: <WORKBENCH_HOME>/keys, created on first use
    task_max_age: float = 86400.0
    role: str = "kernel"

    @property
    def signing_role(self) -> str:
        """Whose key this process signs with: workers and beat hold the worker key."""
        return "worker" if self.role == "worker" else "client"

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    @classmethod
    def from_env(cls) -> WorkerConfig:
        broker = _env("WORKBENCH_BROKER_URL", DEFAULT_BROKER)
        remember(broker, os.environ.get("WORKBENCH_RESULT_BACKEND"))
        if not broker.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"WORKBENCH_BROKER_URL must be a Redis URL, got {mask_url(broker)!r}",
                              hint="e.g. redis://localhost:6379/0")
        limits = {}
        for kind, (soft, hard) in TIME_LIMITS.items():
            s = _num(f"WORKBENCH_SOFT_TIME_LIMIT_{kind.upper()}", soft)
            h = _num(f"WORKBENCH_HARD_TIME_LIMIT_{kind.upper()}", hard)
            if s >= h:
                raise ConfigError(f"the soft time limit of {kind} tasks ({s:g}s) must be below the "
                                  f"hard one ({h:g}s)")
            limits[kind] = (s, h)
        longest = max(h for _s, h in limits.values())
        vt = int(_num("WORKBENCH_VISIBILITY_TIMEOUT", longest + 600))
        if vt <= longest:
            # Redis would hand a task that is still running to a second worker.
            raise ConfigError(f"WORKBENCH_VISIBILITY_TIMEOUT ({vt}s) must be longer than the longest "
                              f"hard time limit ({longest:g}s)",
                              hint="raise it, or lower WORKBENCH_HARD_TIME_LIMIT_*")
        max_age = _num("WORKBENCH_TASK_MAX_AGE", 86400.0)
        if max_age <= vt:
            # Redis hands an unacked message out again after the visibility timeout: that
            # redelivery must still be accepted.
            raise ConfigError(f"WORKBENCH_TASK_MAX_AGE ({max_age:g}s) must be longer than the "
                              f"visibility timeout ({vt}s)",
                              hint="raise WORKBENCH_TASK_MAX_AGE or lower WORKBENCH_VISIBILITY_TIMEOUT")
        role = _env("WORKBENCH_ROLE", "kernel")
        if role not in ("kernel", "worker"):
            raise ConfigError(f"WORKBENCH_ROLE must be kernel or worker, got {role!r}")
        fmt = _env("WORKBENCH_LOG_FORMAT", "json")
        if fmt not in ("json", "text"):
            raise ConfigError(f"WORKBENCH_LOG_FORMAT must be json or text, got {fmt!r}")
        return cls(
            broker_url=broker,
            result_backend=_env("WORKBENCH_RESULT_BACKEND", broker),
            namespace=_env("WORKBENCH_NAMESPACE", "default"),
            result_expires=int(_num("WORKBENCH_RESULT_EXPIRES", 86400)),
            time_limits=limits,
            visibility_timeout=vt,
            restore_interval=max(1, int(_num("WORKBENCH_RESTORE_INTERVAL", 30))),
            max_retries=int(_num("WORKBENCH_MAX_RETRIES", 3)),
            retry_backoff=_num("WORKBENCH_RETRY_BACKOFF", 2.0),
            retry_backoff_max=_num("WORKBENCH_RETRY_BACKOFF_MAX", 300.0),
            max_tasks_per_child=int(_num("WORKBENCH_MAX_TASKS_PER_CHILD", 1000)),
            max_memory_per_child=int(_num("WORKBENCH_MAX_MEMORY_PER_CHILD", 4_000_000)),
            heartbeat_interval=_num("WORKBENCH_HEARTBEAT_INTERVAL", 5.0),
            stale_after=_num("WORKBENCH_STALE_AFTER", 60.0),
            stuck_check_interval=_num("WORKBENCH_STUCK_CHECK_INTERVAL", 20.0),
            cleanup_interval=_num("WORKBENCH_CLEANUP_INTERVAL", 86400.0),
            expire_interval=_num("WORKBENCH_EXPIRE_INTERVAL", 3600.0),
            schedule_check_interval=_num("WORKBENCH_SCHEDULE_CHECK_INTERVAL", 60.0),
            stream_maxlen=int(_num("WORKBENCH_STREAM_MAXLEN", 10_000)),
            stream_ttl=int(_num("WORKBENCH_STREAM_TTL", 604_800)),
            metrics_port=int(_num("WORKBENCH_METRICS_PORT", 9808)),
            redis_outage_window=_num("WORKBENCH_REDIS_OUTAGE_WINDOW", 300.0),
            log_format=fmt,
            keys_dir=os.environ.get("WORKBENCH_KEYS_DIR") or None,
            task_max_age=max_age,
            role=role,
        )

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff with a cap and 0-25% jitter, so retries of many jobs spread out."""

        base = min(self.retry_backoff_max, self.retry_backoff * (2 ** max(0, attempt - 1)))
        return round(base * (1 + random.random() * 0.25), 3)
