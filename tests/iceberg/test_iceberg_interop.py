"""Every committed version is one Iceberg snapshot that pyiceberg, Polars' scan_iceberg and a
plain Parquet reader over the snapshot's file list read exactly as ``wb.read`` does; files of
dead attempts are visible to none of them."""

from __future__ import annotations

import polars as pl
import pytest
from ice_helpers import by_polars, by_pyarrow, by_pyiceberg, same, table

import workbench as wb
from workbench import iceberg
from workbench.context import Context
from workbench.dataset_store import data_prefix
from workbench.errors import CheckFailed, NotFound
from workbench.maintenance import verify


def _csv(tmp_path, name: str, df: pl.DataFrame) -> str:
    path = tmp_path / f"{name}.csv"
    df.write_csv(path)
    return str(path)


def test_each_version_is_one_snapshot_every_engine_reads_alike(home, tmp_path):
    a = _csv(tmp_path, "a", pl.DataFrame({"id": [1, 2, 3], "region": ["n", "s", "n"],
                                          "amount": [1.5, 2.5, 3.5]}))
    b = _csv(tmp_path, "b", pl.DataFrame({"id": [4], "region": ["e"], "amount": [4.5]}))
    c = _csv(tmp_path, "c", pl.DataFrame({"id": [2, 9], "region": ["w", "w"], "amount": [0.0, 9.0],
                                          "note": ["x", "y"]}))
    d = _csv(tmp_path, "d", pl.DataFrame({"id": [9, 10], "region": ["z", "z"], "amount": [1.0, 2.0],
                                          "note": ["upd", "new"]}))
    versions = [wb.ingest(a, name="sales", mode="create"),
                wb.ingest(b, name="sales", mode="append"),
                wb.ingest(c, name="sales", mode="overwrite"),  # a new column
                wb.ingest(d, name="sales", mode="upsert", keys=["id"])]
    tbl = table("sales")
    snaps = tbl.snapshots()
    assert len(snaps) == 4  # exactly one snapshot per version
    assert [ds.snapshot_id for ds in versions] == [s.snapshot_id for s in snaps]
    ops = [s.summary.operation.value for s in snaps]
    assert ops == ["append", "append", "overwrite", "overwrite"]
    for ds, snap in zip(versions, snaps):
        props = snap.summary.additional_properties
        assert props["wb.version"] == str(ds.version) and props["wb.rows"] == str(ds.rows)
        assert props["wb.checksum"] == ds.checksum
        assert props["wb.manifest"].endswith(f"v{ds.version:06d}.manifest.json")
        ours = wb.read("sales", version=ds.version).collect()
        assert ours.height == ds.rows
        for engine in (by_pyiceberg, by_polars, by_pyarrow):
            assert same(engine(tbl, ds.snapshot_id), ours), (engine.__name__, ds.version)
        # time travel by the snapshot's own timestamp reads the same version
        assert same(wb.read("sales", as_of=snap.timestamp_ms / 1000).collect(), ours)
        assert wb.info("sales", as_of=snap.timestamp_ms / 1000).version == ds.version
    assert sorted(wb.read("sales").collect()["id"].to_list()) == [2, 9, 10]
    assert tbl.current_snapshot().snapshot_id == versions[-1].snapshot_id
    with pytest.raises(NotFound, match="no version as of"):
        wb.read("sales", as_of=snaps[0].timestamp_ms / 1000 - 3600)


def test_files_of_dead_attempts_and_failed_checks_are_visible_to_none(home, tmp_path):
    a = _csv(tmp_path, "a", pl.DataFrame({"id": [1, 2], "amount": [1.0, 2.0]}))
    ds = wb.ingest(a, name="orders", mode="create")
    ctx = Context.from_settings()
    # a dead attempt of some job: Parquet files under data/<job>/a<n>/, never committed
    dead = data_prefix(ctx.namespace, "orders", "deadjob", 1) + "part-00000.parquet"
    import io

    buf = io.BytesIO()
    pl.DataFrame({"id": [666], "amount": [-1.0]}).write_parquet(buf)
    ctx.storage.put_bytes(dead, buf.getvalue())
    # and a job whose check fails after its files were written: no version, no snapshot
    bad = _csv(tmp_path, "bad", pl.DataFrame({"id": [7, None], "amount": [7.0, 8.0]}))
    p = wb.Pipeline(name="bad", source=wb.file(bad), sink=wb.dataset("orders", mode="append"),
                    checks=[wb.not_null("id")])
    with pytest.raises(CheckFailed):
        wb.run(p)
    tbl = table("orders")
    assert [s.snapshot_id for s in tbl.snapshots()] == [ds.snapshot_id]
    files = iceberg.snapshot_locations(tbl, ds.snapshot_id)
    assert iceberg.location(ctx.storage, dead) not in files
    assert all("/deadjob/" not in f for f in files)
    for engine in (by_pyiceberg, by_polars, by_pyarrow):
        assert sorted(engine(tbl, ds.snapshot_id)["id"].to_list()) == [1, 2]
    assert verify(ctx, "orders")["ok"]


