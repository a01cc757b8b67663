"""The commit point: a crash between the snapshot and the catalog row is finished once by the
next run; a job run twice commits one snapshot; verify checks the snapshot's file list; the
catalog setting is parsed and an unreachable REST catalog is a clear error."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import socket
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from ice_helpers import by_pyiceberg, same, table
from pg_gates import SESSION_ENDED, ended_by_the_server

import workbench as wb
from workbench.context import Context
from workbench.dataset_store import (
    HashingWriter, commit_snapshot, data_prefix, find_committed, manifest_checksum, manifest_key,
    register_manifest,
)
from workbench.errors import ConfigError, StorageUnavailable
from workbench.maintenance import verify
from workbench.settings import get_settings


def _csv(tmp_path, name: str, df: pl.DataFrame) -> str:
    path = tmp_path / f"{name}.csv"
    df.write_csv(path)
    return str(path)


def _staged_version(ctx: Context, name: str, job_id: str, df: pl.DataFrame, version: int):
    """What a writer has done just before its commit: data files and the manifest."""
    key = data_prefix(ctx.namespace, name, job_id, 1) + "part-00000.parquet"
    buf = io.BytesIO()
    df.write_parquet(buf)
    hw = HashingWriter(io.BytesIO())
    hw.write(buf.getvalue())
    ctx.storage.put_bytes(key, buf.getvalue())
    files = [{"key": key, "rows": df.height, "bytes": hw.bytes, "sha256": hw.sha256}]
    manifest = {"format": "workbench.manifest/1", "namespace": ctx.namespace, "name": name,
                "version": version, "job_id": job_id, "mode": "overwrite", "files": files,
                "rows": df.height, "bytes": hw.bytes, "bytes_in": 0,
                "checksum": manifest_checksum(files), "schema": {"fields": []}, "profile": {},
                "spec": None, "inputs": [], "checks": [], "created_at": 0}
    mkey = manifest_key(ctx.namespace, name, version)
    ctx.storage.put_bytes(mkey, json.dumps(manifest).encode(), if_absent=True)
    return manifest, mkey


def test_a_crash_between_snapshot_and_row_is_finished_once(home, tmp_path):
    wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]})), name="ev", mode="create")
    ctx = Context.from_settings()
    df = pl.DataFrame({"id": [10, 20, 30]})
    manifest, mkey = _staged_version(ctx, "ev", "job2", df, 2)
    commit_snapshot(ctx, manifest, mkey)  # the process died right after this
    assert len(table("ev").snapshots()) == 2
    assert wb.info("ev").version == 1  # not visible to workbench yet
    for _ in range(2):  # the next run of the job, and one more
        done = find_committed(ctx, "ev", "job2")
        assert done.version == 2 and done.rows == 3
    tbl = table("ev")
    assert len(tbl.snapshots()) == 2  # no second snapshot
    assert done.snapshot_id == tbl.current_snapshot().snapshot_id
    assert same(by_pyiceberg(tbl, done.snapshot_id), wb.read("ev").collect())
    assert verify(ctx, "ev")["ok"]


def test_a_failed_fanout_commit_keeps_the_files_a_snapshot_lists(home, tmp_path):
    """The fan-out deletes a failed or cancelled job's files; not when its commit got as far
    as the Iceberg snapshot (other engines read those files now; the next run registers it)."""
    from types import SimpleNamespace

    from workbench.worker.fanout_parts import cleanup_parts

    wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]})), name="ev", mode="create")
    ctx = Context.from_settings()
    rt = SimpleNamespace(ctx=ctx)
    manifest, mkey = _staged_version(ctx, "ev", "job5", pl.DataFrame({"id": [7, 8]}), 2)
    snap = commit_snapshot(ctx, manifest, mkey)  # then the catalog row failed
    ctx.storage.delete(mkey)  # even with the manifest gone, the snapshot names the files
    cleanup_parts(rt, "ev", "job5")
    tbl = table("ev")
    assert sorted(by_pyiceberg(tbl, snap["snapshot_id"])["id"].to_list()) == [7, 8]
    assert all(ctx.storage.exists(f["key"]) for f in manifest["files"])
    # a job that committed nothing: its files go
    other, okey = _staged_version(ctx, "ev", "job6", pl.DataFrame({"id": [9]}), 3)
    ctx.storage.delete(okey)
    cleanup_parts(rt, "ev", "job6")
    assert not any(ctx.storage.exists(f["key"]) for f in other["files"])


def test_a_crash_before_the_snapshot_is_committed_by_the_next_run(home, tmp_path):
    wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]})), name="ev", mode="create")
    ctx = Context.from_settings()
    _staged_version(ctx, "ev", "job3", pl.DataFrame({"id": [5]}), 2)  # died after the manifest
    assert len(table("ev").snapshots()) == 1
    done = find_committed(ctx, "ev", "job3")
    assert done.version == 2 and len(table("ev").snapshots()) == 2
    assert wb.read("ev").collect()["id"].to_list() == [5]


def test_a_job_run_twice_commits_one_snapshot(home, tmp_path):
    src = _csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]}))
    p = wb.Pipeline(name="twice", source=wb.file(src), sink=wb.dataset("tw", mode="append"))
    first = wb.submit(p, job_id="nightly-1").wait().result
    again = wb.submit(p, job_id="nightly-1").wait().result
    assert first.version == again.version == 1
    assert len(table("tw").snapshots()) == 1


def test_verify_rehashes_the_files_the_snapshot_lists(home, tmp_path):
    ds = wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]})), name="ver", mode="create")
    ctx = Context.from_settings()
    report = verify(ctx, "ver")
    assert report["ok"] and report["snapshot"] == "ok" and report["snapshot_id"] == ds.snapshot_id
    key = ds.files[0]["key"]
    ctx.storage.put_bytes(key, ctx.storage.get_bytes(key)[:-1] + b"\0")
    bad = verify(ctx, "ver")
    assert not bad["ok"] and [m["key"] for m in bad["mismatched"]] == [key]


def test_types_iceberg_cannot_hold_commit_without_a_snapshot(home, tmp_path):
    path = tmp_path / "u.parquet"
    big = 2**63 + 5  # an Iceberg long would read it negative
    pl.DataFrame({"id": [1, big]}, schema={"id": pl.UInt64}).write_parquet(path)
    ds = wb.ingest(str(path), name="unsigned", mode="create")
    ctx = Context.from_settings()
    assert ds.snapshot_id is None
    note = ctx.catalog.snapshot_of(ctx.namespace, "unsigned", ds.version)["note"]
    assert "Iceberg v2 cannot hold" in note and "uint64" in note
    assert verify(ctx, "unsigned")["snapshot"] == "none" and verify(ctx, "unsigned")["ok"]
    assert wb.read("unsigned").collect()["id"].to_list() == [1, big]  # workbench reads it
    assert table("unsigned") is None  # and no engine reads a table that is not the data
    # a version Iceberg can hold makes the table again
    pl.DataFrame({"id": [1, 2]}).write_parquet(path)
    ds2 = wb.ingest(str(path), name="unsigned", mode="overwrite")
    assert same(by_pyiceberg(table("unsigned"), ds2.snapshot_id), wb.read("unsigned").collect())
    # a type change Iceberg cannot express (int -> string) makes a new table; the versions
    # before it lose their snapshots, and say so
    pl.DataFrame({"id": ["a", "b"]}).write_parquet(path)
    ds3 = wb.ingest(str(path), name="unsigned", mode="overwrite")
    assert [s.snapshot_id for s in table("unsigned").snapshots()] == [ds3.snapshot_id]
    gone = ctx.catalog.snapshot_of(ctx.namespace, "unsigned", ds2.version)
    assert gone["snapshot_id"] is None and "dropped at v3" in gone["note"]
    assert verify(ctx, "unsigned", ds2.version)["ok"] and verify(ctx, "unsigned")["snapshot"] == "ok"


def test_versions_wider_than_the_setting_get_no_snapshot_and_say_so(wb_home, monkeypatch,
                                                                   tmp_path):
    """WORKBENCH_ICEBERG_MAX_COLUMNS: pyiceberg's commit copies the table metadata on every
    update, so a very wide version is kept out of Iceberg with a note that names the setting."""
    monkeypatch.setenv("WORKBENCH_ICEBERG_MAX_COLUMNS", "3")
    narrow = pl.DataFrame({"a": [1], "b": [2], "c": [3]})
    ds = wb.ingest(_csv(tmp_path, "n", narrow), name="wide", mode="create")
    assert ds.snapshot_id is not None and ds.snapshot_note is None
    wide = narrow.with_columns(d=pl.lit(4))
    ds2 = wb.ingest(_csv(tmp_path, "w", wide), name="wide", mode="overwrite")
    assert ds2.snapshot_id is None
    assert "4 columns" in ds2.snapshot_note and "WORKBENCH_ICEBERG_MAX_COLUMNS (3)" in ds2.snapshot_note
    assert table("wide") is None  # no engine reads an older snapshot as the latest
    assert wb.read("wide").collect().equals(wide)  # workbench reads the version as usual
    monkeypatch.setenv("WORKBENCH_ICEBERG_MAX_COLUMNS", "0")  # no limit
    ds3 = wb.ingest(_csv(tmp_path, "w", wide), name="wide", mode="overwrite")
    assert same(by_pyiceberg(table("wide"), ds3.snapshot_id), wide)


def test_the_catalog_setting(wb_home, monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_ICEBERG_CATALOG", "thrift://somewhere")
    with pytest.raises(ConfigError, match="WORKBENCH_ICEBERG_CATALOG"):
        get_settings()
    monkeypatch.setenv("WORKBENCH_ICEBERG_CATALOG", "none")
    ds = wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1]})), name="plain", mode="create")
    assert ds.snapshot_id is None and wb.read("plain").collect().height == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    monkeypatch.setenv("WORKBENCH_ICEBERG_CATALOG", f"http://127.0.0.1:{port}/catalog")
    monkeypatch.setenv("WORKBENCH_ICEBERG_WAREHOUSE", "acct_bucket")
    settings = get_settings()
    assert settings.iceberg_warehouse == "acct_bucket"
    with pytest.raises(StorageUnavailable, match="cannot reach the Iceberg REST catalog"):
        wb.ingest(_csv(tmp_path, "b", pl.DataFrame({"id": [2]})), name="plain", mode="overwrite",
                  runner="local")
    assert wb.info("plain").version == 1  # the failed commit left no version


class _RecordingCatalog(http.server.BaseHTTPRequestHandler):
    """A REST catalog that refuses every request and records what it was sent."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802 - http.server's spelling
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        body = b'{"error": {"message": "not allowed", "type": "NotAuthorizedException", "code": 401}}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


