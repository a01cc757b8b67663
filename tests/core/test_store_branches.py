"""Branches of the dataset store, the results and the writer that the pipeline tests left
unvisited (found by branch coverage): reading as of a time, the numbers a dead writer's manifests
hold, a create that loses its race, a result recorded without rows."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import time
from pathlib import Path

import polars as pl
import pytest

import workbench as wb
from pg_gates import end_the_session_waiting_on, ended_by_the_server
from workbench.context import Context
from workbench.dataset_store import Dataset, manifest_key, result_object
from workbench.results import decode_rows


def hold(frame: pl.LazyFrame, gate: str, marker: str) -> pl.LazyFrame:
    """A step that writes ``marker`` when rows reach it, then holds them until ``gate`` exists."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        Path(marker).touch()
        while not os.path.exists(gate):
            time.sleep(0.02)
        return df

    return frame.map_batches(fn, streamable=True)


def _csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _until(cond, what: str, limit: float = 120.0) -> None:
    end = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < end, f"{what} within {limit:.0f}s"
        time.sleep(0.05)


# ----------------------------------------------------------------------------- as of a time
def test_read_as_of_a_time_in_every_form(wb_home, tmp_path):
    wb.ingest(_csv(tmp_path / "a.csv", "x\n1\n"), name="s")
    between = time.time()  # after v1's commit, before v2's
    wb.ingest(_csv(tmp_path / "b.csv", "x\n2\n"), name="s")
    utc = datetime.timezone.utc
    for when in (between, datetime.datetime.fromtimestamp(between, utc),
                 datetime.datetime.fromtimestamp(between, utc).replace(tzinfo=None),  # naive: UTC
                 datetime.datetime.fromtimestamp(between, utc).isoformat()):
        assert wb.info("s", as_of=when).version == 1, when
        assert wb.read("s", as_of=when).collect()["x"].to_list() == [1]
    assert wb.info("s", as_of=time.time()).version == 2
    for before in (datetime.date(1999, 12, 31), "1999-12-31", 0):
        with pytest.raises(wb.NotFound) as err:
            wb.info("s", as_of=before)
        assert err.value.message.startswith("dataset 's' has no version as of 1999-12-31 00:00:00"
                                            if before != 0 else "dataset 's' has no version as of 1970")
    for bad in ("yesterday", True, [1]):
        with pytest.raises(wb.SpecError) as serr:
            wb.info("s", as_of=bad)
        assert serr.value.message == (f"as_of={bad!r}: give a datetime, an ISO date or time, "
                                      "or epoch seconds")
    with pytest.raises(wb.SpecError) as serr:
        wb.info("s", version=1, as_of=between)
    assert serr.value.message == "give version or as_of, not both"


def test_a_dataset_object_reads_prints_and_copies_itself(wb_home, tmp_path):
    ds = wb.ingest(_csv(tmp_path / "a.csv", "x,y\n1,a\n2,b\n"), name="s")
    assert ds.read().collect().rows() == [(1, "a"), (2, "b")]
    assert repr(ds) == (f"Dataset(name='s', version=1, rows=2, columns=['x', 'y'], "
                        f"checksum={ds.checksum[:12]}…, uri={ds.uri!r})")
    # a value marshal cannot copy (a date in a hand-made profile) takes the slower deep copy
    odd = Dataset.from_dict({**ds.to_dict(), "profile": {"x": {"min": datetime.date(2020, 1, 1)}}})
    assert odd.to_dict()["profile"] == {"x": {"min": datetime.date(2020, 1, 1)}}
    assert odd.to_dict()["profile"] is not odd.profile


def test_results_of_other_kinds_and_rows_recorded_without_arrow():
    table = {"kind": "table", "table": "orders", "rows": 3}
    assert result_object(table) == table
    with pytest.raises(wb.NotFound) as err:
        decode_rows({"kind": "rows", "rows": 3}, lambda url: None)
    assert err.value.message == ("this job's result holds no rows (it was recorded before results "
                                 "were kept as Arrow, or by a newer version)")


# ----------------------------------------------------------------------------- version numbers
def _orphan(name: str, version: int, job: str = "dead") -> None:
    """The manifest of a writer that died before its catalog row (no snapshot, no row)."""
    ctx = Context.from_settings()
    ctx.storage.put_bytes(manifest_key("default", name, version), json.dumps(
        {"format": "workbench.manifest/1", "namespace": "default", "name": name,
         "version": version, "job_id": f"{job}-{version}", "files": []}).encode())


@pytest.mark.parametrize("orphans", [1, 2])
def test_numbers_held_by_a_dead_writers_manifests_are_skipped(wb_home, tmp_path, orphans):
    for v in range(1, orphans + 1):
        _orphan("s", v)
    ds = wb.ingest(_csv(tmp_path / "a.csv", "x\n1\n"), name="s")
    assert ds.version == orphans + 1
    assert wb.read("s").collect()["x"].to_list() == [1]
    kept = json.loads(Context.from_settings().storage.get_bytes(manifest_key("default", "s", 1)))
    assert kept["job_id"] == "dead-1"  # never replaced


