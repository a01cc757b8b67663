"""Soft delete, gc and verify, on local storage and on S3 alike."""

from __future__ import annotations

import time

import polars as pl
import pytest
from s3_helpers import context_for, write_version

from workbench.dataset_store import data_prefix, get_dataset, manifest_key, scan_dataset
from workbench.errors import NotFound, SpecError
from workbench.maintenance import gc, soft_delete, verify

DAY = 86400.0


@pytest.fixture
def ctx(any_settings):
    return context_for(any_settings, "team")


def frame(n: int, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame({"id": list(range(start, start + n)), "v": [f"x{i}" for i in range(n)]})


def keys(ctx, prefix: str = "team/") -> set[str]:
    return {o.key for o in ctx.storage.list(prefix)}


# ----------------------------------------------------------------------------- verify
def test_verify_passes_on_intact_data(ctx):
    ds = write_version(ctx, "sales", frame(500), job_id="j1")
    report = verify(ctx, "sales")
    assert report["ok"] is True
    assert report["version"] == ds.version and report["files"] == 1
    assert report["bytes_checked"] == ds.files[0]["bytes"]
    assert report["missing"] == [] and report["mismatched"] == []


def test_verify_reports_a_changed_object(ctx):
    ds = write_version(ctx, "sales", frame(500), job_id="j1")
    key = ds.files[0]["key"]
    ctx.storage.put_bytes(key, frame(500, start=1).write_ipc(None).getvalue())
    report = verify(ctx, "sales", ds.version)
    assert report["ok"] is False
    [bad] = report["mismatched"]
    assert bad["key"] == key and bad["expected_sha256"] == ds.files[0]["sha256"]
    assert bad["actual_sha256"] != bad["expected_sha256"]


def test_verify_reports_a_missing_object(ctx):
    ds = write_version(ctx, "sales", frame(10), job_id="j1")
    ctx.storage.delete(ds.files[0]["key"])
    report = verify(ctx, "sales")
    assert report["ok"] is False and report["missing"] == [ds.files[0]["key"]]


def test_verify_rejects_bad_names(ctx):
    with pytest.raises(SpecError):
        verify(ctx, "../other/datasets/x")
    with pytest.raises(NotFound):
        verify(ctx, "never-written")


# ----------------------------------------------------------------------------- soft delete
def test_soft_deleted_version_is_hidden_at_once(ctx):
    write_version(ctx, "sales", frame(3), job_id="j1")
    write_version(ctx, "sales", frame(5), job_id="j2")
    soft_delete(ctx, "sales", 2)
    assert get_dataset(ctx, "sales").version == 1
    assert scan_dataset(ctx, "sales").collect().height == 3
    with pytest.raises(NotFound):
        get_dataset(ctx, "sales", 2)
    with pytest.raises(NotFound):
        soft_delete(ctx, "sales", 2)  # twice: it is already gone


def test_soft_deleted_dataset_stays_deleted_when_the_name_is_reused(ctx):
    write_version(ctx, "sales", frame(3), job_id="j1")
    soft_delete(ctx, "sales")
    with pytest.raises(NotFound):
        scan_dataset(ctx, "sales")
    assert [r.name for r in ctx.catalog.list_datasets(ctx.namespace)] == []
    write_version(ctx, "sales", frame(7), job_id="j2")
    assert [d.version for d in [get_dataset(ctx, "sales")]] == [2]
    with pytest.raises(NotFound):
        get_dataset(ctx, "sales", 1)  # the old version did not come back with the name


# ----------------------------------------------------------------------------- gc
def test_gc_keeps_soft_deleted_data_until_the_retention_passes(ctx):
    v1 = write_version(ctx, "sales", frame(3), job_id="j1")
    write_version(ctx, "sales", frame(4), job_id="j2")
    soft_delete(ctx, "sales", 1)
    before = keys(ctx)
    report = gc(ctx, retention_seconds=7 * DAY)
    assert report["versions_purged"] == 0 and keys(ctx) == before

    report = gc(ctx, retention_seconds=7 * DAY, now=time.time() + 8 * DAY)
    assert report["versions_purged"] == 1 and report["errors"] == []
    left = keys(ctx)
    assert v1.files[0]["key"] not in left
    assert manifest_key("team", "sales", 1) not in left
    assert manifest_key("team", "sales", 2) in left
    assert [r.version for r in ctx.catalog.list_versions("team", "sales", include_deleted=True)] == [2]
    assert verify(ctx, "sales")["ok"]


def test_gc_keeps_files_a_later_append_still_names(ctx):
    v1 = write_version(ctx, "events", frame(3), job_id="j1")
    write_version(ctx, "events", frame(2, start=3), job_id="j2", mode="append")
    soft_delete(ctx, "events", 1)
    gc(ctx, retention_seconds=0, now=time.time() + 1)
    assert v1.files[0]["key"] in keys(ctx)  # v2 is v1's file plus its own
    assert scan_dataset(ctx, "events").collect().height == 5
    assert verify(ctx, "events")["ok"]


def test_gc_purges_a_whole_deleted_dataset(ctx):
    write_version(ctx, "old", frame(3), job_id="j1")
    write_version(ctx, "old", frame(3), job_id="j2")
    write_version(ctx, "kept", frame(3), job_id="j3")
    soft_delete(ctx, "old")
    report = gc(ctx, retention_seconds=DAY, now=time.time() + 2 * DAY)
    assert report["versions_purged"] == 2
    assert keys(ctx, "team/datasets/old/") == set()
    assert keys(ctx, "team/datasets/kept/")
    assert ctx.catalog.list_versions("team", "old", include_deleted=True) == []


def _leftover(ctx, name: str, job_id: str, attempt: int) -> str:
    key = data_prefix("team", name, job_id, attempt) + "part-00000.parquet"
    ctx.storage.put_bytes(key, b"PAR1 half a file")
    return key


def test_gc_removes_files_of_dead_attempts_only(ctx):
    write_version(ctx, "sales", frame(3), job_id="committed")
    cat = ctx.catalog
    # a failed job: dead
    cat.create_job(job_id="failed", namespace="team", spec={}, runner="local")
    cat.start_attempt("failed", "w")
    cat.finish_job("failed", "failed")
    dead_failed = _leftover(ctx, "sales", "failed", 1)
    # a job now on its second attempt: the first attempt is dead, the second is live
    cat.create_job(job_id="retried", namespace="team", spec={}, runner="local")
    cat.start_attempt("retried", "w")
    cat.start_attempt("retried", "w")
    dead_first = _leftover(ctx, "sales", "retried", 1)
    live_second = _leftover(ctx, "sales", "retried", 2)
    # files no job record explains: kept until they are older than the retention
    unknown = _leftover(ctx, "sales", "unknown", 1)

    report = gc(ctx, retention_seconds=DAY)
    left = keys(ctx)
    assert dead_failed not in left and dead_first not in left
    assert live_second in left and unknown in left
    assert report["attempts_removed"] == 2
    assert verify(ctx, "sales")["ok"]  # the committed version is untouched

    # Two days on, nobody explained the unknown files, and the "running" job has not beaten
    # its heartbeat since: its worker is gone, so its attempt is dead too.
    gc(ctx, retention_seconds=DAY, now=time.time() + 2 * DAY)
    left = keys(ctx)
    assert unknown not in left and live_second not in left
    assert verify(ctx, "sales")["ok"]


# ----------------------------------------------------------------------------- commit races
def test_commit_steps_over_a_manifest_with_no_catalog_row(ctx):
    """A writer that died between its manifest and its catalog row must not block the next."""
    ctx.storage.put_bytes(manifest_key("team", "sales", 1), b'{"job_id": "dead", "files": []}')
    ds = write_version(ctx, "sales", frame(4), job_id="j-next")
    assert ds.version == 2 and scan_dataset(ctx, "sales").collect().height == 4


def test_concurrent_commits_get_distinct_versions(ctx):
    import threading

    results, errors = [], []
    barrier = threading.Barrier(4)

    def writer(i: int) -> None:
        barrier.wait()
        try:
            results.append(write_version(ctx, "race", frame(i + 1), job_id=f"w{i}").version)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(results) == [1, 2, 3, 4]
    for v in range(1, 5):
        assert verify(ctx, "race", v)["ok"]


# ----------------------------------------------------------------------------- stored results
def _result(ctx, job_id: str, attempt: int = 1) -> str:
    from workbench.results import result_key

    key = result_key("team", job_id, attempt)
    ctx.storage.put_bytes(key, frame(3).write_ipc(None).getvalue())
    return key


def test_gc_lists_and_removes_expired_results_of_pipelines_without_a_sink(ctx):
    from workbench.maintenance import list_results

    cat = ctx.catalog
    for job_id, status in (("ok", "succeeded"), ("bad", "failed")):
        cat.create_job(job_id=job_id, namespace="team", spec={}, runner="local")
        cat.start_attempt(job_id, "w")
        cat.finish_job(job_id, status)
    cat.create_job(job_id="again", namespace="team", spec={}, runner="local")
    cat.start_attempt("again", "w")
    cat.start_attempt("again", "w")
    kept, failed = _result(ctx, "ok"), _result(ctx, "bad")
    replaced, current = _result(ctx, "again", 1), _result(ctx, "again", 2)
    orphan = _result(ctx, "nobody")

    listed = {r["key"]: r for r in list_results(ctx, retention_seconds=DAY)}
    assert set(listed) == {kept, failed, replaced, current, orphan}
    assert listed[kept]["status"] == "succeeded" and not listed[kept]["expired"]
    assert listed[failed]["expired"] and listed[replaced]["expired"]
    assert listed[orphan]["status"] is None and not listed[orphan]["expired"]

    report = gc(ctx, retention_seconds=DAY)
    assert sorted(report["results_removed"]) == sorted([failed, replaced])
    assert keys(ctx, "team/results/") == {kept, current, orphan}

    # past the retention: the succeeded job's rows and the orphan go, and so does the running
    # attempt's, whose job has not beaten its heartbeat since (its worker is gone)
    report = gc(ctx, retention_seconds=DAY, now=time.time() + 2 * DAY)
    assert sorted(report["results_removed"]) == sorted([kept, orphan, current])
    assert keys(ctx, "team/results/") == set()