def test_the_rest_catalog_gets_the_token_and_warehouse_and_no_error_shows_the_token(
        wb_home, monkeypatch, tmp_path):
    token = "tok-" + os.urandom(12).hex()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingCatalog)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _RecordingCatalog.seen = []
    try:
        monkeypatch.setenv("WORKBENCH_ICEBERG_CATALOG",
                           f"http://127.0.0.1:{server.server_address[1]}/catalog")
        monkeypatch.setenv("WORKBENCH_ICEBERG_WAREHOUSE", "acct_bucket")
        monkeypatch.setenv("WORKBENCH_ICEBERG_TOKEN", token)
        assert token not in repr(get_settings())
        with pytest.raises(StorageUnavailable, match="cannot reach the Iceberg REST catalog") as err:
            wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1]})), name="rest", runner="local")
    finally:
        server.shutdown()
        server.server_close()
    # the catalog's first request, its configuration, carries the warehouse and the bearer token
    path, auth = _RecordingCatalog.seen[0]
    assert path.startswith("/catalog/v1/config") and "warehouse=acct_bucket" in path
    assert auth == f"Bearer {token}"
    # the refusal is reported, the token is not
    for text in (str(err.value), repr(err.value), json.dumps(err.value.to_dict())):
        assert token not in text
    assert "WORKBENCH_ICEBERG_TOKEN" in err.value.hint


