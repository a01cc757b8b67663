"""A dataset written to a bucket is profiled and checked from one local copy of its files
(storage/read_back.py): the same profile as from the bucket, the copy checked against the bytes
sent, and nothing left on local disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest
from s3_helpers import admin_client

import workbench as wb
from workbench.engines.profile import TOP_VALUES
from workbench.errors import StorageError
from workbench.storage import read_back
from workbench.storage.disk import owned_temp_dir, sweep_dead_temp, temp_base
from workbench.storage.local import LocalStorage

pytestmark = pytest.mark.services


@pytest.fixture
def s3_env(s3_settings, monkeypatch):
    for k, v in {"WORKBENCH_STORAGE_URL": s3_settings.storage_url,
                 "WORKBENCH_S3_ENDPOINT_URL": s3_settings.s3_endpoint_url,
                 "WORKBENCH_CATALOG_URL": s3_settings.catalog_url,
                 "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)


def _orders(s3_server, bucket) -> pl.DataFrame:
    n = 3000
    df = pl.DataFrame({"id": range(n),
                       "region": [["north", "south", "east", "west", "north"][i % 5] for i in range(n)],
                       "amount": [round(i * 0.37, 2) for i in range(n)],
                       "sku": [f"sku-{i % 97:03d}" for i in range(n)]})
    admin_client(s3_server.url).put_object(Bucket=bucket, Key="landing/orders.csv",
                                           Body=df.write_csv().encode())
    return df


def _left_over(home: Path) -> list[str]:
    return sorted(p.name for p in temp_base(home).glob(f"{read_back.PREFIX}*"))


def _expected_tops(df: pl.DataFrame, column: str) -> list[dict]:
    counts = df[column].value_counts().sort(["count", column], descending=[True, False]).head(TOP_VALUES)
    return [{"value": v, "count": c} for v, c in counts.iter_rows()]


@pytest.mark.parametrize("room", [True, False], ids=["local-copy", "no-room-reads-the-bucket"])
def test_profile_and_checks_from_the_copy_match_the_data(s3_env, s3_server, bucket, wb_home,
                                                         monkeypatch, room):
    df = _orders(s3_server, bucket)
    fetched = []
    real = read_back.fetch_written

    def spy(*args, **kwargs):
        copies = real(*args, **kwargs)
        fetched.append(copies)
        return copies

    monkeypatch.setattr("workbench.writer.fetch_written", spy)
    monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")  # the job in this process
    if not room:  # less free disk than the reserve asks: the files are read from the bucket
        monkeypatch.setattr(read_back, "disk_reserve_bytes", lambda: 1 << 62)
    p = wb.Pipeline(source=wb.file(f"s3://{bucket}/landing/orders.csv"),
                    checks=[wb.is_unique("id"), wb.not_null("region")],
                    sink=wb.dataset("orders"))
    ds = wb.run(p, runner="local")
    assert len(fetched) == 1 and (fetched[0] is not None) == room
    cols = ds.profile["columns"]
    assert ds.rows == df.height
    for name in ("region", "sku"):
        assert cols[name]["distinct"] == df[name].n_unique()
        assert cols[name]["top_values"] == _expected_tops(df, name)
    assert cols["id"]["distinct"] == df.height and cols["amount"]["null_count"] == 0
    assert [c["name"] for c in ds.checks] and all(c["passed"] for c in ds.checks)
    assert _left_over(wb_home) == []
    assert wb.read("orders").sort("id").collect().equals(df)


def test_a_failed_check_leaves_no_copy(s3_env, s3_server, bucket, wb_home):
    _orders(s3_server, bucket)
    p = wb.Pipeline(source=wb.file(f"s3://{bucket}/landing/orders.csv"),
                    checks=[wb.is_unique("region")], sink=wb.dataset("orders"))
    with pytest.raises(wb.WorkbenchError, match="region"):
        wb.run(p, runner="local")
    assert _left_over(wb_home) == []
    keys = admin_client(s3_server.url).list_objects_v2(Bucket=bucket, Prefix="wb/").get("Contents", [])
    assert not [k["Key"] for k in keys if k["Key"].endswith(".parquet")]


def test_an_object_that_differs_from_what_was_sent_is_refused(s3_storage, wb_home):
    s3_storage.put_bytes("x/part-00000.parquet", b"what the bucket holds")
    sent = hashlib.sha256(b"what the job wrote").hexdigest()
    with pytest.raises(StorageError, match="x/part-00000.parquet") as err:
        read_back.fetch_written(s3_storage, [("x/part-00000.parquet", 21, sent)], wb_home, "j1")
    assert "SHA-256 differs" in str(err.value)
    assert _left_over(wb_home) == []


def test_copies_match_the_objects_and_are_removed(s3_storage, wb_home):
    blobs = {f"x/part-{i:05d}.parquet": bytes([i]) * (9 * 1024 * 1024 + i) for i in range(2)}
    for key, data in blobs.items():
        s3_storage.put_bytes(key, data)
    copies = read_back.fetch_written(
        s3_storage, [(k, len(d), hashlib.sha256(d).hexdigest()) for k, d in blobs.items()],
        wb_home, "j1")
    assert copies is not None
    assert [Path(p).read_bytes() for p in copies.paths] == list(blobs.values())
    copies.remove()
    copies.remove()  # idempotent
    assert _left_over(wb_home) == []


def test_local_storage_is_read_in_place(tmp_path, wb_home):
    store = LocalStorage(tmp_path / "store")
    store.put_bytes("x/part.parquet", b"abc")
    assert read_back.fetch_written(store, [("x/part.parquet", 3, "0" * 64)], wb_home) is None


def test_a_killed_jobs_copy_is_swept(wb_home, monkeypatch):
    folder = owned_temp_dir(temp_base(wb_home), read_back.PREFIX, "j1")
    (folder / "00000.parquet").write_bytes(b"x" * 10)
    monkeypatch.setattr("workbench.storage.disk.pid_alive", lambda pid: False)  # its owner died
    assert sweep_dead_temp(wb_home) == [str(folder)]
    assert not folder.exists()


def test_a_partitioned_write_is_fetched_file_by_file(s3_env, s3_server, bucket, wb_home,
                                                    monkeypatch):
    df = _orders(s3_server, bucket)
    fetched = []
    real = read_back.fetch_written

    def spy(storage, files, *args, **kwargs):
        copies = real(storage, files, *args, **kwargs)
        fetched.append((len(files), copies and len(copies.paths)))
        return copies

    monkeypatch.setattr("workbench.writer.fetch_written", spy)
    monkeypatch.setenv("WORKBENCH_LOCAL_ISOLATION", "thread")
    ds = wb.ingest(f"s3://{bucket}/landing/orders.csv", name="orders", partition_by=["region"])
    assert fetched == [(4, 4)] and len(ds.files) == 4  # north, south, east, west
    assert ds.profile["columns"]["sku"]["top_values"] == _expected_tops(df, "sku")
    assert ds.profile["columns"]["region"]["distinct"] == 4
    assert _left_over(wb_home) == []
    assert wb.read("orders").sort("id").collect().select(df.columns).equals(df)


def test_a_disk_that_fills_up_during_the_copy_means_the_bucket_is_read(s3_storage, wb_home,
                                                                       monkeypatch):
    import errno

    data = b"x" * 1000
    s3_storage.put_bytes("x/part-00000.parquet", data)

    class Full:
        def __init__(self, *_args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, _chunk):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(read_back, "open", Full, raising=False)
    got = read_back.fetch_written(
        s3_storage, [("x/part-00000.parquet", len(data), hashlib.sha256(data).hexdigest())],
        wb_home, "j1")
    assert got is None and _left_over(wb_home) == []


def test_a_home_this_process_cannot_write_to_means_the_bucket_is_read(s3_storage, wb_home,
                                                                      monkeypatch):
    data = b"y" * 1000
    s3_storage.put_bytes("x/part-00000.parquet", data)

    def refused(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(read_back, "owned_temp_dir", refused)
    got = read_back.fetch_written(
        s3_storage, [("x/part-00000.parquet", len(data), hashlib.sha256(data).hexdigest())],
        wb_home, "j1")
    assert got is None and _left_over(wb_home) == []
