"""Typed progress events and the one ``emit`` callback that carries them.

``execute`` calls ``emit(event)``; the LocalRunner's queue, the Redis Stream of a Celery job, the
text log and the notebook widget are all subscribers of that one callback. Every event is plain
JSON (``to_dict``/``from_dict``) so it crosses the broker unchanged.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, ClassVar

from .masking import mask_text, mask_value


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    job_id: str = ""
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        # masked: events go to Redis streams and job records, where no credential may go
        return mask_value({"kind": self.kind, **asdict(self)})

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Event:
        cls = EVENT_TYPES.get(data.get("kind", ""), Event)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS


@dataclass
class JobStarted(Event):
    kind: ClassVar[str] = "job_started"
    name: str | None = None
    steps: list[str] = field(default_factory=list)
    attempt: int = 1
    worker: str | None = None


@dataclass
class StepStarted(Event):
    kind: ClassVar[str] = "step_started"
    step: str = ""
    index: int = 0


@dataclass
class Progress(Event):
    """Work done so far in a step; totals are None when not known in advance."""

    kind: ClassVar[str] = "progress"
    step: str = ""
    rows: int = 0
    bytes: int = 0
    rows_total: int | None = None
    bytes_total: int | None = None
    percent: float | None = None  # a SQL step's own progress (DuckDB's estimate), 0..100
    bytes_out: int = 0  # bytes written to the sink so far (the write phase's own count)
    phase: str = ""  # what the step does while no rows move (a sink's profile, its commit)


@dataclass
class StepFinished(Event):
    kind: ClassVar[str] = "step_finished"
    step: str = ""
    index: int = 0
    rows: int | None = None
    bytes: int | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        # one value for every view: the live one draws this event, a reattached one the job
        # record that keeps it; rounded once here, both show the same tenth
        self.seconds = round(float(self.seconds or 0.0), 3)


@dataclass
class CheckResult(Event):
    kind: ClassVar[str] = "check_result"
    name: str = ""
    column: str | None = None
    passed: bool = True
    severity: str = "error"
    failed_rows: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


@dataclass
class Message(Event):
    """A warning or note for the user (a widened column type, a fallback taken)."""

    kind: ClassVar[str] = "message"
    level: str = "info"
    text: str = ""

    def __post_init__(self) -> None:
        self.text = mask_text(self.text)


@dataclass
class Retrying(Event):
    kind: ClassVar[str] = "retrying"
    attempt: int = 1
    delay: float = 0.0
    error: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobFinished(Event):
    kind: ClassVar[str] = "job_finished"
    result: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class JobFailed(Event):
    kind: ClassVar[str] = "job_failed"
    error: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class JobCancelled(Event):
    kind: ClassVar[str] = "job_cancelled"
    seconds: float = 0.0


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (JobStarted, StepStarted, Progress, StepFinished, CheckResult, Message,
                Retrying, JobFinished, JobFailed, JobCancelled)
}
TERMINAL_KINDS = frozenset({"job_finished", "job_failed", "job_cancelled"})

Emit = Callable[[Event], None]


def null_emit(event: Event) -> None:
    """The default subscriber: drops everything."""


def fan_out(*subscribers: Emit) -> Emit:
    """One emit that forwards to several subscribers; a failing subscriber never fails a job."""

    def emit(event: Event) -> None:
        for sub in subscribers:
            try:
                sub(event)
            except Exception:  # a broken display must not break the data work
                pass

    return emit
