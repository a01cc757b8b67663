"""Names, namespaces and job ids: full matches at the edge; attempts that cannot collide; every
read, write, list and gc inside its own namespace.

Issue cases: job id ``nightly`` cleared ``data/nightly-a*``, deleting job ``nightly-a1``'s
committed files; names, namespaces and job ids ending in a newline were accepted (folders
``abc\\n`` appeared in storage).
"""

from __future__ import annotations

import os
import time

import pytest

import workbench as wb
from workbench.context import Context
from workbench.errors import ConfigError, NotFound, SpecError
from workbench.maintenance import gc, verify
from workbench.runners.local import LocalRunner

BAD = ["abc\n", "abc\r\n", "\nabc", "a/b", "..", "a..b", "", " abc", "abc ", "a\x00b", "-abc"]


@pytest.fixture
def src(wb_home, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,v\n1,a\n2,b\n")
    return str(path)


def _run(pipeline, job_id=None):
    return LocalRunner(Context.from_settings()).submit(pipeline, job_id=job_id).wait(60)


def _storage_names(home):
    root = home / "storage"
    return [p.name for p in root.rglob("*")] if root.exists() else []


def _job_count(ctx):
    return len(ctx.catalog.list_jobs(limit=10_000))


@pytest.mark.parametrize("name", BAD)
def test_bad_dataset_names_are_spec_errors_at_the_edge(name, wb_home):
    with pytest.raises(SpecError):
        wb.dataset(name)
    with pytest.raises(SpecError):
        wb.from_dataset(name)
    with pytest.raises(SpecError):
        wb.info(name)
    with pytest.raises(SpecError):
        wb.read(name)
    assert not any("\n" in n for n in _storage_names(wb_home))


@pytest.mark.parametrize("namespace", ["abc\n", "a/b", "..", "", "x" * 200])
def test_bad_namespace_is_a_config_error_before_any_job_record(namespace, src, wb_home, monkeypatch):
    Context.from_settings().catalog  # the catalog exists, empty
    monkeypatch.setenv("WORKBENCH_NAMESPACE", namespace)
    if namespace == "":
        # an empty variable means "unset": the default namespace, not an error
        assert Context.from_settings().namespace == "default"
        return
    with pytest.raises(ConfigError) as info:
        wb.submit(wb.Pipeline(source=wb.file(src), sink=wb.dataset("x")), runner="local")
    assert "WORKBENCH_NAMESPACE" in (info.value.hint or "")
    monkeypatch.delenv("WORKBENCH_NAMESPACE")
    ctx = Context.from_settings()
    assert _job_count(ctx) == 0
    assert not any("\n" in n for n in _storage_names(wb_home))


def test_catalog_refuses_a_bad_namespace_or_job_id_directly(wb_home):
    ctx = Context.from_settings()
    with pytest.raises(ConfigError):
        ctx.catalog.create_job(job_id="j1", namespace="abc\n", spec={}, runner="local")
    with pytest.raises(SpecError):
        ctx.catalog.create_job(job_id="j1\n", namespace="default", spec={}, runner="local")
    assert _job_count(ctx) == 0


@pytest.mark.parametrize("job_id", ["nightly\n", "a/b", "../x", "x y"])
def test_bad_job_id_is_refused_before_any_record_or_file(job_id, src, wb_home):
    ctx = Context.from_settings()
    with pytest.raises(SpecError):
        LocalRunner(ctx).submit(wb.Pipeline(source=wb.file(src), sink=wb.dataset("x")), job_id=job_id)
    assert _job_count(ctx) == 0
    with pytest.raises(NotFound):
        wb.info("x")


def test_job_nightly_does_not_delete_job_nightly_a1s_files(src, wb_home):
    """The issue's case: both jobs write the same dataset; the second must not clear the first's."""
    first = _run(wb.Pipeline(source=wb.file(src), sink=wb.dataset("d")), job_id="nightly-a1")
    assert first.status == "succeeded", first.error
    second = _run(wb.Pipeline(source=wb.file(src), sink=wb.dataset("d")), job_id="nightly")
    assert second.status == "succeeded", second.error
    ctx = Context.from_settings()
    assert verify(ctx, "d", 1)["ok"] and verify(ctx, "d", 2)["ok"]
    assert wb.read("d", version=1).collect().height == 2
    keys = [f["key"] for f in wb.info("d", version=1).files + wb.info("d", version=2).files]
    assert any("/data/nightly-a1/a1/" in k for k in keys) and any("/data/nightly/a1/" in k for k in keys)


def test_gc_of_a_dead_attempt_leaves_a_prefix_sharing_job_alone(src, wb_home):
    ctx = Context.from_settings()
    ok = _run(wb.Pipeline(source=wb.file(src), sink=wb.dataset("d")), job_id="nightly-a1")
    assert ok.status == "succeeded"
    # A dead attempt of job "nightly": its files were written, no manifest names them.
    from workbench.dataset_store import data_prefix

    dead = data_prefix("default", "d", "nightly", 1) + "part-00000.parquet"
    ctx.storage.put_bytes(dead, b"leftover")
    ctx.catalog.create_job(job_id="nightly", namespace="default", spec={}, runner="local")
    ctx.catalog.finish_job("nightly", "failed")
    report = gc(ctx, retention_seconds=0, now=time.time() + 10)
    assert report["attempts_removed"] == 1 and not ctx.storage.exists(dead)
    assert verify(ctx, "d")["ok"]


def test_versions_written_in_the_old_layout_still_read_verify_and_survive_gc(src, wb_home,
                                                                         monkeypatch):
    import workbench.writer as writer
    from workbench.dataset_store import legacy_data_prefix

    with monkeypatch.context() as mp:  # the writer as it was before the per-job folders
        # patched in this process: the job must run here too, not in a child of the fork server
        mp.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
        mp.setattr(writer, "data_prefix", legacy_data_prefix)
        old = _run(wb.Pipeline(source=wb.file(src), sink=wb.dataset("d")), job_id="old")
    assert old.status == "succeeded", old.error
    assert "/data/old-a1/" in wb.info("d").files[0]["key"]
    ctx = Context.from_settings()
    # and a dead attempt in the old layout, which gc must recognise
    dead = legacy_data_prefix("default", "d", "gone", 1) + "part-00000.parquet"
    ctx.storage.put_bytes(dead, b"leftover")
    new = _run(wb.Pipeline(source=wb.file(src), sink=wb.dataset("d", mode="append")), job_id="new")
    assert new.status == "succeeded", new.error
    report = gc(ctx, retention_seconds=0, now=time.time() + 10)
    assert report["attempts_removed"] == 1 and not ctx.storage.exists(dead)
    assert wb.read("d").collect().height == 4
    assert verify(ctx, "d", 1)["ok"] and verify(ctx, "d", 2)["ok"]


def test_reads_lists_jobs_and_gc_stay_in_their_namespace(src, wb_home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "victim")
    job = _run(wb.Pipeline(source=wb.file(src), sink=wb.dataset("private")), job_id="victim-job")
    assert job.status == "succeeded"
    victim_ctx = Context.from_settings()
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "attacker")
    with pytest.raises(NotFound):
        wb.read("private")
    with pytest.raises(NotFound):
        wb.info("private")
    assert [d.name for d in wb.list_datasets()] == []
    assert wb.list_jobs() == []
    with pytest.raises(NotFound):
        wb.job("victim-job")
    ctx = Context.from_settings()
    with pytest.raises(NotFound):
        ctx.catalog.get_job("victim-job", ctx.namespace)
    gc(ctx, retention_seconds=0, now=time.time() + 3600)
    assert verify(victim_ctx, "private")["ok"]
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "victim")
    assert wb.read("private").collect().height == 2


