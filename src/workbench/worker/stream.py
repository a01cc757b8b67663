"""A job's events on a Redis Stream: written by the worker, read live by every client.

Celery's ``update_state`` keeps only the last state, so every typed event goes to one stream per
job (``XADD`` bounded by ``MAXLEN`` and refreshed with ``EXPIRE``). A client reads with blocking
``XREAD`` from the first entry, so a late or reconnecting reader replays the whole job. The stream
is a view: the catalog keeps the durable record, and a client falls back to it when the stream
lost the end of a job (a Redis restart) — see ``StreamHub``.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import uuid
from typing import Any, Callable

from ..catalog import job_from_row, jobs
from ..events import Event, JobCancelled, JobFailed, JobFinished, JobStarted, Message
from ..job_record import outcome_events, step_names
from . import keys

log = logging.getLogger("workbench.worker.stream")

FIELD = "e"  # each stream entry is {"e": <event JSON>}
EID = "eid"  # in the event JSON: "<publisher>-<n>", the same when a batch is written again


def redis_client(url: str, *, timeout: float = 5.0, connect_timeout: float = 2.0):
    """A client that fails fast when Redis is away instead of hanging."""
    # heavy optional dependency: imported on first use
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=timeout,
                                decode_responses=True, health_check_interval=15)


def encode(event: Event) -> str:
    return json.dumps(event.to_dict(), default=str, separators=(",", ":"))


def decode(fields: dict[str, str]) -> Event:
    return Event.from_dict(json.loads(fields[FIELD]))


def decode_entry(fields: dict[str, str]) -> tuple[str | None, Event]:
    """The event of a stream entry and its publisher's id for it (None if it has none)."""
    data = json.loads(fields[FIELD])
    return data.get(EID), Event.from_dict(data)


def redis_errors() -> tuple[type[BaseException], ...]:
    # heavy optional dependency: imported on first use
    import redis

    return (redis.ConnectionError, redis.TimeoutError, OSError)


# ----------------------------------------------------------------------------- writing
class StreamPublisher:
    """``emit`` for one job: events queue in memory and a thread writes them in batches.

    The job never waits on Redis: while Redis is away the events wait here (bounded) and are
    written once it is back, in order. ``close`` flushes what it can within a timeout.
    """

    MAX_PENDING = 50_000

    def __init__(self, client: Any, key: str, *, maxlen: int, ttl: int,
                 on_event: Callable[[Event], None] | None = None,
                 close_timeout: float = 10.0) -> None:
        self._client, self._key, self._maxlen, self._ttl = client, key, maxlen, ttl
        self._close_timeout = close_timeout
        self._pending: collections.deque[str] = collections.deque()
        self._last_is_progress = False
        self._cond = threading.Condition()
        self._closing = False
        self._on_event = on_event
        self.sent = 0
        self.dropped = 0
        self._uid = uuid.uuid4().hex[:16]
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name="workbench-stream", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                pass
        progress = event.kind == "progress"
        with self._cond:
            # An id per event: a batch whose reply was lost (a timeout after Redis wrote it) is
            # written again, and readers drop the copies by this id.
            self._seq += 1
            data = json.dumps({**event.to_dict(), EID: f"{self._uid}-{self._seq}"}, default=str,
                              separators=(",", ":"))
            if progress and len(self._pending) >= self.MAX_PENDING:
                # Redis is away (or slower than the job): progress is a snapshot, so the newest
                # replaces the newest pending one; every other event is kept, in order.
                self.dropped += 1
                if self._last_is_progress:
                    self._pending[-1] = data
                self._cond.notify()
                return
            self._pending.append(data)
            self._last_is_progress = progress
            self._cond.notify()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def _run(self) -> None:
        errors = redis_errors()
        delay = 0.1
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait(0.5)
                if not self._pending and self._closing:
                    return
                batch = [self._pending[i] for i in range(min(len(self._pending), 500))]
            try:
                pipe = self._client.pipeline(transaction=False)
                for data in batch:
                    pipe.xadd(self._key, {FIELD: data}, maxlen=self._maxlen, approximate=True)
                pipe.expire(self._key, self._ttl)
                pipe.execute()
            except errors as exc:
                with self._cond:
                    if self._closing and self._give_up:
                        return
                log.warning("event stream write failed, will retry: %s", exc)
                time.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            delay = 0.1
            with self._cond:
                for _ in batch:
                    self._pending.popleft()
                self.sent += len(batch)
                self._cond.notify_all()

    _give_up = False

    def close(self, timeout: float | None = None) -> int:
        """Write what is pending (waiting up to ``timeout``, by default the Redis outage window
        a worker rides out); returns the events not written."""
        if timeout is None:
            timeout = self._close_timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self._give_up = True
            left = len(self._pending)
        if left:
            log.warning("%d events of %s not written: Redis unreachable (the catalog has the "
                        "job's outcome)", left, self._key)
        return left


