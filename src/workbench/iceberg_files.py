"""A version's Parquet files as Iceberg data files, in the table's partition spec.

``sync_spec`` makes the table's partition spec the sink's ``partition_by`` (identity, day,
month, year, bucket). ``data_files`` builds one ``DataFile`` per file from its Parquet footer
(column statistics, as ``add_files`` does) and its partition record: the values the writer
computed for the file (the manifest keeps them), else, for manifests written before those were
kept, the transform of the file's min and max (order-preserving transforms only; ``add_files``
cannot place bucket files at all). Footers are read on a few threads: a partitioned version
has a file per partition, and on S3 each footer is a request.
"""

from __future__ import annotations

import decimal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import InputError
from .spec.partitions import parse_partitions

_THREADS = 8


def sync_spec(tx: Any, partition_by: list[str]) -> None:
    """The table's default partition spec becomes ``partition_by``: fields no longer wanted go,
    new ones come (a file keeps the spec it was written with)."""
    # heavy optional dependency: imported on first use
    from pyiceberg.transforms import parse_transform

    wanted = {f.name: (f.column, f.iceberg) for f in parse_partitions(partition_by)}
    metadata = tx.table_metadata  # a copy with the transaction's updates: made once
    spec, schema = metadata.spec(), metadata.schema()
    have = {f.name: (schema.find_column_name(f.source_id), str(f.transform)) for f in spec.fields}
    if have == wanted:
        return
    with tx.update_spec() as update:
        for name, field in have.items():
            if wanted.get(name) != field:
                update.remove_field(name)
        for name, (column, transform) in wanted.items():
            if have.get(name) != (column, transform):
                update.add_field(column, parse_transform(transform), name)


def data_files(table_io: Any, metadata: Any, locations: list[str],
               info: dict[str, dict[str, Any]]) -> list[Any]:
    """One DataFile per location; ``info`` holds each location's manifest entry (``bytes``,
    ``partition``) where known."""
    if len(locations) <= 1:
        return [_data_file(table_io, metadata, loc, info.get(loc) or {}) for loc in locations]
    with ThreadPoolExecutor(min(_THREADS, len(locations)),
                            thread_name_prefix="workbench-iceberg-footer") as pool:
        return list(pool.map(lambda loc: _data_file(table_io, metadata, loc, info.get(loc) or {}),
                             locations))


def _data_file(table_io: Any, metadata: Any, location: str, entry: dict[str, Any]) -> Any:
    # heavy optional dependency: imported on first use
    import pyarrow.parquet as pq
    from pyiceberg.io.pyarrow import (
        compute_statistics_plan, data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    input_file = table_io.new_input(location)
    with input_file.open() as stream:
        parquet_metadata = pq.read_metadata(stream)
    schema = metadata.schema()
    spec = metadata.spec()
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=parquet_metadata,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema))
    known = entry.get("partition") or {}
    values = []
    for field in spec.fields:
        if field.name in known:
            values.append(_record_value(schema.find_field(field.source_id).field_type,
                                        str(field.transform), known[field.name]))
            continue
        try:
            values.append(statistics._partition_value(field, schema))
        except ValueError as exc:
            raise InputError(
                f"cannot place {location} in the partition field {field.name!r} "
                f"({field.transform}): {str(exc).splitlines()[0][:200]}",
                hint="write the version again (workbench records each file's partition as it "
                     "writes it)") from None
    size = entry.get("bytes")
    return DataFile.from_args(
        content=DataFileContent.DATA, file_path=location, file_format=FileFormat.PARQUET,
        partition=Record(*values),
        file_size_in_bytes=int(size) if size is not None else len(input_file),
        sort_order_id=None, spec_id=metadata.default_spec_id, equality_ids=None,
        key_metadata=None, **statistics.to_serialized_dict())


def _record_value(source_type: Any, transform: str, value: Any) -> Any:
    if value is None or transform != "identity":
        return value
    # heavy optional dependency: imported on first use
    from pyiceberg.types import DecimalType

    if isinstance(source_type, DecimalType):
        return decimal.Decimal(str(value))
    return value
