"""S3Writer: a file-like object that streams what is written to S3 as a multipart upload, parts
sent in the background, nothing visible until close completes it.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from ..errors import ConfigError, NotFound, WorkbenchError
from .s3_client import MAX_PARTS


# ----------------------------------------------------------------------------- writing
class S3Writer:
    """A streaming multipart upload: parts go up while the producer writes the next ones.

    At most ``concurrency`` parts are in flight, so memory stays near
    ``(concurrency + 1) * part_size`` whatever the object's size; nothing is staged on local
    disk. All parts are ``part_size`` bytes except the last (R2 requires equal parts). An object
    smaller than one part is a single PUT on ``close()``.
    """

    def __init__(self, storage: Any, full_key: str) -> None:  # an ``S3Storage``
        self._s = storage
        self.key = full_key
        self._part_size = storage.part_size
        # The part being filled, as the pieces written (joined once, when the part is full).
        self._pieces: list[bytearray | memoryview] = []
        self._filled = 0
        self._upload_id: str | None = None
        self._parts: dict[int, str] = {}
        self._next_part = 1
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._slots = threading.BoundedSemaphore(storage.concurrency)
        self._error: BaseException | None = None
        self._done = False
        self.bytes_written = 0

    # file-like surface that Polars, pyarrow and shutil expect
    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.bytes_written

    def flush(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return self._done

    def __enter__(self) -> S3Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._done:
            raise ValueError("write to a closed or aborted S3 writer")
        self._raise_background_error()
        if not isinstance(data, bytes):
            data = bytes(data)  # the caller may reuse its buffer once write() returns
        n = len(data)
        self.bytes_written += n
        view = memoryview(data)
        while len(view):
            room = self._part_size - self._filled
            if len(view) < room:
                if len(view) < 64 * 1024:  # small writes are copied together, not kept apart
                    if not self._pieces or not isinstance(self._pieces[-1], bytearray):
                        self._pieces.append(bytearray())
                    self._pieces[-1] += view  # type: ignore[operator]
                else:
                    self._pieces.append(view)
                self._filled += len(view)
                break
            self._pieces.append(view[:room])
            view = view[room:]
            self._submit(self._take())
        return n

    def _take(self) -> bytes:
        chunk = b"".join(self._pieces)
        self._pieces = []
        self._filled = 0
        return chunk

    def _submit(self, chunk: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._s.call("create_multipart_upload", self.key,
                                           Key=self.key)["UploadId"]
            self._pool = ThreadPoolExecutor(self._s.concurrency,
                                            thread_name_prefix="workbench-s3-part")
        if self._next_part > MAX_PARTS:
            raise ConfigError(f"{self.key}: more than {MAX_PARTS} parts",
                              hint="raise WORKBENCH_PART_SIZE for objects this large")
        number = self._next_part
        self._next_part += 1
        self._slots.acquire()  # back-pressure: the producer waits while all slots are busy
        self._raise_background_error(release=True)
        assert self._pool is not None
        fut = self._pool.submit(self._upload_part, number, chunk)
        fut.add_done_callback(lambda _f: self._slots.release())
        self._futures.append(fut)

    def _upload_part(self, number: int, chunk: bytes) -> None:
        try:
            resp = self._s.call("upload_part", self.key, Key=self.key, UploadId=self._upload_id,
                                PartNumber=number, Body=chunk)
            self._parts[number] = resp["ETag"]
        except BaseException as exc:
            self._error = self._error or exc
            raise

    def _raise_background_error(self, release: bool = False) -> None:
        if self._error is not None:
            if release:
                self._slots.release()
            err = self._error
            self.abort()
            raise err

    def close(self) -> None:
        if self._done:
            return
        try:
            if self._upload_id is None:
                self._s.call("put_object", self.key, Key=self.key, Body=self._take())
            else:
                if self._filled or not self._futures:
                    self._submit(self._take())
                wait(self._futures, return_when=FIRST_EXCEPTION)
                self._raise_background_error()  # else every part is up
                self._complete()
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._shutdown()

    def _complete(self) -> None:
        parts = [{"PartNumber": n, "ETag": e} for n, e in sorted(self._parts.items())]
        try:
            self._s.call("complete_multipart_upload", self.key, Key=self.key,
                         UploadId=self._upload_id, MultipartUpload={"Parts": parts})
        except NotFound:
            # A retried complete whose first try succeeded (its answer was lost) finds no upload:
            # the object is there with our size, so the write did happen.
            head = self._s.call("head_object", self.key, Key=self.key)
            if int(head["ContentLength"]) != self.bytes_written:
                raise

    def abort(self) -> None:
        """Stop the upload; no object appears and no multipart upload is left pending."""
        if self._done:
            return
        self._done = True
        for fut in self._futures:
            fut.cancel()
        if self._futures:
            wait(self._futures)
        self._shutdown()
        if self._upload_id is not None:
            try:
                self._s.call("abort_multipart_upload", self.key, Key=self.key,
                             UploadId=self._upload_id)
            except NotFound:
                pass
            except WorkbenchError:
                # The endpoint is gone: the upload stays pending until `workbench gc` (or the
                # bucket's lifecycle rule) aborts it. Never visible as an object either way.
                pass
        self._pieces = []
        self._filled = 0

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
