"""What user SQL may be: one SELECT that reads only the job's own relations.

DuckDB has no setting that hides ``current_setting()``, ``duckdb_settings()``, ``getenv()`` or
``query('…')``, and its temp directory stays writable with external access off, so the sandbox
(engines/sql_sandbox.py) is only half of the rule. This half parses the query before it runs:

- ``extract_statements`` must give exactly one statement of type SELECT. A dynamic PIVOT is
  MULTI, and so is ``COPY (PIVOT …) TO``: MULTI is accepted only if it still parses as one MULTI
  statement wrapped as ``SELECT * FROM (…)``. EXPLAIN is refused (EXPLAIN ANALYZE executes).
- The parsed tree is walked (DuckDB's own ``json_serialize_sql`` for SELECT; sqlglot for MULTI,
  which ``json_serialize_sql`` cannot serialise): table functions other than a short list of
  generators, the functions that read settings, the environment or run SQL text, and any base
  table that is not a relation the job registered (``FROM '<path>'`` parses as a base table) are
  refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..errors import SQLError

# table functions that read nothing but their arguments
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "unnest_struct"})
# scalar functions that reveal settings, the environment or paths, or run SQL the walk never saw
DENIED_FUNCTIONS = frozenset({
    "current_setting", "getenv", "getvariable", "query", "query_table", "json_execute_serialized_sql",
    "json_serialize_sql", "json_deserialize_sql", "json_serialize_plan", "read_text", "read_blob",
    "glob", "current_database", "current_catalog", "current_schema", "current_schemas",
    "duckdb_settings", "which_secret", "sql_auto_complete", "pragma_version",
})

ONLY_SELECT = ("a SQL step is one SELECT over `input`, the pipeline's named sources and catalog "
               "datasets; statements that write, attach, load, set or explain are not allowed")


@dataclass
class CheckedQuery:
    """A query that passed the guard: its text (no trailing ``;``), kind and base tables."""

    text: str
    multi: bool  # a dynamic PIVOT: DuckDB runs it as two statements, so every input is read twice
    tables: set[str] = field(default_factory=set)  # lower-cased relation names it reads


def _refuse(message: str, step: str, hint: str = ONLY_SELECT) -> SQLError:
    return SQLError(f"forbidden in user SQL: {message}", step=step, hint=hint)


def check_query(con: Any, sql: str, allowed: set[str], *, step: str = "sql") -> CheckedQuery:
    """Refuse anything but one SELECT reading only ``allowed`` relations (names, any case).

    ``con`` is a sandboxed DuckDB connection used for parsing only.
    """
    # heavy optional dependency: imported on first use
    import duckdb

    try:
        stmts = con.extract_statements(sql)
    except duckdb.ParserException as exc:
        raise SQLError(f"SQL failed: {_first_line(exc)}", step=step,
                       hint="check the SQL syntax near the place DuckDB names") from None
    if not stmts:
        raise SQLError("the SQL step is empty", step=step, hint="write a SELECT over `input`")
    if len(stmts) != 1:
        raise _refuse(f"{len(stmts)} statements; a SQL step is exactly one query", step)
    kind = stmts[0].type
    text = stmts[0].query.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    allowed_lc = {a.lower() for a in allowed}
    if kind == duckdb.StatementType.MULTI:
        try:
            wrapped = [s.type for s in con.extract_statements(f"SELECT * FROM (\n{text}\n)")]
        except duckdb.Error:
            wrapped = []
        if wrapped != [kind]:
            raise _refuse("only a query may be run (this statement writes or changes something)", step)
        tables = _walk_sqlglot(text, allowed_lc, step)
        return CheckedQuery(text, True, tables)
    if kind != duckdb.StatementType.SELECT:
        raise _refuse(f"{kind.name} statements are not allowed", step)
    raw = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchall()[0][0]
    tree = json.loads(raw)
    if tree.get("error"):  # DuckDB parses it as SELECT but cannot serialise it: check with sqlglot
        return CheckedQuery(text, False, _walk_sqlglot(text, allowed_lc, step))
    tables = _check_tree(tree, allowed_lc, step)
    return CheckedQuery(text, False, tables)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _nodes(node: Any) -> Iterator[dict]:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            yield n
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)


def _check_tree(tree: dict, allowed: set[str], step: str) -> set[str]:
    """Walk DuckDB's own AST of a SELECT: every function, table function and base table."""
    ctes = set()
    for n in _nodes(tree):
        cte_map = n.get("cte_map")
        if isinstance(cte_map, dict):
            ctes.update(str(e.get("key", "")).lower() for e in cte_map.get("map", []))
    tables: set[str] = set()
    for n in _nodes(tree):
        kind = n.get("type")
        if n.get("class") == "FUNCTION" or n.get("class") == "AGGREGATE" or kind == "FUNCTION":
            name = str(n.get("function_name", "")).lower()
            if name in DENIED_FUNCTIONS or (n.get("schema") or "") not in ("", "main"):
                raise _refuse(f"{name}() is not allowed", step)
        if kind == "TABLE_FUNCTION":
            fn = n.get("function") or {}
            name = str(fn.get("function_name", "")).lower()
            if name not in ALLOWED_TABLE_FUNCTIONS:
                raise _refuse(f"the table function {name}() is not allowed", step,
                              hint=_tables_hint(allowed))
        elif kind == "BASE_TABLE":
            tables.add(_base_table(n, allowed, ctes, step))
        elif kind == "SHOW_REF":
            name = str(n.get("table_name", "")).strip('"').lower()
            if name and name not in allowed and name not in ctes:
                raise _refuse(f"SHOW {name} is not allowed", step, hint=_tables_hint(allowed))
    return tables


