"""``partition_by`` as an Iceberg partition spec: identity, day, month, year and bucket.

Each transform's version is one snapshot that pyiceberg, ``pl.scan_iceberg`` and ``wb.read``
read alike; the table's spec has the transform; a filter on the source column prunes files; and
every file's partition value is what Iceberg's own transform (pyiceberg's Python one, the
reference implementation of the spec) gives for each of its rows.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from ice_helpers import by_polars, by_pyiceberg, same, table
from pyiceberg.transforms import parse_transform

import workbench as wb
from workbench import iceberg
from workbench.context import Context
from workbench.dataset_store import dataset_prefix

ROWS = 60
# (partition_by entry, Iceberg field name, Iceberg transform, a filter on the source column)
CASES = [
    ("region", "region", "identity", "region == 'n'"),
    ("day(ts)", "ts_day", "day", "ts < '2024-01-03T00:00:00'"),
    ("month(ts)", "ts_month", "month", "ts >= '2024-03-01T00:00:00'"),
    ("year(d)", "d_year", "year", "d < '1970-01-01'"),
    ("bucket(8, id)", "id_bucket_8", "bucket[8]", "id == 17"),
]


def _frame() -> pl.DataFrame:
    start = dt.datetime(2023, 12, 30, 7)
    return pl.DataFrame({
        "id": list(range(ROWS)),
        "region": ["n", "s", "e", "w", None][:4] * (ROWS // 4),
        # every 37 hours: days, months and a year boundary; one null
        "ts": [start + dt.timedelta(hours=37 * i) if i != 5 else None for i in range(ROWS)],
        # dates before and after the epoch (negative years since 1970)
        "d": [dt.date(1960 + i % 20, 1 + i % 12, 1) for i in range(ROWS)],
        "amount": [i * 1.5 for i in range(ROWS)],
    })


def _ingest(tmp_path, name: str, partition_by: list[str], frame: pl.DataFrame | None = None,
            mode: str = "overwrite"):
    path = tmp_path / f"{name}.parquet"
    (frame if frame is not None else _frame()).write_parquet(path)
    return wb.ingest(str(path), name=name, mode=mode, partition_by=partition_by)


@pytest.mark.parametrize("entry,field,transform,row_filter", CASES, ids=[c[0] for c in CASES])
def test_each_transform_is_the_tables_spec_and_every_engine_reads_alike(
        home, tmp_path, entry, field, transform, row_filter):
    ds = _ingest(tmp_path, "parts", [entry])
    assert ds.snapshot_id is not None, ds.snapshot_note
    ours = wb.read("parts").collect()
    assert same(ours, _frame()) and ours.schema == _frame().schema
    tbl = table("parts")
    assert [(f.name, str(f.transform)) for f in tbl.spec().fields] == [(field, transform)]
    assert same(by_pyiceberg(tbl, ds.snapshot_id), ours)
    assert same(by_polars(tbl, ds.snapshot_id), ours)
    # a filter on the source column reads fewer files, and still every row it asks for
    every = list(tbl.scan(snapshot_id=ds.snapshot_id).plan_files())
    pruned = list(tbl.scan(snapshot_id=ds.snapshot_id, row_filter=row_filter).plan_files())
    assert len(every) == len(ds.files) > 1
    assert 0 < len(pruned) < len(every)
    filtered = pl.from_arrow(tbl.scan(snapshot_id=ds.snapshot_id, row_filter=row_filter).to_arrow())
    assert filtered.height == pl.SQLContext(t=ours).execute(
        f"select * from t where {_sql(row_filter)}").collect().height > 0
    # each file's partition value is the transform of every row in it, as Iceberg defines it
    schema = tbl.schema()
    for task in every:
        spec_field = tbl.specs()[task.file.spec_id].fields[0]
        fn = parse_transform(str(spec_field.transform)).transform(
            schema.find_field(spec_field.source_id).field_type)
        rows = pl.read_parquet(_local(task.file.file_path), storage_options=_opts())
        column = schema.find_column_name(spec_field.source_id)
        assert {fn(_iceberg_value(v)) for v in rows[column].to_list()} == {task.file.partition[0]}


def test_transforms_together_and_a_spec_that_changes(home, tmp_path):
    ds1 = _ingest(tmp_path, "multi", ["region", "month(ts)", "bucket(4, id)"])
    tbl = table("multi")
    assert [str(f.transform) for f in tbl.spec().fields] == ["identity", "month", "bucket[4]"]
    assert same(by_polars(tbl, ds1.snapshot_id), wb.read("multi").collect())
    assert any("/region=n/ts_month=2024-01/id_bucket_4=" in f["key"] for f in ds1.files)
    # append under another spec: the old files keep theirs, the new ones get the new one
    ds2 = _ingest(tmp_path, "multi", ["day(ts)"], _frame().with_columns(pl.col("id") + 100),
                  mode="append")
    tbl = table("multi")
    assert [(f.name, str(f.transform)) for f in tbl.spec().fields] == [("ts_day", "day")]
    assert {t.file.spec_id for t in tbl.scan(snapshot_id=ds2.snapshot_id).plan_files()} == \
        {s.spec_id for s in tbl.specs().values() if s.fields}
    for reader in (by_pyiceberg, by_polars):
        assert same(reader(tbl, ds2.snapshot_id), wb.read("multi").collect())
    assert wb.read("multi").collect().height == 2 * ROWS
    # overwrite without partitions: one file, an unpartitioned spec
    ds3 = _ingest(tmp_path, "multi", [])
    tbl = table("multi")
    assert list(tbl.spec().fields) == [] and len(ds3.files) == 1
    assert same(by_pyiceberg(tbl, ds3.snapshot_id), _frame())
    # the earlier versions read as they were, by workbench and by snapshot id
    assert same(wb.read("multi", version=ds1.version).collect(), _frame())
    assert same(by_pyiceberg(tbl, ds1.snapshot_id), _frame())


def test_zoned_and_millisecond_datetimes_partition_by_their_utc_instant(wb_home, tmp_path):
    base = [dt.datetime(2024, 1, 31, 23, 30), dt.datetime(2024, 2, 1, 0, 30),
            dt.datetime(2023, 12, 31, 23, 59), dt.datetime(1969, 12, 31, 23, 0)]
    frame = pl.DataFrame({"id": [1, 2, 3, 4]}).with_columns(
        ms=pl.Series(base).cast(pl.Datetime("ms")),
        utc=pl.Series(base).dt.replace_time_zone("UTC"),
        # 2023-12-31 23:59 UTC is 2024 in Paris: the year is the UTC instant's
        paris=pl.Series(base).dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Paris"))
    ds = _ingest(tmp_path, "zoned", ["day(utc)", "month(ms)", "bucket(3, ms)", "year(paris)"],
                 frame)
    assert wb.read("zoned").collect().sort("id").equals(frame)
    tbl = table("zoned")
    tasks = list(tbl.scan(snapshot_id=ds.snapshot_id).plan_files())
    assert len(tasks) == 4
    got = {}
    for task in tasks:
        rows = pl.read_parquet(_local(task.file.file_path))
        got[rows["id"].item()] = tuple(task.file.partition)
    schema = tbl.schema()
    for i, when in zip([1, 2, 3, 4], base):
        micros = (when - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
        want = tuple(parse_transform(t).transform(schema.find_field(c).field_type)(micros)
                     for t, c in (("day", "utc"), ("month", "ms"), ("bucket[3]", "ms"),
                                  ("year", "paris")))
        assert got[i] == want, (i, got[i], want)


@pytest.mark.parametrize("partition_by,message", [
    (["day(region)"], "partition_by 'day(region)': column 'region' is String; day() needs a "
                      "date or datetime column"),
    (["bucket(4, amount)"], "partition_by 'bucket(4, amount)': column 'amount' is Float64; "
                            "bucket() takes integers, decimals, dates, datetimes, strings and "
                            "binary"),
    (["hour(ts)"], "partition_by entry 'hour(ts)': unknown transform 'hour'; use one of "
                   "identity, day, month, year, bucket (e.g. 'day(ts)', 'bucket(16, id)')"),
    (["bucket(id)"], "partition_by entry 'bucket(id)': bucket needs a number of buckets and a "
                     "column, as in 'bucket(16, id)'"),
    (["day(missing)"], "sink names a column that does not exist: missing"),
])
def test_a_transform_that_does_not_fit_is_refused_before_any_write(wb_home, tmp_path,
                                                                   partition_by, message):
    path = tmp_path / "in.parquet"
    _frame().write_parquet(path)
    with pytest.raises(wb.WorkbenchError) as err:
        wb.run(wb.Pipeline(source=wb.file(str(path)),
                           sink=wb.dataset("bad", partition_by=partition_by)))
    # a malformed entry is refused as the spec is built, a type misfit as the job starts
    assert err.value.message in (message, f"invalid pipeline spec at partition_by: {message}")
    assert [d.name for d in wb.list_datasets()] == []
    ctx = Context.from_settings()
    assert list(ctx.storage.list(dataset_prefix(ctx.namespace, "bad"))) == []


def test_a_manifest_without_partition_records_is_placed_from_its_statistics(wb_home, tmp_path):
    """Versions written before the writer kept each file's partition (identity only then):
    the commit takes the value from the file's min and max, as ``add_files`` does."""
    ds = _ingest(tmp_path, "older", ["region", "day(ts)"])
    ctx = Context.from_settings()
    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    iceberg.drop(ice, ctx.namespace, "older")
    snap = iceberg.commit_snapshot(
        ice, ctx.storage, namespace=ctx.namespace, name="older", version=ds.version,
        job_id="again", keys=[f["key"] for f in ds.files],
        table_location=iceberg.location(ctx.storage, dataset_prefix(ctx.namespace, "older")),
        partition_by=["region", "day(ts)"], properties={})
    tbl = table("older")
    placed = {t.file.file_path: tuple(t.file.partition)
              for t in tbl.scan(snapshot_id=snap.snapshot_id).plan_files()}
    assert placed == {iceberg.location(ctx.storage, f["key"]):
                      (f["partition"]["region"], f["partition"]["ts_day"]) for f in ds.files}
    assert same(by_pyiceberg(tbl, snap.snapshot_id), wb.read("older").collect())


