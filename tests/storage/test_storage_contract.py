"""The storage contract, run unchanged against LocalStorage and S3Storage."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import polars as pl
import pytest

from workbench.errors import AlreadyExists, NotFound
from workbench.storage.base import Storage

MiB = 1024 * 1024


def test_implements_protocol(storage):
    assert isinstance(storage, Storage)


def test_put_get_exists_info(storage):
    assert not storage.exists("ns/a/one.bin")
    storage.put_bytes("ns/a/one.bin", b"hello")
    assert storage.exists("ns/a/one.bin")
    assert storage.get_bytes("ns/a/one.bin") == b"hello"
    info = storage.info("ns/a/one.bin")
    assert (info.key, info.size) == ("ns/a/one.bin", 5)
    assert info.modified > 0
    storage.put_bytes("ns/a/one.bin", b"replaced")  # without if_absent a put replaces
    assert storage.get_bytes("ns/a/one.bin") == b"replaced"


def test_put_if_absent_refuses_second_writer(storage):
    storage.put_bytes("ns/m.json", b"first", if_absent=True)
    with pytest.raises(AlreadyExists) as exc:
        storage.put_bytes("ns/m.json", b"second", if_absent=True)
    assert "ns/m.json" in str(exc.value)
    assert storage.get_bytes("ns/m.json") == b"first"


def test_put_if_absent_exactly_one_winner_among_threads(storage):
    wins, losses = [], []
    barrier = threading.Barrier(6)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            storage.put_bytes("ns/race.json", f"writer {i}".encode(), if_absent=True)
            wins.append(i)
        except AlreadyExists:
            losses.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 5
    assert storage.get_bytes("ns/race.json") == f"writer {wins[0]}".encode()


def test_missing_objects_are_not_found(storage):
    for call in (storage.get_bytes, storage.info, storage.open_read):
        with pytest.raises(NotFound) as exc:
            call("ns/nothing/here.bin")
        assert "ns/nothing/here.bin" in str(exc.value)
    storage.delete("ns/nothing/here.bin")  # deleting what is not there is not an error


def test_write_is_invisible_until_close(storage):
    w = storage.open_write("ns/d/part-0.bin")
    w.write(b"x" * 1000)
    assert not storage.exists("ns/d/part-0.bin")
    assert [o.key for o in storage.list("ns/d/")] == []
    w.close()
    assert storage.get_bytes("ns/d/part-0.bin") == b"x" * 1000
    w.close()  # closing twice is harmless


def test_abort_leaves_nothing(storage):
    w = storage.open_write("ns/d/aborted.bin")
    w.write(os.urandom(7 * MiB))  # past one part on S3: a multipart upload was started
    w.abort()
    w.abort()
    assert not storage.exists("ns/d/aborted.bin")
    assert list(storage.list("ns/")) == []


def test_empty_object(storage):
    w = storage.open_write("ns/empty.bin")
    w.close()
    assert storage.get_bytes("ns/empty.bin") == b""
    assert storage.info("ns/empty.bin").size == 0
    with storage.open_read("ns/empty.bin") as f:
        assert f.read() == b""


def test_large_streamed_write_roundtrips(storage):
    """12 MiB in uneven writes: three 5 MiB parts on S3 (the last one short)."""
    data = os.urandom(12 * MiB + 123)
    w = storage.open_write("ns/big/blob.bin")
    view = memoryview(data)
    for i in range(0, len(data), 777_777):
        w.write(view[i:i + 777_777].tobytes())
    w.close()
    assert storage.info("ns/big/blob.bin").size == len(data)
    h = hashlib.sha256()
    with storage.open_read("ns/big/blob.bin") as f:
        while chunk := f.read(1 * MiB):
            h.update(chunk)
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()


def test_open_read_seeks(storage):
    data = bytes(range(256)) * 1000
    storage.put_bytes("ns/seek.bin", data)
    with storage.open_read("ns/seek.bin") as f:
        f.seek(1000)
        assert f.read(10) == data[1000:1010]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]
        f.seek(0)
        assert f.read(3) == data[:3]


def test_list_by_prefix(storage):
    for key in ("ns/a/1", "ns/a/2", "ns/ab/3", "ns/b/4", "other/5"):
        storage.put_bytes(key, key.encode())
    assert sorted(o.key for o in storage.list("ns/a/")) == ["ns/a/1", "ns/a/2"]
    assert sorted(o.key for o in storage.list("ns/a")) == ["ns/a/1", "ns/a/2", "ns/ab/3"]
    assert sorted(o.key for o in storage.list("ns/")) == ["ns/a/1", "ns/a/2", "ns/ab/3", "ns/b/4"]
    assert {o.key: o.size for o in storage.list("ns/b/")} == {"ns/b/4": 6}
    assert list(storage.list("none/")) == []


def test_delete_and_delete_prefix(storage):
    for key in ("ns/x/1", "ns/x/2", "ns/x/sub/3", "ns/y/4"):
        storage.put_bytes(key, b"1")
    storage.delete("ns/y/4")
    assert not storage.exists("ns/y/4")
    assert storage.delete_prefix("ns/x/") == 3
    assert list(storage.list("ns/")) == []


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b"])
def test_keys_cannot_escape(storage, key):
    with pytest.raises(ValueError):
        storage.put_bytes(key, b"no")


def test_polars_scans_the_uri(storage):
    df = pl.DataFrame({"id": list(range(1000)), "name": [f"n{i}" for i in range(1000)]})
    w = storage.open_write("ns/ds/part-00000.parquet")
    df.write_parquet(w)
    w.close()
    uri = storage.uri("ns/ds/part-00000.parquet")
    opts = storage.storage_options()
    lf = pl.scan_parquet(uri, storage_options=opts) if opts else pl.scan_parquet(uri)
    assert lf.select(pl.col("id").sum()).collect().item() == sum(range(1000))
