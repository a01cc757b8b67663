"""What a table write does per mode: the statements that create, check, stage and finish the
table (insert, append, replace, upsert), and the ledger of loads already done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..dbconn import DbTarget
from ..errors import AlreadyExists, InputError, WorkbenchError
from ..spec.models import TableSink
from . import typemap
from .table_session import LOADS_TABLE, TableName, TableSession, parse_table, q
from .typemap import TargetColumn, WritePlan


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


def check_columns(schema: pl.Schema, columns: list[TargetColumn], table: TableName) -> None:
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


def plan_write(s: TableSession, sink: TableSink, schema: pl.Schema, job_id: str) -> _Plan:
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

    check_columns(schema, columns, table)
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


def finish_write(s: TableSession, plan: _Plan, sink: TableSink, staged_rows: int) -> dict[str, int]:
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
def loads_ready(target: DbTarget) -> bool:
    """Create the loads table on its own (a missing CREATE privilege only turns it off)."""
    s = TableSession(target)
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


def already_loaded(s: TableSession, job_id: str) -> dict[str, Any] | None:
    rows = s.run(f"SELECT result FROM {q(LOADS_TABLE)} WHERE job_id = {s.param(1)}", (job_id,))
    return json.loads(rows[0][0]) if rows else None