# ----------------------------------------------------------------------------- reading
def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class _Sub:
    __slots__ = ("job", "key", "last_id", "idle_since", "done", "seen")

    def __init__(self, job: Any, key: str) -> None:
        self.job = job
        self.key = key
        self.last_id = "0-0"
        self.idle_since = time.monotonic()
        self.done = False
        self.seen: set[str] = set()  # event ids delivered (a batch written twice is read once)


class StreamHub:
    """One reader thread per process for every job it watches: a blocking ``XREAD`` over all
    their streams (plus a private wake-up stream, so a new job is read at once).

    A Redis outage is survived: the thread reconnects with backoff and continues from the last
    entry it saw (stream ids grow with time, so entries written after a restart come next). The
    catalog is polled for jobs whose stream went quiet: a job that ended while its events were
    lost still ends here, from its durable record. Several handles on one job each get every
    event once.
    """

    BLOCK_MS = 2000
    CATALOG_POLL = 2.0  # seconds a job's stream may stay quiet before the catalog is asked
    GRACE = 3.0  # seconds after a job's recorded end before its missing last event is made up

    def __init__(self, redis_url: str, namespace: str, catalog: Any) -> None:
        self._url = redis_url
        self._namespace = namespace
        self._catalog = catalog
        self._client = redis_client(redis_url, timeout=self.BLOCK_MS / 1000 + 5)
        self._wake_key = keys.hub_wake(uuid.uuid4().hex)
        self._wake_last = "0-0"
        self._subs: dict[str, list[_Sub]] = {}
        self._lock = threading.Lock()
        self._has_work = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = True
        self.reconnects = 0
        self._last_catalog_poll = 0.0

    def subscribe(self, job: Any) -> None:
        key = keys.events(self._namespace, job.id)
        with self._lock:
            self._subs.setdefault(key, []).append(_Sub(job, key))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="workbench-stream-reader",
                                                daemon=True)
                self._thread.start()
        self._has_work.set()
        try:  # wake a blocked XREAD so the new job's first events arrive without delay
            self._client.xadd(self._wake_key, {"w": "1"}, maxlen=10, approximate=True)
            self._client.expire(self._wake_key, 3600)
        except redis_errors():
            pass

    def unsubscribe(self, job_id: str) -> None:
        with self._lock:
            self._subs.pop(keys.events(self._namespace, job_id), None)

    # -- the thread ---------------------------------------------------------------
    def _run(self) -> None:
        errors = redis_errors()
        delay = 0.1
        while True:
            with self._lock:
                streams = {k: min((s.last_id for s in subs), key=_id)
                           for k, subs in self._subs.items() if subs}
            if not streams:
                self._has_work.clear()
                self._has_work.wait(5.0)
                continue
            streams[self._wake_key] = self._wake_last
            try:
                resp = self._client.xread(streams, count=1000, block=self.BLOCK_MS)
            except errors as exc:
                if self.connected:
                    log.warning("lost the event stream connection, reconnecting: %s", exc)
                self.connected = False
                self._poll_catalog(force=True)
                time.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            if not self.connected:
                self.connected = True
                self.reconnects += 1
            delay = 0.1
            now = time.monotonic()
            for key, entries in resp or []:
                if key == self._wake_key:
                    self._wake_last = entries[-1][0]
                    continue
                with self._lock:
                    subs = list(self._subs.get(key, ()))
                for entry_id, fields in entries:
                    try:
                        eid, ev = decode_entry(fields)
                    except Exception:  # an entry we cannot read must not stop the others
                        eid, ev = None, None
                    for sub in subs:
                        if sub.done or _id(entry_id) <= _id(sub.last_id):
                            continue
                        sub.last_id = entry_id
                        sub.idle_since = now
                        if ev is None or eid in sub.seen:
                            continue
                        if eid is not None:
                            sub.seen.add(eid)
                        sub.job._deliver(ev)
                        if ev.terminal:
                            sub.done = True
            self._drop_done()
            self._poll_catalog()

    def _drop_done(self) -> None:
        with self._lock:
            for key in list(self._subs):
                left = [s for s in self._subs[key] if not (s.done or s.job.done)]
                if left:
                    self._subs[key] = left
                else:
                    del self._subs[key]

    def _poll_catalog(self, *, force: bool = False) -> None:
        """Finish jobs whose end is recorded in the catalog but never reached the stream."""
        now = time.monotonic()
        if not force and now - self._last_catalog_poll < self.CATALOG_POLL:
            return
        self._last_catalog_poll = now
        with self._lock:
            quiet = [s for subs in self._subs.values() for s in subs
                     if force or now - s.idle_since >= self.CATALOG_POLL]
        if not quiet:
            return
        try:
            records = _job_states(self._catalog, sorted({s.job.id for s in quiet}))
        except Exception as exc:
            log.debug("catalog poll failed: %s", exc)
            return
        wall = time.time()
        for sub in quiet:
            rec = records.get(sub.job.id)
            if rec is None or rec["status"] not in ("succeeded", "failed", "cancelled"):
                continue
            if wall - (rec.get("finished_at") or 0) < self.GRACE and self.connected:
                continue  # its last events are probably on their way
            for ev in events_from_record(rec, sub.job.state):
                sub.job._deliver(ev)
            sub.done = True
        self._drop_done()


