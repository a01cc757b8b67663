from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
import yaml

import workbench as wb
from workbench.errors import SpecError
from workbench.spec import dump_pipeline, json_schema, load_pipeline, pipeline_from_dict


def _pipeline() -> wb.Pipeline:
    return wb.Pipeline(
        name="totals",
        source=wb.file("orders/*.csv", delimiter=";", null_values=["NA"], schema_overrides={"id": "int64"}),
        steps=[wb.sql("SELECT region, sum(amount) AS total FROM input GROUP BY region"),
               wb.filter("total > 0"), wb.with_columns(double="total * 2"), wb.rename({"double": "x2"}),
               wb.cast({"x2": "float32"}), wb.drop("x2"), wb.drop_nulls("region"), wb.unique("region"),
               wb.sort("region"), wb.limit(10), wb.python("mymod:fn", factor=2)],
        checks=[wb.not_null("region"), wb.is_unique("region"), wb.accepted_values("region", ["n", "s"]),
                wb.in_range("total", min=0), wb.matches("region", "^[a-z]+$"), wb.row_count(min=1),
                wb.column_types({"total": "float64"}), wb.check_sql("total >= 0", severity="warn")],
        sink=wb.dataset("totals", mode="append", partition_by=["region"]),
    )


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip_through_files(tmp_path, fmt):
    p = _pipeline()
    path = tmp_path / f"p.{'yaml' if fmt == 'yaml' else 'json'}"
    path.write_text(dump_pipeline(p, fmt))
    assert load_pipeline(path) == p


def test_spec_is_frozen_and_versioned():
    p = _pipeline()
    assert p.spec_version == 1
    with pytest.raises(ValidationError, match="frozen"):
        p.name = "other"  # type: ignore[misc]
    assert p.name != "other"


def test_unknown_field_names_the_field(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"source": {"kind": "file", "path": "a.csv", "delimeter": ";"}}))
    with pytest.raises(SpecError) as err:
        load_pipeline(path)
    assert "delimeter" in err.value.message
    assert err.value.file == str(path)
    assert err.value.hint


def test_wrong_discriminator_lists_allowed_values():
    with pytest.raises(SpecError) as err:
        pipeline_from_dict({"source": {"kind": "ftp", "path": "x"}})
    assert "file" in (err.value.hint or "") and "dataset" in (err.value.hint or "")


@pytest.mark.parametrize("name", ["../etc", "a/b", "/abs", "", "a b", "x\x00y", ".hidden"])
def test_dataset_names_are_validated(name):
    with pytest.raises(SpecError) as err:
        pipeline_from_dict({"source": {"kind": "file", "path": "a.csv"},
                            "sink": {"kind": "dataset", "name": name}})
    assert "invalid dataset name" in err.value.message


def test_upsert_needs_keys():
    with pytest.raises(SpecError, match="keys"):
        pipeline_from_dict({"source": {"kind": "file", "path": "a.csv"},
                            "sink": {"kind": "dataset", "name": "x", "mode": "upsert"}})


def test_spec_file_not_yaml(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("source: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_pipeline(path)


def test_json_schema_describes_sources_steps_checks_sinks():
    schema = json.dumps(json_schema())
    for word in ("FileSource", "SqlStep", "NotNullCheck", "DatasetSink", "spec_version"):
        assert word in schema
