"""The workbench error tree.

The type of an error decides what happens to a job: a ``TransientError`` is retried with
backoff, an ``InputError`` never is and reaches the user with what went wrong, where, and how
to fix it.

::

    WorkbenchError                 base; carries file/row/column/step/hint context
    ├── InputError                 the user's input is wrong: never retried
    │   ├── SpecError              a pipeline spec that does not validate
    │   ├── SourceError            a file or query that cannot be read as declared
    │   ├── SQLError               user SQL that fails to parse, bind or run, or is forbidden
    │   ├── StepError              a transform step (Polars or Python) that fails
    │   ├── CheckFailed            a data check with severity "error" that failed
    │   ├── NotFound               no such dataset, version, job or upload
    │   ├── AlreadyExists          mode="create" on an existing dataset
    │   ├── AccessDenied           a name outside the caller's namespace, or a refused credential
    │   └── UsageError             a command line that does not parse (unknown command or flag)
    ├── TransientError             network, storage 5xx, throttling, broker: retried
    │   ├── StorageUnavailable
    │   └── BrokerUnavailable
    │   └── StorageError           storage that refuses writes (disk full): retried, then reported
    ├── ConfigError                settings or a missing optional dependency
    ├── LimitExceeded              a configured limit was reached (time, size, depth): never retried
    │   ├── TimeLimitExceeded
    │   └── MemoryLimitExceeded    (a kernel job's process or a preview, WORKBENCH_JOB_MEMORY_LIMIT)
    ├── Cancelled                  the job was cancelled by its owner
    ├── Superseded                 a later attempt of the job took it over: this one is dropped
    └── InternalError              a bug: anything not classified above
        └── ProcessDied            the job's process was killed or crashed in native code

Errors survive pickling and JSON (``to_dict``/``from_dict``), so they cross process and broker
boundaries intact. Their message and hint are masked when made (``security.mask_text``): a URL's
credentials never reach a job record, an event, a log line or the user's screen.
"""

from __future__ import annotations

import errno
from typing import Any

from .masking import mask_text

_FIELDS = ("file", "row", "column", "step", "hint")


class WorkbenchError(Exception):
    """Base of every error workbench raises on purpose."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        step: str | None = None,
        hint: str | None = None,
    ) -> None:
        message = mask_text(message)
        super().__init__(message)
        self.message = message
        self.file = mask_text(file) if file is not None else None
        self.row = row
        self.column = column
        self.step = step
        self.hint = mask_text(hint) if hint is not None else None

    def __str__(self) -> str:
        where = ", ".join(
            f"{k} {getattr(self, k)!r}" if k != "row" else f"row {self.row}"
            for k in ("file", "row", "column", "step")
            if getattr(self, k) is not None
        )
        text = self.message + (f" ({where})" if where else "")
        if self.hint:
            text += f". Hint: {self.hint}"
        return text

    def with_context(self, **context: Any) -> WorkbenchError:
        """Fill in context fields that are still empty (the innermost knowledge wins)."""
        for key, value in context.items():
            if key in _FIELDS and getattr(self, key) is None and value is not None:
                setattr(self, key, value)
        return self

    def to_dict(self) -> dict[str, Any]:
        # masked again: a field may have been set after the error was made
        return {"type": type(self).__name__, "message": mask_text(self.message),
                **{k: mask_text(v) if isinstance(v, str) else v
                   for k in _FIELDS for v in (getattr(self, k),)}}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> WorkbenchError:
        cls = _REGISTRY.get(str(data.get("type")), WorkbenchError)
        return cls(str(data.get("message", "")), **{k: data.get(k) for k in _FIELDS})

    def __reduce__(self):  # keyword-only context must survive pickling
        return (_rebuild, (self.to_dict(),))


def _rebuild(data: dict[str, Any]) -> WorkbenchError:
    return WorkbenchError.from_dict(data)


class InputError(WorkbenchError):
    """The input is wrong; retrying cannot help."""


class SpecError(InputError):
    pass


class SourceError(InputError):
    pass


class SQLError(InputError):
    pass


class StepError(InputError):
    pass


class CheckFailed(InputError):
    pass


class NotFound(InputError):
    pass


class AlreadyExists(InputError):
    pass


class AccessDenied(InputError):
    pass


class UsageError(InputError):
    """A command line that does not parse: an unknown command or flag, a missing argument."""


class TransientError(WorkbenchError):
    """A passing fault of a service; the operation is retried with backoff."""

    retryable = True


class StorageUnavailable(TransientError):
    pass


class BrokerUnavailable(TransientError):
    pass


class StorageError(TransientError):
    """Storage refused a write for a reason outside the job (the disk is full): the data is
    fine, so retrying later can work, but it is never reported as a step's fault."""


class ConfigError(WorkbenchError):
    pass


class LimitExceeded(WorkbenchError):
    """A configured limit was reached; the message names the setting that raises it."""


class TimeLimitExceeded(LimitExceeded):
    """A job ran past its time limit and was stopped."""


class MemoryLimitExceeded(LimitExceeded):
    """A job (or a preview) used more memory than its limit and was stopped."""


class Cancelled(WorkbenchError):
    pass


class Superseded(WorkbenchError):
    """A later attempt of the same job started while this one still ran (this attempt looked
    dead: its heartbeat was older than the stale threshold). This attempt commits nothing and
    records nothing; the job, its record and its data belong to the later attempt."""

    @classmethod
    def at_end(cls, job_id: str, attempt: int, failure: WorkbenchError | None = None
               ) -> "Superseded":
        """The attempt ended (``failure``: how, if it failed) after a later one had taken the
        job over: its outcome is not recorded, the later attempt's is."""
        how = f"; it failed: {type(failure).__name__}: {failure.message}" if failure else ""
        return cls(f"attempt {attempt} of job {job_id} was taken over by a later attempt before "
                   f"it ended (its heartbeat had gone stale); its outcome is not recorded{how}")


class InternalError(WorkbenchError):
    pass


class ProcessDied(InternalError):
    """The process running a job ended without an outcome (a signal, a native abort)."""


def _all_subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


_REGISTRY: dict[str, type[WorkbenchError]] = {c.__name__: c for c in _all_subclasses(WorkbenchError)}


def register_error(cls: type[WorkbenchError]) -> type[WorkbenchError]:
    """Make a subclass defined elsewhere round-trip through ``from_dict``."""
    _REGISTRY[cls.__name__] = cls
    return cls


def as_workbench_error(exc: BaseException, **context: Any) -> WorkbenchError:
    """Classify any exception; unknown ones become ``InternalError`` with their text."""
    if isinstance(exc, WorkbenchError):
        return exc.with_context(**context)
    err = InternalError(f"{type(exc).__name__}: {exc}")
    return err.with_context(**context)


def disk_full(path: Any, detail: str = "") -> StorageError:
    """ENOSPC (or the free-space reserve reached) while writing under ``path``."""
    return StorageError(
        f"disk full at {path}" + (f": {detail}" if detail else ""),
        hint="free space there (`workbench gc` removes dead writes and temporary files), point "
             "WORKBENCH_HOME or WORKBENCH_STORAGE_URL at a larger disk, or lower "
             "WORKBENCH_DISK_RESERVE")


def is_enospc(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def missing_extra(package: str, extra: str) -> ConfigError:
    return ConfigError(
        f"the optional dependency {package!r} is not installed",
        hint=f"pip install 'workbench[{extra}]'",
    )