def _job_states(catalog: Any, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    # heavy optional dependency: imported on first use
    import sqlalchemy as sa

    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(job_ids), 500):
        chunk = job_ids[i:i + 500]
        for row in catalog.rows(sa.select(jobs).where(jobs.c.id.in_(chunk))):
            rec = job_from_row(row)
            out[rec["id"]] = rec
    return out


def events_from_record(rec: dict[str, Any], state: Any | None = None) -> list[Event]:
    """Events that bring a job view up to its catalog record (for lost or expired streams): the
    steps, their rows and the checks as the record keeps them (``job_record``), then the end."""

    out: list[Event] = []
    job_id = rec["id"]
    status = rec["status"]
    started = state is not None and state.started_at is not None
    if status != "queued" and not started:
        out.append(JobStarted(job_id=job_id, name=rec.get("name"), attempt=rec.get("attempts") or 1,
                              worker=rec.get("worker"), steps=step_names(rec.get("spec")),
                              ts=rec.get("started_at") or rec.get("submitted_at") or time.time()))
    end = rec.get("finished_at") or time.time()
    seconds = end - (rec.get("started_at") or rec.get("submitted_at") or end)
    if status in ("succeeded", "failed", "cancelled"):
        out.append(Message(job_id=job_id, level="info",
                           text="the end of this job's live events was lost; its outcome comes "
                                "from the catalog"))
    if status in ("succeeded", "failed"):
        seen_checks = state is not None and bool(getattr(state, "checks", None))
        out += [ev for ev in outcome_events(rec, end)  # checks the stream gave are not repeated
                if not (seen_checks and ev.kind == "check_result")]
    if status == "succeeded":
        out.append(JobFinished(job_id=job_id, result=rec.get("result") or {}, seconds=seconds, ts=end))
    elif status == "failed":
        out.append(JobFailed(job_id=job_id, error=rec.get("error") or {}, seconds=seconds, ts=end))
    elif status == "cancelled":
        out.append(JobCancelled(job_id=job_id, seconds=seconds, ts=end))
    return out
