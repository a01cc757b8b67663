"""User SQL in a sandboxed DuckDB connection that sees only the pipeline's own relations.

The sandbox follows the checked recipe: replacement scans off (no reading Python variables), every
relation registered on purpose, external access off (no files, no network), no extension loading,
configuration locked. A timer calling ``interrupt()`` enforces a time limit.
"""

from __future__ import annotations

import re
import threading
from typing import Callable

import polars as pl
import pyarrow as pa

from ..errors import SQLError
from .sql_types import portable, to_polars

RelationSource = Callable[[], "pa.RecordBatchReader | pa.Table | pl.LazyFrame"]

_FORBIDDEN_HINT = ("user SQL may only read the relation `input` and catalog datasets by name: "
                   "no files, URLs, ATTACH, COPY, INSTALL/LOAD, SET or PRAGMA")


def sandboxed_connection(*, memory_limit: str = "2GB", threads: int | None = None):
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET python_enable_replacements=false")
    con.execute("SET autoinstall_known_extensions=false")
    con.execute("SET autoload_known_extensions=false")
    con.execute("SET allow_community_extensions=false")
    con.execute(f"SET memory_limit='{memory_limit}'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    con.execute("SET enable_external_access=false")
    con.execute("SET lock_configuration=true")
    return con


def _as_arrow(frame: pl.LazyFrame, batch_rows: int) -> pa.RecordBatchReader:
    """Stream a lazy frame into DuckDB batch by batch (no full copy in memory)."""
    schema = frame.collect_schema()
    arrow_schema = pl.DataFrame(schema=schema).to_arrow().schema

    def batches():
        for df in frame.collect_batches(chunk_size=batch_rows):
            yield from df.to_arrow().cast(arrow_schema).to_batches()

    return pa.RecordBatchReader.from_batches(arrow_schema, batches())


def referenced_names(query: str, candidates: list[str]) -> list[str]:
    """Dataset names that appear as identifiers in the query (cheap, conservative)."""
    words = set(re.findall(r'"([^"]+)"|([A-Za-z_][\w.\-]*)', query))
    flat = {a or b for a, b in words}
    return [c for c in candidates if c in flat]


def run_sql(query: str, frame: pl.LazyFrame | None, *, datasets: dict[str, RelationSource] | None = None,
            step: str = "sql", timeout: float | None = None, batch_rows: int = 100_000) -> pl.LazyFrame:
    """Run ``query`` over ``input`` (and named datasets); returns the result as a lazy frame.

    The result is materialised by DuckDB; aggregations and joins are where SQL steps are used, and
    their output is usually far smaller than their input, which is streamed in.
    """
    import duckdb

    con = sandboxed_connection()
    try:
        if frame is not None:
            con.register("input", _as_arrow(frame, batch_rows))
        for name, source in (datasets or {}).items():
            if name != "input" and name in referenced_names(query, [name]):
                rel = source()
                if isinstance(rel, pl.LazyFrame):
                    rel = _as_arrow(rel, batch_rows)
                con.register(name, rel)
        timer = None
        if timeout:
            timer = threading.Timer(timeout, con.interrupt)
            timer.daemon = True
            timer.start()
        try:
            result = con.sql(query)
            if result is None:
                raise SQLError("the SQL step is not a query (it returned no rows)", step=step,
                               hint="write a SELECT over the relation `input`")
            result, after = portable(result)
            table = result.to_arrow_table()
        finally:
            if timer is not None:
                timer.cancel()
        return to_polars(table, after).lazy() if table.num_rows or table.num_columns else pl.LazyFrame()
    except duckdb.InterruptException:
        raise SQLError(f"the SQL step ran longer than its limit of {timeout}s", step=step,
                       hint="filter earlier or raise the step's timeout") from None
    except duckdb.Error as exc:
        raise _sql_error(exc, query, step) from None
    finally:
        con.close()


def _sql_error(exc: Exception, query: str, step: str) -> SQLError:
    text = str(exc).strip()
    kind = type(exc).__name__
    hint = None
    column = None
    if kind in ("PermissionException",) or "disabled by configuration" in text or \
            "lock_configuration" in text or "locked" in text.lower():
        hint = _FORBIDDEN_HINT
        return SQLError(f"forbidden in user SQL: {text.splitlines()[0]}", step=step, hint=hint)
    m = re.search(r'column "?([^"\s]+)"? not found', text, re.I) or \
        re.search(r'Referenced column "([^"]+)" not found', text)
    if m:
        column = m.group(1)
        hint = "check the column names of `input` (the previous step's output)"
    elif "Table with name" in text or "does not exist" in text:
        hint = "user SQL sees `input` and catalog datasets by name only"
    elif kind == "ParserException":
        hint = "check the SQL syntax near the place DuckDB names"
    return SQLError(f"SQL failed: {text.splitlines()[0]}", step=step, column=column, hint=hint)
