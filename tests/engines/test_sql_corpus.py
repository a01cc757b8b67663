"""Proven against DuckDB and Polars: every corpus query runs as a pipeline step (``wb.submit``)
and as bare DuckDB over the same files, and every Polars operation as a pipeline step and as bare
Polars; the rows must be equal (order-insensitive unless the query orders).

The files are generated once per module, in several shapes: Parquet with decimals, time-zone
timestamps, lists, NULLs and unicode; a CSV; a second Parquet; a catalog dataset.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import random

import duckdb
import polars as pl
import pytest

import workbench as wb
from sql_corpus import CORPUS

N_ORDERS = 1500


def _generate(folder) -> dict[str, str]:
    rnd = random.Random(18)
    regions = ["n", "s", "e", "w", None]
    statuses = ["new", "paid", "shipped", "cancelled"]
    notes = ["", "fast", "café", "naïve déjà vu", "x" * 30, None]
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    orders = pl.DataFrame({
        "id": list(range(1, N_ORDERS + 1)),
        "cust_id": [rnd.randint(1, 120) if rnd.random() > 0.03 else None for _ in range(N_ORDERS)],
        "region": [rnd.choice(regions) for _ in range(N_ORDERS)],
        "status": [rnd.choice(statuses) for _ in range(N_ORDERS)],
        "amount": [decimal.Decimal(rnd.randint(0, 99_999)) / 100 if rnd.random() > 0.02 else None
                   for _ in range(N_ORDERS)],
        "qty": [rnd.randint(0, 20) if rnd.random() > 0.05 else None for _ in range(N_ORDERS)],
        "price": [round(rnd.uniform(0.5, 300), 3) for _ in range(N_ORDERS)],
        "ts": [t0 + dt.timedelta(minutes=rnd.randint(0, 200 * 24 * 60), microseconds=i) for i in range(N_ORDERS)],
        "tags": [rnd.sample(["a", "b", "c", "d"], rnd.randint(0, 3)) for _ in range(N_ORDERS)],
        "note": [rnd.choice(notes) for _ in range(N_ORDERS)],
    }, schema_overrides={"cust_id": pl.Int32, "amount": pl.Decimal(12, 2),
                         "ts": pl.Datetime("us", "UTC")})
    orders = orders.with_columns(day=pl.col("ts").dt.date())
    customers = pl.DataFrame({
        "cust_id": list(range(1, 141)),
        "name": [f"{rnd.choice(['ann', 'bob', 'cy', 'dee'])} {rnd.choice(['lee', 'kim', 'ng'])}" for _ in range(140)],
        "country": [rnd.choice(["DE", "FR", "US", "JP"]) for _ in range(140)],
        "tier": [rnd.randint(1, 3) for _ in range(140)],
    })
    events = pl.DataFrame({
        "event_id": list(range(1, 3001)),
        "cust_id": [rnd.randint(1, 150) for _ in range(3000)],
        "kind": [rnd.choice(["click", "view", "buy"]) for _ in range(3000)],
        "at": [dt.datetime(2024, 1, 1) + dt.timedelta(seconds=rnd.randint(0, 200 * 86400)) for _ in range(3000)],
        "value": [rnd.random() for _ in range(3000)],
    })
    products = pl.DataFrame({
        "sku": list(range(50)),
        "category": [["tools", "toys", "food", None][i % 4] for i in range(50)],
        "price": [decimal.Decimal(i * 7 % 100) + decimal.Decimal("0.99") for i in range(50)],
    }, schema_overrides={"price": pl.Decimal(8, 2)})
    paths = {"orders": folder / "orders.parquet", "customers": folder / "customers.csv",
             "events": folder / "events.parquet", "products": folder / "products.parquet"}
    orders.write_parquet(paths["orders"])
    customers.write_csv(paths["customers"])
    events.write_parquet(paths["events"])
    products.write_parquet(paths["products"])
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files, and an embedded workbench in which ``products`` is a catalog dataset."""
    folder = tmp_path_factory.mktemp("corpus")
    paths = _generate(folder)
    with pytest.MonkeyPatch.context() as mp:
        for var in list(os.environ):
            if var.startswith("WORKBENCH_"):
                mp.delenv(var)
        mp.setenv("WORKBENCH_HOME", str(folder / "wbhome"))
        wb.ingest(paths["products"], name="products")
        yield paths


