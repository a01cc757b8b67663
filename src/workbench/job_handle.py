"""A Job handle and the plain state folded from its events.

``JobState`` is the job as a plain object (status, steps, progress, checks, error, result) that
tests and widgets can drive without a browser; ``Job`` feeds it from an event source and offers
``wait``, ``cancel``, iteration and subscriptions. The LocalRunner and the CeleryRunner differ only
in where the events come from and how a cancel is delivered.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .dataset_store import result_object
from .errors import WorkbenchError
from .events import Event

# How a job is drawn (a live widget in JupyterLab, text lines elsewhere) is the front end's
# business: the package root sets it with ``set_job_viewer`` when ``workbench`` is imported, so this
# layer never imports a front end.
_VIEWER: dict[str, Callable[[Any], Any] | None] = {"show": None}


def set_job_viewer(show: Callable[[Any], Any]) -> None:
    """Set the function ``Job.show`` calls to draw a job (``workbench.notebook.show_job``)."""
    _VIEWER["show"] = show

Subscriber = Callable[[Event], None]


@dataclass
class StepState:
    name: str
    status: str = "pending"  # pending | running | done | failed
    rows: int | None = None
    bytes: int | None = None
    seconds: float | None = None


@dataclass
class JobState:
    """Everything a view needs, computed from events only."""

    job_id: str
    status: str = "queued"
    name: str | None = None
    steps: list[StepState] = field(default_factory=list)
    current_step: str | None = None
    rows: int = 0
    bytes: int = 0
    rows_total: int | None = None
    bytes_total: int | None = None
    percent: float | None = None  # a running SQL step's own estimate (DuckDB), 0..100
    bytes_out: int = 0  # written to the sink so far
    phase: str = ""  # what the running step does while no rows move (profile, commit)
    started_at: float | None = None
    finished_at: float | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    retries: int = 0
    attempt: int = 1
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    last_event_ts: float | None = None
    # (ts, rows, bytes) of the last few seconds of progress: throughput is a recent-window rate
    _window: deque = field(default_factory=lambda: deque(maxlen=256))
    moved_at: float | None = None  # when rows or bytes last grew (a stall shows no throughput)
    _out_seen: int = 0
    rows_per_s: float = 0.0
    bytes_per_s: float = 0.0

    def apply(self, ev: Event) -> None:
        kind = ev.kind
        self.last_event_ts = ev.ts
        if kind == "job_started":
            self.status = "running"
            self.name = getattr(ev, "name", None) or self.name
            self.attempt = getattr(ev, "attempt", 1)
            if self.started_at is None:
                self.started_at = ev.ts
            names = list(getattr(ev, "steps", []) or [])
            if names and [s.name for s in self.steps] != names:
                self.steps = [StepState(n) for n in names]
            else:
                for s in self.steps:  # a new attempt starts the steps again
                    s.status = "pending"
        elif kind == "step_started":
            self.current_step = ev.step  # type: ignore[attr-defined]
            self.phase = ""
            self._step(ev.step).status = "running"  # type: ignore[attr-defined]
            self.percent = None
        elif kind == "progress":
            self.current_step = ev.step or self.current_step  # type: ignore[attr-defined]
            self.rows, self.bytes = ev.rows, ev.bytes  # type: ignore[attr-defined]
            self.rows_total = ev.rows_total  # type: ignore[attr-defined]
            self.bytes_total = ev.bytes_total  # type: ignore[attr-defined]
            self.percent = getattr(ev, "percent", None)
            self.bytes_out = getattr(ev, "bytes_out", 0) or 0
            self.phase = getattr(ev, "phase", "") or ""
            self._sample(ev.ts)
        elif kind == "step_finished":
            st = self._step(ev.step)  # type: ignore[attr-defined]
            st.status, st.rows, st.bytes = "done", ev.rows, ev.bytes  # type: ignore[attr-defined]
            st.seconds = ev.seconds  # type: ignore[attr-defined]
        elif kind == "check_result":
            self.checks.append({k: getattr(ev, k) for k in
                                ("name", "column", "passed", "severity", "failed_rows", "examples",
                                 "message")})
        elif kind == "message":
            self.messages.append(ev.text)  # type: ignore[attr-defined]
        elif kind == "retrying":
            self.status = "retrying"
            self.retries += 1
            self.error = ev.error  # type: ignore[attr-defined]
        elif kind == "job_finished":
            self.status, self.result, self.error = "succeeded", ev.result, None  # type: ignore[attr-defined]
            self.finished_at = ev.ts
            for s in self.steps:
                if s.status in ("pending", "running"):
                    s.status = "done"
        elif kind == "job_failed":
            self.status, self.error = "failed", ev.error  # type: ignore[attr-defined]
            self.finished_at = ev.ts
            self.bytes_out = 0  # what it had written is discarded: none of it is visible
            self._mark_failed_step((ev.error or {}).get("step"))  # type: ignore[attr-defined]
        elif kind == "job_cancelled":
            self.status = "cancelled"
            self.finished_at = ev.ts
            self.bytes_out = 0  # nothing partial is kept
            for s in self.steps:
                if s.status == "running":
                    s.status = "cancelled"

    def _mark_failed_step(self, failed: str | None) -> None:
        """Mark the step the error names as failed; the others keep their true state.

        A check runs on the finished data pass, so the steps before it are done; any other
        failure stops the steps still running (``stopped``: not failed, not done).
        """
        names = [s.name for s in self.steps]
        if failed not in names:  # the error names no step of ours: blame the one running
            for s in self.steps:
                if s.status == "running":
                    s.status = "failed"
            return
        at = names.index(failed)
        for i, s in enumerate(self.steps):
            if i == at:
                s.status = "failed"
            elif s.status == "running":
                s.status = "done" if failed == "check" and i < at else "stopped"

    def _step(self, name: str) -> StepState:
        for s in self.steps:
            if s.name == name:
                return s
        st = StepState(name)
        self.steps.append(st)
        return st

    WINDOW = 5.0  # seconds of progress the throughput is measured over
    STALL = 2.0  # seconds without growth after which the throughput is unknown ("–")

    def _sample(self, ts: float) -> None:
        last = self._window[-1] if self._window else None
        if last is None or self.rows > last[1] or self.bytes > last[2] or self.bytes_out > self._out_seen:
            self.moved_at = ts
        self._out_seen = self.bytes_out
        if last is None and self.started_at and ts > self.started_at:
            self._window.append((self.started_at, 0, 0))
        self._window.append((ts, self.rows, self.bytes))
        while len(self._window) > 2 and ts - self._window[1][0] >= self.WINDOW:
            self._window.popleft()
        t0, r0, b0 = self._window[0]
        dt = ts - t0
        if dt > 0:
            self.rows_per_s = max(0.0, (self.rows - r0) / dt)
            self.bytes_per_s = max(0.0, (self.bytes - b0) / dt)

    def stalled(self, now: float | None = None) -> bool:
        """Running, but nothing has moved for ``STALL`` seconds (or ever)."""
        if self.done:
            return False
        if self.moved_at is None:
            return True
        return (time.time() if now is None else now) - self.moved_at > self.STALL

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")

    @property
    def fraction(self) -> float | None:
        """0..1 when a total is known, else None (an indeterminate bar)."""
        if self.status == "succeeded":
            return 1.0
        if self.percent is not None:
            return min(1.0, self.percent / 100.0)
        if self.rows_total:
            return min(1.0, self.rows / self.rows_total)
        if self.bytes_total:
            return min(1.0, self.bytes / self.bytes_total)
        return None

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.time()) - self.started_at

    @property
    def eta(self) -> float | None:
        frac = self.fraction
        if not frac or frac >= 1.0 or self.done:
            return None
        return self.elapsed * (1 - frac) / frac


class Job:
    """A submitted pipeline. Subclasses feed events with ``_deliver`` and implement ``cancel``."""

    runner = "base"

    def __init__(self, job_id: str) -> None:
        self.id = job_id
        self.state = JobState(job_id)
        self._events: list[Event] = []
        self._cond = threading.Condition()
        self._subscribers: list[Subscriber] = []

    # -- feeding ------------------------------------------------------------------
    def _deliver(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self.state.apply(event)
            subs = list(self._subscribers)
            self._cond.notify_all()
        for sub in subs:
            try:
                sub(event)
            except Exception:  # a broken view must not break the job feed
                pass

    # -- reading ------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.state.status

    @property
    def done(self) -> bool:
        return self.state.done

    @property
    def progress(self) -> JobState:
        return self.state

    @property
    def events(self) -> list[Event]:
        with self._cond:
            return list(self._events)

    @property
    def error(self) -> WorkbenchError | None:
        return WorkbenchError.from_dict(self.state.error) if self.state.error and self.done else None

    @property
    def result(self) -> Any:
        """The dataset written (a ``Dataset``), or the rows for a pipeline without a sink.

        Raises the job's error if it failed, so ``job.wait().result`` never hides a failure.
        """
        if self.state.status == "failed" and self.state.error:
            raise WorkbenchError.from_dict(self.state.error)
        if self.state.result is None:
            return None

        return result_object(self.state.result)

    def subscribe(self, callback: Subscriber, *, replay: bool = True) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (past ones first); returns an unsubscribe."""
        with self._cond:
            past = list(self._events) if replay else []
            self._subscribers.append(callback)
        for ev in past:
            callback(ev)

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends; ``TimeoutError`` if it has not after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self.state.done:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"job {self.id} still {self.state.status} after {timeout}s")
                self._cond.wait(0.5 if left is None else min(left, 0.5))
        return self

    def __iter__(self) -> Iterator[Event]:
        """Every event from the first, blocking for new ones until the job ends."""
        i = 0
        while True:
            with self._cond:
                while i >= len(self._events) and not self.state.done:
                    self._cond.wait(0.5)
                if i >= len(self._events):
                    return
                ev = self._events[i]
            i += 1
            yield ev

    def cancel(self) -> None:
        raise NotImplementedError

    def show(self) -> None:
        """Display the live view in a notebook, or stream text lines elsewhere.

        Returns None, so ``job.show()`` as a cell's last line displays the view once (a returned
        view would be displayed a second time as the cell's value).
        """
        if _VIEWER["show"] is None:
            raise WorkbenchError("no job viewer is set", hint="import workbench (it sets the viewer)")
        _VIEWER["show"](self)

    def _ipython_display_(self) -> None:
        self.show()

    def __repr__(self) -> str:
        st = self.state
        extra = ""
        if st.error:
            extra = f" error={st.error.get('message')!r}"
        elif st.result:
            extra = f" result={st.result.get('name')!r} v{st.result.get('version')}"
        return f"<Job {self.id} {st.status}{extra}>"
