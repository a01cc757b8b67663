"""Datasets as Apache Iceberg tables: one table per dataset, one snapshot per dataset version.

The streaming writer writes Parquet as before; committing a version registers its files as
exactly one Iceberg snapshot (``add_files`` reads their footers only, nothing is copied):

* the version keeps every file of the current snapshot (append): a fast append of the new files;
* otherwise (create, overwrite, upsert): one ``overwrite`` snapshot that removes the files the
  version no longer has and adds its new ones, in one commit.

The snapshot summary carries ``wb.version``, ``wb.job``, ``wb.rows``, ``wb.checksum`` and
``wb.manifest`` (the version's manifest: profile, checks, inputs with their checksums, lineage).
A job id and version already in the table's snapshots is not committed again, so a run that
died between the snapshot and the catalog row is finished by the next run without a second
snapshot.

The catalog (``WORKBENCH_ICEBERG_CATALOG``): ``sql`` (default), pyiceberg's SQL catalog in the
workbench catalog database (its own tables ``iceberg_tables`` and
``iceberg_namespace_properties``); an ``https://`` URI, an Iceberg REST catalog (R2 Data Catalog,
Polaris, Nessie …) with ``WORKBENCH_ICEBERG_WAREHOUSE`` and ``WORKBENCH_ICEBERG_TOKEN``; or
``none``. The table of dataset ``name`` in namespace ``ns`` is ``ns.name`` (both validated names,
passed as a tuple, never parsed from a string), its location the dataset's folder.

The catalog itself (which one, opened once per process) is ``iceberg_catalog.py``. pyiceberg is
imported inside the functions (heavy optional dependency: ~0.5 s to import).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from .errors import TransientError
# the catalog side, re-exported: callers use iceberg.open_iceberg, iceberg.location, …
from .iceberg_catalog import (  # noqa: F401
    enabled, io_properties, location, needs_warm_up, open_iceberg, warm_up,
)
from .iceberg_files import data_files, sync_spec
from .names import check_name, check_namespace
from .storage import Storage


@dataclass(frozen=True)
class Snapshot:
    """The Iceberg snapshot of one version, or why there is none (``snapshot_id`` None)."""

    snapshot_id: int | None
    timestamp_ms: int | None
    table: str | None
    note: str | None = None
    # the table was dropped (and maybe made anew) on the way: older snapshots are gone
    dropped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "timestamp_ms": self.timestamp_ms,
                "table": self.table, "note": self.note}


def identifier(namespace: str, name: str) -> tuple[str, str]:
    """The table of a dataset: (namespace, name), both checked against the name rules."""
    return check_namespace(namespace), check_name(name, "dataset name")


def load_table(ice: Any, namespace: str, name: str) -> Any | None:
    # heavy optional dependency: imported on first use
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return ice.load_table(identifier(namespace, name))
    except NoSuchTableError:
        return None


def find_snapshot(table: Any, version: int, job_id: str | None) -> Any | None:
    """The snapshot an earlier run committed for this version and job, or None."""
    for snap in table.snapshots():
        props = snap.summary.additional_properties if snap.summary else {}
        if props.get("wb.version") == str(version) and props.get("wb.job") == str(job_id):
            return snap
    return None


def current_locations(table: Any) -> dict[str, Any]:
    """Data files of the current snapshot: location -> DataFile."""
    snap = table.current_snapshot()
    if snap is None:
        return {}
    # heavy optional dependency: imported on first use
    from .iceberg_overwrite import lists_live_files

    out = {}
    for manifest in snap.manifests(table.io):
        if not lists_live_files(manifest):  # only the deletions of an earlier snapshot
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            out[entry.data_file.file_path] = entry.data_file
    return out


def snapshot_locations(table: Any, snapshot_id: int) -> list[str]:
    """Every data file the snapshot lists (what any engine reading it reads)."""
    return [t.file.file_path for t in table.scan(snapshot_id=snapshot_id).plan_files()]


def _arrow_schema(table_io: Any, file_location: str) -> Any:
    # heavy optional dependency: imported on first use
    import pyarrow.parquet as pq

    with table_io.new_input(file_location).open() as stream:
        return pq.read_schema(stream)


def _unsupported(arrow_schema: Any) -> str | None:
    """Why Iceberg (format v2) cannot hold these columns, or None."""
    # heavy optional dependency: imported on first use
    from pyiceberg.catalog import Catalog
    from pyiceberg.io.pyarrow import (
        UnsupportedPyArrowTypeException,
        _check_pyarrow_schema_compatible,
    )
    from pyiceberg.schema import assign_fresh_schema_ids

    for field in arrow_schema:
        wide = _wide_unsigned(field.type)
        if wide:
            # pyiceberg maps uint32 to int and uint64 to long: large values would read negative
            return (f"Iceberg v2 cannot hold these columns: {field.name!r} is {wide} (no unsigned "
                    "integers in Iceberg; cast it to a signed or decimal type to get a table)")
    try:
        schema = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(arrow_schema))
        _check_pyarrow_schema_compatible(schema, arrow_schema, format_version=2)
    except (ValueError, TypeError, NotImplementedError, UnsupportedPyArrowTypeException) as exc:
        # Time, Duration and nanosecond timestamps (v3 only) raise the last one
        return f"Iceberg v2 cannot hold these columns: {_first_line(exc)}"
    return None


def _too_wide(columns: int, max_columns: int | None) -> str | None:
    if max_columns is None or columns <= max_columns:
        return None
    return (f"no Iceberg snapshot for {columns:,} columns: over WORKBENCH_ICEBERG_MAX_COLUMNS "
            f"({max_columns:,}); workbench reads the version as usual (raise the setting to give "
            "wide versions a table; the commit then costs about a millisecond per column)")


def _first_line(exc: BaseException) -> str:
    """The message, with the column pyiceberg's wrapper names and the cause it wraps."""
    text = str(exc).splitlines()[0][:300]
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause).splitlines()[0] not in text:
        text += f" ({str(cause).splitlines()[0][:200]})"
    return text


