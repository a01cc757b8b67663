"""A SQL query against PostgreSQL or SQLite as a streaming source.

Reads go through ADBC: the driver streams Arrow record batches (binary COPY for PostgreSQL), which
Polars takes without a copy. connectorx reads about as fast but only takes a finished SQL string,
so parameters would have to be formatted into the text; ADBC binds them (see ``bench/db_bench.py``
for the measured speeds).

Parameters are written ``:name`` in the spec and bound, never formatted:

* PostgreSQL: ``:name`` becomes ``$n``; the statement is prepared once so the server infers each
  parameter's type, then every value is sent as text and cast to that type in the statement
  (``CAST($1 AS "timestamp")``). That is what a driver that sends untyped parameters gets, so
  ``updated_at > :since`` with ``since="2026-01-01"`` works as it would in psql.
* SQLite: ``:name`` becomes ``?n`` and the value is bound as is.

Types: PostgreSQL ``numeric(p, s)`` arrives as text from the driver and is read as
``Decimal(p, s)``; ``numeric`` without a declared scale as ``Decimal(38, 10)`` (rounded half away
from zero, with a note); ``json``/``jsonb``/``uuid`` and other text-like types as strings; ``interval`` as a Duration
(an interval with months, which have no fixed length, is an error naming the column, with the
cast to write).
SQLite has no declared types in results: the first batch decides each column's type and later
batches are cast to it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

import polars as pl
from polars.io.plugins import register_io_source

from ..context import Context
from ..cursors import plan_incremental
from ..dbconn import DbTarget, classify_db_error, connect, resolve_db
from ..errors import SpecError, SQLError, WorkbenchError
from ..security import check_db_ref
from .db_params import as_text, quote_type, strip_statement, translate_params
from .db_types import convert_batch, plan_columns
from .source import SourceScan

PG_BATCH_BYTES = 8 * 1024 * 1024  # the driver's batch size hint: bounds memory per batch


# ----------------------------------------------------------------------------- running a query
@dataclass
class _Open:
    conn: Any
    cursor: Any
    reader: Any


def _bind_and_run(target: DbTarget, sql: str, params: dict[str, Any], batch_rows: int) -> _Open:
    """Connect, bind, execute; the reader streams the rows."""
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    conn = connect(target)
    cur = conn.cursor()
    sent = sql
    try:
        if target.dialect == "postgresql":
            try:
                cur.adbc_statement.set_options(
                    **{"adbc.postgresql.batch_size_hint_bytes": str(PG_BATCH_BYTES)})
            except Exception:  # an older driver without the option: its default is fine
                pass
            if params:
                dollar, order = translate_params(sql, params, lambda k, _n: f"${k}")
                sent = dollar
                types = [f.metadata.get(b"POSTGRESQL:type", b"text").decode()
                         for f in cur.adbc_prepare(dollar)]
                sent, _ = translate_params(
                    sql, params, lambda k, _n: f"${k}" if types[k - 1] == "text"
                    else f"CAST(${k} AS {quote_type(types[k - 1])})")
                values = pa.record_batch([pa.array([as_text(params[name])], pa.string())
                                          for name in order],
                                         names=[f"p{k}" for k in range(1, len(order) + 1)])
                cur.execute(sent, values)
            else:
                cur.execute(sent)
        else:
            try:
                cur.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(max(1024, min(batch_rows, 65536)))})
            except Exception:
                pass
            if params:
                sent, order = translate_params(sql, params, lambda k, _n: f"?{k}")
                for name in order:
                    as_text(params[name])  # the same value checks as PostgreSQL
                cur.execute(sent, [params[name] for name in order])
            else:
                cur.execute(sent)
        reader = cur.fetch_record_batch()
    except WorkbenchError:
        _close(cur, conn)
        raise
    except Exception as exc:
        _close(cur, conn)
        raise classify_db_error(exc, target, sql=sent, step="read") from None
    return _Open(conn, cur, reader)


def _close(cur: Any, conn: Any) -> None:
    for obj in (cur, conn):
        try:
            if obj is not None:
                obj.close()
        except Exception:
            pass


# ----------------------------------------------------------------------------- the source
@dataclass
class QueryStream:
    """One query, opened at planning time (its schema is the frame's) and streamed once.

    Opening at planning time surfaces connection, permission and syntax errors in the ``read``
    step before any work starts, and gives Polars an exact schema. A second pass over the frame
    (rare: ``is_pure`` lets Polars share one scan between the sink and the statistics) runs the
    query again on a new connection.
    """

    target: DbTarget
    sql: str
    params: dict[str, Any]
    batch_rows: int
    cursor_column: str | None = None
    probe: tuple[str, dict[str, Any]] | None = None  # SQLite: the query before incremental filters
    cursor_max: Any = None
    error: WorkbenchError | None = None
    notes: list[str] = field(default_factory=list)
    _open: _Open | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _first: Any = None  # SQLite: the first batch, read early to learn the schema

    def start(self) -> pl.Schema:
        self._open = _bind_and_run(self.target, self.sql, self.params, self.batch_rows)
        schema = self._open.reader.schema
        if self.target.dialect == "sqlite":
            # SQLite types come from values: take the first rows' types
            try:
                self._first = None
                for batch in self._open.reader:
                    if batch.num_rows:
                        self._first = batch
                        schema = batch.schema
                        break
            except Exception as exc:
                self.close()
                raise classify_db_error(exc, self.target, sql=self.sql, step="read") from None
            if self._first is None and self.probe is not None:
                # no rows (an incremental run with nothing new): learn the types from one row of
                # the unfiltered query, so an empty run has the same schema as a full one
                schema = self._probe_schema(schema)
        try:
            self.plans, self.arrow_schema = plan_columns(schema, self.notes)
        except WorkbenchError:
            self.close()
            raise
        return pl.DataFrame(self.arrow_schema.empty_table()).schema

    def _probe_schema(self, fallback: Any) -> Any:
        sql, params = self.probe  # type: ignore[misc]
        probe = _bind_and_run(self.target, f"SELECT * FROM ({sql}\n) AS _wb_probe LIMIT 1",
                              params, 1)
        try:
            for batch in probe.reader:
                if batch.num_rows:
                    return batch.schema
        finally:
            _cancel_and_close(probe)
        return fallback

    def batches(self, with_columns: list[str] | None, predicate: pl.Expr | None,
                n_rows: int | None, _batch_size: int | None) -> Iterator[pl.DataFrame]:
        with self._lock:
            opened, first = self._open, self._first
            self._open, self._first = None, None
        if opened is None:
            opened, first = _bind_and_run(self.target, self.sql, self.params, self.batch_rows), None
            if self.target.dialect == "sqlite":
                first = next(iter(opened.reader), None)
        left = n_rows
        cursor_idx = self.arrow_schema.get_field_index(self.cursor_column) \
            if self.cursor_column else -1
        try:
            source = opened.reader
            pending = [first] if first is not None else []
            while left is None or left > 0:
                if pending:
                    batch = pending.pop()
                else:
                    try:
                        batch = source.read_next_batch()
                    except StopIteration:
                        break
                    except Exception as exc:
                        self.error = classify_db_error(exc, self.target, sql=self.sql, step="read")
                        raise self.error from None
                if batch.num_rows == 0:
                    continue
                batch = convert_batch(batch, self.plans, self.arrow_schema)
                if left is not None and batch.num_rows > left:
                    batch = batch.slice(0, left)
                if cursor_idx >= 0:
                    self._track_cursor(batch.column(cursor_idx))
                df = pl.DataFrame(batch)
                if with_columns is not None:
                    df = df.select(with_columns)
                if predicate is not None:
                    df = df.filter(predicate)
                if left is not None:
                    left -= batch.num_rows
                yield df
        except WorkbenchError as exc:
            self.error = exc
            raise
        finally:
            _cancel_and_close(opened)

    def _track_cursor(self, column: Any) -> None:
        # heavy optional dependency: imported on first use
        import pyarrow.compute as pc

        value = pc.max(column).as_py()
        if value is not None and (self.cursor_max is None or value > self.cursor_max):
            self.cursor_max = value

    def close(self) -> None:
        with self._lock:
            opened, self._open = self._open, None
        if opened is not None:
            _cancel_and_close(opened)

    def diagnose(self, _exc: BaseException) -> WorkbenchError | None:
        return self.error


def _cancel_and_close(opened: _Open) -> None:
    try:
        opened.reader.close()
    except Exception:
        pass
    _close(opened.cursor, opened.conn)


def _fingerprint(target: DbTarget, sql: str, params: dict[str, Any]) -> str:
    text = json.dumps({"db": target.display, "sql": sql, "params": params}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def scan_query(source: Any, ctx: Context, monitor: Any) -> SourceScan:
    """Open ``source`` (a ``QuerySource``) and return a lazy frame streaming its rows.

    Rows are counted by ``execute`` as batches pass; the total is not known in advance (a
    ``count(*)`` would run the query twice).
    """

    check_db_ref(source.db, ctx.settings, step="read")  # a worker takes connection names only
    target = resolve_db(source.db, catalog_url=ctx.settings.catalog_url)
    sql = strip_statement(source.sql)
    params = dict(source.params)
    if not sql.strip():
        raise SQLError("the query is empty", step="read")
    inc = plan_incremental(ctx, getattr(monitor, "pipeline", None), source, sql, params)
    stream = QueryStream(target, inc.sql if inc else sql, inc.params if inc else params,
                         source.batch_rows, cursor_column=inc.cursor if inc else None,
                         probe=(sql, params) if inc else None)
    schema = stream.start()
    if inc is not None and inc.cursor not in schema:
        stream.close()
        raise SpecError(f"the incremental cursor {inc.cursor!r} is not a column of the query",
                        column=inc.cursor, step="read",
                        hint=f"columns are: {', '.join(schema.names())}")
    frame = register_io_source(stream.batches, schema=schema, is_pure=True,
                               explain_name="workbench query", explain_detail=target.display)
    notes = list(stream.notes)
    if inc is not None:
        notes.append(inc.describe())

    def after_commit() -> None:
        if inc is not None:
            inc.advance(stream.cursor_max)

    scan = SourceScan(
        frame=frame,
        inputs=[{"path": f"query:{target.display}", "size": None,
                 "sha256": _fingerprint(target, stream.sql, stream.params)}],
        diagnose=stream.diagnose, notes=notes, cleanup=stream.close, after_commit=after_commit,
    )
    return scan


__all__ = ["QueryStream", "scan_query", "strip_statement", "translate_params"]
