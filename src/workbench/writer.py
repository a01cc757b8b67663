"""Writing a dataset version: one streaming pass, staged files, checks, then the commit."""

from __future__ import annotations

from typing import Any, Callable

import polars as pl

from .context import Context
from .dataset_store import (
    HashingWriter, commit_version, data_prefix, get_dataset, prepare_commit,
    previous_files, scan_dataset,
)
from .engines.partitions import fields_for, key_exprs, key_name, path_segment, record_value
from .engines.profile import add_top_values, profile_from_stats, rows_only, schema_dict
from .engines.stored import restore, to_stored
from .errors import AlreadyExists, InputError, NotFound, WorkbenchError
from .monitor import Monitor
from .spec.models import DatasetSink, Pipeline
from .spec.partitions import PartitionField, parse_partitions
from .storage.read_back import LocalCopies, fetch_written


def sink_kwargs(sink: DatasetSink) -> dict[str, Any]:
    kw: dict[str, Any] = {"compression": sink.compression}
    if sink.compression_level is not None:
        kw["compression_level"] = sink.compression_level
    if sink.row_group_size is not None:
        kw["row_group_size"] = sink.row_group_size
    return kw


def check_append_schema(ctx: Context, name: str, schema: pl.Schema) -> None:
    try:
        ds = get_dataset(ctx, name)
    except NotFound:
        return
    old = {f["name"]: f["type"] for f in ds.schema["fields"]}
    new = {n: str(t) for n, t in schema.items()}
    if old != new:
        missing = [c for c in old if c not in new]
        extra = [c for c in new if c not in old]
        changed = [c for c in new if c in old and old[c] != new[c]]
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"new {extra}")
        if changed:
            parts.append("changed types " + ", ".join(f"{c}: {old[c]} -> {new[c]}" for c in changed))
        raise InputError(f"cannot append to {name!r}: the schema differs ({'; '.join(parts)})",
                         column=(missing or extra or changed or [None])[0],
                         hint="cast or select columns to match, or use mode='overwrite'")


class PartWriters:
    """One storage writer per Parquet file Polars produces (several when the sink partitions).

    ``stem`` names the files: ``part`` here, ``part-<file index>`` for a fan-out part.
    ``partitions`` holds each partitioned file's Iceberg partition record values by field name.
    """

    def __init__(self, ctx: Context, prefix: str, monitor: Monitor, *, stem: str = "part") -> None:
        self.ctx, self.prefix, self.monitor, self.stem = ctx, prefix, monitor, stem
        self.parts: list[tuple[str, Any, HashingWriter]] = []
        self.partitions: dict[str, dict[str, Any]] = {}
        self.fields: list[PartitionField] = []

    def target(self, partition_by: list[str], schema: pl.Schema) -> Any:
        """What ``sink_parquet`` writes to: partitioned files, or one file."""
        if partition_by:
            self.fields = fields_for(partition_by, schema)
            # the keys are computed columns (__wb_p<i>): left out of the files, which keep
            # every column of the frame as it is
            return pl.PartitionBy(self.prefix, key=key_exprs(self.fields, schema),
                                  file_path_provider=self.provider, include_key=False)
        return self.provider(None)

    def provider(self, args: Any) -> HashingWriter:
        keys = args.partition_keys.to_dicts()[0] if args is not None and \
            args.partition_keys is not None else {}
        values = [(f, keys.get(key_name(i))) for i, f in enumerate(self.fields)]
        # column names too: a column named "../../other/x" must not leave the dataset's prefix
        segs = "/".join(f"{_segment(f.name)}={_segment(path_segment(f, v))}" for f, v in values)
        key = f"{self.prefix}{segs + '/' if segs else ''}{self.stem}-{len(self.parts):05d}.parquet"
        if values:  # pragma: no cover - partitioned files are named on Polars' threads (_segment)
            record = {f.name: record_value(f, v) for f, v in values}
            self.partitions[key] = {k: v for k, v in record.items() if v is not ...}
        target = self.ctx.storage.open_write(key)
        hw = HashingWriter(target, self.monitor.on_bytes)
        self.parts.append((key, target, hw))
        return hw

    def file_entry(self, key: str, rows: int, hw: HashingWriter) -> dict[str, Any]:
        """The manifest's entry of one file (its partition record, when partitioned)."""
        entry: dict[str, Any] = {"key": key, "rows": int(rows), "bytes": hw.bytes,
                                 "sha256": hw.sha256}
        if key in self.partitions:
            entry["partition"] = self.partitions[key]
        return entry

    def read_back(self) -> LocalCopies | None:
        """From a bucket, one local copy of the written files for what reads them again (the
        checks, the profile; ``storage/read_back.py``); None where they are read in place."""
        return fetch_written(self.ctx.storage, [(k, hw.bytes, hw.sha256) for k, _t, hw in self.parts],
                             self.ctx.settings.home, self.monitor.job_id, on_phase=self.monitor.phase)

    def read_from(self, copies: LocalCopies | None) -> tuple[list[str], dict[str, Any] | None]:
        """Where the written files are read, and the storage options to read them with."""
        if copies is not None:
            return copies.paths, None
        return [self.ctx.storage.uri(k) for k, _t, _h in self.parts], self.ctx.storage.storage_options()

    def close_all(self) -> None:
        for _key, target, _hw in self.parts:
            target.close()

    def abort_all(self) -> None:
        for _key, target, _hw in self.parts:
            try:
                target.abort()
            except Exception:  # pragma: no cover - the write's own error is the one reported;
                pass  # what a failed abort leaves, gc removes