def _wide_unsigned(dtype: Any) -> str | None:
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    if pa.types.is_uint32(dtype) or pa.types.is_uint64(dtype):
        return str(dtype)
    if pa.types.is_struct(dtype):
        return next((w for f in dtype for w in [_wide_unsigned(f.type)] if w), None)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or \
            pa.types.is_fixed_size_list(dtype):
        return _wide_unsigned(dtype.value_type)
    if pa.types.is_map(dtype):
        return _wide_unsigned(dtype.key_type) or _wide_unsigned(dtype.item_type)
    return None


def commit_snapshot(ice: Any, storage: Storage, *, namespace: str, name: str, version: int,
                    job_id: str | None, keys: list[str], table_location: str,
                    partition_by: list[str], properties: dict[str, str],
                    restore: bool = False, max_columns: int | None = None,
                    file_info: dict[str, dict[str, Any]] | None = None) -> Snapshot:
    """Make ``keys`` (every file of ``version``) the table's current snapshot, in one commit.

    Idempotent per (version, job id). A version whose columns Iceberg cannot hold gets no
    snapshot; the table is dropped then, so no engine reads it as the latest (``note`` says why).
    A version that reaches the table after a later one did (two writers, the earlier one
    slower) is committed on a branch of its own, ``wb-v<N>``: readable by snapshot id, and the
    later version stays current. ``restore``: always on main (``point_at``). ``max_columns``:
    a wider version gets no snapshot either (pyiceberg copies the whole table metadata on each
    update, about a millisecond per column per commit). ``file_info``: each key's manifest
    entry (its size and the partition record the writer computed).
    """
    # heavy optional dependency: imported on first use
    from pyiceberg.exceptions import CommitFailedException

    from .iceberg_overwrite import overwrite as live_overwrite

    ident = identifier(namespace, name)
    label = ".".join(ident)
    wanted = [location(storage, k) for k in keys]
    # (a location is a path resolved on local storage: once per file, not twice)
    info = {loc: file_info[k] for k, loc in zip(keys, wanted) if file_info and k in file_info}
    table = load_table(ice, namespace, name)
    if table is not None:
        done = find_snapshot(table, version, job_id)
        if done is not None:
            return Snapshot(done.snapshot_id, done.timestamp_ms, label)
    if table is None:
        # heavy optional dependency: imported on first use
        from pyiceberg.io import load_file_io

        table_io = load_file_io(ice.properties, table_location)
    else:
        table_io = table.io
    try:
        schema = _arrow_schema(table_io, wanted[0])
        why = _too_wide(len(schema), max_columns) or _unsupported(schema)
    except (ValueError, TypeError, NotImplementedError) as exc:  # Arrow cannot read the types
        why = f"Iceberg v2 cannot hold these columns: {str(exc).splitlines()[0][:300]}"
    if why is not None:
        if table is not None:
            ice.drop_table(ident)
        return Snapshot(None, None, None, why, dropped=table is not None)
    if table is None:
        table = _create(ice, ident, schema, table_location)
    props = {**properties, "wb.version": str(version), "wb.job": str(job_id)}
    dropped = False
    # one writer wins each commit; the others recompute what to add and remove, and try again
    for attempt in range(10):
        try:
            if not _schema_fits(table, schema):
                table, made_anew = _evolve(ice, ident, table, schema, table_location)
                dropped = dropped or made_anew
            head = table.current_snapshot()
            head_version = int((head.summary.additional_properties if head and head.summary
                                else {}).get("wb.version", 0))
            branch = "main" if restore or head_version <= version else f"wb-v{version}"
            current = current_locations(table) if branch == "main" else {}
            with table.transaction() as tx:
                if tx.table_metadata.name_mapping() is None:  # files carry no field ids
                    tx.set_properties(**{"schema.name-mapping.default":
                                         tx.table_metadata.schema().name_mapping.model_dump_json()})
                sync_spec(tx, partition_by)
                added = [w for w in wanted if w not in current]
                removed = [d for loc, d in current.items() if loc not in set(wanted)]
                files = data_files(table.io, tx.table_metadata, added, info)
                update = tx.update_snapshot(snapshot_properties=props, branch=branch)
                with (live_overwrite(update) if removed else update.fast_append()) as producer:
                    for d in removed:
                        producer.delete_data_file(d)
                    for f in files:
                        producer.append_data_file(f)
            # the commit brought ``table`` up to date (pyiceberg's ``_do_commit`` sets the
            # metadata the catalog answered): no second load of the table
            snap = find_snapshot(table, version, job_id) or \
                find_snapshot(load_table(ice, namespace, name), version, job_id)
            return Snapshot(snap.snapshot_id, snap.timestamp_ms, label, dropped=dropped)
        except (CommitFailedException, ValueError) as exc:
            # a new branch asserts nothing about main, so a stale sequence number is how a
            # lost race on a branch commit shows
            if isinstance(exc, ValueError) and "sequence number" not in str(exc):
                raise
            time.sleep(0.05 * (attempt + 1) * (1 + random.random()))
            if attempt == 9:
                raise TransientError(f"the Iceberg table {label} kept changing under the commit "
                                     f"of version {version}") from None
            table = load_table(ice, namespace, name) or _create(ice, ident, schema, table_location)
            done = find_snapshot(table, version, job_id)
            if done is not None:
                return Snapshot(done.snapshot_id, done.timestamp_ms, label)
    raise AssertionError("unreachable")


