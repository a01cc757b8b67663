"""Helpers shared by the reader tests (this module holds no tests): open a source, run it,
and turn a failure into its located error the way execute does (``diagnose`` after the lazy pass fails)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

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