def test_no_free_version_number_in_twenty_tries_fails_and_keeps_nothing(wb_home, tmp_path):
    for v in range(1, 21):
        _orphan("s", v)
    job = wb.submit(wb.Pipeline(source=wb.file(_csv(tmp_path / "a.csv", "x\n1\n")),
                                sink=wb.dataset("s"))).wait(120)
    assert job.status == "failed"
    assert (type(job.error).__name__, job.error.message) == (
        "AlreadyExists", "could not allocate a version of 's': too many concurrent writers")
    storage = Context.from_settings().storage
    assert [o.key for o in storage.list("default/datasets/s/") if "/data/" in o.key] == []


def test_a_create_that_loses_the_race_fails_and_the_winner_stays(wb_home, tmp_path):
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    src = _csv(tmp_path / "a.csv", "x\n1\n")
    job = wb.submit(wb.Pipeline(source=wb.file(src), steps=[wb.python(
        "test_store_branches:hold", gate=str(gate), marker=str(marker))],
        sink=wb.dataset("race", mode="create")))
    _until(marker.exists, "the create job's rows reached the held step")  # past its own check
    winner = wb.ingest(_csv(tmp_path / "b.csv", "x\n2\n"), name="race", mode="create")
    gate.touch()
    job.wait(120)
    assert job.status == "failed"
    assert (type(job.error).__name__, job.error.message) == (
        "AlreadyExists", "dataset 'race' already exists")
    assert (wb.info("race").version, wb.info("race").job_id) == (1, winner.job_id)
    assert wb.read("race").collect()["x"].to_list() == [2]


def test_append_with_only_a_changed_type_names_just_that(wb_home, tmp_path):
    wb.ingest(_csv(tmp_path / "a.csv", "id,n\n1,1\n"), name="s")
    with pytest.raises(wb.InputError) as err:
        wb.ingest(_csv(tmp_path / "b.csv", "id,n\nx,2\n"), name="s", mode="append")
    assert (err.value.message, err.value.column) == (
        "cannot append to 's': the schema differs (changed types id: Int64 -> String)", "id")


# ----------------------------------------------------------------------------- files in use
def _stage(ctx: Context, name: str, job_id: str, rows: list[int], manifest: bool = True) -> dict:
    """A job's data file and manifest, as a fan-out commit leaves them when it stops after
    writing the manifest (no snapshot, no row)."""
    from workbench.dataset_store import data_prefix, manifest_checksum

    key = data_prefix(ctx.namespace, name, job_id, 1) + "part-00000.parquet"
    buf = io.BytesIO()
    pl.DataFrame({"x": rows}).write_parquet(buf)
    ctx.storage.put_bytes(key, buf.getvalue())
    files = [{"key": key, "rows": len(rows), "bytes": len(buf.getvalue()),
              "sha256": hashlib.sha256(buf.getvalue()).hexdigest()}]
    if not manifest:
        return files[0]
    version = ctx.catalog.latest_version_number(ctx.namespace, name) + 1
    while ctx.storage.exists(manifest_key(ctx.namespace, name, version)):
        version += 1
    ctx.storage.put_bytes(manifest_key(ctx.namespace, name, version), json.dumps(
        {"format": "workbench.manifest/1", "namespace": ctx.namespace, "name": name,
         "version": version, "job_id": job_id, "mode": "overwrite", "files": files,
         "rows": len(rows), "bytes": files[0]["bytes"], "bytes_in": 0,
         "checksum": manifest_checksum(files), "schema": {"fields": [
             {"name": "x", "type": "Int64"}]}, "profile": {}, "spec": None, "inputs": [],
         "checks": []}).encode())
    return files[0]


def test_which_jobs_files_a_version_or_a_manifest_or_a_snapshot_still_names(wb_home, tmp_path):
    """What a fan-out asks before deleting a failed or cancelled job's files."""
    from workbench.dataset_store import commit_version, job_files_in_use

    ctx = Context.from_settings()
    done = wb.submit(wb.Pipeline(source=wb.file(_csv(tmp_path / "a.csv", "x\n1\n")),
                                 sink=wb.dataset("s")), job_id="committed").wait(120)
    assert done.status == "succeeded"
    assert job_files_in_use(ctx, "s", "committed") is True  # its version's row
    assert job_files_in_use(ctx, "t", "committed") is False  # another dataset: nothing of it
    assert job_files_in_use(ctx, "s", "never-ran") is False
    _stage(ctx, "s", "other-job", [5])  # v2: a manifest of another job
    assert job_files_in_use(ctx, "s", "never-ran") is False
    _stage(ctx, "s", "staged", [6])  # v3: this job's manifest, past the other one
    assert job_files_in_use(ctx, "s", "staged") is True
    assert job_files_in_use(ctx, "s", "never-ran") is False  # v2 and v3 are other jobs'
    # a commit that stopped after its snapshot (here: made by the fan-out's own commit call,
    # which reports no phases), with its manifest gone: the table's snapshot still names it
    f = _stage(ctx, "u", "snapped", [7], manifest=False)
    ds = commit_version(ctx, name="u", job_id="snapped", files=[f], rows=1,
                        schema={"fields": [{"name": "x", "type": "Int64"}]}, profile={},
                        spec=None, inputs=[], bytes_in=0, checks=[], mode="overwrite")
    assert (ds.version, ds.rows, ds.snapshot_id is not None) == (1, 1, True)
    assert wb.read("u").collect()["x"].to_list() == [7]
    ctx.catalog.purge_version("default", "u", 1)
    ctx.storage.delete(manifest_key("default", "u", 1))
    assert job_files_in_use(ctx, "u", "snapped") is True
    assert job_files_in_use(ctx, "u", "never-ran") is False  # the table names no file of it
    assert job_files_in_use(ctx, "../u", "snapped") is True  # cannot tell: keep them


