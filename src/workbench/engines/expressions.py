"""SQL expressions for Polars steps and checks, checked before Polars ever sees them.

``pl.sql_expr`` accepts whole SQL: ``a IN (SELECT x FROM read_csv('/etc/passwd'))`` makes Polars
open the file *while parsing* and put its first line in the error. Polars has no switch to forbid
that, so every expression is parsed with sqlglot first and only a small tree is allowed: column
references, literals, operators, CASE, CAST, IN lists, BETWEEN, LIKE, IS [NOT] NULL and the
scalar functions in ``SCALAR_FUNCTIONS``. Polars is then given the SQL of the checked tree, never
the raw text. A refusal names the construct, and never runs anything.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import polars as pl

from ..errors import SQLError

#: Scalar functions an expression may call, under the names sqlglot gives them (``ifnull`` and
#: ``nvl`` arrive as ``coalesce``, ``substr`` as ``substring``, ``date_part`` as ``extract``).
SCALAR_FUNCTIONS = frozenset({
    # text
    "upper", "lower", "length", "octet_length", "bit_length", "trim", "substring", "replace",
    "concat", "concat_ws", "left", "right", "starts_with", "ends_with", "str_position", "reverse",
    "initcap", "pad", "regexp_like", "regexp_replace", "split_part", "strftime", "normalize",
    # nulls and choices
    "coalesce", "nullif", "greatest", "least",
    # numbers
    "abs", "round", "floor", "ceil", "sqrt", "cbrt", "power", "ln", "log", "exp", "sign", "pi",
    "degrees", "radians", "sin", "cos", "tan", "cot", "asin", "acos", "atan", "atan2",
    # dates
    "extract", "timestamp_trunc", "date",
})

ALLOWED = ("column references, literals, arithmetic and comparison operators, AND/OR/NOT, "
           "CASE, CAST, IN (list), BETWEEN, LIKE/ILIKE, IS [NOT] NULL and the scalar functions "
           + ", ".join(sorted(SCALAR_FUNCTIONS)))


@lru_cache(maxsize=1)
def _node_types() -> tuple[type, ...]:
    # sqlglot is imported here, not at module import: nothing heavy runs when workbench loads.
    from sqlglot import exp

    return (exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Neg,
            exp.Not, exp.And, exp.Or, exp.Xor, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv,
            exp.Mod, exp.DPipe, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is,
            exp.NullSafeEQ, exp.NullSafeNEQ, exp.In, exp.Between, exp.Like, exp.ILike, exp.Case,
            exp.If, exp.Cast, exp.TryCast, exp.DataType, exp.DataTypeParam, exp.Var,
            exp.Interval)


def _refused(what: str, text: str, label: str | None) -> SQLError:
    return SQLError(f"SQL expression {text!r} is not allowed: {what}", step=label,
                    hint=f"expressions may use only {ALLOWED}; "
                         "for queries, use a sql step (wb.sql), which runs in the sandbox")


def _describe(node: Any) -> str:
    # heavy optional dependency: imported on first use
    from sqlglot import exp

    if isinstance(node, (exp.Subquery, exp.Select, exp.Exists, exp.Union, exp.Query)):
        return "a subquery"
    if isinstance(node, (exp.Table, exp.From)):
        return "a table reference"
    if isinstance(node, exp.Window):
        return "a window (OVER)"
    if isinstance(node, exp.Lambda):
        return "a lambda"
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        return "a parameter"
    if isinstance(node, exp.Star):
        return "'*'"
    if isinstance(node, exp.Func):
        name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        return f"the function {name.lower()}()"
    return f"the construct {type(node).__name__}"


_CHECKED: dict[str, str] = {}  # text -> its checked SQL: the check depends on the text alone
_CHECKED_MAX = 1024


def check_expression(text: str, label: str | None = None) -> str:
    """The SQL of ``text``'s checked tree (for ``pl.sql_expr``), or ``SQLError`` naming what is
    refused. Only the parser runs here; no file, table or function is touched.

    Accepted texts are remembered (a worker parses the same filter for every job; sqlglot took
    about a tenth of a trivial job); a refused one is checked again each time, so its error
    names the step it came from."""
    if isinstance(text, str):
        known = _CHECKED.get(text)
        if known is not None:
            return known
    checked = _check_expression(text, label)
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED[text] = checked
    return checked


def _check_expression(text: str, label: str | None) -> str:
    # heavy optional dependency: imported on first use
    import sqlglot
    # heavy optional dependency: imported on first use
    from sqlglot import exp
    # heavy optional dependency: imported on first use
    from sqlglot.errors import ParseError, TokenError

    if not isinstance(text, str) or not text.strip():
        raise SQLError("empty SQL expression", step=label,
                       hint="a SQL expression such as \"amount > 0 AND region IS NOT NULL\"")
    try:
        trees = [t for t in sqlglot.parse(text, read="postgres") if t is not None]
    except (ParseError, TokenError) as exc:
        errors = getattr(exc, "errors", None) or []
        why = errors[0].get("description") if errors else str(exc).splitlines()[0]
        raise SQLError(f"cannot parse SQL expression {text!r}: {why}", step=label,
                       hint="a SQL expression such as \"amount > 0 AND region IS NOT NULL\"") from None
    if len(trees) != 1:
        raise _refused(f"{len(trees)} statements (one expression expected)", text, label)
    tree = trees[0]
    allowed = _node_types()
    for node in tree.walk():
        if isinstance(node, exp.In) and any(node.args.get(k) is not None
                                            for k in ("query", "unnest", "field")):
            raise _refused("IN (subquery) (only a list of values may follow IN)", text, label)
        if isinstance(node, exp.Column) and node.args.get("table") is not None:
            raise _refused("a qualified column (table.column)", text, label)
        # And, Or, Case, If subclass exp.Func in sqlglot: test the allowed types first.
        if isinstance(node, allowed):
            continue
        if isinstance(node, exp.Func) and not isinstance(node, (exp.AggFunc, exp.UDTF)):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in SCALAR_FUNCTIONS:
                continue
        raise _refused(_describe(node), text, label)
    return tree.sql(dialect="postgres", comments=False)


def sql_expr(text: str, label: str | None = None) -> pl.Expr:
    """``pl.sql_expr`` of the checked expression; every failure is an ``SQLError``."""
    checked = check_expression(text, label)
    try:
        return pl.sql_expr(checked)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SQLError(f"invalid SQL expression {text!r}: {first}", step=label,
                       hint="a SQL expression such as \"amount > 0 AND region IS NOT NULL\"") from None