def _segment(value: Any) -> str:  # pragma: no cover - run on Polars' threads (HashingWriter)
    text = "__null__" if value is None else str(value)
    # partition values become key segments: keep them to a safe alphabet
    return "".join(ch if ch.isalnum() or ch in "-_.:" else f"%{ord(ch):02X}" for ch in text)[:200]


def written_rows(uri: str, opts: dict[str, Any] | None) -> int:
    """The rows of one written Parquet file, from its footer."""
    return int(pl.scan_parquet(uri, storage_options=opts or None).select(pl.len()).collect().item())


def write_dataset(frame: pl.LazyFrame, *, sink: DatasetSink, ctx: Context, job_id: str,
                  attempt: int, pipeline: Pipeline, schema: pl.Schema, monitor: Monitor,
                  stats_exprs: list[pl.Expr], commit_guard: Callable, inputs: Callable
                  ) -> dict[str, Any]:
    name = sink.name
    storage = ctx.storage
    if sink.mode == "create":
        try:
            get_dataset(ctx, name)
            raise AlreadyExists(f"dataset {name!r} already exists", step="write",
                                hint="use mode='overwrite' for a new version, or 'append'")
        except NotFound:
            pass
    named = [f.column for f in parse_partitions(sink.partition_by)] + sink.keys
    missing_parts = [c for c in named if c not in schema]
    if missing_parts:
        raise InputError(f"sink names a column that does not exist: {', '.join(missing_parts)}",
                         column=missing_parts[0], step="write",
                         hint=f"columns are: {', '.join(schema.names())}")
    fields_for(sink.partition_by, schema)  # each transform fits its column, before any write
    if sink.mode == "append":
        check_append_schema(ctx, name, schema)
    if sink.mode == "upsert":
        check_append_schema(ctx, name, schema)
        try:
            old = scan_dataset(ctx, name)
            frame = pl.concat([old.join(frame, on=sink.keys, how="anti", nulls_equal=True), frame])
        except NotFound:
            pass

    prepare_commit(ctx)  # the Iceberg library loads while the rows stream
    # A dead earlier attempt of this same job may have left files: they were never visible (no
    # version of the job exists, ``execute`` looked), and none of those attempts can commit any
    # more (``check_attempt_current``). A later attempt's folder is never touched: should this
    # attempt be one that a later attempt took over, that one may have committed from it.
    for earlier in range(1, attempt + 1):
        storage.delete_prefix(data_prefix(ctx.namespace, name, job_id, earlier))
    prefix = data_prefix(ctx.namespace, name, job_id, attempt)
    writers = PartWriters(ctx, prefix, monitor)
    try:
        # zoned datetimes in UTC, Enum as String, Array as List (engines/stored.py)
        sink_q = to_stored(frame, schema).sink_parquet(
            writers.target(sink.partition_by, schema), lazy=True, **sink_kwargs(sink))
        if rows_only(stats_exprs):
            # nothing but the row count, which the written files' footers hold: a second
            # branch of the pass costs 0.13 s of 0.8 on 10,000 columns x 1,000 rows
            sink_q.collect(engine="streaming")
            stats_df = None
        else:
            _, stats_df = pl.collect_all([sink_q, frame.select(stats_exprs)], engine="streaming")
        monitor.check_cancel()
        writers.close_all()
    except BaseException:
        writers.abort_all()
        storage.delete_prefix(prefix)
        raise

    copies = None
    try:
        copies = writers.read_back()
        uris, opts = writers.read_from(copies)
        part_rows = [written_rows(u, opts) for u in uris] \
            if stats_df is None or len(uris) > 1 else None
        stats = stats_df.row(0, named=True) if stats_df is not None else \
            {"__p.rows": sum(part_rows or [])}
        staged = restore(pl.scan_parquet(uris, storage_options=opts), dict(schema))
        monitor.phase("checks")
        checks = commit_guard(stats, staged)
        profile = profile_from_stats(schema, stats)
        add_top_values(profile, staged, schema, on_phase=monitor.phase)
        if copies:
            copies.remove()  # read for the last time: its disk is free before the commit
        files = []
        for i, (key, _target, hw) in enumerate(writers.parts):
            rows = part_rows[i] if part_rows is not None else int(stats["__p.rows"])
            files.append(writers.file_entry(key, rows, hw))
        monitor.phase("checksums")
        input_list = inputs()
        monitor.phase("commit")
        base = previous_files(ctx, name)[0] if sink.mode == "append" else []
        ds = commit_version(
            ctx, name=name, job_id=job_id, files=files, rows=int(stats["__p.rows"]),
            schema=schema_dict(schema, profile), profile=profile,
            spec=pipeline.model_dump(mode="json"), inputs=input_list,
            bytes_in=sum(int(i.get("size") or 0) for i in input_list), checks=checks,
            mode=sink.mode, base_files=base, on_phase=monitor.phase, attempt=attempt,
        )
    except BaseException as exc:
        if not getattr(exc, "workbench_keep_files", False):  # committed as a snapshot already
            storage.delete_prefix(prefix)
        raise
    finally:
        if copies:
            copies.remove()
    return ds.to_dict()


__all__ = ["write_dataset", "written_rows", "WorkbenchError"]
