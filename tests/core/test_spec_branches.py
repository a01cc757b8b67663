"""Spec rules the other spec tests left unvisited (found by branch coverage): each refusal names
the place and the rule, each short form reads as the builder it stands for."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import workbench as wb
from workbench.errors import SpecError
from workbench.spec import dump_pipeline, load_pipeline, pipeline_from_dict
from workbench.spec.models import DatasetSink
from workbench.spec.short import shorten


@pytest.mark.parametrize("spec, message, hint", [
    ({"checks": [{"in_range": {"column": "x"}}]},
     "invalid pipeline spec at checks.0: in_range needs min, max or both", None),
    ({"checks": [{"matches": {"column": "x", "pattern": "("}}]},
     "invalid pipeline spec at checks.0.pattern: pattern does not compile: missing ), "
     "unterminated subpattern at position 0", None),
    # a check whose short form needs a mapping: the value is named as an unknown field
    ({"checks": [{"in_range": 5}]},
     "invalid pipeline spec: 2 problems\n  - checks.0.column: field required\n"
     "  - checks.0.value: unknown field 'value' (allowed fields here: severity, name, column, "
     "min, max)", "allowed fields here: severity, name, column, min, max"),
    ({"steps": ["sql"]}, "invalid pipeline spec at steps.0: expected a mapping, got str",
     "a source may be a path string; steps, checks and sinks are mappings"),
    ({"steps": [{"python": "not a ref"}]},
     "invalid pipeline spec at steps.0.function: function must look like 'package.module:function'",
     None),
    ({"sink": {"mode": "append"}}, "invalid pipeline spec at sink: cannot tell what this is",
     "start it with one of: dataset, table"),
    ({"sink": {"table": "t", "db": "warehouse", "mode": "upsert"}},
     "invalid pipeline spec at sink: mode='upsert' needs keys=[...] naming the key columns", None),
    ({"source": {"path": "a.csv", "delimiter": ";;"}},
     "invalid pipeline spec at source.delimiter: delimiter must be a single one-byte character, "
     "e.g. ',' ';' '|' or '\\t'", None),
    ({"source": {"path": "a.csv", "quote_char": "«"}},
     "invalid pipeline spec at source.quote_char: quote_char must be a single one-byte "
     "character such as '\"' or \"'\", or '' for none", None),
])
def test_refusals_name_the_place_and_the_rule(spec, message, hint):
    with pytest.raises(SpecError) as err:
        pipeline_from_dict({"source": "a.csv", **spec}, file="p.yaml")
    assert (err.value.message, err.value.hint, err.value.file) == (message, hint, "p.yaml")


@pytest.mark.parametrize("db", [
    "postgresql://reader:s3cret@db.example/sales",          # a password in the URL
    "postgresql://reader@db.example/sales?password=s3cret",  # or in its query
    "host=db.example password=s3cret dbname=sales",          # or in a key=value DSN
    "postgresql://reader@[db.example/sales",                 # a URL too broken to tell: refused
])
def test_a_db_with_a_password_or_unreadable_is_refused_and_not_echoed(db):
    with pytest.raises(SpecError) as err:
        pipeline_from_dict({"source": {"sql": "SELECT 1", "db": db}})
    assert err.value.message.startswith("invalid pipeline spec at source.db: db must not contain "
                                        "a password (specs are stored in job records)")
    assert "s3cret" not in str(err.value) and "db.example" not in str(err.value)


def test_short_sinks_read_as_the_builders():
    assert pipeline_from_dict({"source": "a.csv", "sink": "sales"}).sink == wb.dataset("sales")
    assert pipeline_from_dict({"source": "a.csv", "sink": {"name": "sales", "mode": "append"}}
                              ).sink == wb.dataset("sales", mode="append")
    # a short step whose value is null keeps the default (drop_nulls over every column)
    assert pipeline_from_dict({"source": "a.csv", "steps": [{"drop_nulls": None}]}
                              ).steps == [wb.drop_nulls()]


def test_pipeline_from_dict_and_load_pipeline_refuse_what_is_no_spec(tmp_path):
    with pytest.raises(SpecError, match="^a pipeline spec must be a mapping$"):
        pipeline_from_dict(["source", "a.csv"])
    with pytest.raises(SpecError) as err:
        load_pipeline(tmp_path / "missing.yaml")
    assert (err.value.message, err.value.file) == ("spec file not found",
                                                   str(tmp_path / "missing.yaml"))
    # straight to pydantic, a list is no mapping either: the short forms leave it alone
    with pytest.raises(ValidationError) as verr:
        wb.Pipeline.model_validate(["source", "a.csv"])
    assert [e["type"] for e in verr.value.errors()] == ["model_type"]


class _Later(wb.Pipeline):
    """A pipeline with a field added after the short forms were written."""

    owner: str | None = None
    labels: DatasetSink | None = None


def test_a_field_the_short_form_does_not_know_is_written_in_its_long_form():
    p = _Later(source=wb.file("a.csv"), owner="ana", labels=wb.dataset("tags", mode="append"))
    assert shorten(p) == {"spec_version": 1, "source": "a.csv", "owner": "ana",
                          "labels": {"name": "tags", "mode": "append"}}
    assert "owner: ana" in dump_pipeline(p)


@pytest.mark.parametrize("entry, message", [
    ("", "partition_by entry '': give a column name or a transform such as 'day(ts)' or "
         "'bucket(16, id)'"),
    (3, "partition_by entry 3: give a column name or a transform such as 'day(ts)' or "
        "'bucket(16, id)'"),
    ("bucket(16, )", "partition_by entry 'bucket(16, )': bucket() needs a column name"),
])
def test_partition_entries_without_a_column(entry, message):
    from workbench.spec.partitions import parse_partition

    with pytest.raises(ValueError) as err:
        parse_partition(entry)
    assert str(err.value) == message