def _bare_duckdb(query: str, paths: dict[str, str]) -> pl.DataFrame:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW orders AS FROM read_parquet('{paths['orders']}')")
    con.execute("CREATE VIEW input AS FROM orders")
    con.execute(f"CREATE VIEW customers AS FROM read_csv('{paths['customers']}')")
    con.execute(f"CREATE VIEW events AS FROM read_parquet('{paths['events']}')")
    con.execute(f"CREATE VIEW products AS FROM read_parquet('{paths['products']}')")
    return pl.from_arrow(con.sql(query).to_arrow_table())


def _norm(v):
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    if isinstance(v, decimal.Decimal):
        return v.normalize()
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _norm(x)) for k, x in v.items()))
    return v


def _rows(df: pl.DataFrame, ordered: bool) -> list[tuple]:
    rows = [tuple(_norm(v) for v in r) for r in df.rows()]
    return rows if ordered else sorted(rows, key=repr)


def test_the_corpus_is_large_and_unique():
    ids = [c[0] for c in CORPUS]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("name,query,ordered", CORPUS, ids=[c[0] for c in CORPUS])
def test_sql_step_equals_bare_duckdb(files, name, query, ordered):
    p = wb.Pipeline(sources={"orders": wb.file(files["orders"]), "customers": wb.file(files["customers"]),
                             "events": wb.file(files["events"])},
                    steps=[wb.sql(query, name=name)])
    job = wb.submit(p, runner="local").wait(120)
    assert job.status == "succeeded", job.error
    got = job.result
    expected = _bare_duckdb(query, files)
    assert got.columns == expected.columns
    assert got.height == expected.height
    assert _rows(got, ordered) == _rows(expected, ordered)


# ----------------------------------------------------------------------------- Polars operations
POLARS_OPS = [
    ("filter", [wb.filter("qty > 10 AND region IS NOT NULL")],
     lambda f: f.filter(pl.sql_expr("qty > 10 AND region IS NOT NULL"))),
    ("filter_nulls_or", [wb.filter("region = 'n' OR qty IS NULL")],
     lambda f: f.filter(pl.sql_expr("region = 'n' OR qty IS NULL"))),
    ("filter_in_like", [wb.filter("status IN ('new', 'paid') AND note LIKE '%a%'")],
     lambda f: f.filter(pl.sql_expr("status IN ('new', 'paid') AND note LIKE '%a%'"))),
    ("with_columns", [wb.with_columns(total="CAST(qty AS DOUBLE) * price", up="upper(region)",
                                      bucket="CASE WHEN price > 100 THEN 'hi' ELSE 'lo' END")],
     lambda f: f.with_columns(total=pl.sql_expr("CAST(qty AS DOUBLE) * price"), up=pl.sql_expr("upper(region)"),
                              bucket=pl.sql_expr("CASE WHEN price > 100 THEN 'hi' ELSE 'lo' END"))),
    ("with_columns_coalesce", [wb.with_columns(r="coalesce(region, 'none')", n="length(note)")],
     lambda f: f.with_columns(r=pl.sql_expr("coalesce(region, 'none')"), n=pl.sql_expr("length(note)"))),
    ("unique_subset_first", [wb.unique("cust_id")],
     lambda f: f.unique(subset=["cust_id"], keep="first", maintain_order=True)),
    ("unique_keep_last", [wb.unique("region", "status", keep="last")],
     lambda f: f.unique(subset=["region", "status"], keep="last", maintain_order=True)),
    ("unique_none", [wb.select("region", "status"), wb.unique(keep="none")],
     lambda f: f.select("region", "status").unique(keep="none", maintain_order=True)),
    ("sort_multi", [wb.sort("region", "qty", "id", descending=[False, True, False])],
     lambda f: f.sort(["region", "qty", "id"], descending=[False, True, False], nulls_last=True)),
    ("sort_desc_nulls", [wb.sort("price", "id", descending=True)],
     lambda f: f.sort(["price", "id"], descending=True, nulls_last=True)),
    ("cast", [wb.cast({"qty": "float64", "cust_id": "int64", "price": "int32"}, strict=False)],
     lambda f: f.with_columns(pl.col("qty").cast(pl.Float64), pl.col("cust_id").cast(pl.Int64),
                              pl.col("price").cast(pl.Int32, strict=False))),
    ("cast_string", [wb.cast({"id": "string", "day": "string"})],
     lambda f: f.with_columns(pl.col("id").cast(pl.String), pl.col("day").cast(pl.String))),
    ("drop_nulls_all", [wb.drop_nulls()], lambda f: f.drop_nulls()),
    ("drop_nulls_subset", [wb.drop_nulls("region", "qty")], lambda f: f.drop_nulls(["region", "qty"])),
    ("select_rename_drop", [wb.select("id", "region", "price"), wb.rename({"price": "p"}), wb.drop("region")],
     lambda f: f.select("id", "region", "price").rename({"price": "p"}).drop("region")),
    ("limit", [wb.sort("ts", "id"), wb.limit(17)], lambda f: f.sort(["ts", "id"], nulls_last=True).limit(17)),
    ("chain", [wb.filter("price > 20"), wb.with_columns(k="qty % 3"), wb.unique("k", "region"),
               wb.sort("k", "region", "id")],
     lambda f: f.filter(pl.sql_expr("price > 20")).with_columns(k=pl.sql_expr("qty % 3"))
     .unique(subset=["k", "region"], keep="first", maintain_order=True).sort(["k", "region", "id"], nulls_last=True)),
]