def _create(ice: Any, ident: tuple[str, str], schema: Any, table_location: str) -> Any:
    # heavy optional dependency: imported on first use
    import sqlalchemy.exc
    from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError

    try:
        ice.create_namespace_if_not_exists(ident[0])
    except (NamespaceAlreadyExistsError, sqlalchemy.exc.IntegrityError):
        pass  # another writer made it a moment ago
    try:
        # Iceberg's own bound on old metadata files: the 10 newest are kept, older ones deleted
        table = ice.create_table(ident, schema=schema, location=table_location, properties={
            "write.metadata.delete-after-commit.enabled": "true",
            "write.metadata.previous-versions-max": "10",
            # a lost race comes back to commit_snapshot, which recomputes the replaced files;
            # pyiceberg's own retry would re-apply a stale list of them
            "commit.retry.num-retries": "0"})
    except (TableAlreadyExistsError, sqlalchemy.exc.IntegrityError):  # another writer was first
        return ice.load_table(ident)
    return table


def _schema_fits(table: Any, arrow_schema: Any) -> bool:
    current = table.schema()
    names = [f.name for f in current.fields]
    if names != list(arrow_schema.names):
        return False
    # heavy optional dependency: imported on first use
    from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible

    try:
        _check_pyarrow_schema_compatible(current, arrow_schema, format_version=2)
    except ValueError:
        return False
    return True


