"""The files a job just wrote to a bucket, fetched once to local disk for its checks and profile.

After the pass, a dataset write reads its own output again: the checks, exact distinct counts
and top values each scan the written columns. From a bucket each of those queries makes its own
ranged GETs (a 200 MB CSV's output: ~290 requests, 57 MiB down, 0.8 s on a local S3 server);
one sequential download of the files (a few 8 MiB GETs each, read ahead) and local scans cost a
fraction of that. The download happens after the write has finished, on this job's own threads:
nothing is added to the writer Polars streams into.

Each copy is hashed as it arrives and compared with the SHA-256 of the bytes sent, so what the
checks and the profile read is what the bucket holds, byte for byte. Where the disk lacks room
for the copies (above ``WORKBENCH_DISK_RESERVE``), refuses them (full, read-only, not this
process's to write) or a read breaks off, the files are read from the bucket as before.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import StorageError
from ..settings import disk_reserve_bytes
from .disk import owned_temp_dir, temp_base

CHUNK = 8 * 1024 * 1024
FETCH_THREADS = 4  # files fetched at once; each holds up to ~40 MiB of read-ahead
# "wb-read-" makes the folder one of the reader temp folders that the next worker start and
# ``gc`` remove once the process that made it is gone
PREFIX = "wb-read-back-"


class LocalCopies:
    """Local copies of written objects: ``paths`` in the order of the keys; ``remove`` deletes
    them (idempotent)."""

    def __init__(self, folder: Path, paths: list[str]) -> None:
        self.folder, self.paths = folder, paths

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def fetch_written(storage: Any, files: Sequence[tuple[str, int, str]], home: Path | str,
                  job_id: str = "", on_phase: Callable[[str], None] | None = None
                  ) -> LocalCopies | None:
    """Copy each ``(key, bytes, sha256)`` of ``storage`` to a private local folder. None when the
    storage is local already (its files are read in place), or the local disk has no room for
    them or refuses them.
    ``on_phase`` hears that the copy starts (a job's progress names it).

    Raises ``StorageError`` naming the key when an object's bytes differ from those written."""
    if storage.storage_options() is None or not files:
        return None
    base = temp_base(home)
    try:
        base.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(base).free - sum(int(b) for _k, b, _h in files) < disk_reserve_bytes():
            return None
        if on_phase is not None:
            on_phase(f"checks: fetching the {len(files):,} written file{'s' if len(files) > 1 else ''}")
        folder = owned_temp_dir(base, PREFIX, job_id)
    except OSError:  # a home this process cannot write to: the job needs no local disk
        return None
    copies = LocalCopies(folder, [str(folder / f"{i:05d}.parquet") for i in range(len(files))])

    def fetch(i: int) -> None:
        key, _size, sha256 = files[i]
        digest = hashlib.sha256()
        with storage.open_read(key) as src, open(copies.paths[i], "wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != sha256:
            raise StorageError(
                f"the object {key!r} in {storage.url} is not the file this job wrote "
                "(its SHA-256 differs): it was changed or cut after the upload",
                file=key, hint="run the job again; if it recurs, check what else writes "
                               "under the dataset's prefix")

    try:
        if len(files) == 1:
            fetch(0)
        else:
            # many files (a partitioned write): a few at a time, each read ahead in 8 MiB
            # blocks, so a thousand small files do not cost a thousand round trips in a row
            with ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="workbench-read-back") as pool:
                list(pool.map(fetch, range(len(files))))  # the first error is raised here
    except OSError:
        # the local disk refused the copy (it filled up meanwhile, say), or a read broke off:
        # the files are read where they are, as without a copy (a differing object is a
        # StorageError, never this)
        copies.remove()
        return None
    except BaseException:
        copies.remove()
        raise
    return copies


__all__ = ["LocalCopies", "fetch_written"]
