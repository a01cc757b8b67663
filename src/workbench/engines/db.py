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
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import polars as pl

from ..context import Context
from ..dbconn import DbTarget, classify_db_error, connect, resolve_db
from ..errors import SourceError, SpecError, SQLError, WorkbenchError
from .source import SourceScan

UNSCALED_NUMERIC = (38, 10)  # numeric without typmod: precision, scale
PG_BATCH_BYTES = 8 * 1024 * 1024  # the driver's batch size hint: bounds memory per batch

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ----------------------------------------------------------------------------- parameters
def translate_params(sql: str, names: set[str] | dict[str, Any],
                     placeholder: Callable[[int, str], str]) -> tuple[str, list[str]]:
    """Replace ``:name`` outside strings, quoted names, comments and ``::`` casts.

    Returns the new text and the parameter names in position order (a name used twice keeps
    one position). ``placeholder(position, name)`` gives the text to put in (1-based position).
    """
    out: list[str] = []
    order: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            j = i + 1
            while j < n:
                if escapes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1])
            i = j + 1
        elif ch == '"':
            j = sql.find('"', i + 1)
            while j != -1 and j + 1 < n and sql[j + 1] == '"':
                j = sql.find('"', j + 2)
            j = n - 1 if j == -1 else j
            out.append(sql[i:j + 1])
            i = j + 1
        elif ch == "-" and nxt == "-":
            j = sql.find("\n", i)
            j = n if j == -1 else j
            out.append(sql[i:j])
            i = j
        elif ch == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(sql[i:j])
            i = j
        elif ch == "$" and (m := re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])) and \
                not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            tag = m.group(0)
            j = sql.find(tag, i + len(tag))
            j = n if j == -1 else j + len(tag)
            out.append(sql[i:j])
            i = j
        elif ch == ":" and nxt == ":":
            out.append("::")
            i += 2
        elif ch == ":" and (m := _IDENT.match(sql, i + 1)) and not (i > 0 and sql[i - 1] == ":"):
            name = m.group(0)
            if name not in names:
                known = ", ".join(f":{k}" for k in sorted(names)) or "none"
                raise SpecError(f"the query uses the parameter :{name}, which params does not give",
                                hint=f"parameters given: {known}; a literal colon goes in quotes")
            if name not in order:
                order.append(name)
            out.append(placeholder(order.index(name) + 1, name))
            i = m.end()
        else:
            out.append(ch)
            i += 1
    unused = [k for k in names if k not in order]
    if unused:
        raise SpecError(f"params gives {', '.join(sorted(unused))}, which the query does not use",
                        hint="write :name in the query where each value goes")
    return "".join(out), order


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (list, dict, tuple, set)):
        raise SpecError(f"a query parameter must be a single value, not {type(value).__name__}",
                        hint="pass one value per :name (an IN list can use = ANY(:values) with "
                             "a PostgreSQL array literal such as '{1,2,3}')")
    return str(value)


def _quote_type(typname: str) -> str:
    return '"' + typname.replace('"', '""') + '"'


def strip_statement(sql: str) -> str:
    """The query without trailing whitespace and semicolons (so it can be wrapped)."""
    return re.sub(r"[\s;]+$", "", sql)


# ----------------------------------------------------------------------------- running a query
@dataclass
class _Open:
    conn: Any
    cursor: Any
    reader: Any