def test_partition_by_is_an_identity_partition_spec(home, tmp_path):
    a = _csv(tmp_path, "a", pl.DataFrame({"id": [1, 2, 3, 4], "region": ["n", "s", "n", "e"]}))
    ds = wb.ingest(a, name="parts", mode="create", partition_by=["region"])
    tbl = table("parts")
    assert [(f.name, str(f.transform)) for f in tbl.spec().fields] == [("region", "identity")]
    planned = list(tbl.scan(row_filter="region == 'n'", snapshot_id=ds.snapshot_id).plan_files())
    assert len(planned) == 1 and len(iceberg.snapshot_locations(tbl, ds.snapshot_id)) == 3
    assert same(by_polars(tbl, ds.snapshot_id), wb.read("parts").collect())
    # the next version without partitions: the spec follows, the old files are replaced
    ds2 = wb.ingest(a, name="parts", mode="overwrite")
    tbl = table("parts")
    assert tbl.spec().fields == () or list(tbl.spec().fields) == []
    assert same(by_pyiceberg(tbl, ds2.snapshot_id), wb.read("parts").collect())


def test_repeated_overwrites_keep_the_current_snapshot_to_the_files_it_lists(home, tmp_path):
    """Each overwrite's deletions stay with the snapshot that made them: the current snapshot
    lists as many manifests after ten overwrites as after two, and every older snapshot still
    reads its own version (time travel keeps its manifests)."""
    versions = []
    for i in range(10):
        df = pl.DataFrame({"id": [i, i + 100], "round": [i, i]})
        versions.append(wb.ingest(_csv(tmp_path, f"r{i}", df), name="daily", mode="overwrite"))
        if i == 1:
            after_two = table("daily").current_snapshot().manifests(table("daily").io)
    tbl = table("daily")
    current = tbl.current_snapshot().manifests(tbl.io)
    assert len(current) == len(after_two) == 2  # the new files, the previous version's deletion
    assert [(m.added_files_count, m.existing_files_count, m.deleted_files_count)
            for m in sorted(current, key=lambda m: m.added_files_count)] == [(0, 0, 1), (1, 0, 0)]
    for ds in versions:
        ours = wb.read("daily", version=ds.version).collect()
        assert ours["round"].to_list() == [ds.version - 1] * 2
        for engine in (by_pyiceberg, by_polars, by_pyarrow):
            assert same(engine(tbl, ds.snapshot_id), ours), (engine.__name__, ds.version)


def test_an_overwrite_after_appends_keeps_what_it_does_not_replace(home, tmp_path):
    """Appends then an overwrite of one partition: the manifests of the kept files stay, the
    replaced partition's file is deleted, and the next overwrite drops the deletion-only
    manifest."""
    a = pl.DataFrame({"id": [1, 2], "region": ["n", "s"]})
    wb.ingest(_csv(tmp_path, "a", a), name="parts", mode="create", partition_by=["region"])
    wb.ingest(_csv(tmp_path, "b", pl.DataFrame({"id": [3], "region": ["e"]})), name="parts",
              mode="append", partition_by=["region"])
    up = wb.ingest(_csv(tmp_path, "c", pl.DataFrame({"id": [2], "region": ["s"]})), name="parts",
                   mode="upsert", keys=["id"], partition_by=["region"])
    last = wb.ingest(_csv(tmp_path, "d", pl.DataFrame({"id": [7], "region": ["w"]})),
                     name="parts", mode="overwrite", partition_by=["region"])
    tbl = table("parts")
    for ds in (up, last):
        ours = wb.read("parts", version=ds.version).collect()
        for engine in (by_pyiceberg, by_polars, by_pyarrow):
            assert same(engine(tbl, ds.snapshot_id), ours), (engine.__name__, ds.version)
    assert sorted(wb.read("parts").collect()["id"].to_list()) == [7]
    live = [m for m in tbl.current_snapshot().manifests(tbl.io)
            if m.added_files_count or m.existing_files_count]
    assert sum(m.added_files_count + m.existing_files_count for m in live) == 1