def _evolve(ice: Any, ident: tuple[str, str], table: Any, arrow_schema: Any,
            table_location: str) -> tuple[Any, bool]:
    """Bring the table's schema to the files' (columns added, dropped, widened). A change
    Iceberg cannot express (say string -> int) makes a new table: the old snapshots go with
    the old one, for other engines (workbench reads every version from its manifest)."""
    # heavy optional dependency: imported on first use
    from pyiceberg.exceptions import ValidationError

    try:
        with table.transaction() as tx:
            with tx.update_schema() as update:
                update.union_by_name(arrow_schema)
                for field in table.schema().fields:
                    if field.name not in arrow_schema.names:
                        update.delete_column(field.name)
            mapping = tx.table_metadata.schema().name_mapping.model_dump_json()
            tx.set_properties(**{"schema.name-mapping.default": mapping})
        table = ice.load_table(ident)
        if _schema_fits(table, arrow_schema):
            return table, False
    except (ValidationError, ValueError, TypeError):
        pass
    ice.drop_table(ident)
    return _create(ice, ident, arrow_schema, table_location), True


def expire_except(ice: Any, namespace: str, name: str, keep: set[int]) -> int:
    """Expire every snapshot but the current one and ``keep`` (the snapshots of versions the
    catalog still has); returns how many went. Iceberg's own operation: it removes them from
    the table's metadata; their data files are workbench's to delete (gc)."""
    table = load_table(ice, namespace, name)
    if table is None:
        return 0
    current = table.current_snapshot()
    # a version that reached the table late has a branch of its own (commit_snapshot): the
    # branch goes with the version, then its snapshot can expire
    stale = [ref for ref, r in table.metadata.refs.items()
             if ref != "main" and r.snapshot_id not in keep]
    if stale:
        with table.manage_snapshots() as manage:
            for ref in stale:
                manage.remove_branch(ref)
        table = load_table(ice, namespace, name)
    held = {r.snapshot_id for r in table.metadata.refs.values()}
    ids = [s.snapshot_id for s in table.snapshots()
           if s.snapshot_id not in keep and s.snapshot_id not in held
           and (current is None or s.snapshot_id != current.snapshot_id)]
    if ids:
        table.maintenance.expire_snapshots().by_ids(ids).commit()
    return len(ids)


def point_at(ice: Any, storage: Storage, *, namespace: str, name: str, version: int,
             keys: list[str], table_location: str, partition_by: list[str],
             reason: str, file_info: dict[str, dict[str, Any]] | None = None
             ) -> Snapshot | None:
    """Make the table's current snapshot hold ``keys`` again (after the newest version was
    deleted), unless it already does."""
    table = load_table(ice, namespace, name)
    if table is None:
        return None
    if set(current_locations(table)) == {location(storage, k) for k in keys}:
        return None
    return commit_snapshot(ice, storage, namespace=namespace, name=name, version=version,
                           job_id=reason, keys=keys, table_location=table_location,
                           partition_by=partition_by, properties={"wb.reason": reason},
                           restore=True, file_info=file_info)


def drop(ice: Any, namespace: str, name: str) -> bool:
    # heavy optional dependency: imported on first use
    from pyiceberg.exceptions import NoSuchTableError

    try:
        ice.drop_table(identifier(namespace, name))
        return True
    except NoSuchTableError:
        return False


def referenced_locations(ice: Any, namespace: str, name: str) -> set[str]:
    """Every data file and metadata file a live snapshot of the table still needs."""
    table = load_table(ice, namespace, name)
    if table is None:
        return set()
    out = {table.metadata_location}
    for log in table.metadata.metadata_log:
        out.add(log.metadata_file)
    for snap in table.snapshots():
        out.add(snap.manifest_list)
        for manifest in snap.manifests(table.io):
            out.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                out.add(entry.data_file.file_path)
    return out
