"""Date-times read from text on Polars' fast path: when every sampled value has no fraction, or
one of the same fixed width (3, 6 or 9 digits), the reader parses a format without ``%.f`` (and
with a literal UTC such as ``Z`` or ``+00`` instead of ``%#z``); a value written otherwise past
every sampled part reads the column again with the general format, and nothing is lost or made
text."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from test_readers_helpers import LINE_WIDTH, fixed_width_csv, run_local, unsampled_rows

from workbench.engines.read_common import SAMPLE_WINDOWS, WINDOW_BYTES
from workbench.engines.read_text_types import general_format, text_kind

ROWS = 60_000
NOTE = ("'at': a value further into the file has fractional seconds or a UTC offset written "
        "otherwise")
START = dt.datetime(2024, 1, 1)


def _times(late: dict[int, str], fmt: str = "%Y-%m-%d %H:%M:%S") -> list[str]:
    values = [(START + dt.timedelta(seconds=5 * i)).strftime(fmt) for i in range(ROWS)]
    for row, value in late.items():
        values[row] = value
    return values


def _csv(tmp_path, late_values: list[str], fmt: str = "%Y-%m-%d %H:%M:%S") -> tuple[str, list[int]]:
    rows = unsampled_rows(ROWS, len(late_values))
    values = _times(dict(zip(rows, late_values)), fmt)
    path = fixed_width_csv(tmp_path / "times.csv", "id,at,pad",
                           [f"{i},{t}," for i, t in enumerate(values)])
    return path, rows


def test_the_fast_format_only_when_every_sampled_value_is_written_alike():
    whole = pl.Series(["2024-01-01 00:00:00", "2024-01-01 00:00:05", None])
    assert text_kind(whole) == ("datetime", "%Y-%m-%d %H:%M:%S")
    assert text_kind(pl.Series(["2024-01-01T00:00:00"])) == ("datetime", "%Y-%m-%dT%H:%M:%S")
    some = pl.Series(["2024-01-01 00:00:00", "2024-01-01 00:00:05.5"])
    assert text_kind(some) == ("datetime", "%Y-%m-%d %H:%M:%S%.f")
    # UTC written as Z: a literal Z; with offsets, or fractions, the general format
    assert text_kind(pl.Series(["2024-01-01T00:00:00Z"])) == ("datetime_tz", "%Y-%m-%dT%H:%M:%SZ")
    assert text_kind(pl.Series(["2024-01-01 00:00:00Z"])) == ("datetime_tz", "%Y-%m-%d %H:%M:%SZ")
    for zoned in (["2024-01-01T00:00:00Z", "2024-01-01T00:00:00+02:00"],
                  ["2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00Z"]):
        assert text_kind(pl.Series(zoned)) == ("datetime_tz", "%Y-%m-%dT%H:%M:%S%.f%#z")
    # one fixed width of fractions: that width; widths that differ: the general format
    micro = pl.Series(["2024-01-01 00:00:00.123456", "2024-01-01 00:00:01.000001"])
    assert text_kind(micro) == ("datetime", "%Y-%m-%d %H:%M:%S.%6f")
    assert text_kind(pl.Series(["2024-01-01T00:00:00.123Z"])) == (
        "datetime_tz", "%Y-%m-%dT%H:%M:%S.%3fZ")
    assert text_kind(pl.Series(["2024-01-01 00:00:00.123456789"])) == (
        "datetime@ns", "%Y-%m-%d %H:%M:%S.%9f")
    for mixed in (["2024-01-01 00:00:00.12", "2024-01-01 00:00:00.123"],
                  ["2024-01-01 00:00:00.1234"], ["2024-01-01 00:00:00.123", "2024-01-01 00:00:00"]):
        assert text_kind(pl.Series(mixed))[1] == "%Y-%m-%d %H:%M:%S%.f", mixed
    assert general_format("datetime", "%Y-%m-%d %H:%M:%S.%6f") == "%Y-%m-%d %H:%M:%S%.f"
    assert general_format("datetime@ns", "%Y-%m-%d %H:%M:%S.%9f") == "%Y-%m-%d %H:%M:%S%.f"
    assert general_format("datetime_tz", "%Y-%m-%dT%H:%M:%S.%3fZ") == "%Y-%m-%dT%H:%M:%S%.f%#z"
    # UTC written as an offset of zero, the same on every value: that literal
    for utc in ("+00:00", "+0000", "+00"):
        assert text_kind(pl.Series([f"2024-01-01 00:00:00{utc}", f"2024-01-02 00:00:00.5{utc}"])
                         ) == ("datetime_tz", "%Y-%m-%d %H:%M:%S%.f%#z")  # fractions vary
        assert text_kind(pl.Series([f"2024-01-01 00:00:00{utc}"])) == (
            "datetime_tz", f"%Y-%m-%d %H:%M:%S{utc}")
        assert general_format("datetime_tz", f"%Y-%m-%d %H:%M:%S.%6f{utc}") == \
            "%Y-%m-%d %H:%M:%S%.f%#z"
    assert text_kind(pl.Series(["2024-01-01 00:00:00+00", "2024-01-01 00:00:00Z"]))[1] == \
        "%Y-%m-%d %H:%M:%S%.f%#z"
    # a time of day parses no faster without %.f: kept
    assert text_kind(pl.Series(["10:00:00"])) == ("time", "%H:%M:%S%.f")
    assert general_format("datetime", "%Y-%m-%d %H:%M:%S") == "%Y-%m-%d %H:%M:%S%.f"
    assert general_format("datetime_tz", "%Y-%m-%dT%H:%M:%SZ") == "%Y-%m-%dT%H:%M:%S%.f%#z"
    for kind, fmt in [("datetime", "%Y-%m-%d %H:%M:%S%.f"), ("datetime", "%Y-%m-%d %H:%M"),
                      ("date", "%Y-%m-%d"), ("datetime_tz", "%Y-%m-%dT%H:%M:%S%.f%#z")]:
        assert general_format(kind, fmt) is None, fmt


def test_a_fast_format_that_misses_a_sampled_value_is_not_used(monkeypatch):
    """Should Polars' fast path ever refuse a value its general path takes, the sample shows
    it and the general format stays (a pass that fails on a sampled value would be wasted)."""
    import workbench.engines.read_text_types as types

    monkeypatch.setattr(types, "_fast_format", lambda values, kind, fmt: "%d.%m.%Y %H:%M:%S")
    assert text_kind(pl.Series(["2024-01-01 00:00:00"])) == ("datetime", "%Y-%m-%d %H:%M:%S%.f")


UTC = dt.timezone.utc


@pytest.mark.parametrize("fmt, late, want", [
    # whole seconds sampled; fractions met later
    ("%Y-%m-%d %H:%M:%S", ["2024-02-01 10:00:00.25", "2024-02-01 10:00:01.123456"],
     [dt.datetime(2024, 2, 1, 10, 0, 0, 250_000), dt.datetime(2024, 2, 1, 10, 0, 1, 123_456)]),
    # six digits sampled; two digits, then none, met later
    ("%Y-%m-%d %H:%M:%S.%f", ["2024-02-01 10:00:00.25", "2024-02-01 10:00:01"],
     [dt.datetime(2024, 2, 1, 10, 0, 0, 250_000), dt.datetime(2024, 2, 1, 10, 0, 1)]),
    # Z sampled; an offset and a fraction met later: converted to UTC
    ("%Y-%m-%dT%H:%M:%SZ", ["2024-02-01T12:00:00+02:00", "2024-02-01T12:00:00.5Z"],
     [dt.datetime(2024, 2, 1, 10, 0, tzinfo=UTC),
      dt.datetime(2024, 2, 1, 12, 0, 0, 500_000, tzinfo=UTC)]),
    # PostgreSQL's +00 sampled; another offset met later
    ("%Y-%m-%d %H:%M:%S+00", ["2024-02-01 12:00:00-05:00"],
     [dt.datetime(2024, 2, 1, 17, 0, tzinfo=UTC)]),
])
def test_a_late_value_written_otherwise_reads_the_column_again(wb_home, tmp_path, fmt, late, want):
    path, rows = _csv(tmp_path, late, fmt=fmt)
    job = run_local(path)
    assert any(NOTE in m for m in job.state.messages), job.state.messages
    df = job.result
    zone = "UTC" if want[0].tzinfo else None
    assert df.schema["at"] == pl.Datetime("us", zone) and df.height == ROWS
    assert df["at"].null_count() == 0  # nothing lost, nothing made text
    assert [df["at"][r] for r in rows] == want
    first = START + dt.timedelta(seconds=5)
    assert df["at"][1] == (first.replace(tzinfo=UTC) if zone else first)


def test_late_fractions_in_several_columns_cost_one_more_pass(wb_home, tmp_path):
    rows = unsampled_rows(ROWS, 2)
    first = _times({rows[0]: "2024-02-01 10:00:00.25"})
    second = _times({rows[1]: "2024-03-01 10:00:00.75"})
    path = fixed_width_csv(tmp_path / "two.csv", "id,at,seen,pad",
                           [f"{i},{a},{b}," for i, (a, b) in enumerate(zip(first, second))])
    job = run_local(path)
    notes = [m for m in job.state.messages if "fractional seconds" in m]
    # whichever column the pass met first, the other was widened with it
    assert len(notes) == 1 and "'at'" in notes[0] and "'seen'" in notes[0], job.state.messages
    assert "as well as" in notes[0]
    df = job.result
    assert df.schema["at"] == df.schema["seen"] == pl.Datetime("us")
    assert df["at"][rows[0]] == dt.datetime(2024, 2, 1, 10, 0, 0, 250_000)
    assert df["seen"][rows[1]] == dt.datetime(2024, 3, 1, 10, 0, 0, 750_000)
    assert df["at"].null_count() == df["seen"].null_count() == 0


def test_a_late_fraction_beside_a_late_word_keeps_the_column_text(wb_home, tmp_path):
    path, rows = _csv(tmp_path, ["2024-02-01 10:00:00.25", "soon"])
    job = run_local(path)
    df = job.result
    assert df.schema["at"] == pl.String
    assert df["at"][rows[0]] == "2024-02-01 10:00:00.25" and df["at"][rows[1]] == "soon"
    assert df["at"][0] == "2024-01-01 00:00:00"
    assert any("'at': a value further into the file is not an ISO datetime" in m
               for m in job.state.messages), job.state.messages


def test_a_late_fraction_in_ndjson_keeps_the_key_a_datetime(wb_home, tmp_path):
    # fixed-width lines; the late value in the middle of a gap between two sampled windows
    # (the text kinds come from those windows only)
    size = ROWS * LINE_WIDTH
    step = size / (SAMPLE_WINDOWS + 1)
    row = int((3 * step + WINDOW_BYTES) / 2 // LINE_WIDTH)
    assert row * LINE_WIDTH > WINDOW_BYTES + step and (row + 1) * LINE_WIDTH < 2 * step
    values = _times({row: "2024-02-01 10:00:00.5"})
    lines = [json.dumps({"id": i, "at": t, "pad": ""}) for i, t in enumerate(values)]
    path = tmp_path / "times.ndjson"
    path.write_text("".join(s[:-2] + "x" * (LINE_WIDTH - len(s) - 1) + '"}\n' for s in lines))
    job = run_local(str(path))
    assert any(NOTE in m for m in job.state.messages), job.state.messages
    df = job.result
    assert df.schema["at"] == pl.Datetime("us") and df.height == ROWS
    assert df["at"][row] == dt.datetime(2024, 2, 1, 10, 0, 0, 500_000)
    assert df["at"].null_count() == 0
