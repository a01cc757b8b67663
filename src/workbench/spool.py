"""A local copy of the files a job writes to remote storage, kept only while the disk allows.

The checks and the profile read the written columns back after the pass (distinct counts, top
values, failing-row examples). On S3 or R2 that read is a second download of the output; a copy
written to local disk as the bytes stream up makes it a local read (writer.PartWriters).

Local disk is the scarcer resource on many workers (a container's small ephemeral disk writing a
large dataset to a bucket), so the copy never fails a write: it stays within the free space
above ``WORKBENCH_DISK_RESERVE`` as it was when the first file opened, and the first write that
would pass it, or any error writing it, drops the whole copy. The job then reads back from the
storage, as it did before there was a copy.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import BinaryIO

from .settings import disk_reserve_bytes
from .storage.disk import owned_temp_dir


class Spool:
    """The copies of one write's files, numbered in the order they were opened."""

    def __init__(self, root: Path, *, budget: int | None = None) -> None:
        """``budget``: bytes the copies may take (default: the free space above the reserve
        when the first file opens)."""
        self._root = root
        self._dir: Path | None = None
        self._files: list[BinaryIO] = []
        self._budget = budget
        self._used = 0
        self._lock = threading.Lock()
        self.dropped = False

    def open(self) -> SpoolFile:
        """The copy of the next file (the caller holds its own numbering lock)."""
        with self._lock:
            if self._dir is None and not self.dropped:
                try:
                    self._dir = owned_temp_dir(self._root, "wb-spool-")
                    if self._budget is None:
                        self._budget = shutil.disk_usage(self._dir).free - disk_reserve_bytes()
                except OSError:
                    self.dropped = True
            f = None
            if not self.dropped:
                try:
                    # kept open across the writes of Polars threads; closed by close()
                    f = open(self._dir / f"{len(self._files):05d}.parquet", "wb")  # noqa: SIM115  # type: ignore[operator]
                except OSError:
                    self.dropped = True
            self._files.append(f)  # type: ignore[arg-type]  # None keeps the numbering
            return SpoolFile(self, f)

    def _take(self, n: int) -> bool:
        with self._lock:
            if self.dropped:
                return False
            if self._used + n > (self._budget or 0):
                self.dropped = True
                return False
            self._used += n
            return True

    def _drop(self) -> None:
        with self._lock:
            self.dropped = True

    def paths(self) -> list[str] | None:
        """Every file's copy, complete (call after the writes ended), or None once dropped."""
        self.close()
        if self.dropped or self._dir is None:
            return None
        return [str(self._dir / f"{i:05d}.parquet") for i in range(len(self._files))]

    def close(self) -> None:
        for f in self._files:
            if f is not None and not f.closed:
                try:
                    f.close()
                except OSError:  # the disk filled on the last flush
                    self._drop()

    def remove(self) -> None:
        """Close and delete every copy (idempotent)."""
        self.close()
        self._files = []
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class SpoolFile:
    """One file's copy: ``write`` never raises; past the budget or on an error the spool is
    dropped and later writes are ignored."""

    def __init__(self, spool: Spool, f: BinaryIO | None) -> None:
        self._spool, self._f = spool, f

    def write(self, data: bytes) -> None:  # pragma: no cover - run on Polars' threads
        if self._f is None or not self._spool._take(len(data)):
            return
        try:
            self._f.write(data)
        except (OSError, ValueError):  # disk full; or closed by a drop on another thread
            self._spool._drop()
