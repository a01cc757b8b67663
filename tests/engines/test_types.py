"""Type names in specs (``cast``, ``schema_overrides``, ``column_types``, and the fan-out's type
plan): every name ``engines.types.parse_type`` accepts gives the Polars type it names, the names
a fan-out plans with come back as the same type, and hostile text is refused quickly with the
project's own error, never repeated whole."""

from __future__ import annotations

import time

import polars as pl
import pytest

import workbench as wb
from workbench.engines.types import MAX_TYPE_NAME, SIMPLE, parse_type, type_matches
from workbench.worker.fanout_plan import _type_name

UNITS = ("ms", "us", "ns")
ZONES = (None, "UTC", "Europe/Paris", "America/St_Johns", "Asia/Kolkata", "Etc/GMT+5",
         "America/Argentina/ComodRivadavia", "Australia/Lord_Howe")
# every Polars type a spec name can stand for, without parameters
PLAIN = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
         pl.Float32, pl.Float64, pl.String, pl.Boolean, pl.Date, pl.Time, pl.Binary,
         pl.Categorical())


# every name without parameters that specs may use, and the type it stands for
NAMES = {
    "int8": pl.Int8, "int16": pl.Int16, "int32": pl.Int32, "int64": pl.Int64, "int": pl.Int64,
    "integer": pl.Int64, "bigint": pl.Int64, "uint8": pl.UInt8, "uint16": pl.UInt16,
    "uint32": pl.UInt32, "uint64": pl.UInt64, "float32": pl.Float32, "float64": pl.Float64,
    "float": pl.Float64, "double": pl.Float64, "string": pl.String, "str": pl.String,
    "text": pl.String, "utf8": pl.String, "varchar": pl.String, "bool": pl.Boolean,
    "boolean": pl.Boolean, "date": pl.Date, "datetime": pl.Datetime("us"),
    "timestamp": pl.Datetime("us"), "time": pl.Time, "duration": pl.Duration("us"),
    "binary": pl.Binary, "categorical": pl.Categorical(),
}


def test_every_simple_name_in_any_case_and_spacing():
    assert set(SIMPLE) == set(NAMES)  # a name added or removed is one to add here
    for name, dtype in NAMES.items():
        for text in (name, name.upper(), name.capitalize(), f"  {name}\t", f"{name}\n"):
            assert parse_type(text) == dtype, text


def test_polars_names_of_plain_types_round_trip():
    """str(dtype) of a type without parameters is a spec name ("Int64", "Categorical")."""
    for dtype in PLAIN:
        assert parse_type(str(dtype)) == dtype, dtype
        assert parse_type(repr(dtype)) == dtype, dtype
    assert parse_type("duration") == pl.Duration("us")
    assert parse_type("datetime") == parse_type("timestamp") == pl.Datetime("us")


def test_every_decimal():
    for precision in range(1, 39):
        for scale in range(precision + 1):
            want = pl.Decimal(precision, scale)
            for text in (f"decimal({precision},{scale})", f"DECIMAL({precision}, {scale})",
                         f" decimal( {precision} ,  {scale} ) ".replace("( ", "(").replace(" )", ")")):
                assert parse_type(text) == want, text
    for bad in ("decimal(0,0)", "decimal(39,2)", "decimal(5,6)", "decimal(100,0)"):
        with pytest.raises(ValueError, match=r"out of range: precision 1\.\.38, scale <= precision"):
            parse_type(bad)
    for bad in ("decimal(12)", "decimal(12,2,1)", "decimal(-1,2)", "decimal(1.5,1)", "decimal()"):
        with pytest.raises(ValueError, match="unknown type"):
            parse_type(bad)


def test_every_datetime_form():
    for unit in UNITS:
        for zone in ZONES:
            want = pl.Datetime(unit, zone)
            forms = [f"datetime[{unit}]", f"timestamp[{unit}]"] if zone is None else [
                f"datetime[{unit}, {zone}]", f"datetime[{unit},{zone}]",
                f"timestamp[{unit}, {zone}]", f"  datetime[{unit},   {zone}] "]
            for text in forms:
                got = parse_type(text)
                assert got == want and got.time_zone == zone and got.time_unit == unit, text


