"""How the data pass names what went wrong (``execute.classify_error``), found untested by
branch coverage: every kind of exception maps to one typed, located error."""

from __future__ import annotations

import errno
import time

import polars as pl
import pytest
from celery.exceptions import SoftTimeLimitExceeded

import workbench as wb
from workbench.engines.source import SourceScan
from workbench.errors import (
    InternalError, SourceError, StepError, StorageError, TimeLimitExceeded, TransientError,
    disk_full,
)
from workbench.execute import _rescan, classify_error


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as exc:
        return exc


def _during(outer: BaseException, first: BaseException) -> BaseException:
    try:
        try:
            raise first
        except BaseException:
            raise outer  # noqa: B904 - its __context__ is the point
    except BaseException as exc:
        return exc


def _located(exc: BaseException):
    return SourceError("row 7: not a number", file="a.csv", column="x") \
        if "row 7" in str(exc) else None


def _broken_diagnosis(exc: BaseException):
    raise RuntimeError("the diagnosis itself failed")


@pytest.mark.parametrize("exc, kind, message, column", [
    (SoftTimeLimitExceeded(), TimeLimitExceeded,
     "the task ran past its soft time limit and was stopped", None),
    (_chained(RuntimeError("wrapped"), SourceError("the file went away")), SourceError,
     "the file went away", None),
    (pl.exceptions.ComputeError("conversion failed in column 'amount'\nmore"), StepError,
     "the data could not be processed: conversion failed in column 'amount'", "amount"),
    (pl.exceptions.ColumnNotFoundError('unable to find column "qty"; valid columns: ["a"]'),
     StepError, 'the data could not be processed: unable to find column "qty"; valid columns: '
     '["a"]', "qty"),
    (pl.exceptions.InvalidOperationError("overflow in column total"), StepError,
     "the data could not be processed: overflow in column total", "total"),
    (pl.exceptions.ComputeError(""), StepError, "the data could not be processed: ComputeError",
     None),
    (ConnectionResetError("peer went away"), TransientError, "ConnectionResetError: peer went away",
     None),
    (TimeoutError("read timed out"), TransientError, "TimeoutError: read timed out", None),
    (FileNotFoundError(2, "No such file or directory"), SourceError,
     "FileNotFoundError: [Errno 2] No such file or directory", None),
    (ValueError("something else"), InternalError, "ValueError: something else", None),
])
def test_each_kind_of_exception_becomes_one_typed_error(exc, kind, message, column):
    err = classify_error(exc, None, "2:filter")
    assert (type(err), err.message, err.column, err.step) == (kind, message, column, "2:filter")


def test_a_source_diagnosis_locates_the_error_and_a_failing_one_is_ignored():
    scan = SourceScan(frame=pl.LazyFrame(), diagnose=_located)
    err = classify_error(pl.exceptions.ComputeError("row 7 could not be parsed"), scan, "write")
    assert (type(err), err.message, err.file, err.column, err.step) == (
        SourceError, "row 7: not a number", "a.csv", "x", "read")
    # no diagnosis for this one: the Polars text, on the step
    err = classify_error(pl.exceptions.ComputeError("in column y"), scan, "write")
    assert (type(err), err.column, err.step) == (StepError, "y", "write")
    broken = SourceScan(frame=pl.LazyFrame(), diagnose=_broken_diagnosis)
    err = classify_error(pl.exceptions.ComputeError("in column y"), broken, "write")
    assert (type(err), err.message) == (StepError, "the data could not be processed: in column y")


@pytest.mark.parametrize("exc, message", [
    # met while handling it (a close after the full disk failed too): that one names the folder
    (_during(RuntimeError("close failed"), disk_full("/data/tmp")), "disk full at /data/tmp"),
    (_chained(pl.exceptions.ComputeError("sink failed"),
              OSError(errno.ENOSPC, "No space left on device", "/data/part.parquet")),
     "disk full at /data/part.parquet"),
    (_chained(RuntimeError("write failed"), OSError(errno.EDQUOT, "Disk quota exceeded")),
     "disk full at the folder being written"),
    (pl.exceptions.ComputeError("writing failed: disk full at /spill/x.arrow: (os error 28)"),
     "disk full at /spill/x.arrow"),
    (RuntimeError("io error: No space left on device (os error 28)\nat the sink"),
     "disk full at the folder being written: io error: No space left on device (os error 28)"),
])
def test_a_full_disk_anywhere_under_the_pass_is_a_storage_error_naming_the_folder(exc, message):
    err = classify_error(exc, None, "write")
    assert (type(err), err.message) == (StorageError, message)
    assert "WORKBENCH_DISK_RESERVE" in err.hint


def _rescan_fails(exc: BaseException):
    raise RuntimeError("cannot widen")


def test_a_rescan_that_fails_keeps_the_original_error():
    wider = SourceScan(frame=pl.LazyFrame())
    scan = SourceScan(frame=pl.LazyFrame(), rescan=lambda exc: wider)
    assert _rescan(scan, pl.exceptions.ComputeError("x")) is wider
    assert _rescan(scan, SoftTimeLimitExceeded()) is None  # a time limit is no type to widen
    assert _rescan(scan, SourceError("x")) is None
    assert _rescan(SourceScan(frame=pl.LazyFrame(), rescan=_rescan_fails),
                   pl.exceptions.ComputeError("x")) is None


def test_cancelling_a_pipeline_without_a_sink(wb_home, tmp_path):
    src, gate, marker = tmp_path / "a.csv", tmp_path / "gate", tmp_path / "marker"
    src.write_text("x\n1\n2\n")
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), steps=[wb.python(
        "test_store_branches:hold", gate=str(gate), marker=str(marker))]))
    end = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < end, "the rows reached the held step within 120 s"
        time.sleep(0.05)
    job.cancel()
    gate.touch()
    job.wait(120)
    assert job.status == "cancelled"
    assert wb.list_jobs()[0]["status"] == "cancelled"
