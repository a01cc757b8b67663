"""Where a pipeline reads and writes: the SOURCES and SINKS registries (kind -> function),
the input files' hashes, the bytes-per-row estimate, and the catalog datasets SQL steps can name.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import Future
from typing import Any, Callable

import polars as pl

from .context import Context
from .dataset_store import get_dataset, scan_dataset
from .engines.db import scan_query
from .engines.read_common import file_fingerprint
from .engines.readers import scan_file
from .engines.source import SourceScan
from .errors import SourceError
from .monitor import Monitor
from .sinks.tables import write_table
from .spec.models import FileSource
from .storage.s3_sources import open_source as open_object
from .uploads import upload_uri
from .writer import write_dataset


# ----------------------------------------------------------------------------- sources
def _file_source(source, ctx: Context, monitor: Monitor) -> SourceScan:
    return scan_file(source, ctx)


def _dataset_source(source, ctx: Context, monitor: Monitor) -> SourceScan:
    ds = get_dataset(ctx, source.name, source.version)
    frame = scan_dataset(ctx, source.name, ds.version)
    return SourceScan(frame=frame, rows_total=ds.rows, bytes_total=ds.bytes,
                      inputs=[{"path": f"dataset:{ds.name}@{ds.version}", "size": ds.bytes,
                               "sha256": ds.checksum}])


def _query_source(source, ctx: Context, monitor: Monitor) -> SourceScan:
    return scan_query(source, ctx, monitor)


def _upload_source(source, ctx: Context, monitor: Monitor) -> SourceScan:
    # The one file source inside the storage: this namespace's own confirmed upload.
    return scan_file(FileSource(path=upload_uri(ctx, source.upload_id), format=source.format), ctx,
                     internal=True)


SOURCES: dict[str, Callable[[Any, Context, Monitor], SourceScan]] = {
    "file": _file_source,
    "dataset": _dataset_source,
    "query": _query_source,
    "upload": _upload_source,
}


# ----------------------------------------------------------------------------- sinks
def _table_sink(frame, **kwargs) -> dict[str, Any]:
    return write_table(frame, **kwargs)


def _dataset_sink(frame, **kwargs) -> dict[str, Any]:
    return write_dataset(frame, **kwargs)


SINKS: dict[str, Callable[..., dict[str, Any]]] = {
    "dataset": _dataset_sink,
    "table": _table_sink,
}


# ----------------------------------------------------------------------------- hashing
HASH_BUFFER_BYTES = 4 * 1024 * 1024


def _sha256_file(path: str, ctx: Context) -> str:
    h = hashlib.sha256()
    remote = "://" in path
    stream = open_object(path, ctx.settings) if remote else open(path, "rb")
    with stream:
        size = HASH_BUFFER_BYTES
        if not remote:  # a small file, a buffer its size: zeroing 4 MiB took ~0.5 ms
            size = max(64 * 1024, min(size, os.fstat(stream.fileno()).st_size + 1))
        # one buffer read into again and again: a new 4 MiB bytes object per read made this
        # thread's malloc arena grow by ~50 MiB over a 1 GB file (glibc raises its mmap
        # threshold after the first large free, so later ones come from the arena and stay
        # mapped)
        buf = bytearray(size)
        view = memoryview(buf)
        while n := stream.readinto(view):
            h.update(view[:n])
    return h.hexdigest()


INLINE_HASH_BYTES = 1 << 20  # local inputs this small are hashed at once: a thread costs more


def _hashed_inline(item: dict[str, Any]) -> bool:
    path = str(item.get("hash_path") or item.get("path") or "")
    if not path or path.startswith(("dataset:", "query:")) or "sha256" in item:
        return True  # nothing to hash
    size = item.get("size")
    return "://" not in path and size is not None and 0 <= int(size) <= INLINE_HASH_BYTES


def hash_inputs_async(inputs: list[dict[str, Any]], ctx: Context) -> Future:
    """Hash the source files on a thread while the data pass runs (hashlib releases the GIL);
    small local files at once (starting the thread took ~3 ms of a ~35 ms trivial job)."""
    fut: Future = Future()

    def run() -> None:
        try:
            for item in inputs:
                if "sha256" not in item and item.get("path") and not str(item["path"]).startswith(
                        ("dataset:", "query:")):
                    item["sha256"] = _sha256_file(item.get("hash_path") or item["path"], ctx)
            fut.set_result(inputs)
        except BaseException as exc:  # reported after the pass; never kills the thread silently
            fut.set_exception(exc)

    if all(_hashed_inline(item) for item in inputs):
        run()
    else:
        threading.Thread(target=run, name="workbench-hash", daemon=True).start()
    return fut


def check_unchanged(inputs: list[dict[str, Any]]) -> None:
    """Fail when a file read in place changed (rewritten, replaced, removed) since the scan
    opened it: its rows and its checksum were read apart, so neither can be trusted."""
    for item in inputs:
        seen = item.get("fingerprint")
        if seen is None:
            continue
        now = file_fingerprint(item["path"])
        if now != seen:
            what = "was removed" if now is None else "changed"
            raise SourceError(f"the file {what} while the job was reading it", file=item["path"],
                              hint="write the file elsewhere and move it into place once "
                                   "complete; run the job again on the finished file")


# ----------------------------------------------------------------------------- planning
def estimate_bytes_per_row(scan: SourceScan) -> float | None:
    if scan.rows_total and scan.bytes_total:
        return scan.bytes_total / max(scan.rows_total, 1)
    if not scan.inputs:
        return None
    first = scan.inputs[0]
    path = first.get("local_path") or first.get("path")
    if not path or "://" in str(path) or str(path).endswith((".parquet", ".gz", ".zst", ".xlsx")):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return None
    lines = head.count(b"\n")
    return len(head) / lines if lines > 1 else None


def dataset_relations(ctx: Context) -> dict[str, Callable[[], pl.LazyFrame]]:
    names = [r.name for r in ctx.catalog.list_datasets(ctx.namespace)]
    return {n: (lambda n=n: scan_dataset(ctx, n)) for n in names}


def open_source(source: Any, ctx: Context, monitor: Monitor) -> SourceScan:
    return SOURCES[source.kind](source, ctx, monitor)
