"""S3-specific behaviour of the streaming multipart writer."""

from __future__ import annotations

import hashlib
import os

import pytest
from s3_helpers import FAST_RETRY, PART, admin_client, make_bucket
from servers import start_moto

from workbench.errors import StorageUnavailable
from workbench.storage.s3 import S3Storage

pytestmark = pytest.mark.services


def test_multipart_parts_are_equal_except_the_last(s3_storage, s3_server):
    data = os.urandom(2 * PART + 12345)
    sizes = [1, 50, 70_000, 3 * 1024 * 1024, 17, PART, 65_535, 1_000_000]  # tiny to > a part
    with s3_storage.open_write("ns/mp.bin") as w:
        i = k = 0
        while i < len(data):
            n = sizes[k % len(sizes)]
            w.write(bytearray(data[i:i + n]) if k % 2 else data[i:i + n])
            i += n
            k += 1
    full = s3_storage.full_key("ns/mp.bin")
    client = admin_client(s3_server.url)
    sizes = [client.head_object(Bucket=s3_storage.bucket, Key=full, PartNumber=n)["ContentLength"]
             for n in (1, 2, 3)]
    assert client.head_object(Bucket=s3_storage.bucket, Key=full, PartNumber=1)["PartsCount"] == 3
    assert sizes == [PART, PART, 12345]
    assert hashlib.sha256(s3_storage.get_bytes("ns/mp.bin")).digest() == hashlib.sha256(data).digest()


def test_small_object_is_one_put(s3_storage, s3_server):
    with s3_storage.open_write("ns/small.bin") as w:
        w.write(b"a" * 1000)
    head = admin_client(s3_server.url).head_object(Bucket=s3_storage.bucket,
                                                   Key=s3_storage.full_key("ns/small.bin"))
    assert "-" not in head["ETag"]  # a multipart ETag ends in -<parts>


def test_abort_halfway_leaves_no_object_and_no_pending_upload(s3_storage, s3_server):
    w = s3_storage.open_write("ns/half.bin")
    w.write(os.urandom(PART + 100))  # one part is up
    assert s3_storage.list_uploads("ns/")  # the multipart upload exists while writing
    w.abort()
    assert not s3_storage.exists("ns/half.bin")
    client = admin_client(s3_server.url)
    assert client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads") is None
    assert client.list_objects_v2(Bucket=s3_storage.bucket).get("KeyCount") == 0


def test_exception_in_with_block_aborts(s3_storage):
    with pytest.raises(RuntimeError):
        with s3_storage.open_write("ns/boom.bin") as w:
            w.write(os.urandom(PART + 1))
            raise RuntimeError("producer failed")
    assert not s3_storage.exists("ns/boom.bin")
    assert s3_storage.list_uploads("ns/") == []


def test_server_stopped_mid_write_fails_cleanly_then_recovers():
    """A private server, since stopping it loses its state."""
    srv = start_moto()
    try:
        bucket = make_bucket(srv.url)
        storage = S3Storage(bucket, "wb", endpoint_url=srv.url, access_key_id="testing",
                            secret_access_key="testing", part_size=PART, retry=FAST_RETRY)
        w = storage.open_write("ns/data/part-00000.parquet")
        w.write(os.urandom(PART + 10))
        srv.stop()
        with pytest.raises(StorageUnavailable) as exc:
            for _ in range(3):
                w.write(os.urandom(PART))
            w.close()
        err = exc.value
        assert err.retryable
        assert srv.url.split("//")[1] in err.message
        assert f"s3://{bucket}/wb/ns/data/part-00000.parquet" in err.message
        assert w.closed  # aborted: further writes are refused
        with pytest.raises(ValueError):
            w.write(b"more")

        srv.start()  # moto keeps nothing across a restart: the bucket comes back empty
        make_bucket(srv.url, bucket)
        data = os.urandom(PART + 10)
        with storage.open_write("ns/data/part-00000.parquet") as w2:
            w2.write(data)
        assert storage.get_bytes("ns/data/part-00000.parquet") == data
    finally:
        srv.stop()


def test_reader_reads_ahead_in_blocks_and_sniffing_costs_little(s3_storage, s3_server):
    from s3_faults import FaultProxy

    from workbench.storage import s3_reader as s3mod

    data = os.urandom(3 * s3mod.BLOCK + 1234)
    s3_storage.put_bytes("ns/big.bin", data)
    proxy = FaultProxy(s3_server.port)
    try:
        storage = S3Storage(s3_storage.bucket, "wb", endpoint_url=proxy.url,
                            access_key_id="testing", secret_access_key="testing", retry=FAST_RETRY)
        with storage.open_read("ns/big.bin") as f:
            assert f.read(100) == data[:100]
        assert [m for m, _, _ in proxy.requests] == ["GET"]  # one small ranged GET
        proxy.requests.clear()
        h = hashlib.sha256()
        with storage.open_read("ns/big.bin") as f:
            while chunk := f.read(1024 * 1024):
                h.update(chunk)
            f.seek(10)
            assert f.read(5) == data[10:15]
        assert h.digest() == hashlib.sha256(data).digest()
        # the first 256 KiB, then the rest in 8 MiB blocks, then one block after the seek
        blocks = -(-(len(data) - s3mod.FIRST_BLOCK) // s3mod.BLOCK)
        assert len(proxy.requests) == 1 + blocks + 1
    finally:
        proxy.close()
