"""CeleryRunner: the pipeline runs on Celery workers; its events stream back over Redis.

>>> job = CeleryRunner().submit(pipeline)      # returns at once with the job id
>>> job.wait().result                           # the same Dataset the LocalRunner gives

A ``CeleryJob`` behaves as a ``LocalJob``: status, progress, events, wait, cancel, result. Its
events come from the job's Redis Stream, read by one background thread per process
(``worker.stream.StreamHub``); ``attach(job_id)`` rebuilds a handle after a kernel restart and
replays the job from its first event.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from ..context import Context
from ..catalog_identity import catalog_id
from ..errors import BrokerUnavailable, ConfigError, WorkbenchError
from ..events import JobCancelled, Message
from ..job_handle import Job
from ..masking import mask_url, remember
from ..spec.models import Pipeline
from ..worker import keys
from ..worker.app import get_app, make_app
from ..worker.config import WorkerConfig
from ..worker.recovery import finish_if_open
from ..worker.stream import (
    StreamHub, StreamPublisher, decode, events_from_record, redis_client, redis_errors,
)
from ..worker.submit import send_run
from .local import LocalRunner, new_job_id

CONNECT_TIMEOUT = 2.0  # seconds: a submit fails fast instead of hanging on a dead broker

_HUBS: dict[tuple[str, str, str], Any] = {}
_HUBS_LOCK = threading.Lock()
_APPS: dict[str, Any] = {}


def _hub(broker_url: str, ctx: Context) -> Any:
    key = (broker_url, ctx.namespace, ctx.catalog.url)
    with _HUBS_LOCK:
        hub = _HUBS.get(key)
        if hub is None:
            hub = _HUBS[key] = StreamHub(broker_url, ctx.namespace, ctx.catalog)
        return hub


class CeleryJob(Job):
    runner = "celery"

    def __init__(self, job_id: str, runner: CeleryRunner) -> None:
        super().__init__(job_id)
        self._runner = runner

    def cancel(self) -> None:
        """Revoke it if still queued; stop it between batches if running. Nothing partial shows."""
        self._runner.cancel(self.id)

    def _deliver(self, event: Any) -> None:
        if event.kind == "job_failed" and (event.error or {}).get("type") == "ConfigError":
            # A worker records a failure before it streams it; a ConfigError for a record still
            # queued here comes from a worker that refused the job because it keeps another
            # catalog (another deployment on the same broker database): the kernel records it.
            # Off the stream's thread, which a slow catalog must never hold up.
            threading.Thread(target=self._record_refusal, args=(event.error,), daemon=True,
                             name=f"wb-refused-{self.id}").start()
        super()._deliver(event)

    def _record_refusal(self, error: dict[str, Any]) -> None:
        try:
            finish_if_open(self._runner.ctx, self.id, "failed", error=error, from_states=("queued",))
        except WorkbenchError:
            pass  # the catalog is away: the record stays queued; the view shows the refusal


class CeleryRunner:
    """Submit pipelines to the workers behind ``WORKBENCH_BROKER_URL``.

    ``fallback="local"`` runs the pipeline in this process when the broker cannot be reached
    (and says so in the job's events); otherwise ``submit`` raises ``BrokerUnavailable`` within
    about two seconds. ``stages=True`` runs ingest, transform and persist as separate tasks.
    """

    name = "celery"

    def __init__(self, ctx: Context | None = None, *, fallback: str | None = None,
                 stages: bool = False, broker_url: str | None = None) -> None:
        if fallback not in (None, "local"):
            raise ConfigError(f"unknown fallback {fallback!r}", hint="use fallback='local' or None")
        self._ctx = ctx
        self.fallback = fallback
        self.stages = stages
        self._broker_url = broker_url
        remember(broker_url)
        self._client: Any = None

    # -- plumbing -------------------------------------------------------------------
    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            self._ctx = Context.from_settings()
        return self._ctx

    @property
    def broker_url(self) -> str:
        url = self._broker_url or self.ctx.settings.broker_url
        if not url:
            raise ConfigError("no broker configured", hint="set WORKBENCH_BROKER_URL=redis://host:6379/0")
        return url

    def _redis(self) -> Any:
        if self._client is None:  # one connection pool per runner (clients are thread-safe)
            self._client = redis_client(self.broker_url, timeout=CONNECT_TIMEOUT,
                                        connect_timeout=CONNECT_TIMEOUT)
        return self._client

    def ping(self) -> Any:
        """A Redis client after a successful PING, or ``BrokerUnavailable``."""

        client = self._redis()
        try:
            client.ping()
        except redis_errors() as exc:
            raise BrokerUnavailable(
                f"the broker at {mask_url(self.broker_url)} is unreachable: {exc}",
                hint="start Redis (and workers), fix WORKBENCH_BROKER_URL, or submit with "
                     "runner='local' / fallback='local'") from None
        return client

    def _app(self) -> Any:
        app = get_app()
        if app.conf.broker_url == self.broker_url:
            return app
        with _HUBS_LOCK:  # another broker than the environment's: one app per broker URL
            app = _APPS.get(self.broker_url)
            if app is None:

                cfg = dataclasses.replace(WorkerConfig.from_env(), broker_url=self.broker_url,
                                          result_backend=self.broker_url)
                app = _APPS[self.broker_url] = make_app(cfg)
        return app

    # -- API ------------------------------------------------------------------------
    def submit(self, pipeline: Pipeline, *, job_id: str | None = None, wait: bool = False) -> Job:
        job_id = job_id or new_job_id()
        try:
            client = self.ping()
        except BrokerUnavailable as err:
            if self.fallback != "local":
                raise
            job = LocalRunner(self.ctx).submit(pipeline, job_id=job_id)
            job._deliver(Message(job_id=job_id, level="warning",
                                 text=f"{err.message}; running in this process instead (fallback='local')"))
            if wait:
                job.wait()
            return job

        ctx = self.ctx
        spec = pipeline.model_dump(mode="json")
        ctx.catalog.create_job(job_id=job_id, namespace=ctx.namespace, spec=spec, runner="celery",
                               name=pipeline.name)
        job = CeleryJob(job_id, self)
        _hub(self.broker_url, ctx).subscribe(job)
        try:
            send_run(self._app(), client, ctx.namespace, job_id, spec,
                     {"catalog": catalog_id(ctx.catalog), **({"stages": True} if self.stages else {})})
        except BrokerUnavailable as err:

            finish_if_open(ctx, job_id, "failed", error=err.to_dict())
            _hub(self.broker_url, ctx).unsubscribe(job_id)
            raise
        if wait:
            job.wait()
        return job

    def attach(self, job_id: str) -> CeleryJob:
        """A handle on an existing job: its events replay from the start, then follow live."""

        ctx = self.ctx
        rec = ctx.catalog.get_job(job_id, ctx.namespace)
        job = CeleryJob(job_id, self)
        first = None
        try:
            entries = self._redis().xrange(keys.events(ctx.namespace, job_id), count=1)
            first = decode(entries[0][1]) if entries else None
        except redis_errors():
            entries = []
        if first is None or first.kind != "job_started":
            # The stream expired, was trimmed or lost: start from the durable record.
            for ev in events_from_record(rec, job.state):
                if ev.kind == "job_started" or not entries:
                    job._deliver(ev)
        if not job.done:
            _hub(self.broker_url, ctx).subscribe(job)
        return job

    def cancel(self, job_id: str) -> str:
        """Cancel a job; returns its status after the request (``cancelled`` if it was queued)."""

        ctx = self.ctx
        ctx.catalog.get_job(job_id, ctx.namespace)  # NotFound for another namespace's job
        ctx.catalog.request_cancel(job_id)
        try:
            client = self._redis()
            client.set(keys.cancel(ctx.namespace, job_id), "1", ex=7 * 86400)
        except redis_errors():
            client = None
        if finish_if_open(ctx, job_id, "cancelled", from_states=("queued", "retrying")):
            # Never started (or between attempts): nothing ran, nothing to stop.
            if client is not None:
                try:
                    self._app().control.revoke(job_id)
                except Exception:
                    pass
                pub = StreamPublisher(client, keys.events(ctx.namespace, job_id), maxlen=10_000,
                                      ttl=86400)
                pub(JobCancelled(job_id=job_id))
                pub.close(2)
        return ctx.catalog.get_job(job_id)["status"]

    def status(self, job_id: str) -> dict[str, Any]:
        return self.ctx.catalog.get_job(job_id)


__all__ = ["CeleryJob", "CeleryRunner"]