def test_the_fanout_plans_names_come_back_as_the_same_type():
    """The fan-out names each column's type for its parts (fanout_plan._type_name), and each
    part parses that name back: the same type, or no name at all (the column is read as it is
    and still checked: worker/test_worker_fanout_types.py)."""
    named = list(PLAIN[:-1]) + [pl.Decimal(p, s) for p in (1, 12, 38) for s in (0, 1, p)] + [
        pl.Datetime(u, z) for u in UNITS for z in ZONES]
    for dtype in named:
        name = _type_name(dtype)
        assert name is not None and parse_type(name) == dtype, dtype
    unnamed = [pl.Categorical(), pl.Duration("us"), pl.Duration("ms"), pl.List(pl.Int64),
               pl.Struct({"a": pl.Int8}), pl.Enum(["a", "b"]), pl.Array(pl.Int8, 2), pl.Null(),
               pl.Int128()]
    assert [_type_name(t) for t in unnamed] == [None] * len(unnamed)


def test_column_types_matches_families_and_exact_names():
    assert type_matches(pl.Int16, "int") and type_matches(pl.UInt64, "integer")
    assert type_matches(pl.Float32, "float") and type_matches(pl.Int8, "number")
    assert type_matches(pl.Datetime("ns", "UTC"), "datetime")
    assert type_matches(pl.Decimal(12, 2), "decimal") and type_matches(pl.Decimal(12, 2), "decimal(12,2)")
    assert not type_matches(pl.Decimal(12, 2), "decimal(12,3)")
    assert type_matches(pl.Datetime("us", "UTC"), "datetime[us, UTC]")
    assert not type_matches(pl.Datetime("us", "UTC"), "datetime[us, Europe/Paris]")
    assert not type_matches(pl.Int64, "string")


HOSTILE = {
    "a megabyte": "x" * 1_000_000,
    "a long decimal": "decimal(" + "9" * 100_000 + ",2)",
    "a long zone": "datetime[us, " + "A/" * 50_000 + "B]",
    "deep nesting": "list[" * 20_000 + "int64" + "]" * 20_000,
    "deep struct": "struct{a: " * 20_000 + "int64" + "}" * 20_000,
    "regex bait": "decimal(1" + " " * 50_000 + "x",
    "sql": "int64; DROP TABLE jobs; --",
    "sql quote": "int64' OR '1'='1",
    "python": "__import__('os').system('id')",
    "template": "{{7*7}}${jndi:ldap://x/a}",
    "a path as zone": "datetime[us, /etc/passwd]",
    "a relative path": "datetime[us, ../../etc/passwd]",
    "an unknown zone": "datetime[us, Not/AZone]",
    "nul": "int64\x00",
    "a line break inside": "int\n64",
    "empty": "",
    "blank": "   ",
    "polars repr": "Datetime(time_unit='us', time_zone='UTC')",
    "list": "list[int64]",
    "unit": "datetime[s]",
}


@pytest.mark.parametrize("what", list(HOSTILE))
def test_hostile_names_are_refused_quickly_and_not_repeated_whole(what):
    text = HOSTILE[what]
    started = time.monotonic()
    with pytest.raises(ValueError) as exc:
        parse_type(text)
    # a guard against a regular expression that backtracks for ever, generous for a loaded
    # machine: each of these takes well under a millisecond
    assert time.monotonic() - started < 10
    message = str(exc.value)
    assert message.startswith(("unknown type", "unknown time zone"))
    assert len(message) < 700 and (len(text) <= MAX_TYPE_NAME or text not in message)
    if what == "an unknown zone":
        assert message.startswith("unknown time zone 'Not/AZone'")


@pytest.mark.parametrize("where", ["cast", "schema_overrides", "column_types"])
@pytest.mark.parametrize("what", ["a megabyte", "an unknown zone", "a long decimal", "sql"])
def test_each_user_of_type_names_refuses_them_with_the_projects_error(wb_home, tmp_path, where,
                                                                      what):
    src = tmp_path / "in.csv"
    src.write_text("a,b\n1,x\n2,y\n")
    name = HOSTILE[what]
    p = wb.Pipeline(
        source=wb.file(str(src), **({"schema_overrides": {"a": name}}
                                   if where == "schema_overrides" else {})),
        steps=[wb.cast({"a": name})] if where == "cast" else [],
        checks=[wb.column_types({"a": name})] if where == "column_types" else [],
        sink=wb.dataset("typed"))
    with pytest.raises(wb.errors.InputError) as exc:
        wb.run(p)
    err = exc.value
    assert type(err) is {"cast": wb.errors.StepError, "schema_overrides": wb.errors.SpecError,
                         "column_types": wb.errors.SpecError}[where]
    assert "unknown t" in err.message and len(err.message) < 700
    if where != "cast":
        assert err.column == "a"
    with pytest.raises(wb.NotFound):
        wb.info("typed")  # nothing was written