@pytest.fixture(scope="module")
def edge_file(tmp_path_factory):
    """Edge values: NULLs everywhere, NaN and ±inf, int64 extremes, empty and unicode strings."""
    path = tmp_path_factory.mktemp("edge") / "edge.parquet"
    n = 200
    rnd = random.Random(7)
    pl.DataFrame({
        "id": list(range(n)),
        "cust_id": [rnd.choice([None, -(2**63), 2**63 - 1, 0, 5]) for _ in range(n)],
        "region": [rnd.choice([None, "", "n", "ñ", "北"]) for _ in range(n)],
        "status": [rnd.choice(["new", "paid", None]) for _ in range(n)],
        "qty": [rnd.choice([None, 0, 11, 20, -3]) for _ in range(n)],
        "price": [rnd.choice([None, float("nan"), float("inf"), -0.0, 150.5, 1e300, 3.25]) for _ in range(n)],
        "note": [rnd.choice([None, "", "a", "ba", "xyz"]) for _ in range(n)],
        "ts": [dt.datetime(2024, 1, 1) + dt.timedelta(hours=i % 37) for i in range(n)],
        "day": [None if i % 9 == 0 else dt.date(1970 + i % 60, 1 + i % 12, 1) for i in range(n)],
    }, schema_overrides={"cust_id": pl.Int64}).write_parquet(path)
    return str(path)


def _equal_frames(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert got.schema == expected.schema
    assert _rows(got, True) == _rows(expected, True)


@pytest.mark.parametrize("name,steps,bare", POLARS_OPS, ids=[o[0] for o in POLARS_OPS])
@pytest.mark.parametrize("shape", ["orders", "edge"])
def test_polars_step_equals_bare_polars(files, edge_file, shape, name, steps, bare):
    path = files["orders"] if shape == "orders" else edge_file
    p = wb.Pipeline(source=wb.file(path), steps=steps)
    job = wb.submit(p, runner="local").wait(120)
    expected = bare(pl.scan_parquet(path))
    try:
        expected = expected.collect()
    except pl.exceptions.PolarsError as exc:  # bare Polars fails: the step must fail too
        assert job.status == "failed", f"bare Polars raised {exc!r} but the step succeeded"
        return
    assert job.status == "succeeded", job.error
    _equal_frames(job.result, expected)
