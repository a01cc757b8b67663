"""Several named sources: each readable by name in SQL steps, in lineage, in YAML and JSON."""

from __future__ import annotations

import sqlite3

import polars as pl
import pytest

import workbench as wb
from workbench.errors import SpecError
from workbench.spec.io import dump_pipeline, load_pipeline, pipeline_from_dict


@pytest.fixture
def shop(wb_home, tmp_path):
    orders = tmp_path / "orders"
    orders.mkdir()
    pl.DataFrame({"id": [1, 2, 3], "cust": [10, 20, 10], "amount": [5.0, 7.5, 2.5],
                  "cur": ["EUR", "USD", "USD"]}).write_csv(orders / "a.csv")
    pl.DataFrame({"id": [4], "cust": [30], "amount": [1.0], "cur": ["EUR"]}).write_csv(orders / "b.csv")
    cust_file = tmp_path / "customers.csv"
    pl.DataFrame({"cust": [10, 20, 30], "name": ["ann", "bob", "cy"]}).write_csv(cust_file)
    wb.ingest(str(cust_file), name="customers_ds")
    db = tmp_path / "fx.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE fx (cur TEXT, rate REAL, seq INTEGER)")
        con.executemany("INSERT INTO fx VALUES (?, ?, ?)", [("EUR", 1.0, 1), ("USD", 0.5, 2)])
    return {"orders": orders, "db": f"sqlite:///{db}", "tmp": tmp_path}


JOIN = ("SELECT o.id, c.name, o.amount * f.rate AS eur FROM orders o "
        "JOIN customers c USING (cust) JOIN fx f USING (cur) ORDER BY o.id")


def _pipeline(shop, **kw) -> wb.Pipeline:
    return wb.Pipeline(
        sources={"orders": wb.file(str(shop["orders"] / "*.csv")),
                 "customers": wb.from_dataset("customers_ds"),
                 "fx": wb.query("SELECT cur, rate FROM fx", db=shop["db"])},
        steps=[wb.sql(JOIN)], **kw)


def test_three_named_sources_join_in_sql_with_lineage(shop):
    job = wb.submit(_pipeline(shop, sink=wb.dataset("eur")), runner="local").wait(60)
    assert job.status == "succeeded", job.error
    got = wb.read("eur").collect()
    assert got.rows() == [(1, "ann", 5.0), (2, "bob", 3.75), (3, "ann", 1.25), (4, "cy", 1.0)]
    by_source = {}
    for item in job.result.inputs:
        by_source.setdefault(item["source"], []).append(item)
    assert sorted(by_source) == ["customers", "fx", "orders"]
    assert len(by_source["orders"]) == 2  # both files of the glob
    assert all(len(i["sha256"]) == 64 for items in by_source.values() for i in items)
    assert by_source["customers"][0]["path"].startswith("dataset:customers_ds@")


def test_input_is_the_previous_steps_output_and_polars_steps_use_the_primary(shop):
    p = wb.Pipeline(
        sources={"orders": wb.file(str(shop["orders"] / "*.csv")),
                 "customers": wb.from_dataset("customers_ds")},
        steps=[wb.filter("amount > 2"),  # Polars: the primary (orders)
               wb.sql("SELECT i.id, c.name FROM input i JOIN customers c USING (cust)"),
               wb.sql("SELECT count(*) AS n, (SELECT count(*) FROM orders) AS all_orders FROM input")])
    job = wb.submit(p, runner="local").wait(60)
    assert job.status == "succeeded", job.error
    assert job.result.rows() == [(3, 4)]  # input: 3 filtered rows; orders: the source as read
    preview = wb.preview(p, rows=5)
    assert preview.rows() == [(3, 4)] and not preview.sampled


def test_yaml_and_json_round_trip(shop):
    p = _pipeline(shop, sink=wb.dataset("eur"))
    for fmt, suffix in (("yaml", ".yaml"), ("json", ".json")):
        path = shop["tmp"] / f"p{suffix}"
        path.write_text(dump_pipeline(p, fmt))
        back = load_pipeline(path)
        assert back == p
        assert list(back.named_sources()) == ["orders", "customers", "fx"]
        assert back.source == p.sources["orders"]
    text = dump_pipeline(p, "yaml")
    assert "sources:" in text and "\nsource:" not in text


