"""S3Reader: a seekable file-like object over one S3 object, read in ranged blocks with read-ahead.
"""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterator

from ..errors import AlreadyExists, SourceError

# ----------------------------------------------------------------------------- reading
FIRST_BLOCK = 256 * 1024  # enough to sniff a format; a reader that stops there costs no more


BLOCK = 8 * 1024 * 1024


READ_AHEAD = 4


class S3Reader(io.RawIOBase):
    """A seekable view of one object, read in ranged blocks with read-ahead.

    The first GET asks for 256 KiB only (sniffing a header and closing costs just that); once
    reading goes on sequentially, up to ``READ_AHEAD`` blocks of 8 MiB are fetched in parallel
    ahead of the reader, as s3transfer and Polars do, since one S3 stream is slower than the
    link. Each block is one retried request; every request carries ``If-Match`` on the first
    ETag, so an object replaced while it is read is an error, never a mix of two versions.
    Memory stays near ``(READ_AHEAD + 1) * 8 MiB``.
    """

    def __init__(self, storage: Any, full_key: str) -> None:  # an ``S3Storage``
        super().__init__()
        self._s = storage
        self.key = full_key
        self._pos = 0
        self._etag: str | None = None
        self._block = b""  # the block holding _pos, starting at _block_start
        self._block_start = 0
        self._ahead: dict[int, Future] = {}  # block start -> future bytes
        self._pool: ThreadPoolExecutor | None = None
        self._sequential = 0
        head = self._fetch_first()
        self.size: int = head[0]
        self._block = head[1]

    def _fetch_first(self) -> tuple[int, bytes]:
        # heavy optional dependency: imported on first use
        from botocore.exceptions import ClientError

        client, bucket, key = self._s.client, self._s.bucket, self.key

        def once() -> tuple[int, bytes]:
            try:
                resp = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{FIRST_BLOCK - 1}")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                    raise
                resp = client.get_object(Bucket=bucket, Key=key)  # an empty object has no range
            self._etag = resp.get("ETag")
            data = resp["Body"].read()
            total = resp.get("ContentRange", "").rpartition("/")[2]
            return (int(total) if total.isdigit() else len(data)), data

        return self._s._retry(once, key, "get_object")

    def _fetch(self, start: int) -> bytes:
        end = min(start + BLOCK, self.size) - 1
        client, bucket, key = self._s.client, self._s.bucket, self.key

        def once() -> bytes:
            params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{end}"}
            if self._etag:
                params["IfMatch"] = self._etag
            data = client.get_object(**params)["Body"].read()
            if len(data) != end - start + 1:
                # heavy optional dependency: imported on first use
                from botocore.exceptions import IncompleteReadError

                raise IncompleteReadError(actual_bytes=len(data), expected_bytes=end - start + 1)
            return data

        try:
            return self._s._retry(once, key, "get_object")
        except AlreadyExists:  # If-Match failed: 412
            raise SourceError(f"s3://{bucket}/{key} changed while it was being read",
                              file=f"s3://{bucket}/{key}", hint="read it again once it is written")

    def _next_starts(self, after: int) -> Iterator[int]:
        start = after
        while start < self.size:
            yield start
            start += BLOCK

    def _load(self, pos: int, *, sequential: bool) -> None:
        """Make ``_block`` the block starting at ``pos``, from the read-ahead if it is there."""
        self._sequential = self._sequential + 1 if sequential else 0
        if not sequential:
            for fut in self._ahead.values():
                fut.cancel()
            self._ahead = {}
        fut = self._ahead.pop(pos, None)
        self._block = fut.result() if fut is not None else self._fetch(pos)
        self._block_start = pos
        if self._sequential >= 1:  # reading on past a block: fetch the next ones in parallel
            if self._pool is None:
                self._pool = ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="workbench-s3-read")
            for start in self._next_starts(pos + len(self._block)):
                if len(self._ahead) >= READ_AHEAD:
                    break
                if start not in self._ahead:
                    self._ahead[start] = self._pool.submit(self._fetch, start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self.size or len(buffer) == 0:
            return 0
        offset = self._pos - self._block_start
        if not 0 <= offset < len(self._block):
            # the next block in order, or (after a seek) a fresh block from here
            self._load(self._pos, sequential=offset == len(self._block))
            offset = 0
        n = min(len(buffer), len(self._block) - offset)
        buffer[:n] = memoryview(self._block)[offset:offset + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        # RawIOBase.readall would go 8 KiB at a time; the rest of an object comes in big reads.
        chunks = []
        while True:
            buf = bytearray(min(BLOCK, max(self.size - self._pos, 1)))
            n = self.readinto(buf)
            if not n:
                return b"".join(chunks)
            chunks.append(bytes(buf[:n]))

    def close(self) -> None:
        for fut in self._ahead.values():
            fut.cancel()
        self._ahead = {}
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._block = b""
        super().close()
