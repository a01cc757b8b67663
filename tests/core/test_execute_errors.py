"""How the data pass names what went wrong (``execute.classify_error``), found untested by
branch coverage: every kind of exception maps to one typed, located error."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import polars as pl
import pytest
from celery.exceptions import SoftTimeLimitExceeded

import workbench as wb
from pg_gates import end_the_session_waiting_on
from workbench.context import Context
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


def touch_source(frame: pl.LazyFrame, path: str, how: str) -> pl.LazyFrame:
    """A step that, when rows reach it, rewrites, replaces or removes the source file (once)."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        done = Path(path + ".touched")
        if not done.exists():
            done.touch()
            if how == "rewrite":  # in place, as an editor or a second export does
                Path(path).write_text("x\n9\n9\n9\n")
            elif how == "replace":  # a new file moved over it
                Path(path + ".new").write_text("x\n9\n9\n9\n")
                os.replace(path + ".new", path)
            else:
                os.remove(path)
        return df

    return frame.map_batches(fn, streamable=True)


@pytest.mark.parametrize("how, what", [("rewrite", "changed"), ("replace", "changed"),
                                       ("remove", "was removed")])
def test_a_source_file_changed_while_the_job_reads_it_fails_the_job(wb_home, tmp_path, how, what):
    """The rows are read by the pass, the checksum apart from it: a file changed in between
    would commit rows and a checksum of two different files. The job fails naming the file,
    and nothing of it is committed or kept."""
    src = tmp_path / "a.csv"
    src.write_text("x\n1\n2\n")
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), steps=[wb.python(
        "test_execute_errors:touch_source", path=str(src), how=how)], sink=wb.dataset("s")))
    job.wait(120)
    assert job.status == "failed"
    err = job.error
    assert (type(err), err.message, err.file) == (
        SourceError, f"the file {what} while the job was reading it", str(src))
    assert err.hint == ("write the file elsewhere and move it into place once complete; run the "
                        "job again on the finished file")
    with pytest.raises(wb.NotFound):
        wb.info("s")
    storage = Context.from_settings().storage
    assert [o.key for o in storage.list("default/datasets/s/")] == []
    [record] = [j for j in wb.list_jobs() if j["id"] == job.id]
    assert (record["status"], record["error"]["type"], record["error"]["file"]) == (
        "failed", "SourceError", str(src))


def test_a_source_file_left_alone_reads_as_before(wb_home, tmp_path):
    src = tmp_path / "a.csv"
    src.write_text("x\n1\n2\n")
    ds = wb.ingest(str(src), name="s")
    assert (ds.rows, [i["path"] for i in ds.inputs]) == (2, [str(src)])
    assert sorted(ds.inputs[0]) == ["path", "sha256", "size"]  # the fingerprint stays inside


def test_the_catalog_failing_while_a_cancel_is_handled_reports_the_cancel(
        wb_home, tmp_path, monkeypatch, postgres_url):
    """A cancelled job looks up whether it committed before the cancel; the server ends that
    lookup's session (the catalog cannot tell): the job is reported cancelled, nothing kept."""
    monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
    monkeypatch.setenv("WORKBENCH_CATALOG_URL", postgres_url)
    wb.ingest(str(_write(tmp_path / "a.csv", "x\n1\n")), name="other")  # the catalog's tables
    monkeypatch.setenv("WORKBENCH_CATALOG_RETRY_WINDOW", "0")  # the first lost connection fails
    src, gate, marker = tmp_path / "b.csv", tmp_path / "gate", tmp_path / "marker"
    src.write_text("x\n1\n2\n")
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), steps=[wb.python(
        "test_store_branches:hold", gate=str(gate), marker=str(marker))], sink=wb.dataset("s")))
    end = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < end, "the rows reached the held step within 120 s"
        time.sleep(0.05)
    job.cancel()
    # the lookup of a committed version waits here
    end_the_session_waiting_on(postgres_url, "versions", gate, "the cancelled job's lookup waits")
    job.wait(120)
    assert job.status == "cancelled"
    monkeypatch.delenv("WORKBENCH_CATALOG_RETRY_WINDOW")
    assert [j["status"] for j in wb.list_jobs() if j["id"] == job.id] == ["cancelled"]
    with pytest.raises(wb.NotFound):
        wb.info("s")
    storage = Context.from_settings().storage
    assert [o.key for o in storage.list("default/datasets/s/")] == []


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_note_the_sink_makes_reaches_the_job_as_a_warning(wb_home, tmp_path):
    """SQLite stores NaN as NULL: the table sink says so, and the job shows it."""
    src = _write(tmp_path / "a.csv", "x\n1.5\nNaN\nNaN\n")
    db = f"sqlite:///{tmp_path / 't.db'}"
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.table("t", db=db,
                                                                          mode="create"))).wait(120)
    assert job.status == "succeeded"
    note = ("column 'x': 2 NaN values written as NULL (SQLite stores NaN as NULL; PostgreSQL "
            "keeps it)")
    assert job.result["notes"] == [note]
    assert job.state.messages == [note]


