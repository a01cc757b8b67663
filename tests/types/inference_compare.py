"""Our reader's inference against DuckDB's sniffer (``read_csv_auto``/``read_json_auto``), per
column of each corpus file (``inference_corpus.py``).

For each column: DuckDB's type, ours, whether ours is at least as specific (``specific``), and
whether every value equals what DuckDB reads when told our types (``values``). DuckDB is given
each file as UTF-8 (it is told the encoding, we are not: ours runs with ``encoding="auto"``) and
the same null markers as ours.
"""

from __future__ import annotations

import codecs
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from workbench.engines.readers import scan_file
from workbench.spec.models import FileSource

NULLS = ["", "NA", "N/A", "NULL", "null"]  # the reader's default markers

# files that are not UTF-8, and what they are (DuckDB is given them transcoded)
ENCODINGS = {"latin1.csv": "latin-1", "cp1252.csv": "cp1252", "utf16le_bom.csv": "utf-16",
             "utf16le.csv": "utf-16-le", "utf16be_bom.csv": "utf-16"}


@dataclass
class Column:
    file: str
    column: str
    duckdb: str
    ours: str
    specific: bool
    values: bool
    detail: str = ""


def read_ours(path: Path) -> tuple[pl.DataFrame, list[str]]:
    """The file as a job reads it (a failed pass is read again with widened types, as
    ``execute`` does)."""
    scan = scan_file(FileSource(path=str(path)))
    notes = list(scan.notes)
    try:
        for _ in range(4):
            try:
                return scan.frame.collect(), notes + list(scan.notes)
            except pl.exceptions.PolarsError as exc:
                wider = scan.rescan(exc)
                if wider is None:
                    raise
                scan = wider
        raise AssertionError("still failing after 4 passes")
    finally:
        scan.cleanup()


def _utf8_copy(path: Path, folder: Path) -> Path:
    enc = ENCODINGS.get(path.name)
    if enc is None:
        data = path.read_bytes()
        if not data.startswith(codecs.BOM_UTF8):
            return path
        text = data.decode("utf-8-sig")
    else:
        text = path.read_bytes().decode(enc)
    out = folder / path.name
    out.write_text(text, encoding="utf-8")
    return out


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con


def _is_json(path: Path) -> bool:
    return path.suffix in (".ndjson", ".json", ".jsonl")


def duckdb_types(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    fn = "read_json_auto" if _is_json(path) else "read_csv_auto"
    rel = con.sql(f"SELECT * FROM {fn}('{path}')")
    return dict(zip(rel.columns, (str(t) for t in rel.types)))


def duck_type(dtype: pl.DataType, fallback: str) -> str:
    """Our Polars type as the DuckDB type that holds the same values."""
    simple = {pl.Boolean: "BOOLEAN", pl.Int8: "TINYINT", pl.Int16: "SMALLINT", pl.Int32: "INTEGER",
              pl.Int64: "BIGINT", pl.Int128: "HUGEINT", pl.UInt8: "UTINYINT", pl.UInt16: "USMALLINT",
              pl.UInt32: "UINTEGER", pl.UInt64: "UBIGINT", pl.UInt128: "UHUGEINT",
              pl.Float32: "FLOAT", pl.Float64: "DOUBLE", pl.String: "VARCHAR", pl.Date: "DATE",
              pl.Time: "TIME"}
    for k, v in simple.items():
        if dtype == k:
            return v
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone:
            return "TIMESTAMPTZ"
        return {"ms": "TIMESTAMP_MS", "us": "TIMESTAMP", "ns": "TIMESTAMP_NS"}[dtype.time_unit or "us"]
    return fallback


def duckdb_read_as(con: duckdb.DuckDBPyConnection, path: Path, types: dict[str, str]) -> pl.DataFrame:
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
    nulls = "[" + ", ".join(f"'{m}'" for m in NULLS) + "]"
    if _is_json(path):
        return con.sql(f"SELECT * FROM read_json('{path}', columns={cols})").pl()
    return con.sql(f"SELECT * FROM read_csv('{path}', types={cols}, nullstr={nulls}, "
                   f"header=true)").pl()


_NUMERIC_RANK = {"DOUBLE": 1, "FLOAT": 1, "DECIMAL": 2, "BIGINT": 3, "HUGEINT": 3, "INTEGER": 3,
                 "SMALLINT": 3, "TINYINT": 3, "UBIGINT": 3, "UHUGEINT": 3, "UINTEGER": 3}


def _base(t: str) -> str:
    return t.split("(")[0].strip().upper()


def at_least_as_specific(duck: str, ours: pl.DataType) -> bool:
    """Whether our type says at least what DuckDB's does about the values."""
    d = _base(duck)
    if d == "VARCHAR":
        return True
    mine = _base(duck_type(ours, "NESTED"))
    if d in _NUMERIC_RANK:
        return mine in _NUMERIC_RANK and _NUMERIC_RANK[mine] >= _NUMERIC_RANK[d]
    if d in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return mine in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS")
    if d == "TIMESTAMP WITH TIME ZONE" or d == "TIMESTAMPTZ":
        return mine == "TIMESTAMPTZ"
    if d in ("STRUCT", "MAP") or duck.endswith("[]"):
        return ours.is_nested() or (d == "STRUCT" and ours == pl.String and duck == "STRUCT()")
    return d == mine


def _normal(s: pl.Series, like: pl.DataType | None = None) -> pl.Series:
    if like is not None and like.is_integer() and isinstance(s.dtype, pl.Decimal):
        s = s.cast(like)  # DuckDB's HUGEINT reaches Polars as Decimal(38, 0): same integers
    if isinstance(s.dtype, pl.Datetime):
        s = s.dt.cast_time_unit("us")
        if s.dtype.time_zone:  # type: ignore[union-attr]
            s = s.dt.convert_time_zone("UTC")
    return s


def compare_file(path: Path) -> list[Column]:
    con = _connect()
    with tempfile.TemporaryDirectory() as tmp:
        plain = _utf8_copy(path, Path(tmp))
        duck = duckdb_types(con, plain)
        ours, _notes = read_ours(path)
        out: list[Column] = []
        told = {c: duck_type(ours.schema[c], duck.get(c, "VARCHAR")) for c in ours.columns}
        try:
            theirs = duckdb_read_as(con, plain, told)
            error = ""
        except duckdb.Error as exc:
            theirs, error = None, str(exc).splitlines()[0][:120]
        for c in ours.columns:
            dtype = ours.schema[c]
            specific = c in duck and at_least_as_specific(duck[c], dtype)
            if theirs is None or c not in theirs.columns:
                equal, detail = False, error or "DuckDB has no such column"
            else:
                a, b = _normal(ours[c]), _normal(theirs[c], ours.schema[c])
                try:
                    equal = a.dtype == b.dtype and a.equals(b, check_names=False)
                except Exception as exc:  # noqa: BLE001 (a report, not a test)
                    equal, detail = False, str(exc)[:120]
                detail = "" if equal else f"{a.dtype} vs {b.dtype}: first differences " \
                    f"{_first_diff(a, b)}"
            out.append(Column(path.name, c, duck.get(c, "-"), str(dtype), specific, equal, detail))
        return out


def _first_diff(a: pl.Series, b: pl.Series) -> str:
    try:
        if len(a) != len(b):
            return f"{len(a)} rows vs {len(b)}"
        for i, (x, y) in enumerate(zip(a.to_list(), b.to_list())):
            if x != y and not (x != x and y != y):
                return f"row {i}: {x!r} vs {y!r}"
    except Exception as exc:  # noqa: BLE001
        return str(exc)[:80]
    return "(dtype)"
