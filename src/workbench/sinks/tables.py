"""Writing a pipeline into a PostgreSQL or SQLite table, all or nothing.

Everything a run writes happens inside one transaction on one connection: the rows stream in
(binary COPY through ADBC for PostgreSQL) while the same pass computes the profile and the check
counts; the checks are evaluated before the last statements; then one ``COMMIT`` makes the result
visible. A failure anywhere (a failed check, a value the column refuses in the tenth batch, a
cancel, a lost connection) rolls back, and the table keeps exactly what it had.

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
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import polars as pl

from ..context import Context
from ..dbconn import DbTarget, classify_db_error, connect, resolve_db
from ..engines.profile import profile_from_stats, schema_dict
from ..errors import AlreadyExists, InputError, WorkbenchError
from ..monitor import Monitor
from ..spec.models import Pipeline, TableSink
from . import typemap
from .typemap import TargetColumn, WritePlan

LOADS_TABLE = "_workbench_loads"
_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def q(name: str) -> str:
    """A quoted SQL identifier (PostgreSQL and SQLite)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableName:
    schema: str | None
    name: str

    @property
    def sql(self) -> str:
        return f"{q(self.schema)}.{q(self.name)}" if self.schema else q(self.name)

    @property
    def text(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def sibling(self, name: str) -> TableName:
        return TableName(self.schema, name)


def parse_table(text: str, dialect: str) -> TableName:
    parts = text.split(".")
    if len(parts) > 2 or not all(_PART.fullmatch(p) for p in parts) or (
            dialect == "sqlite" and len(parts) == 2 and parts[0] not in ("main", "temp")):
        raise InputError(f"invalid table name {text!r}", step="write",
                         hint="use letters, digits and '_' (at most 63), starting with a letter; "
                              "PostgreSQL also takes schema.table")
    return TableName(parts[0], parts[1]) if len(parts) == 2 else TableName(None, parts[0])


# ----------------------------------------------------------------------------- inspecting
class _Session:
    """One connection and its open transaction; statements with bound parameters only."""

    def __init__(self, target: DbTarget) -> None:
        self.target = target
        self.dialect = target.dialect
        self.conn = connect(target)
        self.cur = self.conn.cursor()

    def run(self, sql: str, params: tuple | list | None = None) -> list[tuple]:
        try:
            if params:
                self.cur.execute(sql, params)
            else:
                self.cur.execute(sql)
            try:
                return self.cur.fetchall() if self.cur.description else []
            except Exception:
                return []
        except WorkbenchError:
            raise
        except Exception as exc:
            raise _write_error(exc, self.target, sql) from None

    def affected(self) -> int:
        """Rows changed by the last statement (SQLite's driver does not report it)."""
        if self.dialect == "sqlite":
            return int(self.run("SELECT changes()")[0][0])
        n = getattr(self.cur, "rowcount", -1)
        return int(n) if n is not None else -1

    def param(self, n: int) -> str:
        return f"${n}" if self.dialect == "postgresql" else "?"

    def columns(self, table: TableName) -> list[TargetColumn]:
        if self.dialect == "postgresql":
            rows = self.run(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull,"
                " a.atthasdef, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
                " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped"
                " ORDER BY a.attnum", (table.sql,))
            return [TargetColumn(r[0], r[1], r[2], bool(r[3]), bool(r[4]), int(r[5])) for r in rows]
        schema = table.schema or "main"
        rows = self.run(f"SELECT name, type, \"notnull\", dflt_value, pk FROM "
                        f"{q(schema)}.pragma_table_info(?)", (table.name,))
        return [TargetColumn(r[0], r[1] or "", r[1] or "", bool(r[2]), r[3] is not None)
                for r in rows]

    def has_unique(self, table: TableName) -> bool:
        if self.dialect == "postgresql":
            rows = self.run("SELECT count(*) FROM pg_index WHERE indrelid = to_regclass($1) "
                            "AND indisunique", (table.sql,))
            return bool(rows and rows[0][0])
        schema = table.schema or "main"
        idx = self.run(f"SELECT count(*) FROM {q(schema)}.pragma_index_list(?) WHERE \"unique\"",
                       (table.name,))
        pk = self.run(f"SELECT count(*) FROM {q(schema)}.pragma_table_info(?) WHERE pk > 0",
                      (table.name,))
        return bool((idx and idx[0][0]) or (pk and pk[0][0]))

    def ingest(self, table: TableName, data: Any, *, temporary: bool) -> None:
        kwargs: dict[str, Any] = {"mode": "append"}
        if temporary:
            kwargs["temporary"] = True
        elif table.schema and self.dialect == "postgresql":
            kwargs["db_schema_name"] = table.schema
        self.cur.adbc_ingest(table.name, data, **kwargs)

    def commit(self) -> None:
        try:
            self.conn.commit()
        except Exception as exc:
            raise _write_error(exc, self.target, "COMMIT") from None

    def rollback_and_close(self) -> None:
        for fn in (self.conn.rollback, self.cur.close, self.conn.close):
            try:
                fn()
            except Exception:
                pass

    def close(self) -> None:
        for fn in (self.cur.close, self.conn.close):
            try:
                fn()
            except Exception:
                pass


def _write_error(exc: BaseException, target: DbTarget, sql: str, data: Any = None
                 ) -> WorkbenchError:
    """A database error during a write, with the column and the refused value when known.

    Rows reach the table in the order Polars' parallel pass hands them over, which need not be
    the source's order: the error shows the refused value rather than a row number.
    """
    if isinstance(exc, WorkbenchError):
        return exc
    err = classify_db_error(exc, target, sql=sql, step="write")
    text = target.scrub(str(exc))
    m = re.search(r'column "?([^"\s,]+)"?', text) or \
        re.search(r"constraint failed: (?:[^\s.]+\.)?([^\s,]+)", text)  # SQLite's wording
    if m and err.column is None:
        err.column = m.group(1)
    line = re.search(r"COPY [^,]+, line (\d+)", text)
    value = ""
    if line and data is not None and err.column in getattr(data, "column_names", []):
        try:
            value = f" (the value {data.column(err.column)[int(line.group(1)) - 1].as_py()!r})"
        except (IndexError, ValueError):
            value = ""
    sqlstate = getattr(exc, "sqlstate", None) or (re.search(r"SQLSTATE:? (\w{5})", text) or [None, None])[1]
    low = text.lower()
    if sqlstate == "23505" or "unique constraint" in low:
        return InputError(f"a row conflicts with an existing key in the table: "
                          f"{_first(text)}{value}", column=err.column, step="write",
                          hint="mode='insert' requires new keys: use mode='upsert' (keys=[…]) to "
                               "update them, or mode='append' to skip rows already there")
    if sqlstate == "23502" or "not-null" in low or "not null constraint" in low:
        return InputError(f"a null value in a column that does not accept nulls: {_first(text)}",
                          column=err.column, step="write",
                          hint="filter or fill the nulls (drop_nulls / coalesce) before writing")
    if sqlstate == "42P10":
        return InputError("the table has no primary key or unique index on the upsert keys",
                          step="write", hint="create one, e.g. CREATE UNIQUE INDEX ON table (keys), "
                                             "or write to a new table (created with the keys)")
    if sqlstate == "21000" or "cannot affect row a second time" in low:
        return InputError("the rows to upsert repeat a key", step="write",
                          hint="make the keys unique first (a unique step, or an is_unique check)")
    if sqlstate == "2BP01" or "depend on it" in low:
        return InputError(f"the old table cannot be dropped: {_first(text)}", step="write",
                          hint="drop or recreate the dependent views, or write with mode='upsert'")
    if sqlstate and sqlstate.startswith(("22", "23")):
        return InputError(f"the table refused a value: {_first(text)}{value}", column=err.column,
                          step="write",
                          hint="cast or filter the column in a step so it fits the table's type")
    return err


def _is_driver_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("adbc_driver")


def _first(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"^[A-Z_]+: (\[libpq\] )?|Failed to execute COPY statement: |PGRES_FATAL_ERROR "
                      r"|ERROR:\s+", "", line.strip())
        if line:
            return line
    return text


# ----------------------------------------------------------------------------- planning
@dataclass
class _Plan:
    table: TableName
    dest: TableName  # where the rows stream to
    dest_temporary: bool
    create_sql: list[str]  # before the pass
    writes: list[WritePlan]
    created: bool
    finish: str  # "none" | "insert" | "append_skip" | "upsert" | "swap"


def _create_table_sql(table: TableName, schema: pl.Schema, dialect: str, keys: list[str],
                      *, temporary: bool = False) -> str:
    cols = [f"{q(n)} {typemap.sql_type(n, t, dialect)}" + (" NOT NULL" if n in keys else "")
            for n, t in schema.items()]
    if keys:
        cols.append(f"PRIMARY KEY ({', '.join(q(k) for k in keys)})")
    kind = "TEMP TABLE" if temporary else "TABLE"
    return f"CREATE {kind} {table.sql} ({', '.join(cols)})"


def _new_writes(schema: pl.Schema, dialect: str) -> list[WritePlan]:
    return [WritePlan(n, typemap.arrow_type_for_new(n, t, dialect)) for n, t in schema.items()]


def _check_columns(schema: pl.Schema, columns: list[TargetColumn], table: TableName) -> None:
    have = {c.name for c in columns}
    extra = [n for n in schema.names() if n not in have]
    missing = [c.name for c in columns
               if c.name not in schema and c.not_null and not c.has_default]
    parts = []
    if extra:
        parts.append(f"not in the table: {', '.join(extra)}")
    if missing:
        parts.append(f"required by the table (NOT NULL, no default) but not in the pipeline: "
                     f"{', '.join(missing)}")
    if parts:
        raise InputError(f"the pipeline's columns do not match table {table.text}: "
                         + "; ".join(parts), column=(extra or missing)[0], step="write",
                         hint="select/rename columns to the table's, or use mode='replace' to "
                              "recreate the table from the pipeline's schema")


def _plan(s: _Session, sink: TableSink, schema: pl.Schema, job_id: str) -> _Plan:
    table = parse_table(sink.table, s.dialect)
    dialect = s.dialect
    if dialect == "postgresql":
        long = [n for n in schema.names() if len(n.encode()) > 63]
        if long:
            raise InputError(f"column name longer than PostgreSQL's 63 bytes: {long[0]!r}",
                             column=long[0], step="write", hint="rename it in a step")
    columns = s.columns(table)
    exists = bool(columns)
    keys = list(sink.keys)
    stage = table.sibling(f"wb_stage_{job_id[:12]}")

    if sink.mode == "create" and exists:
        raise AlreadyExists(f"table {table.text} already exists in {s.target.display}",
                            step="write", hint="use mode='append', 'upsert' or 'replace'")
    if sink.mode == "replace" and exists:
        new = table.sibling(f"{table.name[:40]}__wb_{job_id[:12]}")
        return _Plan(table, new, False, [_create_table_sql(new, schema, dialect, keys)],
                     _new_writes(schema, dialect), True, "swap")
    if not exists:
        writes = _new_writes(schema, dialect)
        create = [_create_table_sql(table, schema, dialect, keys)]
        # a fresh table: every row is an insert (upsert keys become its primary key)
        return _Plan(table, table, False, create, writes, True, "none")

    _check_columns(schema, columns, table)
    by_name = {c.name: c for c in columns}
    ordered = [by_name[n] for n in schema.names()]
    writes = (typemap.plan_existing_pg(schema, ordered) if dialect == "postgresql"
              else typemap.plan_existing_sqlite(schema, ordered))
    via_text = any(w.server_cast for w in writes)
    if sink.mode == "upsert":
        finish = "upsert"
    elif sink.mode == "append" and s.has_unique(table):
        finish = "append_skip"
    elif via_text:
        finish = "insert"
    else:
        return _Plan(table, table, False, [], writes, False, "none")
    stage_cols = []
    for w in writes:
        col = by_name[w.name]
        stype = "text" if w.server_cast else col.sql_type
        stage_cols.append(f"{q(w.name)} {stype or ''}".rstrip())
    temp_name = TableName(None, stage.name)
    tail = " ON COMMIT DROP" if dialect == "postgresql" else ""
    create = [f"CREATE TEMP TABLE {temp_name.sql} ({', '.join(stage_cols)}){tail}"]
    return _Plan(table, temp_name, True, create, writes, False, finish)


# ----------------------------------------------------------------------------- finishing
def _select_from_stage(plan: _Plan) -> str:
    exprs = [f"CAST({q(w.name)} AS {w.server_cast})" if w.server_cast else q(w.name)
             for w in plan.writes]
    return f"SELECT {', '.join(exprs)} FROM {plan.dest.sql}"


def _finish(s: _Session, plan: _Plan, sink: TableSink, staged_rows: int) -> dict[str, int]:
    cols = ", ".join(q(w.name) for w in plan.writes)
    target = plan.table.sql
    where_true = " WHERE true" if s.dialect == "sqlite" else ""
    if plan.finish == "none":
        return {"rows_inserted": staged_rows}
    if plan.finish == "insert":
        s.run(f"INSERT INTO {target} ({cols}) {_select_from_stage(plan)}")
        return {"rows_inserted": staged_rows}
    if plan.finish == "append_skip":
        s.run(f"INSERT INTO {target} ({cols}) {_select_from_stage(plan)}{where_true} "
              "ON CONFLICT DO NOTHING")
        inserted = s.affected()
        if inserted < 0:
            inserted = staged_rows
        return {"rows_inserted": inserted, "rows_skipped": staged_rows - inserted}
    if plan.finish == "upsert":
        keys = list(sink.keys)
        missing = [k for k in keys if k not in {w.name for w in plan.writes}]
        if missing:
            raise InputError(f"upsert keys not in the pipeline's columns: {', '.join(missing)}",
                             column=missing[0], step="write")
        key_list = ", ".join(q(k) for k in keys)
        dup = s.run(f"SELECT {key_list} FROM {plan.dest.sql} GROUP BY {key_list} "
                    "HAVING count(*) > 1 LIMIT 1")
        if dup:
            example = dict(zip(keys, dup[0]))
            raise InputError(f"the rows to upsert repeat a key, e.g. {example}", step="write",
                             column=keys[0], hint="make the keys unique first (a unique step, "
                                                  "or an is_unique check)")
        casts = {w.name: w.server_cast for w in plan.writes}
        match = " AND ".join(
            f"t.{q(k)} = " + (f"CAST(s.{q(k)} AS {casts[k]})" if casts.get(k) else f"s.{q(k)}")
            for k in keys)
        existing = s.run(f"SELECT count(*) FROM {plan.dest.sql} s WHERE EXISTS "
                         f"(SELECT 1 FROM {target} t WHERE {match})")[0][0]
        others = [w.name for w in plan.writes if w.name not in keys]
        action = ("DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in others)
                  if others else "DO NOTHING")
        s.run(f"INSERT INTO {target} ({cols}) {_select_from_stage(plan)}{where_true} "
              f"ON CONFLICT ({key_list}) {action}")
        return {"rows_inserted": staged_rows - int(existing), "rows_updated": int(existing)}
    if plan.finish == "swap":
        s.run(f"DROP TABLE {plan.table.sql}")
        s.run(f"ALTER TABLE {plan.dest.sql} RENAME TO {q(plan.table.name)}")
        if sink.keys and s.dialect == "postgresql":
            s.run(f"ALTER INDEX {plan.table.sibling(plan.dest.name + '_pkey').sql} "
                  f"RENAME TO {q(plan.table.name + '_pkey')}")
        return {"rows_inserted": staged_rows}
    raise AssertionError(plan.finish)


# ----------------------------------------------------------------------------- idempotence
def _loads_ready(target: DbTarget) -> bool:
    """Create the loads table on its own (a missing CREATE privilege only turns it off)."""
    s = _Session(target)
    try:
        s.run(f"CREATE TABLE IF NOT EXISTS {q(LOADS_TABLE)} (job_id VARCHAR(64) PRIMARY KEY, "
              "target TEXT NOT NULL, mode VARCHAR(16) NOT NULL, rows BIGINT NOT NULL, "
              "result TEXT NOT NULL, committed_at DOUBLE PRECISION NOT NULL)")
        s.commit()
        return True
    except WorkbenchError:
        return False
    finally:
        s.rollback_and_close()


def _already_loaded(s: _Session, job_id: str) -> dict[str, Any] | None:
    rows = s.run(f"SELECT result FROM {q(LOADS_TABLE)} WHERE job_id = {s.param(1)}", (job_id,))
    return json.loads(rows[0][0]) if rows else None


# ----------------------------------------------------------------------------- the pass
def _to_arrow(df: pl.DataFrame, writes: list[WritePlan], arrow_schema: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
    cols = []
    for i, w in enumerate(writes):
        arr = table.column(i)
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
    import pyarrow as pa

    target = resolve_db(sink.db, catalog_url=ctx.settings.catalog_url)
    missing_keys = [k for k in sink.keys if k not in schema]
    if missing_keys:
        raise InputError(f"sink keys name a column that does not exist: {', '.join(missing_keys)}",
                         column=missing_keys[0], step="write",
                         hint=f"columns are: {', '.join(schema.names())}")
    for name, dtype in schema.items():  # an unmappable type fails before anything is opened
        typemap.sql_type(name, dtype, target.dialect)

    loads = _loads_ready(target)
    s = _Session(target)
    t0 = time.time()
    try:
        if loads:
            done = _already_loaded(s, job_id)
            if done is not None:
                s.close()
                return done
        plan = _plan(s, sink, schema, job_id)
        for statement in plan.create_sql:
            s.run(statement)
        arrow_schema = pa.schema([(w.name, w.arrow) for w in plan.writes])
        written = {"rows": 0, "bytes": 0, "queued": 0}
        failure: list[BaseException] = []
        lock = threading.Lock()
        pending: list[pl.DataFrame] = []
        # The database copies one batch while Polars prepares the next; a short queue keeps
        # the rows in memory bounded by a few batches, whatever the table's size.
        batches: queue.Queue = queue.Queue(maxsize=2)

        def copy_rows() -> None:
            while True:
                item = batches.get()
                if item is None:
                    return
                offset, data, rows = item
                if failure:
                    continue  # drain: the pass is failing
                try:
                    s.ingest(plan.dest, data, temporary=plan.dest_temporary)
                except BaseException as exc:
                    failure.append(_write_error(exc, target, "COPY", data)
                                   if _is_driver_error(exc) else exc)
                    continue
                written["rows"] += rows
                written["bytes"] += data.nbytes
                monitor.on_bytes(data.nbytes)

        def hand_over() -> None:  # under the lock
            if not pending:
                return
            df = pl.concat(pending, how="vertical_relaxed", rechunk=False) \
                if len(pending) > 1 else pending[0]
            pending.clear()
            offset = written["queued"]
            written["queued"] += df.height
            item = (offset, _to_arrow(df, plan.writes, arrow_schema), df.height)
            while True:
                if failure:
                    raise failure[0]
                try:
                    batches.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def on_batch(df: pl.DataFrame) -> pl.DataFrame:
            if df.height == 0:
                return df
            with lock:
                if failure:
                    raise failure[0]
                try:
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
        monitor.check_cancel()
        stats = stats_df.row(0, named=True)
        checks = commit_guard(stats, None)
        counts = _finish(s, plan, sink, written["rows"])
        profile = profile_from_stats(schema, stats)
        result: dict[str, Any] = {
            "kind": "table", "table": plan.table.text, "db": target.display, "mode": sink.mode,
            "job_id": job_id, "rows": int(stats["__p.rows"]), "bytes": written["bytes"],
            "created": plan.created, "columns": schema.names(),
            "schema": schema_dict(schema, profile), "profile": profile, "checks": checks,
            "inputs": inputs(), "seconds": round(time.time() - t0, 3), **counts,
        }
        if loads:
            s.run(f"INSERT INTO {q(LOADS_TABLE)} (job_id, target, mode, rows, result, committed_at)"
                  f" VALUES ({', '.join(s.param(i) for i in range(1, 7))})",
                  (job_id, plan.table.text, sink.mode, result["rows"],
                   json.dumps(result, default=str), time.time()))
        monitor.check_cancel()
        s.commit()
    except BaseException as exc:
        s.rollback_and_close()
        if isinstance(exc, WorkbenchError) or not _is_driver_error(exc):
            raise  # execute classifies Polars errors and cancels
        raise _write_error(exc, target, "") from None
    s.close()
    return result


__all__ = ["LOADS_TABLE", "parse_table", "write_table"]