def test_spellings_of_a_spec_and_its_yaml_round_trip(tmp_path):
    sink = wb.dataset("d", partition_by=["region", " days( ts ) ", "bucket(user_id, 16)",
                                         "MONTH(ts)", "Years(d)", "identity(day(x))"])
    assert sink.partition_by == ["region", "day(ts)", "bucket(16, user_id)", "month(ts)",
                                 "year(d)", "identity(day(x))"]
    p = wb.Pipeline(source=wb.file("in.csv"), sink=sink)
    (tmp_path / "p.yaml").write_text(wb.dump_pipeline(p))
    assert "- bucket(16, user_id)" in wb.dump_pipeline(p)
    assert wb.load_pipeline(tmp_path / "p.yaml") == p
    for bad, says in [("bucket(0, id)", "between 1 and"), ("day()", "needs a column"),
                      ("day(ts", "unbalanced"), ("truncate(4, s)", "unknown transform")]:
        with pytest.raises(wb.SpecError, match=re.escape(says)):
            wb.dataset("d", partition_by=[bad])
    with pytest.raises(wb.SpecError, match="names the partition field 'ts_day' twice"):
        wb.dataset("d", partition_by=["day(ts)", "days(ts)"])


def _iceberg_value(v):
    if isinstance(v, dt.datetime):
        return (v - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
    if isinstance(v, dt.date):
        return (v - dt.date(1970, 1, 1)).days
    return v


def _sql(row_filter: str) -> str:
    # the same filter in Polars SQL: timestamps and dates as typed literals
    out = row_filter.replace("==", "=")
    if "ts " in out:
        out = out.replace("'20", "TIMESTAMP '20").replace("T00:00:00", " 00:00:00")
    if out.startswith("d "):
        out = out.replace("'19", "DATE '19")
    return out


def _opts() -> dict:
    return Context.from_settings().storage.storage_options() or {}


def _local(location: str) -> str:
    return location[len("file://"):] if location.startswith("file://") else location