def test_yaml_written_by_hand(shop):
    path = shop["tmp"] / "hand.yaml"
    path.write_text(f"""
sources:
  orders: {{kind: file, path: "{shop['orders']}/*.csv"}}
  customers: {{kind: dataset, name: customers_ds}}
steps:
  - {{op: sql, query: "SELECT c.name, sum(o.amount) AS total FROM orders o JOIN customers c USING (cust) GROUP BY 1 ORDER BY 1"}}
""")
    job = wb.submit(load_pipeline(path), runner="local").wait(60)
    assert job.status == "succeeded", job.error
    assert job.result.rows() == [("ann", 7.5), ("bob", 7.5), ("cy", 1.0)]


def test_one_source_keeps_its_old_spec_and_the_name_input(shop):
    p = wb.Pipeline(source=wb.file(str(shop["orders"] / "a.csv")), steps=[wb.sql("SELECT count(*) AS n FROM input")])
    assert "sources" not in p.model_dump(mode="json")
    assert pipeline_from_dict(p.model_dump(mode="json")) == p
    single = wb.Pipeline(sources={"orders": wb.file(str(shop["orders"] / "a.csv"))},
                         steps=[wb.sql("SELECT count(*) AS n FROM orders JOIN input USING (id)")])
    job = wb.submit(single, runner="local").wait(60)
    assert job.status == "succeeded", job.error
    assert job.result["n"].to_list() == [3]


@pytest.mark.parametrize("kwargs,message", [
    ({"sources": {}}, "at least one source"),
    ({"sources": {"bad name": wb.file("a.csv")}}, "invalid source name"),
    ({"sources": {"a": wb.file("a.csv"), "input": wb.file("b.csv")}}, "none may be named 'input'"),
    ({"sources": {"a": wb.file("a.csv"), "A": wb.file("b.csv")}}, "letter case"),
    ({"source": wb.file("a.csv"), "sources": {"a": wb.file("a.csv")}}, "not both"),
    ({}, "source: field required"),
])
def test_bad_sources_are_spec_errors(kwargs, message):
    with pytest.raises(SpecError, match=message):
        wb.Pipeline(**kwargs)


def test_a_missing_secondary_source_names_it(shop):
    p = wb.Pipeline(sources={"orders": wb.file(str(shop["orders"] / "*.csv")),
                             "nope": wb.file(str(shop["tmp"] / "missing.csv"))},
                    steps=[wb.sql("SELECT * FROM orders JOIN nope USING (id)")])
    job = wb.submit(p, runner="local").wait(60)
    assert job.status == "failed"
    assert job.error.step == "read nope"


def test_unknown_relation_lists_the_names(shop):
    p = _pipeline(shop)
    p = p.model_copy(update={"steps": [wb.sql("SELECT * FROM ordrs")]})
    job = wb.submit(p, runner="local").wait(60)
    assert job.status == "failed"
    assert "ordrs" in job.error.message
    assert "orders" in job.error.hint and "customers" in job.error.hint


def test_incremental_secondary_source_advances_its_cursor(shop):
    def run():
        p = wb.Pipeline(
            name="fx-join",
            sources={"orders": wb.file(str(shop["orders"] / "*.csv")),
                     "fx": wb.query("SELECT cur, rate, seq FROM fx", db=shop["db"],
                                    incremental=wb.incremental("seq"))},
            steps=[wb.sql("SELECT f.seq, count(*) AS n FROM orders o JOIN fx f USING (cur) GROUP BY 1 ORDER BY 1")],
            sink=wb.dataset("fx_counts", mode="append"))
        job = wb.submit(p, runner="local").wait(60)
        assert job.status == "succeeded", job.error
        return job

    run()
    assert wb.read("fx_counts").collect().rows() == [(1, 2), (2, 2)]
    with sqlite3.connect(shop["db"].removeprefix("sqlite:///")) as con:
        con.execute("INSERT INTO fx VALUES ('EUR', 2.0, 3)")
    run()  # reads only the new fx row
    assert wb.read("fx_counts").collect().rows() == [(1, 2), (2, 2), (3, 2)]


def test_datasets_read_by_sql_are_in_the_lineage(shop):
    p = wb.Pipeline(source=wb.file(str(shop["orders"] / "a.csv")),
                    steps=[wb.sql("SELECT o.id, c.name FROM input o JOIN customers_ds c USING (cust)"),
                           wb.sql("SELECT count(*) AS n FROM input JOIN customers_ds USING (name)")],
                    sink=wb.dataset("named"))
    job = wb.submit(p, runner="local").wait(60)
    assert job.status == "succeeded", job.error
    read = [i for i in job.result.inputs if i["path"].startswith("dataset:")]
    assert [i["path"] for i in read] == ["dataset:customers_ds@1"]  # once, though read twice
    assert read[0]["sha256"] == wb.info("customers_ds").checksum