def fail_transiently(frame: pl.LazyFrame) -> pl.LazyFrame:
    def fn(df: pl.DataFrame) -> pl.DataFrame:
        raise ConnectionResetError("the upstream service closed the connection")

    return frame.map_batches(fn, streamable=True)


def test_an_attempt_that_is_not_the_last_records_retrying(wb_home, tmp_path):
    """A retryable error on an attempt the caller will repeat (a worker's): the record says
    ``retrying`` with the error, a Retrying event carries the delay, and the error is raised."""
    from workbench.events import Retrying
    from workbench.execute import run_job

    src = _write(tmp_path / "a.csv", "x\n1\n")
    events: list = []
    ctx = Context.from_settings()
    pipeline = wb.Pipeline(source=wb.file(str(src)),
                           steps=[wb.python("test_execute_errors:fail_transiently")],
                           sink=wb.dataset("s"))
    with pytest.raises(TransientError) as err:
        run_job(pipeline, job_id="flaky-1", ctx=ctx, emit=events.append, final_attempt=False,
                retry_delay=lambda attempt: 2.5 * attempt)
    message = "ConnectionResetError: the upstream service closed the connection"
    assert err.value.message == message
    [retrying] = [e for e in events if isinstance(e, Retrying)]
    assert (retrying.attempt, retrying.delay, retrying.error["type"], retrying.error["message"]) \
        == (1, 2.5, "TransientError", message)
    record = ctx.catalog.get_job("flaky-1", "default")
    assert (record["status"], record["error"]["type"], record["error"]["message"]) == (
        "retrying", "TransientError", message)
    with pytest.raises(wb.NotFound):
        wb.info("s")


def test_the_progress_line_names_an_upload_by_its_id():
    from workbench.execute import source_label

    assert source_label(wb.upload("u-123")) == "upload u-123"


def test_a_failure_feeding_a_sql_step_that_reads_its_input_twice(wb_home, tmp_path):
    """A query that scans ``input`` twice has it written to Parquet first, by Polars: a step
    before it failing there is classified like any error of the pass, on the SQL step."""
    src = _write(tmp_path / "a.csv", "x\nabc\n1\n")
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)), steps=[
        wb.cast({"x": "Int64"}), wb.sql("SELECT * FROM input UNION ALL SELECT * FROM input")],
        sink=wb.dataset("s"))).wait(120)
    assert job.status == "failed"
    err = job.error
    assert (type(err), err.message, err.column, err.step) == (
        StepError, "the data could not be processed: conversion from `str` to `i64` failed in "
        "column 'x' for 1 out of 2 values: [\"abc\"]", "x", "2:sql")
    with pytest.raises(wb.NotFound):
        wb.info("s")


def test_a_result_without_a_sink_wider_than_one_pass_profiles_every_column(wb_home, tmp_path):
    """Past 1,000 columns the pass leaves distinct, min and max to a read-back: a sinkless
    result reads them from the frame in memory, exactly."""
    width = 1_001
    frame = pl.DataFrame({f"c{i}": [i, i, i + 1] for i in range(width)})
    src = tmp_path / "wide.csv"
    frame.write_csv(src)
    job = wb.submit(wb.Pipeline(source=wb.file(str(src)))).wait(300)
    assert job.status == "succeeded"
    assert job.result.equals(frame)
    columns = job.state.result["profile"]["columns"]
    assert len(columns) == width
    assert {k: columns["c1000"][k] for k in ("distinct", "min", "max")} == {
        "distinct": 2, "min": 1000, "max": 1001}