def test_cli_job_status_does_not_show_another_namespaces_job(src, wb_home, monkeypatch, capsys):
    from workbench.cli import main

    monkeypatch.setenv("WORKBENCH_NAMESPACE", "victim")
    assert _run(wb.Pipeline(source=wb.file(src), sink=wb.dataset("p")), job_id="vj").status == "succeeded"
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "attacker")
    code = main(["job", "vj"])
    out = capsys.readouterr()
    assert code != 0 and "no job 'vj'" in out.err and "in.csv" not in out.out + out.err
    assert os.environ["WORKBENCH_NAMESPACE"] == "attacker"


def test_a_partition_column_name_cannot_write_into_another_namespace(src, wb_home):
    evil = "../../../victim/datasets/private/data/x"
    job = _run(wb.Pipeline(source=wb.file(src), steps=[wb.rename({"v": evil})],
                           sink=wb.dataset("d", partition_by=[evil])))
    assert job.status == "succeeded", job.error
    keys = [f["key"] for f in wb.info("d").files]
    assert keys and all(k.startswith("default/datasets/d/data/") and "/../" not in k for k in keys)
    assert not (wb_home / "storage" / "victim").exists()
    assert wb.read("d").collect().height == 2


def test_storage_keys_with_dot_segments_are_refused(wb_home):
    storage = Context.from_settings().storage
    for key in ("default/datasets/../../victim/x", "default/./x", "../x"):
        with pytest.raises(ValueError, match="segment"):
            storage.put_bytes(key, b"1")
    assert not (wb_home / "storage" / "victim").exists()