def _bind_and_run(target: DbTarget, sql: str, params: dict[str, Any], batch_rows: int) -> _Open:
    """Connect, bind, execute; the reader streams the rows."""
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
                    else f"CAST(${k} AS {_quote_type(types[k - 1])})")
                values = pa.record_batch([pa.array([_as_text(params[name])], pa.string())
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
                    _as_text(params[name])  # the same value checks as PostgreSQL
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


# ----------------------------------------------------------------------------- types
def _typmod_decimal(fieldmeta: dict[bytes, bytes]) -> tuple[int, int] | None:
    raw = fieldmeta.get(b"POSTGRESQL:typmod")
    if raw is None:
        return None
    typmod = int(raw)
    if typmod < 4:
        return None
    typmod -= 4
    return (typmod >> 16) & 0xFFFF, typmod & 0xFFFF


@dataclass
class _Column:
    name: str
    convert: Callable[[Any], Any] | None  # an Arrow array -> an Arrow array Polars reads


def _plan_columns(schema: Any, notes: list[str]) -> tuple[list[_Column], Any]:
    """How to turn each driver column into one Polars reads, and the resulting Arrow schema."""
    import pyarrow as pa
    import pyarrow.compute as pc

    plans: list[_Column] = []
    out_fields = []
    for f in schema:
        meta = f.metadata or {}
        typname = meta.get(b"POSTGRESQL:type", b"").decode() or None
        t = f.type
        convert = None
        out_type = t
        if isinstance(t, pa.BaseExtensionType) and typname == "numeric":
            p_s = _typmod_decimal(meta)
            if p_s is None or p_s[0] > 38:
                p, s = UNSCALED_NUMERIC
                notes.append(f"column {f.name!r} is numeric without a declared precision (or over "
                             f"38 digits): read as Decimal({p}, {s}), rounded to {s} decimals; cast "
                             f"it in the query (e.g. {f.name}::numeric(18,4)) to choose")

                def convert(arr, p=p, s=s):
                    text = arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
                    # keep one digit more than the scale, then round: the cast alone refuses
                    text = pc.replace_substring_regex(text, rf"(\.\d{{{s + 1}}})\d+", r"\1")
                    wide = text.cast(pa.decimal128(p, s + 1))
                    return pc.round(wide, ndigits=s, round_mode="half_towards_infinity").cast(
                        pa.decimal128(p, s))
            else:
                p, s = p_s

                def convert(arr, p=p, s=s):
                    text = arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
                    return text.cast(pa.decimal128(max(p, 1), s))
            out_type = pa.decimal128(max(p, 1), s)
        elif isinstance(t, pa.BaseExtensionType) and typname == "uuid" or \
                getattr(t, "extension_name", None) == "arrow.uuid":
            def convert(arr):
                storage = arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
                return _uuid_text(pl.Series(storage).cast(pl.Binary).bin.encode("hex"))
            out_type = pa.large_string()
        elif isinstance(t, pa.BaseExtensionType):
            storage = t.storage_type
            if pa.types.is_string(storage) or pa.types.is_large_string(storage):
                def convert(arr):
                    return arr.storage if isinstance(arr.type, pa.BaseExtensionType) else arr
                out_type = storage
            else:
                raise SourceError(f"column {f.name!r} has the type {typname or t}, which cannot be "
                                  "read", column=f.name, step="read",
                                  hint=f"cast it in the query, e.g. {f.name}::text")
        elif pa.types.is_interval(t):
            def convert(arr, name=f.name):
                return _interval_to_duration(arr, name)
            out_type = pa.duration("us")
        elif pa.types.is_null(t):
            out_type = t
        plans.append(_Column(f.name, convert))
        out_fields.append(pa.field(f.name, out_type))
    return plans, pa.schema(out_fields)


def _interval_to_duration(arr: Any, name: str) -> Any:
    """PostgreSQL intervals as durations; a month has no fixed length, so months are refused."""
    import numpy as np
    import pyarrow as pa

    n = len(arr)
    raw = np.frombuffer(arr.buffers()[1], dtype=[("m", "<i4"), ("d", "<i4"), ("ns", "<i8")],
                        count=arr.offset + n)[arr.offset:]
    valid = np.asarray(arr.is_valid())
    if (raw["m"][valid] != 0).any():
        raise SourceError(f"column {name!r} holds intervals with months, which have no fixed "
                          "length as a duration", column=name, step="read",
                          hint=f"cast it in the query: {name}::text, or extract(epoch from "
                               f"{name}) for seconds")
    micros = raw["d"].astype("int64") * 86_400_000_000 + raw["ns"] // 1000
    return pa.array(micros, type=pa.duration("us"), mask=~valid)


def _uuid_text(hexed: pl.Series) -> Any:
    frame = pl.DataFrame({"h": hexed})
    parts = [pl.col("h").str.slice(a, b - a) for a, b in ((0, 8), (8, 4 + 8), (12, 4 + 12),
                                                           (16, 4 + 16), (20, 12 + 20))]
    return frame.select(pl.concat_str(parts, separator="-")).to_series().to_arrow()


def _convert_batch(batch: Any, plans: list[_Column], arrow_schema: Any) -> Any:
    import pyarrow as pa

    if all(p.convert is None for p in plans) and batch.schema.equals(arrow_schema):
        return batch
    cols = []
    for i, plan in enumerate(plans):
        arr = batch.column(i)
        if plan.convert is not None:
            try:
                arr = plan.convert(arr)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SourceError(f"column {plan.name!r} has a value that does not fit "
                                  f"{arrow_schema.field(i).type}: {exc}", column=plan.name,
                                  step="read", hint=f"cast it in the query, e.g. "
                                                    f"{plan.name}::numeric(38,4) or ::text") from None
        target = arrow_schema.field(i).type
        if arr.type != target:
            try:
                arr = arr.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise SourceError(f"column {plan.name!r} changed type part-way through the result "
                                  f"({target} first, then {arr.type})", column=plan.name,
                                  step="read", hint=f"CAST({plan.name} AS TEXT) or AS REAL in the "
                                                    "query, so every row has one type") from None
        cols.append(arr)
    return pa.record_batch(cols, schema=arrow_schema)


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
            self.plans, self.arrow_schema = _plan_columns(schema, self.notes)
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
                batch = _convert_batch(batch, self.plans, self.arrow_schema)
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
    from polars.io.plugins import register_io_source

    from ..cursors import plan_incremental

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