def test_with_iceberg_off_a_version_has_no_snapshot_and_no_table_is_asked(
        wb_home, tmp_path, monkeypatch):
    from workbench.dataset_store import job_files_in_use

    monkeypatch.setenv("WORKBENCH_ICEBERG_CATALOG", "none")
    ds = wb.ingest(_csv(tmp_path / "a.csv", "x\n1\n2\n"), name="s")
    assert (ds.version, ds.rows, ds.snapshot_id, ds.snapshot_note) == (1, 2, None, None)
    ctx = Context.from_settings()
    assert ctx.catalog.snapshot_of("default", "s", 1) is None
    assert wb.read("s").collect()["x"].to_list() == [1, 2]
    assert job_files_in_use(ctx, "s", "never-ran") is False
    assert [o.key for o in ctx.storage.list("default/datasets/s/") if "/metadata/" in o.key] == []


def test_the_older_data_layout_keeps_each_attempt_beside_the_job_id():
    from workbench.dataset_store import legacy_data_prefix

    assert legacy_data_prefix("default", "s", "nightly", 2) == "default/datasets/s/data/nightly-a2/"


def test_with_iceberg_off_a_catalog_row_failing_keeps_the_version_for_the_next_run(
        wb_home, tmp_path, monkeypatch, postgres_url):
    """No snapshot, and the server ends the job's session while it writes the version's row:
    the row may or may not have been written, so the manifest and its files stay; the job
    fails with the catalog's error, and the next run of the job registers the version whole
    (its files used to be deleted, and that run registered a version with no data)."""
    from workbench.dataset_store import find_committed

    monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
    monkeypatch.setenv("WORKBENCH_CATALOG_URL", postgres_url)
    monkeypatch.setenv("WORKBENCH_ICEBERG_CATALOG", "none")
    first = wb.ingest(_csv(tmp_path / "a.csv", "x\n1\n"), name="s")
    ctx = Context.from_settings()
    monkeypatch.setenv("WORKBENCH_CATALOG_RETRY_WINDOW", "0")  # the first lost connection fails
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    job = wb.submit(wb.Pipeline(source=wb.file(_csv(tmp_path / "b.csv", "x\n7\n8\n")), steps=[
        wb.python("test_store_branches:hold", gate=str(gate), marker=str(marker))],
        sink=wb.dataset("s", mode="overwrite")), job_id="row-lost")
    _until(marker.exists, "the rows reached the held step")
    # the row's first statement waits here
    end_the_session_waiting_on(postgres_url, "datasets", gate, "the job's row waits")
    job.wait(120)
    monkeypatch.delenv("WORKBENCH_CATALOG_RETRY_WINDOW")
    assert job.status == "failed"
    assert type(job.error).__name__ == "CatalogUnavailable"
    assert ended_by_the_server(job.error.message), job.error.message
    assert [(v.version, v.job_id) for v in ctx.catalog.list_versions("default", "s")] == [
        (1, first.job_id)]
    manifest = json.loads(ctx.storage.get_bytes(manifest_key("default", "s", 2)))
    assert manifest["job_id"] == "row-lost"
    assert all(ctx.storage.exists(f["key"]) for f in manifest["files"])
    done = find_committed(ctx, "s", "row-lost")
    assert (done.version, done.rows, done.snapshot_id) == (2, 2, None)
    assert wb.read("s").collect()["x"].to_list() == [7, 8]


def test_a_manifest_whose_file_is_gone_is_not_registered(wb_home, tmp_path):
    """The next run of a job finds its manifest, but a data file it names was removed: the
    snapshot cannot be made, the error is raised as it is, and no version appears."""
    from workbench.dataset_store import find_committed

    wb.ingest(_csv(tmp_path / "a.csv", "x\n1\n"), name="s")
    ctx = Context.from_settings()
    f = _stage(ctx, "s", "half-gone", [5])
    ctx.storage.delete(f["key"])
    with pytest.raises(FileNotFoundError) as err:
        find_committed(ctx, "s", "half-gone")
    assert f["key"].rsplit("/", 1)[-1] in str(err.value)
    assert [v.version for v in ctx.catalog.list_versions("default", "s")] == [1]
    assert wb.read("s").collect()["x"].to_list() == [1]
