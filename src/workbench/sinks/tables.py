"""Writing a pipeline into a PostgreSQL or SQLite table, all or nothing.

Everything a run writes happens inside one transaction on one connection: the rows stream in
(PostgreSQL: one binary ``COPY`` per batch of bytes encoded from Arrow by :mod:`.pg_copy`;
SQLite: ADBC's ingest) while the same pass computes the profile and the check counts; the
checks are evaluated before the last statements; then one ``COMMIT`` makes the result visible.
A failure anywhere (a failed check, a value the column refuses in the tenth batch, a cancel, a
lost connection) rolls back, and the table keeps exactly what it had.

Modes
-----
``create``   the table must not exist; it is created from the pipeline's schema.
``insert``   every row is new: a row that conflicts with a primary key or unique constraint fails
             the run, and nothing is written.
``append``   add the rows; if the table has a primary key or unique constraint, rows that conflict
             with it are skipped (``ON CONFLICT DO NOTHING``) and counted as ``rows_skipped``.
``replace``  build a new table from the pipeline's schema, then swap it in place of the old one in
             the same transaction: readers see the old table until the commit, then the new one.
             (PostgreSQL takes the swap's exclusive lock only at the end: a reader holding the old
             table in an open transaction delays the commit, never the other way round.)
             Indexes, grants and dependent views of the old table are not carried over; a view
             depending on it makes the swap fail with a clear error, and the old table stays.
``upsert``   insert new keys and update the rows whose ``keys`` exist (``INSERT … ON CONFLICT``),
             through a temporary staging table. The table needs a primary key or unique index on
             exactly the keys (a table created here gets ``PRIMARY KEY (keys)``).

Every mode but ``create`` creates a missing table from the pipeline's schema (types:
:mod:`workbench.sinks.typemap`). Into an existing table, the pipeline's columns must be columns of
the table, with types of the same kind; table columns the pipeline lacks must be nullable or have a
default.

A run is idempotent by job id: the commit also records the job in a ``_workbench_loads`` table of
the target database, and a redelivered task that finds its job there returns the recorded result.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any, Callable

import polars as pl

from ..context import Context
from ..dbconn import resolve_db
from ..engines.profile import profile_from_stats, schema_dict
from ..errors import InputError, WorkbenchError
from ..monitor import Monitor
from ..security import check_db_ref
from ..spec.models import Pipeline, TableSink
from . import typemap
from .table_plan import already_loaded, finish_write, loads_ready, plan_write
from .table_session import LOADS_TABLE, TableSession, is_driver_error, parse_table, q, write_error
from .typemap import WritePlan


# ----------------------------------------------------------------------------- the pass
def _to_arrow(df: pl.DataFrame, writes: list[WritePlan], arrow_schema: Any) -> Any:
    # heavy optional dependency: imported on first use
    import pyarrow as pa
    # heavy optional dependency: imported on first use
    import pyarrow.compute as pc

    table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
    cols = []
    for i, w in enumerate(writes):
        arr = table.column(i)
        if pa.types.is_decimal(arr.type) and pa.types.is_string(w.arrow):
            # Polars writes plain digits ('0.0000000000'); Arrow's cast writes '0E-10'
            arr = pl.from_arrow(arr).cast(pl.String).to_arrow()  # type: ignore[union-attr]
        if pa.types.is_duration(arr.type) and pa.types.is_integer(w.arrow):
            # an INTEGER column of durations holds microseconds (the map), whatever the unit
            arr = pc.cast(arr, pa.duration("us"), safe=False)
            arr = pc.cast(arr, pa.int64())
        if arr.type != w.arrow:
            temporal = pa.types.is_timestamp(w.arrow) or pa.types.is_time(w.arrow) or \
                pa.types.is_duration(w.arrow)
            try:
                # microsecond precision is the database's: finer time units are truncated
                arr = pc.cast(arr, w.arrow, safe=not temporal)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                bad = _first_bad_value(arr, w.arrow)
                raise InputError(f"column {w.name!r} has a value that does not fit the table's "
                                 f"type ({w.arrow}): {exc}" + (f" (the value {bad!r})" if bad is not None else ""),
                                 column=w.name, step="write",
                                 hint="cast or filter the column in a step so it fits") from None
        cols.append(arr)
    return pa.table(cols, schema=arrow_schema)


def _first_bad_value(arr: Any, to: Any) -> Any:
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    try:
        for chunk in (arr.chunks if hasattr(arr, "chunks") else [arr]):
            for value in chunk.to_pylist():  # the error path only: value by value is fine here
                try:
                    pa.array([value], type=chunk.type).cast(to)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    return value
    except Exception:
        return None
    return None


def write_table(frame: pl.LazyFrame, *, sink: TableSink, ctx: Context, job_id: str,
                attempt: int, pipeline: Pipeline, schema: pl.Schema, monitor: Monitor,
                stats_exprs: list[pl.Expr], commit_guard: Callable, inputs: Callable
                ) -> dict[str, Any]:
    """Stream ``frame`` into ``sink.table``; see the module docstring for the modes."""
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    check_db_ref(sink.db, ctx.settings, step="write")  # a worker takes connection names only
    target = resolve_db(sink.db, catalog_url=ctx.settings.catalog_url)
    missing_keys = [k for k in sink.keys if k not in schema]
    if missing_keys:
        raise InputError(f"sink keys name a column that does not exist: {', '.join(missing_keys)}",
                         column=missing_keys[0], step="write",
                         hint=f"columns are: {', '.join(schema.names())}")
    for name, dtype in schema.items():  # an unmappable type fails before anything is opened
        typemap.sql_type(name, dtype, target.dialect)

    s = TableSession(target)
    t0 = time.time()
    try:
        loads = s.has_table(LOADS_TABLE)
        if not loads:  # made once per database, on a connection of its own (see loads_ready)
            s.rollback()  # SQLite: the read just made holds a lock the other connection needs
            loads = loads_ready(target)
        if loads:
            done = already_loaded(s, job_id)
            if done is not None:
                s.close()
                return done
        plan = plan_write(s, sink, schema, job_id)
        for statement in plan.create_sql:
            s.run(statement)
        arrow_schema = pa.schema([(w.name, w.arrow) for w in plan.writes])
        if target.dialect == "postgresql":
            # heavy optional dependencies (numpy, psycopg): imported on first use
            from . import pg_copy
            from .copy_stream import CopyStream
        else:
            pg_copy = None  # type: ignore[assignment]
        written = {"rows": 0, "bytes": 0, "queued": 0}
        failure: list[BaseException] = []
        lock = threading.Lock()
        pending: list[pl.DataFrame] = []
        # The database copies one batch while Polars prepares the next; a short queue keeps
        # the rows in memory bounded by a few batches, whatever the table's size (PostgreSQL:
        # and the batches of the open COPY, to show a refused value; copy_stream.SEGMENT_BYTES).
        batches: queue.Queue = queue.Queue(maxsize=2)

        stream = CopyStream(s.cur, target, plan.dest, [w.name for w in plan.writes]) \
            if pg_copy is not None else None

        def copy_rows() -> None:
            while True:
                item = batches.get()
                try:
                    if item is None:
                        if stream is not None and failure:
                            stream.abort()
                        elif stream is not None:
                            stream.close()
                        return
                    offset, data, encoded, rows = item
                    if failure:
                        continue  # drain: the pass is failing
                    if stream is None:
                        s.ingest(plan.dest, data, temporary=plan.dest_temporary)
                    else:
                        stream.send(data, encoded)
                    written["rows"] += rows
                    written["bytes"] += data.nbytes
                    monitor.on_bytes(data.nbytes)
                except BaseException as exc:
                    # whatever fails here must reach the pass: a copier that died silently would
                    # let the commit go ahead without these rows
                    try:
                        failure.append(write_error(exc, target, "COPY",
                                                   data if stream is None else None)
                                       if is_driver_error(exc) else exc)
                    except BaseException:
                        failure.append(exc)
                    if stream is not None:
                        stream.abort()
                    if item is None:
                        return

        def hand_over() -> None:  # under the lock
            if not pending:
                return
            df = pl.concat(pending, how="vertical_relaxed", rechunk=False) \
                if len(pending) > 1 else pending[0]
            pending.clear()
            offset = written["queued"]
            written["queued"] += df.height
            data = _to_arrow(df, plan.writes, arrow_schema)
            # encoded here, on the pass's thread, so the copier only sends bytes
            encoded = pg_copy.encode_table(data) if pg_copy is not None else None
            item = (offset, data, encoded, df.height)
            while True:
                if failure:
                    raise failure[0]
                try:
                    batches.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        # SQLite stores a NaN as NULL (sqlite3 has no NaN): counted, and said in the job's notes
        nan_cols = [n for n, t in schema.items() if t in (pl.Float32, pl.Float64)] \
            if target.dialect == "sqlite" else []
        nans = dict.fromkeys(nan_cols, 0)

        def on_batch(df: pl.DataFrame) -> pl.DataFrame:
            if df.height == 0:
                return df
            with lock:
                if failure:
                    raise failure[0]
                try:
                    if nan_cols:
                        found = df.select(pl.col(nan_cols).is_nan().sum()).row(0)
                        for c, k in zip(nan_cols, found):
                            nans[c] += int(k or 0)
                    pending.append(df)
                    if sum(p.height for p in pending) >= sink.batch_rows:
                        hand_over()
                except BaseException as exc:
                    if not failure:
                        failure.append(exc)
                    raise
            return df

        copier = threading.Thread(target=copy_rows, name=f"workbench-copy-{job_id[:8]}",
                                  daemon=True)
        copier.start()
        # One linear pass: each batch goes to the database, then into the statistics. (Two
        # queries sharing the scan would let the fast statistics branch run ahead of the
        # database while Polars buffers the rows in between: memory would grow with the table.)
        counted = frame.map_batches(on_batch, streamable=True, predicate_pushdown=False,
                                    projection_pushdown=False, slice_pushdown=False)
        try:
            try:
                stats_df = counted.select(stats_exprs).collect(engine="streaming")
                with lock:
                    hand_over()
            finally:
                while copier.is_alive():
                    try:
                        batches.put(None, timeout=0.2)
                        break
                    except queue.Full:
                        if failure:  # the copier drains the queue once it has failed
                            continue
                copier.join()
        except BaseException as exc:
            if failure:
                raise failure[0] from None
            raise exc
        if failure:
            raise failure[0]
        if written["rows"] != written["queued"]:
            raise AssertionError(f"{written['queued']} rows were handed to the copier, "
                                 f"{written['rows']} written")
        monitor.check_cancel()
        stats = stats_df.row(0, named=True)
        input_list = inputs()  # read unchanged and checksummed: known before the table commits
        checks = commit_guard(stats, None)
        counts = finish_write(s, plan, sink, written["rows"])
        profile = profile_from_stats(schema, stats)
        result: dict[str, Any] = {
            "kind": "table", "table": plan.table.text, "db": target.display, "mode": sink.mode,
            "job_id": job_id, "rows": int(stats["__p.rows"]), "bytes": written["bytes"],
            "created": plan.created, "columns": schema.names(),
            "schema": schema_dict(schema, profile), "profile": profile, "checks": checks,
            "inputs": input_list, "seconds": round(time.time() - t0, 3), **counts,
        }
        notes = [f"column {c!r}: {k:,} NaN value{'s' if k > 1 else ''} written as NULL (SQLite "
                 "stores NaN as NULL; PostgreSQL keeps it)" for c, k in nans.items() if k]
        if notes:
            result["notes"] = notes
        if loads:
            s.run(f"INSERT INTO {q(LOADS_TABLE)} (job_id, target, mode, rows, result, committed_at)"
                  f" VALUES ({', '.join(s.param(i) for i in range(1, 7))})",
                  (job_id, plan.table.text, sink.mode, result["rows"],
                   json.dumps(result, default=str), time.time()))
        monitor.check_cancel()
        s.commit()
    except BaseException as exc:
        s.rollback_and_close()
        if isinstance(exc, WorkbenchError) or not is_driver_error(exc):
            raise  # execute classifies Polars errors and cancels
        raise write_error(exc, target, "") from None
    s.close()
    return result


__all__ = ["LOADS_TABLE", "parse_table", "write_table"]
