"""What every source gives ``execute``: a lazy frame plus what is known about its inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import polars as pl

from ..errors import WorkbenchError


def _no_diagnosis(exc: BaseException) -> WorkbenchError | None:
    return None


@dataclass
class SourceScan:
    """A source opened for reading.

    ``frame`` is lazy: parse errors surface only when the pipeline runs, so ``diagnose`` turns such
    an exception into a located ``SourceError`` (file, row, column) after the fact, when the slow
    exact scan is worth it. ``inputs`` lists each input file as ``{"path", "size"}`` (a local path or
    an s3:// URL); execute adds ``sha256`` while the job runs. ``cleanup`` removes temporary files.
    """

    frame: pl.LazyFrame
    inputs: list[dict[str, Any]] = field(default_factory=list)
    bytes_total: int | None = None
    rows_total: int | None = None
    diagnose: Callable[[BaseException], WorkbenchError | None] = _no_diagnosis
    notes: list[str] = field(default_factory=list)
    cleanup: Callable[[], None] = lambda: None
    # called once the sink has committed (an incremental query advances its cursor here)
    after_commit: Callable[[], None] = lambda: None
    # after a failed pass: a scan with widened types to run again (a value further into a file
    # did not fit a type inferred from the first rows), or None when widening cannot help
    rescan: Callable[[BaseException], SourceScan | None] = lambda exc: None
    # the pipeline's other named sources (``sources=``), as read: SQL steps read them by name
    relations: dict[str, pl.LazyFrame] = field(default_factory=dict)
