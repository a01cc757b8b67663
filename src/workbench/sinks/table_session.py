"""A database session for one table write: the table's name, one connection in one transaction,
and the translation of driver errors into workbench errors that name the table and column.

PostgreSQL is written through psycopg (binary ``COPY`` of bytes encoded by ``pg_copy``), SQLite
through ADBC (``adbc_ingest``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..dbconn import DbTarget, classify_db_error, connect, connect_copy
from ..errors import InputError, WorkbenchError
from .typemap import TargetColumn

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
class TableSession:
    """One connection and its open transaction; statements with bound parameters only."""

    def __init__(self, target: DbTarget) -> None:
        self.target = target
        self.dialect = target.dialect
        self.conn = connect_copy(target) if self.dialect == "postgresql" else connect(target)
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
            raise write_error(exc, self.target, sql) from None

    def affected(self) -> int:
        """Rows changed by the last statement (SQLite's driver does not report it)."""
        if self.dialect == "sqlite":
            return int(self.run("SELECT changes()")[0][0])
        n = getattr(self.cur, "rowcount", -1)
        return int(n) if n is not None else -1

    def param(self, n: int) -> str:
        return "%s" if self.dialect == "postgresql" else "?"

    def columns(self, table: TableName) -> list[TargetColumn]:
        if self.dialect == "postgresql":
            rows = self.run(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull,"
                " a.atthasdef, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
                " WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped"
                " ORDER BY a.attnum", (table.sql,))
            return [TargetColumn(r[0], r[1], r[2], bool(r[3]), bool(r[4]), int(r[5])) for r in rows]
        schema = table.schema or "main"
        rows = self.run(f"SELECT name, type, \"notnull\", dflt_value, pk FROM "
                        f"{q(schema)}.pragma_table_info(?)", (table.name,))
        return [TargetColumn(r[0], r[1] or "", r[1] or "", bool(r[2]), r[3] is not None)
                for r in rows]

    def has_table(self, name: str) -> bool:
        """Whether a table of this name is visible (PostgreSQL: on the search path)."""
        if self.dialect == "postgresql":
            return bool(self.run("SELECT to_regclass(%s) IS NOT NULL", (q(name),))[0][0])
        return bool(self.run("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                             "name = ?", (name,))[0][0])

    def has_unique(self, table: TableName) -> bool:
        if self.dialect == "postgresql":
            rows = self.run("SELECT count(*) FROM pg_index WHERE indrelid = to_regclass(%s) "
                            "AND indisunique", (table.sql,))
            return bool(rows and rows[0][0])
        schema = table.schema or "main"
        idx = self.run(f"SELECT count(*) FROM {q(schema)}.pragma_index_list(?) WHERE \"unique\"",
                       (table.name,))
        pk = self.run(f"SELECT count(*) FROM {q(schema)}.pragma_table_info(?) WHERE pk > 0",
                      (table.name,))
        return bool((idx and idx[0][0]) or (pk and pk[0][0]))

    def ingest(self, table: TableName, data: Any, *, temporary: bool) -> None:
        """Append an Arrow table of SQLite-ready columns (ADBC)."""
        kwargs: dict[str, Any] = {"mode": "append"}
        if temporary:
            kwargs["temporary"] = True
        self.cur.adbc_ingest(table.name, data, **kwargs)

    def commit(self) -> None:
        try:
            self.conn.commit()
        except Exception as exc:
            raise write_error(exc, self.target, "COMMIT") from None

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except Exception as exc:
            raise write_error(exc, self.target, "ROLLBACK") from None

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


def write_error(exc: BaseException, target: DbTarget, sql: str, data: Any = None,
                line_of_first: int = 1) -> WorkbenchError:
    """A database error during a write, with the column and the refused value when known.

    ``data`` holds the rows from line ``line_of_first`` of the COPY the error names. Rows reach
    the table in the order Polars' parallel pass hands them over, which need not be the
    source's order: the error shows the refused value rather than a row number.
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
            row = int(line.group(1)) - line_of_first
            if row < 0:
                raise IndexError(row)
            value = f" (the value {data.column(err.column)[row].as_py()!r})"
        except Exception:  # e.g. a timestamp beyond Python's years: the error stands without it
            value = ""
    sqlstate = getattr(exc, "sqlstate", None) or (re.search(r"SQLSTATE:? (\w{5})", text) or [None, None])[1]
    low = text.lower()
    # before the unique-constraint rule: SQLite's wording names one ("… does not match any
    # PRIMARY KEY or UNIQUE constraint")
    if sqlstate == "42P10" or "on conflict clause does not match" in low:
        return InputError("the table has no primary key or unique index on the upsert keys",
                          step="write", hint="create one, e.g. CREATE UNIQUE INDEX ON table (keys), "
                                             "or write to a new table (created with the keys)")
    if sqlstate == "23505" or "unique constraint" in low:
        return InputError(f"a row conflicts with an existing key in the table: "
                          f"{first_line(text)}{value}", column=err.column, step="write",
                          hint="mode='insert' requires new keys: use mode='upsert' (keys=[…]) to "
                               "update them, or mode='append' to skip rows already there")
    if sqlstate == "23502" or "not-null" in low or "not null constraint" in low:
        return InputError(f"a null value in a column that does not accept nulls: {first_line(text)}",
                          column=err.column, step="write",
                          hint="filter or fill the nulls (drop_nulls / coalesce) before writing")
    if sqlstate == "21000" or "cannot affect row a second time" in low:
        return InputError("the rows to upsert repeat a key", step="write",
                          hint="make the keys unique first (a unique step, or an is_unique check)")
    if sqlstate == "2BP01" or "depend on it" in low:
        return InputError(f"the old table cannot be dropped: {first_line(text)}", step="write",
                          hint="drop or recreate the dependent views, or write with mode='upsert'")
    if sqlstate and sqlstate.startswith(("22", "23")):
        return InputError(f"the table refused a value: {first_line(text)}{value}", column=err.column,
                          step="write",
                          hint="cast or filter the column in a step so it fits the table's type")
    return err


def is_driver_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("adbc_driver", "psycopg"))


def first_line(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"^[A-Z_]+: (\[libpq\] )?|Failed to execute COPY statement: |PGRES_FATAL_ERROR "
                      r"|ERROR:\s+", "", line.strip())
        if line:
            return line
    return text
