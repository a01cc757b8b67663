"""Iceberg's side of soft delete, gc and migrate: other engines see what wb.read sees."""

from __future__ import annotations

import time

import polars as pl
from ice_helpers import by_pyiceberg, same, table

import workbench as wb
from workbench.context import Context
from workbench.dataset_store import dataset_prefix
from workbench.maintenance import gc, soft_delete, verify
from workbench.table_maintenance import migrate

DAY = 86400.0


def _csv(tmp_path, name: str, ids: list[int]) -> str:
    path = tmp_path / f"{name}.csv"
    pl.DataFrame({"id": ids}).write_csv(path)
    return str(path)


def test_soft_delete_and_gc_keep_the_table_in_step(home, tmp_path):
    v = [wb.ingest(_csv(tmp_path, f"f{i}", [i, i + 10]), name="ev", mode="overwrite")
         for i in range(3)]
    ctx = Context.from_settings()
    soft_delete(ctx, "ev", version=3)  # the newest: the previous one is current again
    tbl = table("ev")
    assert same(by_pyiceberg(tbl, tbl.current_snapshot().snapshot_id), wb.read("ev").collect())
    assert wb.read("ev").collect()["id"].sort().to_list() == [1, 11]
    soft_delete(ctx, "ev", version=1)
    report = gc(ctx, retention_seconds=DAY, now=time.time() + 2 * DAY)
    assert report["versions_purged"] == 2 and report["errors"] == []
    tbl = table("ev")
    ids = {s.snapshot_id for s in tbl.snapshots()}
    assert v[1].snapshot_id in ids and v[0].snapshot_id not in ids and v[2].snapshot_id not in ids
    assert same(by_pyiceberg(tbl, v[1].snapshot_id), wb.read("ev").collect())
    assert verify(ctx, "ev")["ok"]
    # every metadata file left is one the table needs
    from workbench import iceberg

    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    needed = iceberg.referenced_locations(ice, ctx.namespace, "ev")
    left = [o.key for o in ctx.storage.list(dataset_prefix(ctx.namespace, "ev") + "metadata/")]
    assert left and all(iceberg.location(ctx.storage, k) in needed for k in left)


def test_a_deleted_dataset_leaves_the_iceberg_catalog_at_once(home, tmp_path):
    wb.ingest(_csv(tmp_path, "a", [1]), name="gone", mode="create")
    ctx = Context.from_settings()
    soft_delete(ctx, "gone")
    assert table("gone") is None
    gc(ctx, retention_seconds=DAY, now=time.time() + 2 * DAY)
    assert list(ctx.storage.list(dataset_prefix(ctx.namespace, "gone"))) == []
    # the name can be used again, with a table of its own
    ds = wb.ingest(_csv(tmp_path, "b", [2]), name="gone", mode="create")
    assert [s.snapshot_id for s in table("gone").snapshots()] == [ds.snapshot_id]


def test_migrate_registers_old_versions_without_rewriting(home, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ICEBERG_CATALOG", "none")  # written before tables existed
    old = [wb.ingest(_csv(tmp_path, "a", [1, 2]), name="legacy", mode="create"),
           wb.ingest(_csv(tmp_path, "b", [3]), name="legacy", mode="append")]
    assert all(d.snapshot_id is None for d in old)
    monkeypatch.delenv("WORKBENCH_ICEBERG_CATALOG")
    ctx = Context.from_settings()
    before = {o.key: o.size for o in ctx.storage.list(dataset_prefix(ctx.namespace, "legacy") + "data/")}
    assert wb.read("legacy").collect()["id"].sort().to_list() == [1, 2, 3]  # reads as before
    report = migrate(ctx)
    assert report["versions"] == 2 and report["errors"] == []
    after = {o.key: o.size for o in ctx.storage.list(dataset_prefix(ctx.namespace, "legacy") + "data/")}
    assert after == before  # no Parquet written or rewritten
    tbl = table("legacy")
    assert len(tbl.snapshots()) == 2
    for d in old:
        sid = wb.info("legacy", version=d.version).snapshot_id
        assert same(by_pyiceberg(tbl, sid), wb.read("legacy", version=d.version).collect())
    assert verify(ctx, "legacy")["snapshot"] == "ok"
    assert migrate(ctx)["versions"] == 0  # again: nothing left to do
    new = wb.ingest(_csv(tmp_path, "c", [4]), name="legacy", mode="append")
    assert table("legacy").current_snapshot().snapshot_id == new.snapshot_id
