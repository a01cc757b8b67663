"""Helpers shared by the reader tests (this module holds no tests): open a source, run it,
and turn a failure into its located error the way execute does (``diagnose`` after the lazy pass fails)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import workbench as wb
from workbench.engines.read_common import HEAD_BYTES, SAMPLE_WINDOWS, WINDOW_BYTES
from workbench.engines.read_csv_plan import MARKER_HEAD_BYTES
from workbench.engines.readers import scan_file
from workbench.engines.source import SourceScan
from workbench.errors import SourceError, WorkbenchError
from workbench.spec.models import FileSource


def source(path: Path | str, **options) -> FileSource:
    return FileSource(path=str(path), **options)


def read(path: Path | str, **options) -> tuple[pl.DataFrame, SourceScan]:
    """Scan and collect; a failure of the pass is raised as ``diagnose`` locates it."""
    scan = scan_file(source(path, **options))
    try:
        df = scan.frame.collect(engine="streaming")
    except Exception as exc:
        located = scan.diagnose(exc)
        scan.cleanup()
        if located is not None:
            raise located from None
        raise
    scan.cleanup()
    return df, scan


def fails(path: Path | str, **options) -> WorkbenchError:
    """The error reading ``path`` ends in: raised by scan_file or located by diagnose."""
    with pytest.raises(WorkbenchError) as info:
        read(path, **options)
    err = info.value
    assert isinstance(err, SourceError) or type(err).__name__ in ("SpecError", "NotFound")
    assert err.hint, f"no hint on {err!r}"
    return err


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def numbers_csv(rows: int, *, header: str = "a,b") -> bytes:
    return (header + "\n").encode() + b"".join(b"%d,%d\n" % (i, i * 2) for i in range(rows))


LINE_WIDTH = 100  # bytes per line of fixed_width_csv


def unsampled_rows(total_rows: int, count: int) -> list[int]:
    """``count`` rows of a ``fixed_width_csv`` of ``total_rows`` lines that no sampled byte
    reaches: each in the middle of a gap between two windows past the marker head (the windows
    as read_csv_sample places them)."""
    size = total_rows * LINE_WIDTH
    step = (size - HEAD_BYTES) / (SAMPLE_WINDOWS + 1)
    gaps = [HEAD_BYTES + k * step + WINDOW_BYTES + (step - WINDOW_BYTES) / 2
            for k in range(1, SAMPLE_WINDOWS)]
    gaps = [g for g in gaps if g > MARKER_HEAD_BYTES + WINDOW_BYTES]
    rows = [int(g // LINE_WIDTH) for g in gaps[:count]]
    assert len(rows) == count
    return rows


def fixed_width_csv(path: Path, header: str, records: list[str]) -> str:
    """``records`` (each ending in an empty last field) padded to ``LINE_WIDTH`` bytes a line."""
    path.write_text(header + "\n" + "".join(
        r + "x" * (LINE_WIDTH - len(r) - 1) + "\n" for r in records))
    return str(path)


def run_local(path: str):
    """The file read by a local job, which must succeed (notes in ``job.state.messages``)."""
    job = wb.submit(wb.Pipeline(source=wb.file(path)), runner="local").wait(120)
    assert job.status == "succeeded", job.error
    return job
