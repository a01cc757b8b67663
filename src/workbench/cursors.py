"""Incremental loads (``wb.incremental``): remember the largest cursor value a pipeline has loaded, read only past it.

``wb.query(sql, db=…, incremental=wb.incremental(cursor="updated_at"))`` wraps the query as
``SELECT * FROM (<sql>) WHERE "updated_at" > :last`` where ``last`` is the maximum of the cursor
column over the rows of the last successful run, kept in the catalog's ``cursors`` table. On the
first run the query reads everything, or the rows with ``cursor >= initial`` when ``initial`` is
given.

The value moves only after the sink has committed (``execute`` calls ``SourceScan.after_commit``),
so a failed or cancelled run reads the same rows again next time. A crash in the short moment
between the sink's commit and the catalog update also reads them again: loads are at least once,
and ``mode="upsert"`` makes a repeat harmless.

(The module is not called ``incremental``: importing it would replace the ``wb.incremental``
function with the module in the package's namespace.)

The cursor belongs to a pipeline: its name and its sink when it has a name (so the query can be
edited without reloading everything), else its query and sink.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .catalog import cursors
from .context import Context
from .errors import SpecError

PARAM = "__wb_cursor"


def cursor_key(pipeline: Any, source: Any) -> str:
    """The catalog key of a pipeline's cursor."""
    sink = pipeline.sink.model_dump(mode="json") if getattr(pipeline, "sink", None) else None
    if sink is not None:
        sink = {k: sink.get(k) for k in ("kind", "name", "table", "db")}
    if pipeline.name:
        basis = {"sink": sink, "cursor": source.incremental.cursor}
        label = pipeline.name
    else:
        basis = {"sink": sink, "cursor": source.incremental.cursor, "db": source.db,
                 "sql": source.sql}
        label = "pipeline"
    named = pipeline.named_sources() if hasattr(pipeline, "named_sources") else {}
    secondary = next((n for n, s in list(named.items())[1:] if s is source or s == source), None)
    if secondary is not None:  # each incremental source of a pipeline keeps its own cursor
        basis["source"] = secondary
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]
    return f"{label[:200]}#{digest}"


def _to_json(value: Any) -> dict[str, Any]:
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, (int, float, str, bool)):
        return {"type": type(value).__name__, "value": value}
    return {"type": "text", "value": str(value)}


def load_cursor(ctx: Context, key: str) -> Any:
    rows = list(ctx.catalog.rows(sa.select(cursors.c.value_json).where(
        cursors.c.namespace == ctx.namespace, cursors.c.pipeline == key)))
    if not rows:
        return None
    return json.loads(rows[0][0]).get("value")


def save_cursor(ctx: Context, key: str, value: Any) -> None:
    text = json.dumps(_to_json(value))
    now = time.time()
    where = (cursors.c.namespace == ctx.namespace) & (cursors.c.pipeline == key)
    if ctx.catalog.execute(cursors.update().where(where).values(value_json=text, updated_at=now)):
        return
    try:
        ctx.catalog.execute(cursors.insert().values(namespace=ctx.namespace, pipeline=key,
                                                    value_json=text, updated_at=now))
    except sa.exc.IntegrityError:  # a concurrent run inserted it first
        ctx.catalog.execute(cursors.update().where(where).values(value_json=text, updated_at=now))


def reset_cursor(ctx: Context, pipeline: Any) -> None:
    """Forget a pipeline's cursor: its next run reads from ``initial`` again."""
    key = cursor_key(pipeline, pipeline.source)
    ctx.catalog.execute(cursors.delete().where(cursors.c.namespace == ctx.namespace,
                                               cursors.c.pipeline == key))


@dataclass
class IncrementalPlan:
    ctx: Context
    key: str | None
    cursor: str
    last: Any
    initial: Any
    sql: str
    params: dict[str, Any]

    def describe(self) -> str:
        if self.last is not None:
            return f"incremental: reading rows with {self.cursor} > {self.last}"
        if self.initial is not None:
            return f"incremental: first run, reading rows with {self.cursor} >= {self.initial}"
        return f"incremental: first run, reading every row (cursor {self.cursor})"

    def advance(self, value: Any) -> None:
        """Called once the sink committed; no new rows leave the cursor where it was."""
        if self.key is None or value is None:
            return
        save_cursor(self.ctx, self.key, value)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def plan_incremental(ctx: Context, pipeline: Any, source: Any, sql: str,
                     params: dict[str, Any]) -> IncrementalPlan | None:
    """The query to run for an incremental source (``None`` for a plain one).

    Without a pipeline (a preview) the stored value is not looked up and nothing is advanced.
    """
    inc = getattr(source, "incremental", None)
    if inc is None:
        return None
    if PARAM in params:
        raise SpecError(f"the parameter name :{PARAM} is reserved for incremental loads")
    key = cursor_key(pipeline, source) if pipeline is not None else None
    last = load_cursor(ctx, key) if key is not None else None
    if last is not None:
        op, bound = ">", last
    elif inc.initial is not None:
        op, bound = ">=", inc.initial
    else:
        return IncrementalPlan(ctx, key, inc.cursor, None, None, sql, params)
    # no newline after "(": PostgreSQL's error positions keep the user's line numbers
    wrapped = (f"SELECT * FROM ({sql}\n) AS _wb_incremental WHERE {_quote(inc.cursor)} {op} "
               f":{PARAM}")
    return IncrementalPlan(ctx, key, inc.cursor, last, inc.initial, wrapped,
                           {**params, PARAM: bound})


__all__ = ["IncrementalPlan", "cursor_key", "load_cursor", "plan_incremental", "reset_cursor",
           "save_cursor"]