def test_a_version_reaching_the_table_late_never_becomes_current(home, tmp_path):
    wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1]})), name="late", mode="create")
    ctx = Context.from_settings()
    # a slow writer took version 2 (its manifest is written) ...
    manifest, mkey = _staged_version(ctx, "late", "slow", pl.DataFrame({"id": [2]}), 2)
    # ... a faster one commits version 3 meanwhile ...
    v3 = wb.ingest(_csv(tmp_path, "b", pl.DataFrame({"id": [3]})), name="late", mode="overwrite")
    assert v3.version == 3
    v2 = register_manifest(ctx, manifest, mkey)  # ... and then the slow one commits
    tbl = table("late")
    assert tbl.current_snapshot().snapshot_id == v3.snapshot_id  # the newest stays current
    assert "wb-v2" in tbl.metadata.refs
    assert by_pyiceberg(tbl, v2.snapshot_id)["id"].to_list() == [2]
    assert same(by_pyiceberg(tbl, v3.snapshot_id), wb.read("late").collect())
    assert verify(ctx, "late", 2)["ok"]
    # deleted and collected: the branch and its snapshot go too
    from workbench.maintenance import gc, soft_delete

    soft_delete(ctx, "late", version=2)
    report = gc(ctx, retention_seconds=60, now=__import__("time").time() + 3600)
    assert report["errors"] == []
    tbl = table("late")
    assert "wb-v2" not in tbl.metadata.refs
    assert v2.snapshot_id not in {s.snapshot_id for s in tbl.snapshots()}
    assert tbl.current_snapshot().snapshot_id == v3.snapshot_id


