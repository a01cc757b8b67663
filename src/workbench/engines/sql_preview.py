"""Which SQL queries a preview can cut short without changing their first rows.

A query is *row-wise* when each output row depends on one input row alone and the output keeps
the input's order: a projection and a filter over one relation, scalar functions, UNNEST, a
LIMIT. Then ``SELECT * FROM (<q>) LIMIT n`` over the streamed input gives exactly the first n
rows of the full run, and DuckDB stops reading once it has them.

Anything else (aggregates, GROUP BY, windows, DISTINCT, ORDER BY, QUALIFY, joins, subqueries,
set operations, PIVOT, sampling) needs every row, so a preview runs it on a sample of its inputs
and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PreviewPlan:
    """How a preview runs SQL: ``rows`` wanted; inputs of queries that need every row are cut to
    ``sample_rows``. Steps that were computed on such a sample are listed in ``sampled``."""

    rows: int
    sample_rows: int = 100_000
    rest_row_wise: bool = True  # set by the caller: do the steps after this one keep row order?
    sampled: list[str] = field(default_factory=list)


def _whole_input_nodes() -> tuple:
    # heavy optional dependency: imported on first use
    from sqlglot import exp

    # expression nodes that look at more than one row or more than one relation
    return (exp.AggFunc, exp.Window, exp.Subquery, exp.Join, exp.Union, exp.Intersect,
            exp.Except, exp.Pivot, exp.Order, exp.Distinct, exp.Group, exp.Having,
            exp.Qualify, exp.TableSample, exp.Exists, exp.CTE, exp.Offset)


def is_row_wise(sql: str) -> bool:
    # heavy optional dependency: imported on first use
    import sqlglot  # parsed only for previews and plans with SQL steps
    # heavy optional dependency: imported on first use
    from sqlglot import exp

    whole_input = _whole_input_nodes()

    try:
        trees = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return False
    if len(trees) != 1 or not isinstance(trees[0], exp.Select):
        return False
    tree = trees[0]
    if sum(1 for _ in tree.find_all(exp.Select)) != 1:
        return False  # a subquery anywhere (IN, scalar, FROM) may read a relation again
    for node in tree.walk():
        if isinstance(node, whole_input):
            return False
        if isinstance(node, exp.Anonymous) and node.name.lower() in _AGG_NAMES:
            return False
    from_ = tree.args.get("from") or tree.args.get("from_")
    tables = list(tree.find_all(exp.Table))
    return from_ is not None and len(tables) == 1 and isinstance(tables[0].this, exp.Identifier)


# aggregates sqlglot does not know by name (it parses them as anonymous functions)
_AGG_NAMES = frozenset({"arg_max", "arg_min", "histogram", "bit_and", "bit_or", "bit_xor",
                        "list", "array_agg", "string_agg", "group_concat", "mode", "entropy",
                        "kurtosis", "skewness", "product", "fsum", "favg", "bool_and", "bool_or",
                        "approx_count_distinct", "approx_quantile", "reservoir_quantile",
                        "median", "quantile", "quantile_cont", "quantile_disc", "first", "last",
                        "any_value", "count_if", "countif", "sumkahan", "kahan_sum", "regr_slope",
                        "corr", "covar_pop", "covar_samp", "max_by", "min_by", "argmax", "argmin"})