def _base_table(n: dict, allowed: set[str], ctes: set[str], step: str) -> str:
    name = str(n.get("table_name", "")).lower()
    schema = str(n.get("schema_name", "")).lower()
    catalog = str(n.get("catalog_name", "")).lower()
    if (schema or catalog) and f"{schema}.{name}" not in allowed:
        raise _refuse(f"the table {'.'.join(p for p in (catalog, schema, name) if p)} is not "
                      "one of this job's relations", step, hint=_tables_hint(allowed))
    if schema:
        return f"{schema}.{name}"
    if name in ctes:
        return ""
    if name not in allowed:
        raise SQLError(f"unknown relation {n.get('table_name')!r}", step=step, hint=_tables_hint(allowed))
    return name


def _tables_hint(allowed: set[str]) -> str:
    names = ", ".join(sorted(allowed)) or "input"
    return (f"user SQL reads only this job's relations ({names}): no files, URLs, settings or "
            "other databases")


def _walk_sqlglot(text: str, allowed: set[str], step: str) -> set[str]:
    """The same rules over sqlglot's tree (for MULTI statements such as a dynamic PIVOT)."""
    # heavy optional dependency: imported on first use
    import sqlglot
    # heavy optional dependency: imported on first use
    from sqlglot import exp

    try:
        trees = sqlglot.parse(text, read="duckdb")
    except sqlglot.errors.SqlglotError:
        raise _refuse("this statement cannot be checked (it does not parse as one query)", step) from None
    if len(trees) != 1 or trees[0] is None:
        raise _refuse("only one query may be run", step)
    tree = trees[0]
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables: set[str] = set()
    for n in tree.walk():
        if isinstance(n, exp.Table):
            if not isinstance(n.this, exp.Identifier):
                fn = n.this
                name = (fn.name if isinstance(fn, exp.Anonymous) else getattr(fn, "sql_name", lambda: "")()).lower()
                if name not in ALLOWED_TABLE_FUNCTIONS:
                    raise _refuse(f"the table function {name or type(fn).__name__}() is not allowed",
                                  step, hint=_tables_hint(allowed))
                continue
            name = n.name.lower()
            qual = ".".join(p for p in (n.catalog.lower(), n.db.lower(), name) if p)
            if n.db or n.catalog:
                if qual not in allowed:
                    raise _refuse(f"the table {qual} is not one of this job's relations", step,
                                  hint=_tables_hint(allowed))
                tables.add(qual)
            elif name in ctes:
                continue
            elif name not in allowed:
                raise SQLError(f"unknown relation {n.name!r}", step=step, hint=_tables_hint(allowed))
            else:
                tables.add(name)
        elif isinstance(n, exp.Func):
            name = (n.name if isinstance(n, exp.Anonymous) else n.sql_name()).lower()
            if name in DENIED_FUNCTIONS or name.startswith(("read_", "duckdb_", "pragma_")):
                raise _refuse(f"{name}() is not allowed", step)
    return tables