# ----------------------------------------------------------------------------- cancels mid-commit
# The gate is PostgreSQL's own locking: the test holds a table lock, the job's commit waits on
# it (seen in pg_locks, not guessed from time), the test cancels, then lets the commit go on.
@pytest.fixture
def pg_home(wb_home, monkeypatch, postgres_url) -> str:
    monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
    monkeypatch.setenv("WORKBENCH_CATALOG_URL", postgres_url)
    return postgres_url


@contextlib.contextmanager
def _locked(url: str, table_name: str, mode: str):
    import psycopg

    conn = psycopg.connect(url)  # one transaction: the lock holds until the block ends
    try:
        conn.execute(f"LOCK TABLE {table_name} IN {mode} MODE")
        yield conn
    finally:
        with contextlib.suppress(psycopg.OperationalError):  # a server stopped inside the block
            conn.rollback()
        conn.close()


def _waiting_on(url: str, table_name: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
                            "%s::regclass", (table_name,)).fetchone()[0] > 0


def _until(cond, what: str, limit: float = 180.0) -> None:
    end = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < end, f"{what} within {limit:.0f}s"
        time.sleep(0.05)


def _data_keys(ctx: Context, name: str) -> list[str]:
    return sorted(o.key for o in ctx.storage.list(f"default/datasets/{name}/") if "/data/" in o.key)


def test_a_cancel_landing_after_the_snapshot_reports_the_committed_version(pg_home, tmp_path):
    """The cancel arrives while the job's Iceberg commit waits: the snapshot commits, then the
    cancel is seen. The version is committed (other engines read it): the job reports it, its
    files stay, and the catalog row is added."""
    first = wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]})), name="ev")
    ctx = Context.from_settings()
    with _locked(pg_home, "iceberg_tables", "EXCLUSIVE"):
        job = wb.submit(wb.Pipeline(source=wb.file(_csv(tmp_path, "b", pl.DataFrame(
            {"id": [7, 8, 9]}))), sink=wb.dataset("ev", mode="overwrite")), job_id="late-cancel")
        _until(lambda: _waiting_on(pg_home, "iceberg_tables"), "the job's snapshot commit waits")
        job.cancel()
    job.wait(180)
    assert job.status == "succeeded"
    ds = job.result
    assert (ds.version, ds.rows, ds.job_id) == (2, 3, "late-cancel")
    assert wb.read("ev").collect()["id"].to_list() == [7, 8, 9]
    tbl = table("ev")
    assert [s.snapshot_id for s in tbl.snapshots()][-1] == tbl.current_snapshot().snapshot_id \
        == ds.snapshot_id
    assert same(by_pyiceberg(tbl, ds.snapshot_id), wb.read("ev").collect())
    assert [(v.version, v.job_id) for v in ctx.catalog.list_versions("default", "ev")] == [
        (1, first.job_id), (2, "late-cancel")]
    assert all(ctx.storage.exists(f["key"]) for f in ds.files)
    assert [j["status"] for j in wb.list_jobs() if j["id"] == "late-cancel"] == ["succeeded"]


def hold(frame: pl.LazyFrame, gate: str, marker: str) -> pl.LazyFrame:
    """A step that writes ``marker`` when rows reach it, then holds them until ``gate`` exists."""

    def fn(df: pl.DataFrame) -> pl.DataFrame:
        Path(marker).touch()
        while not os.path.exists(gate):
            time.sleep(0.02)
        return df

    return frame.map_batches(fn, streamable=True)


