"""Reading a workbench dataset the way other engines do: through its Iceberg table only."""

from __future__ import annotations

import polars as pl
import pyarrow.dataset as pads

from workbench import iceberg
from workbench.context import Context


def table(name: str, ctx: Context | None = None):
    ctx = ctx or Context.from_settings()
    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    return iceberg.load_table(ice, ctx.namespace, name)


def by_pyiceberg(tbl, snapshot_id: int) -> pl.DataFrame:
    return pl.from_arrow(tbl.scan(snapshot_id=snapshot_id).to_arrow())


def by_polars(tbl, snapshot_id: int) -> pl.DataFrame:
    # Polars reads the files itself: on S3 it needs the endpoint and keys as storage_options
    opts = Context.from_settings().storage.storage_options()
    return pl.scan_iceberg(tbl, snapshot_id=snapshot_id, storage_options=opts).collect()


def by_pyarrow(tbl, snapshot_id: int) -> pl.DataFrame:
    """A plain Parquet reader given only the snapshot's file list (Trino/Spark plan the same)."""
    files = iceberg.snapshot_locations(tbl, snapshot_id)
    fs, paths = _filesystem(tbl, files)
    return pl.from_arrow(pads.dataset(paths, format="parquet", filesystem=fs).to_table())


def _filesystem(tbl, files: list[str]):
    if files[0].startswith("file://"):
        return None, [f[len("file://"):] for f in files]
    from pyarrow.fs import S3FileSystem

    p = tbl.io.properties
    fs = S3FileSystem(endpoint_override=p["s3.endpoint"], access_key=p["s3.access-key-id"],
                      secret_key=p["s3.secret-access-key"], region=p.get("s3.region", "us-east-1"),
                      scheme="http" if p["s3.endpoint"].startswith("http://") else "https")
    return fs, [f[len("s3://"):] for f in files]


def same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    cols = sorted(a.columns)
    if sorted(b.columns) != cols:
        return False
    return a.select(cols).sort(cols).equals(b.select(cols).sort(cols))
