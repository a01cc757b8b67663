"""The spec's short forms read like the Python builders, and errors name every problem."""

from __future__ import annotations

import json

import pytest
import yaml

import workbench as wb
from workbench.spec import dump_pipeline, pipeline_from_dict

SHORT = """
source: sales.csv
steps:
  - sql: SELECT region, sum(amount) AS total FROM input GROUP BY region
  - filter: total > 0
  - sort: total
checks:
  - not_null: region
  - is_unique: [region]
  - in_range: {column: total, min: 0}
  - matches: {column: region, pattern: "^[a-z]+$", severity: warn}
  - check_sql: total >= 0
  - row_count: {min: 1}
sink: {dataset: totals}
"""


def python_twin() -> wb.Pipeline:
    return wb.Pipeline(
        source=wb.file("sales.csv"),
        steps=[wb.sql("SELECT region, sum(amount) AS total FROM input GROUP BY region"),
               wb.filter("total > 0"), wb.sort("total")],
        checks=[wb.not_null("region"), wb.is_unique("region"), wb.in_range("total", min=0),
                wb.matches("region", "^[a-z]+$", severity="warn"), wb.check_sql("total >= 0"),
                wb.row_count(min=1)],
        sink=wb.dataset("totals"),
    )


def test_short_yaml_is_the_python_pipeline():
    assert pipeline_from_dict(yaml.safe_load(SHORT)) == python_twin()


def test_dump_writes_the_short_form_and_reads_back():
    p = python_twin()
    text = dump_pipeline(p)
    data = yaml.safe_load(text)
    assert data["source"] == "sales.csv"
    assert data["sink"] == {"dataset": "totals"}
    assert data["checks"][0] == {"not_null": "region"}
    assert data["checks"][2] == {"in_range": {"column": "total", "min": 0}}
    assert "format" not in text and ": null" not in text  # defaults are left out
    assert pipeline_from_dict(data) == p
    assert pipeline_from_dict(json.loads(dump_pipeline(p, "json"))) == p


def test_long_form_and_older_check_names_still_read():
    long = {"source": {"kind": "file", "path": "a.csv"},
            "steps": [{"op": "sql", "query": "SELECT * FROM input"}],
            "checks": [{"check": "range", "column": "x", "min": 0},
                       {"check": "unique", "columns": ["id"]},
                       {"check": "regex", "column": "r", "pattern": "a"},
                       {"check": "sql", "predicate": "x > 0"}],
            "sink": {"kind": "dataset", "name": "out"}}
    p = pipeline_from_dict(long)
    assert [c.check for c in p.checks] == ["in_range", "is_unique", "matches", "check_sql"]
    assert dump_pipeline(p, short=False).count("kind: file") == 1


def test_source_without_kind_is_told_by_its_fields():
    p = pipeline_from_dict({"source": {"path": "a.csv", "delimiter": ";"}})
    assert p.source.kind == "file" and p.source.delimiter == ";"
    assert pipeline_from_dict({"source": {"dataset": "sales", "version": 2}}).source.version == 2
    q = pipeline_from_dict({"source": {"query": "SELECT 1", "db": "warehouse"}})
    assert q.source.kind == "query" and q.source.sql == "SELECT 1"


def test_pipeline_takes_a_path_for_its_source():
    assert wb.Pipeline(source="x.csv").source == wb.file("x.csv")


def test_a_table_sink_in_short_form():
    p = pipeline_from_dict({"source": "a.csv", "sink": {"table": "t", "db": "warehouse", "mode": "upsert",
                                                        "keys": ["id"]}})
    assert p.sink == wb.table("t", db="warehouse", mode="upsert", keys=["id"])
    assert pipeline_from_dict(yaml.safe_load(dump_pipeline(p))) == p


def spec_error(data) -> wb.SpecError:
    with pytest.raises(wb.SpecError) as info:
        pipeline_from_dict(data)
    return info.value


def test_a_misspelt_field_is_named_with_did_you_mean():
    err = spec_error({"sorce": "sales.csv"})
    assert "sorce" in err.message and "source: field required" in err.message
    assert "did you mean 'source'?" in err.message
    assert "more problem" not in err.message
    err = spec_error({"source": {"path": "a.csv", "delimter": ";"}})
    assert err.message == "invalid pipeline spec at source.delimter: unknown field 'delimter'"
    assert err.hint == "did you mean 'delimiter'?"


def test_an_unknown_kind_lists_the_allowed_ones():
    err = spec_error({"source": "a.csv", "steps": [{"op": "sqll", "query": "x"}]})
    assert "steps.0" in err.message and "'sqll'" in err.message
    assert "'sql'" in err.hint and "'with_columns'" in err.hint
    err = spec_error({"source": {"pth": "x"}})
    assert err.hint == "start it with one of: file, dataset, query, upload"
    err = spec_error({"source": "a.csv", "checks": [{"not_nul": "a"}]})
    assert err.hint == "did you mean 'not_null'?"


def test_every_problem_is_listed_with_its_path():
    err = spec_error({"source": "a.csv", "steps": [{"limit": -1}, {"select": "a", "colour": 1}]})
    assert "2 problems" in err.message
    assert "steps.0.n" in err.message and "steps.1.colour: unknown field 'colour'" in err.message