def test_a_cancel_landing_after_the_manifest_gives_the_number_back(pg_home, tmp_path):
    """The cancel arrives while the commit waits to read the latest version number, so it is
    seen right after the manifest is written, before the snapshot: the job is cancelled, the
    manifest and the files go, and the next job takes the number."""
    wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]})), name="ev")
    ctx = Context.from_settings()
    before = _data_keys(ctx, "ev")
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    job = wb.submit(wb.Pipeline(
        source=wb.file(_csv(tmp_path, "b", pl.DataFrame({"id": [7, 8, 9]}))),
        steps=[wb.python("test_iceberg_commit:hold", gate=str(gate), marker=str(marker))],
        sink=wb.dataset("ev", mode="overwrite")), job_id="cancel-2")
    _until(marker.exists, "the rows reached the held step")  # past the job's first catalog reads
    with _locked(pg_home, "versions", "ACCESS EXCLUSIVE"):
        gate.touch()
        _until(lambda: _waiting_on(pg_home, "versions"), "the job's commit waits on the catalog")
        job.cancel()
    job.wait(180)
    assert job.status == "cancelled"
    assert [j["status"] for j in wb.list_jobs() if j["id"] == "cancel-2"] == ["cancelled"]
    assert not ctx.storage.exists(manifest_key("default", "ev", 2))
    assert _data_keys(ctx, "ev") == before
    assert len(table("ev").snapshots()) == 1
    assert [v.version for v in ctx.catalog.list_versions("default", "ev")] == [1]
    assert wb.ingest(_csv(tmp_path, "c", pl.DataFrame({"id": [5]})), name="ev").version == 2


def test_a_cancel_landing_before_the_row_of_a_version_without_snapshot_gives_it_back(
        pg_home, tmp_path):
    """A version Iceberg cannot hold gets no snapshot; a cancel seen after that, before the
    catalog row, leaves nothing: the manifest and the files go, the job is cancelled."""
    wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1]})), name="other")  # the Iceberg tables
    ctx = Context.from_settings()
    path = tmp_path / "u.parquet"
    pl.DataFrame({"id": [1, 2**63 + 5]}, schema={"id": pl.UInt64}).write_parquet(path)
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    job = wb.submit(wb.Pipeline(source=wb.file(str(path)), steps=[wb.python(
        "test_iceberg_commit:hold", gate=str(gate), marker=str(marker))],
        sink=wb.dataset("unsigned")), job_id="cancel-3")
    _until(marker.exists, "the rows reached the held step")
    with _locked(pg_home, "iceberg_tables", "ACCESS EXCLUSIVE"):  # the snapshot step's lookup
        gate.touch()
        _until(lambda: _waiting_on(pg_home, "iceberg_tables"), "the job's snapshot step waits")
        job.cancel()
    job.wait(180)
    assert job.status == "cancelled"
    assert [j["status"] for j in wb.list_jobs() if j["id"] == "cancel-3"] == ["cancelled"]
    assert not ctx.storage.exists(manifest_key("default", "unsigned", 1))
    assert _data_keys(ctx, "unsigned") == []
    with pytest.raises(wb.NotFound):
        wb.info("unsigned")
    assert table("unsigned") is None


