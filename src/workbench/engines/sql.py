"""User SQL in a sandboxed DuckDB connection that sees only the pipeline's own relations.

One SQL step, in order:

1. the guard (sql_guard.py) accepts one SELECT and names the relations it reads;
2. a dry run plans the query over empty tables of the same schemas (``EXPLAIN (FORMAT json)``)
   and counts the scans of each relation. A relation read once streams into DuckDB (an Arrow
   reader, no copy); one read more than once (a subquery, a self-join, a UNION, a dynamic PIVOT)
   is first written to Parquet in the step's own temp folder and read back through a view, so
   memory stays bounded for inputs larger than RAM;
3. the query runs in a locked connection (sql_sandbox.py) with a time limit (a timer calling
   ``interrupt()``), a memory limit and a temp-size limit, each a setting named by its error;
   a watcher thread reports DuckDB's progress and turns the job's cancel into ``interrupt()``;
4. the result streams out, INTERVAL columns becoming Polars durations (sql_arrow.py).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

import polars as pl

from ..errors import Cancelled, SQLError
from ..monitor import resident_bytes
from .sql_arrow import arrow_schema, as_reader, collect_result, sink_parquet
from .sql_guard import CheckedQuery, check_query
from .sql_preview import PreviewPlan, is_row_wise
from .sql_sandbox import JobTemp, sandboxed_connection
from .sql_types import cast_back, finish, parquet_casts, portable, wide_ints_as_text

Relation = Union[pl.LazyFrame, Callable[[], pl.LazyFrame]]

WATCH_INTERVAL = 0.2  # seconds between progress reads / cancel polls while DuckDB runs


@dataclass(frozen=True)
class SqlLimits:
    """Per-job limits; the setting names appear in the errors that enforce them."""

    time_limit: float | None = 1800.0
    memory_limit: str = "2GB"
    temp_limit: str = "10GB"
    threads: int | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> SqlLimits:
        """The SQL settings; in the kernel, never more memory or time than the job (or
        preview) itself may take (WORKBENCH_JOB_MEMORY_LIMIT, WORKBENCH_JOB_TIME_LIMIT)."""
        time_limit = getattr(settings, "sql_time_limit", cls.time_limit)
        memory = getattr(settings, "sql_memory_limit", cls.memory_limit)
        if not getattr(settings, "on_worker", True):
            job_time = getattr(settings, "job_time_limit", None)
            if job_time and (time_limit is None or job_time < time_limit):
                time_limit = job_time
            job_memory = int(getattr(settings, "job_memory_limit", 0) or 0)
            # the job's process already holds Python, Polars, the drivers it preloads and what
            # the job has read: DuckDB gets what is left of the job's limit (a quarter of it at
            # least), so its own limit stops the query with an SQLError before the process
            # as a whole goes over and is stopped. An eighth of the limit stays free besides:
            # DuckDB's limit does not count every allocation (a process 3 MiB over a 668 MiB
            # limit was stopped before DuckDB refused the query)
            left = max(job_memory - resident_bytes() - job_memory // 8, job_memory // 4)
            if job_memory and left < parse_size(memory, "WORKBENCH_SQL_MEMORY_LIMIT"):
                memory = f"{max(left // 1024, 1024)}KiB"
        return cls(time_limit=time_limit, memory_limit=memory,
                   temp_limit=getattr(settings, "sql_temp_limit", cls.temp_limit),
                   threads=getattr(settings, "sql_threads", None))


_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str, setting: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", str(text), re.I)
    if not m:
        raise SQLError(f"{setting}={text!r} is not a size", hint="write it like 2GB, 500MB or 4GiB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()])


def referenced_names(query: str, candidates: list[str]) -> list[str]:
    """Names that appear as identifiers in the query (cheap, conservative: it may over-match)."""
    words = set(re.findall(r'"([^"]+)"|([A-Za-z_][\w.\-]*)', query))
    flat = {(a or b).lower() for a, b in words}
    return [c for c in candidates if c.lower() in flat]


def count_scans(con: Any, checked: CheckedQuery, frames: dict[str, pl.LazyFrame], step: str,
                casts: dict[str, dict[str, str]] | None = None) -> dict[str, int]:
    """How many times the query scans each relation, from its plan over empty Arrow tables.

    The plan is made with each relation registered as an (empty) Arrow table, the way the real
    run reads it, since DuckDB plans some queries differently over its own tables (a window with
    PARTITION BY becomes a self-join over a table, not over an Arrow scan). The plan does not
    name Arrow scans, so with several relations each is counted in its own connection, where it
    is the only Arrow relation.
    """
    # heavy optional dependency: imported on first use
    import duckdb
    import pyarrow as pa

    if checked.multi:  # a dynamic PIVOT reads its input once for the values, once for the rows
        return {name: 2 for name in frames}
    empty = {name: pa.Table.from_batches([], schema=arrow_schema(f)) for name, f in frames.items()}
    counts = {}
    for target in frames:
        dry = con if len(frames) == 1 else sandboxed_connection(temp_dir=None, memory_limit="256MB")
        try:
            for name, table in empty.items():
                back = (casts or {}).get(name) or {}
                if name == target:
                    register(dry, name, table, back)
                else:
                    dry.register("__wb_empty", table)
                    dry.execute(f"CREATE TEMP TABLE {_ident(name)} AS "
                                f"{cast_back('__wb_empty', back)}")
                    dry.unregister("__wb_empty")
            try:
                plan = json.loads(dry.execute("EXPLAIN (FORMAT json) " + checked.text).fetchall()[0][1])
            except duckdb.Error as exc:
                raise sql_error(exc, step) from None
        finally:
            if dry is not con:
                dry.close()
        counts[target] = _arrow_scans(plan)
    return counts


def _arrow_scans(plan: Any) -> int:
    n, stack = 0, [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if "ARROW_SCAN" in str(node.get("name", "")):
            n += 1
        stack.extend(node.get("children", []))
    return n


def register(con: Any, name: str, data: Any, casts: dict[str, str]) -> None:
    """Register ``data`` as ``name``; with ``casts`` (128-bit integers sent as text), under a
    hidden name with a view ``name`` that casts them back."""
    if not casts:
        con.register(name, data)
        return
    raw = f"__wb_text_{name}"
    con.register(raw, data)
    con.execute(f"CREATE TEMP VIEW {_ident(name)} AS {cast_back(_ident(raw), casts)}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_sql(query: str, relations: dict[str, Relation], *, step: str = "sql",
            limits: SqlLimits = SqlLimits(), temp: JobTemp | None = None, monitor: Any = None,
            preview: PreviewPlan | None = None, batch_rows: int = 100_000) -> pl.LazyFrame:
    """Run ``query`` over ``relations`` (``input``, named sources, datasets); returns a lazy frame.

    ``temp`` is the job's temp folder (it outlives the step: a large result is kept there as
    Parquet until the job ends); without one, a folder is made for this step and removed.
    """
    own_temp = temp is None
    if own_temp:

        temp = JobTemp(Path(tempfile.gettempdir()) / "workbench-duckdb")
    try:
        return _run(query, relations, step, limits, temp, monitor, preview, batch_rows,
                    spill_results=not own_temp)
    finally:
        if own_temp:
            temp.remove()


def _run(query: str, relations: dict[str, Relation], step: str, limits: SqlLimits, temp: JobTemp,
         monitor: Any, preview: PreviewPlan | None, batch_rows: int, spill_results: bool) -> pl.LazyFrame:
    # heavy optional dependency: imported on first use
    import duckdb

    scratch = sandboxed_connection(temp_dir=None, memory_limit="256MB")
    try:
        checked = check_query(scratch, query, set(relations), step=step)
        by_lower = {n.lower(): n for n in relations}
        used = [by_lower[t] for t in sorted(checked.tables) if t in by_lower]
        frames = {}
        casts: dict[str, dict[str, str]] = {}
        for name in used:
            rel = relations[name]
            frames[name], casts[name] = wide_ints_as_text(rel() if callable(rel) else rel)
        scans = count_scans(scratch, checked, frames, step, casts)
    finally:
        scratch.close()

    text = checked.text
    counters: dict[str, list[int]] = {}
    if preview is not None:
        if preview.rest_row_wise and not checked.multi and is_row_wise(text):
            text = f"SELECT * FROM (\n{text}\n) LIMIT {int(preview.rows)}"  # exact: a prefix
        else:
            for name in frames:
                counters[name] = seen = [0]
                frames[name] = frames[name].head(preview.sample_rows).map_batches(
                    lambda df, seen=seen: (seen.__setitem__(0, seen[0] + df.height), df)[1],
                    streamable=True)

    step_dir = temp.step_dir()
    temp_bytes = parse_size(limits.temp_limit, "WORKBENCH_SQL_TEMP_LIMIT")
    con = None
    watcher = None
    try:
        sunk: dict[str, Path] = {}
        used_bytes = 0
        for i, (name, frame) in enumerate(frames.items()):
            if scans.get(name, 0) > 1:
                path = step_dir / "duck" / f"input-{i:03d}.parquet"
                used_bytes += sink_parquet(frame, path, batch_rows, temp_bytes - used_bytes,
                                           lambda n, name=name: _temp_full(step, limits, name))
                sunk[name] = path
        con = sandboxed_connection(temp_dir=step_dir / "duck", memory_limit=limits.memory_limit,
                                   temp_limit=f"{max(temp_bytes - used_bytes, 1 << 20)}B",
                                   threads=limits.threads)
        for name, frame in frames.items():
            if name in sunk:
                source = f"read_parquet({_sql_literal(str(sunk[name]))})"
                back = {**parquet_casts(frame), **casts[name]}
                con.execute(f"CREATE TEMP VIEW {_ident(name)} AS {cast_back(source, back)}")
            else:
                register(con, name, as_reader(frame, batch_rows), casts[name])
        watcher = _Watcher(con, monitor, limits.time_limit)
        watcher.start()
        try:
            rel = con.sql(text)
            if rel is None:
                raise SQLError("the SQL step is not a query (it returned no rows)", step=step,
                               hint="write a SELECT over the relation `input`")
            rel, after = portable(rel)  # types Arrow/Polars cannot carry exactly (docs/types.md)
            counted = [0]
            out = collect_result(rel.to_arrow_reader(batch_rows), step,
                                 temp.path / "results" / step_dir.name,
                                 spill_after=256 * 1024 * 1024 if spill_results else 1 << 62,
                                 counted=counted)
            if monitor is not None:  # each stage reports its own rows
                monitor.step_rows = counted[0]
        finally:
            watcher.stop()
        if preview is not None and any(c[0] >= preview.sample_rows for c in counters.values()):
            preview.sampled.append(step)
        return finish(out, after)
    except duckdb.InterruptException:
        if watcher is not None and watcher.cancelled:
            raise Cancelled("the job was cancelled") from None
        raise SQLError(f"the SQL step ran longer than its limit of {limits.time_limit:g}s", step=step,
                       hint="filter earlier, or raise WORKBENCH_SQL_TIME_LIMIT (seconds; in the "
                            "kernel WORKBENCH_JOB_TIME_LIMIT caps it)") from None
    except duckdb.OutOfMemoryException as exc:
        raise _oom(exc, step, limits) from None
    except duckdb.Error as exc:
        if (watcher is not None and watcher.cancelled) or getattr(monitor, "cancelled", False):
            raise Cancelled("the job was cancelled") from None
        raise sql_error(exc, step) from None
    finally:
        if con is not None:
            con.close()

        shutil.rmtree(step_dir, ignore_errors=True)  # spill files and sunk inputs: never left behind


def _temp_full(step: str, limits: SqlLimits, name: str) -> SQLError:
    return SQLError(f"the SQL step reads {name!r} more than once, and its copy in the job's temp "
                    f"folder grew past WORKBENCH_SQL_TEMP_LIMIT={limits.temp_limit}", step=step,
                    hint="raise WORKBENCH_SQL_TEMP_LIMIT, filter earlier, or read the input once")


def _oom(exc: BaseException, step: str, limits: SqlLimits) -> SQLError:
    text = _first_line(exc)
    if "offload" in text or "temp" in text.lower() or "max_temp_directory_size" in text:
        return SQLError(f"the SQL step needed more temp space than WORKBENCH_SQL_TEMP_LIMIT="
                        f"{limits.temp_limit} allows ({text})", step=step,
                        hint="raise WORKBENCH_SQL_TEMP_LIMIT, or filter or aggregate earlier")
    return SQLError(f"the SQL step needed more memory than WORKBENCH_SQL_MEMORY_LIMIT="
                    f"{limits.memory_limit} allows ({text})", step=step,
                    hint="raise WORKBENCH_SQL_MEMORY_LIMIT (in the kernel WORKBENCH_JOB_MEMORY_LIMIT "
                         "caps it), or filter or aggregate earlier; string_agg/list over many "
                         "rows hold everything in memory")


class _Watcher:
    """Reads DuckDB's progress and the job's cancel flag while a query runs, and enforces the
    time limit: each ends in ``con.interrupt()``, which DuckDB answers with InterruptException."""

    def __init__(self, con: Any, monitor: Any, time_limit: float | None) -> None:
        self.con, self.monitor, self.time_limit = con, monitor, time_limit
        self.cancelled = False
        self.timed_out = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workbench-sql-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        deadline = time.monotonic() + self.time_limit if self.time_limit else None
        while not self._stop.wait(WATCH_INTERVAL):
            if deadline is not None and time.monotonic() >= deadline:
                self.timed_out = True
                self.con.interrupt()
                return
            if self.monitor is None:
                continue
            try:
                self.monitor.check_cancel()
            except Cancelled:
                self.cancelled = True
                self.con.interrupt()
                return
            except Exception:  # a flaky cancel store must not stop the query
                pass
            try:
                pct = self.con.query_progress()
            except Exception:
                continue
            if pct is not None and pct > 0 and hasattr(self.monitor, "sql_progress"):
                self.monitor.sql_progress(float(pct))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


_FORBIDDEN_HINT = ("user SQL may only read `input`, the pipeline's named sources and catalog "
                   "datasets by name: no files, URLs, ATTACH, COPY, INSTALL/LOAD, SET or PRAGMA")


def sql_error(exc: Exception, step: str) -> SQLError:
    text = str(exc).strip()
    kind = type(exc).__name__
    hint = None
    column = None
    if kind in ("PermissionException",) or "disabled by configuration" in text or \
            "lock_configuration" in text or "locked" in text.lower():
        return SQLError(f"forbidden in user SQL: {_first_line(exc)}", step=step, hint=_FORBIDDEN_HINT)
    m = re.search(r'column "?([^"\s]+)"? not found', text, re.I) or \
        re.search(r'Referenced column "([^"]+)" not found', text)
    if m:
        column = m.group(1)
        hint = "check the column names of `input` (the previous step's output)"
    elif "Table with name" in text or "does not exist" in text:
        hint = "user SQL sees `input`, the named sources and catalog datasets by name only"
    elif kind == "ParserException":
        hint = "check the SQL syntax near the place DuckDB names"
    return SQLError(f"SQL failed: {_first_line(exc)}", step=step, column=column, hint=hint)