def test_a_catalog_row_failing_after_the_snapshot_keeps_the_version_for_the_next_run(
        pg_home, tmp_path, monkeypatch):
    """The server ends the job's catalog session while it writes the version's row, after the
    snapshot was committed: the job fails with the catalog's error, nothing is visible in the
    catalog, the files the snapshot lists stay, and the next run of the job finishes the
    commit once."""
    import psycopg

    first = wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]})), name="ev")
    ctx = Context.from_settings()
    monkeypatch.setenv("WORKBENCH_CATALOG_RETRY_WINDOW", "0")  # the first lost connection fails
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    pipeline = wb.Pipeline(
        source=wb.file(_csv(tmp_path, "b", pl.DataFrame({"id": [7, 8, 9]}))),
        steps=[wb.python("test_iceberg_commit:hold", gate=str(gate), marker=str(marker))],
        sink=wb.dataset("ev", mode="overwrite"))
    job = wb.submit(pipeline, job_id="row-lost")
    _until(marker.exists, "the rows reached the held step")
    with _locked(pg_home, "version_snapshots", "ACCESS EXCLUSIVE"):  # written by the row only
        gate.touch()
        _until(lambda: _waiting_on(pg_home, "version_snapshots"), "the job's row waits")
        with psycopg.connect(pg_home, autocommit=True) as conn:
            [pid] = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_locks WHERE NOT granted AND relation = "
                "'version_snapshots'::regclass")]
            assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
    job.wait(180)
    assert job.status == "failed"
    assert type(job.error).__name__ == "CatalogUnavailable"
    assert job.error.message.startswith("the catalog at postgresql://postgres@127.0.0.1:")
    assert ended_by_the_server(job.error.message), job.error.message
    monkeypatch.delenv("WORKBENCH_CATALOG_RETRY_WINDOW")
    assert [(v.version, v.job_id) for v in ctx.catalog.list_versions("default", "ev")] == [
        (1, first.job_id)]
    assert wb.read("ev").collect()["id"].to_list() == [1, 2]
    manifest = json.loads(ctx.storage.get_bytes(manifest_key("default", "ev", 2)))
    assert manifest["job_id"] == "row-lost"
    assert all(ctx.storage.exists(f["key"]) for f in manifest["files"])
    tbl = table("ev")
    [snap] = [s for s in tbl.snapshots() if s.summary.additional_properties.get("wb.job")
              == "row-lost"]
    assert sorted(by_pyiceberg(tbl, snap.snapshot_id)["id"].to_list()) == [7, 8, 9]
    # the next run of the job registers what the first one committed, and runs nothing
    done = find_committed(ctx, "ev", "row-lost")
    assert (done.version, done.rows, done.snapshot_id) == (2, 3, snap.snapshot_id)
    assert wb.read("ev").collect()["id"].to_list() == [7, 8, 9]
    assert len(table("ev").snapshots()) == 2


def test_the_catalog_server_stopping_during_the_snapshot_commit_keeps_the_files(
        wb_home, monkeypatch, tmp_path):
    """PostgreSQL (the catalog, and so the Iceberg catalog) stops while the job's snapshot
    commit waits on it: whether the snapshot landed cannot be told, so the manifest and the
    files stay; the job fails once the catalog is back, and the next run of the job finishes
    the commit."""
    from servers import create_database, start_postgres

    pg = start_postgres()
    try:
        url = create_database(pg, "outage")
        monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
        monkeypatch.setenv("WORKBENCH_CATALOG_URL", url)
        wb.ingest(_csv(tmp_path, "a", pl.DataFrame({"id": [1, 2]})), name="ev")
        ctx = Context.from_settings()
        gate, marker = tmp_path / "gate", tmp_path / "marker"
        job = wb.submit(wb.Pipeline(
            source=wb.file(_csv(tmp_path, "b", pl.DataFrame({"id": [7, 8, 9]}))),
            steps=[wb.python("test_iceberg_commit:hold", gate=str(gate), marker=str(marker))],
            sink=wb.dataset("ev", mode="overwrite")), job_id="pg-stopped")
        _until(marker.exists, "the rows reached the held step")
        with _locked(url, "iceberg_tables", "EXCLUSIVE"):
            gate.touch()
            _until(lambda: _waiting_on(url, "iceberg_tables"), "the job's snapshot commit waits")
            pg.stop()
        _until(lambda: job.status != "running" or ctx.storage.exists(
            manifest_key("default", "ev", 2)), "the job is past its manifest")
        pg.start()
        job.wait(300)
        assert job.status == "failed"
        assert type(job.error).__name__ == "CatalogUnavailable"
        lost = "the catalog connection was lost during the Iceberg commit of 'ev' v2: "
        assert job.error.message in {lost + why for why in SESSION_ENDED}, job.error.message
        assert job.error.retryable  # a worker runs it again, and that run finishes the commit
        assert [j["status"] for j in wb.list_jobs() if j["id"] == "pg-stopped"] == ["failed"]
        assert [v.version for v in ctx.catalog.list_versions("default", "ev")] == [1]
        manifest = json.loads(ctx.storage.get_bytes(manifest_key("default", "ev", 2)))
        assert all(ctx.storage.exists(f["key"]) for f in manifest["files"])
        done = find_committed(ctx, "ev", "pg-stopped")
        assert (done.version, done.rows) == (2, 3)
        assert wb.read("ev").collect()["id"].to_list() == [7, 8, 9]
        assert len(table("ev").snapshots()) == 2
    finally:
        pg.stop()
