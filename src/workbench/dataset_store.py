"""Datasets: layout in storage, the manifest, the atomic commit, and reading back.

Layout under the storage root (every segment a validated name)::

    <namespace>/datasets/<name>/data/<job_id>/a<attempt>/part-00000.parquet   data of one attempt
    <namespace>/datasets/<name>/v000001.manifest.json                        written last

The job id is a folder of its own, so no job's prefix is a prefix of another job's: with the
older ``data/<job_id>-a<attempt>/`` layout, cleaning job ``nightly`` (``data/nightly-a``) also
deleted job ``nightly-a1``'s committed files. Versions written in that layout still read, since
a manifest names its files' keys; ``gc`` recognises both layouts.

A version exists once its manifest exists (written with put-if-absent, so exactly one writer
wins), its Iceberg snapshot is committed (``iceberg.py``: the dataset's table, for every other
engine) *and* its catalog row is committed. A run that died after the manifest is finished by
the next run of the same job (``find_committed``): the snapshot is committed once per job and
version, the row follows. Data files that no manifest names are leftovers of a dead attempt;
the next run of the same job, or ``workbench gc``, removes them. The manifest stays the sidecar
of the snapshot (profile, checks, inputs, lineage; the summary names it).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import marshal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import polars as pl

from . import iceberg
from .catalog import VersionRecord
from .catalog_retry import CatalogUnavailable, is_transient
from .context import Context
from .engines.stored import restore
from .errors import AlreadyExists, NotFound, SpecError, Superseded
from .names import check_name
from .results import decode_rows
from .settings import get_settings
from .spec.models import validate_name
from .storage import open_storage


# ----------------------------------------------------------------------------- layout
def dataset_prefix(namespace: str, name: str) -> str:
    return f"{validate_name(namespace, 'namespace')}/datasets/{validate_name(name, 'dataset name')}/"


def data_prefix(namespace: str, name: str, job_id: str, attempt: int) -> str:
    return f"{job_data_prefix(namespace, name, job_id)}a{int(attempt)}/"


def job_data_prefix(namespace: str, name: str, job_id: str) -> str:
    """Folder of every attempt of one job (for cleaning a dead attempt's files); it ends in '/',
    so it never covers another job's files."""
    return f"{dataset_prefix(namespace, name)}data/{validate_name(job_id, 'job id')}/"


def legacy_data_prefix(namespace: str, name: str, job_id: str, attempt: int) -> str:
    """Where versions written before the per-job folders keep their files (read and gc only)."""
    return f"{dataset_prefix(namespace, name)}data/{validate_name(job_id, 'job id')}-a{int(attempt)}/"


def manifest_key(namespace: str, name: str, version: int) -> str:
    return f"{dataset_prefix(namespace, name)}v{version:06d}.manifest.json"


# ----------------------------------------------------------------------------- objects
@dataclass
class Dataset:
    """A committed dataset version, as ``wb.ingest`` and ``job.result`` return it."""

    name: str
    version: int
    rows: int
    bytes: int
    schema: dict[str, Any]
    profile: dict[str, Any]
    checksum: str
    uri: str
    files: list[dict[str, Any]] = field(default_factory=list)
    namespace: str = "default"
    created_at: float = 0.0
    job_id: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    bytes_in: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)
    # the version's Iceberg snapshot in the dataset's table (None: committed without one)
    snapshot_id: int | None = None
    # why the version has no snapshot (a type Iceberg v2 cannot hold), None otherwise
    snapshot_note: str | None = None

    kind = "dataset"

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        try:
            # a deep copy of plain values in C: asdict walks them in Python, which is most of
            # the cost of returning a profile of 100,000 columns
            data = marshal.loads(marshal.dumps(data))
        except ValueError:  # a value marshal does not know
            data = asdict(self)
        return {"kind": "dataset", **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dataset:
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def columns(self) -> list[str]:
        return [f["name"] for f in self.schema.get("fields", [])]

    def read(self) -> pl.LazyFrame:
        """A lazy frame over this version's Parquet files (what ``wb.read`` returns)."""
        return scan_dataset(Context.from_settings(), self.name, self.version)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, version={self.version}, rows={self.rows}, "
                f"columns={self.columns}, checksum={self.checksum[:12]}…, uri={self.uri!r})")


def result_object(result: dict[str, Any]) -> Any:
    """Turn a job's JSON result back into the object users expect."""
    kind = result.get("kind")
    if kind == "dataset":
        return Dataset.from_dict(result)
    if kind == "rows":
        return rows_frame(result)
    return result


def rows_frame(result: dict[str, Any]) -> pl.DataFrame:
    """The whole frame of a sinkless job, exactly as the job's frame was (Arrow IPC)."""
    return decode_rows(result, lambda url: open_storage(get_settings(), url or None))


def manifest_checksum(files: list[dict[str, Any]]) -> str:
    """One checksum for a version: SHA-256 over its files' keys and checksums, in order."""
    h = hashlib.sha256()
    for f in files:
        h.update(f["key"].encode())
        h.update(b"\0")
        h.update(f["sha256"].encode())
        h.update(b"\n")
    return h.hexdigest()


def read_manifest(ctx: Context, record: VersionRecord) -> dict[str, Any]:
    storage = ctx.storage if record.storage_url == ctx.storage.url else open_storage(
        ctx.settings, record.storage_url)
    return json.loads(storage.get_bytes(record.manifest_key))


def dataset_from_record(ctx: Context, record: VersionRecord, manifest: dict[str, Any] | None = None,
                        snapshot: dict[str, Any] | None = None) -> Dataset:
    manifest = manifest or read_manifest(ctx, record)
    return Dataset(
        name=record.name, version=record.version, rows=record.rows, bytes=record.bytes,
        schema=record.schema, profile=record.profile, checksum=record.checksum,
        uri=ctx.storage.uri(dataset_prefix(record.namespace, record.name)),
        files=manifest.get("files", []), namespace=record.namespace, created_at=record.created_at,
        job_id=record.job_id, inputs=record.inputs, bytes_in=int(manifest.get("bytes_in") or 0),
        checks=manifest.get("checks", []),
        snapshot_id=(snapshot or {}).get("snapshot_id"),
        snapshot_note=(snapshot or {}).get("note"),
    )


def get_dataset(ctx: Context, name: str, version: int | None = None, *,
                as_of: Any = None) -> Dataset:
    """A visible version: the latest, number ``version``, or the one current at ``as_of`` (a
    datetime, naive meaning UTC, or seconds since the epoch)."""
    check_name(name, "dataset name")
    if as_of is not None:
        if version is not None:
            raise SpecError("give version or as_of, not both")
        record = ctx.catalog.version_as_of(ctx.namespace, name, epoch_seconds(as_of))
    else:
        record = ctx.catalog.get_version(ctx.namespace, name, version)
    snapshot = ctx.catalog.snapshot_of(record.namespace, record.name, record.version)
    return dataset_from_record(ctx, record, snapshot=snapshot)


def epoch_seconds(when: Any) -> float:
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when.timestamp()
    if isinstance(when, datetime.date):
        return datetime.datetime(when.year, when.month, when.day,
                                 tzinfo=datetime.timezone.utc).timestamp()
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return float(when)
    if isinstance(when, str):
        try:
            return epoch_seconds(datetime.datetime.fromisoformat(when))
        except ValueError:
            pass
    raise SpecError(f"as_of={when!r}: give a datetime, an ISO date or time, or epoch seconds")


def scan_dataset(ctx: Context, name: str, version: int | None = None, *,
                 as_of: Any = None) -> pl.LazyFrame:
    """A lazy frame over a visible version's Parquet files (the latest when version is None).

    The files are the manifest's, which are the version's Iceberg snapshot's files."""
    ds = get_dataset(ctx, name, version, as_of=as_of)
    # every version names at least one file: a write with no rows still writes its schema
    frame = pl.scan_parquet([ctx.storage.uri(f["key"]) for f in ds.files],
                            storage_options=ctx.storage.storage_options())
    # zoned datetimes, Enums and Arrays are stored as Iceberg knows them: each back in its type
    return restore(frame, {f["name"]: f["type"] for f in ds.schema.get("fields", [])})


# ----------------------------------------------------------------------------- writing
class HashingWriter:
    """A binary sink for Polars that hashes and counts bytes on their way to storage.

    Polars calls these methods from its own threads, where coverage.py (Python 3.11) does not
    trace: every dataset write runs them, yet a coverage report shows them as never run.
    """

    def __init__(self, target: Any, on_bytes: Callable[[int], None] | None = None) -> None:
        self._target = target
        self._sha = hashlib.sha256()
        self.bytes = 0
        self._on_bytes = on_bytes

    def write(self, data: bytes) -> int:  # pragma: no cover - run on Polars' threads (see above)
        self._sha.update(data)
        self.bytes += len(data)
        self._target.write(data)
        if self._on_bytes is not None:
            self._on_bytes(len(data))
        return len(data)

    def writable(self) -> bool:  # pragma: no cover - run on Polars' threads (see above)
        return True

    def flush(self) -> None:  # pragma: no cover - run on Polars' threads (see above)
        pass

    def close(self) -> None:  # pragma: no cover - run on Polars' threads (see above)
        pass  # the owner closes (commits) or aborts the target

    @property
    def closed(self) -> bool:  # pragma: no cover - run on Polars' threads (see above)
        return False

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def find_committed(ctx: Context, name: str, job_id: str) -> Dataset | None:
    """The version a previous run of this job committed, repairing the catalog if needed.

    A run that died after writing its manifest but before its catalog row left a complete
    version that nobody sees; finding it by job id makes the retry finish that commit.
    """
    record = ctx.catalog.version_by_job(job_id)
    if record is not None and record.name == name and record.namespace == ctx.namespace:
        return dataset_from_record(ctx, record, snapshot=ctx.catalog.snapshot_of(
            record.namespace, record.name, record.version))
    latest = ctx.catalog.latest_version_number(ctx.namespace, name)
    for v in (latest + 1, latest + 2):
        key = manifest_key(ctx.namespace, name, v)
        if not ctx.storage.exists(key):
            break
        manifest = json.loads(ctx.storage.get_bytes(key))
        if manifest.get("job_id") == job_id:
            return register_manifest(ctx, manifest, key)
    return None


def latest_attempt(ctx: Context, job_id: str) -> int | None:
    """The number of the job's latest attempt; None for a job without a record."""
    try:
        return int(ctx.catalog.get_job(job_id).get("attempts") or 0)
    except NotFound:
        return None


def check_attempt_current(ctx: Context, job_id: str, attempt: int) -> None:
    """Raise ``Superseded`` if a later attempt of the job has started.

    A worker that stopped heartbeating for longer than the stale threshold (a frozen or starved
    process, a network cut to the catalog) is taken over by a new attempt, which may already be
    clearing the earlier attempts' files. The earlier attempt, should it wake up, must then
    never write a manifest naming those files, nor a second version of the job: its last look
    at the job's attempt counter is here, right before the manifest. A job without a record (a
    write outside any job) has no later attempt."""
    current = latest_attempt(ctx, job_id)
    if current is not None and current > attempt:
        raise Superseded(
            f"attempt {attempt} of job {job_id} was taken over by attempt {current} while it ran "
            "(its heartbeat had gone stale); it committed nothing", step="write")


def prepare_commit(ctx: Context) -> None:
    """Load the Iceberg library on a thread while the write streams (~0.5 s of imports a fresh
    job process would otherwise spend inside its commit); no thread when it is loaded."""
    if iceberg.needs_warm_up(ctx.settings):
        threading.Thread(target=iceberg.warm_up, name="workbench-iceberg-import",
                         daemon=True).start()


def table_location(ctx: Context, name: str) -> str:
    return iceberg.location(ctx.storage, dataset_prefix(ctx.namespace, name)).rstrip("/")


def commit_snapshot(ctx: Context, manifest: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The version's Iceberg snapshot (committed once per job and version), or None when
    tables are off."""
    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    if ice is None:
        return None
    sink = (manifest.get("spec") or {}).get("sink") or {}
    try:
        snap = _commit_snapshot(ctx, ice, manifest, key, sink)
    except Exception as exc:
        if not is_transient(exc):
            raise
        # the SQL Iceberg catalog is the workbench catalog's database: a lost connection is an
        # outage of it (retried later), never a raw driver error with its statement
        raise CatalogUnavailable(
            f"the catalog connection was lost during the Iceberg commit of {manifest['name']!r} "
            f"v{manifest['version']}: {str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}",
            hint="check the catalog database; the next run of the job finishes the commit") \
            from None
    if snap.dropped:  # the earlier versions' snapshots went with the old table
        ctx.catalog.forget_snapshots(manifest["namespace"], manifest["name"], int(manifest["version"]),
                                     f"the Iceberg table was dropped at v{manifest['version']}: "
                                     f"{snap.note or 'a schema change Iceberg cannot express'}")
    return snap.to_dict()


def _commit_snapshot(ctx: Context, ice: Any, manifest: dict[str, Any], key: str,
                     sink: dict[str, Any]) -> Any:
    return iceberg.commit_snapshot(
        ice, ctx.storage, namespace=manifest["namespace"], name=manifest["name"],
        version=int(manifest["version"]), job_id=manifest.get("job_id"),
        keys=[f["key"] for f in manifest["files"]], table_location=table_location(ctx, manifest["name"]),
        partition_by=list(sink.get("partition_by") or []),
        max_columns=ctx.settings.iceberg_max_columns,
        file_info={f["key"]: f for f in manifest["files"]},
        properties={"wb.rows": str(manifest["rows"]), "wb.checksum": manifest["checksum"],
                    "wb.mode": str(manifest.get("mode")),
                    "wb.manifest": iceberg.location(ctx.storage, key)})


def register_manifest(ctx: Context, manifest: dict[str, Any], key: str) -> Dataset:
    snapshot = commit_snapshot(ctx, manifest, key)
    record = ctx.catalog.add_version(
        namespace=manifest["namespace"], name=manifest["name"], version=manifest["version"],
        job_id=manifest.get("job_id"), manifest_key=key, storage_url=ctx.storage.url,
        rows=manifest["rows"], bytes=manifest["bytes"], checksum=manifest["checksum"],
        schema=manifest["schema"], profile=manifest["profile"], spec=manifest.get("spec"),
        inputs=manifest.get("inputs", []), snapshot=snapshot,
    )
    return dataset_from_record(ctx, record, manifest, snapshot)


def commit_version(ctx: Context, *, name: str, job_id: str, files: list[dict[str, Any]],
                   rows: int, schema: dict, profile: dict, spec: dict | None, inputs: list,
                   bytes_in: int, checks: list, mode: str, base_files: list[dict] | None = None,
                   on_phase: Callable[[str], None] | None = None,
                   attempt: int | None = None) -> Dataset:
    """Write the manifest (put-if-absent), commit the Iceberg snapshot, then the catalog row.

    A concurrent writer that took the same version number makes us retry with the next one.
    ``attempt``: the job attempt writing; if a later attempt of the job has started meanwhile,
    nothing is committed (``Superseded``, see ``check_attempt_current``).
    """
    all_files = list(base_files or []) + files
    total_rows = sum(int(f["rows"]) for f in all_files)
    tried = 0
    for _ in range(20):
        latest = ctx.catalog.latest_version_number(ctx.namespace, name)
        # Past a number whose manifest exists: the winner's catalog row may not be there yet
        # (or never came, if it died in between), so re-reading the catalog alone would spin.
        version = max(latest, tried) + 1
        if mode == "create" and latest:
            raise AlreadyExists(f"dataset {name!r} already exists",
                                hint="use mode='overwrite' for a new version or 'append'")
        manifest = {
            "format": "workbench.manifest/1", "namespace": ctx.namespace, "name": name,
            "version": version, "job_id": job_id, "mode": mode, "files": all_files,
            "rows": total_rows, "bytes": sum(int(f["bytes"]) for f in all_files),
            "bytes_in": bytes_in, "checksum": manifest_checksum(all_files), "schema": schema,
            "profile": profile, "spec": spec, "inputs": inputs, "checks": checks,
            "created_at": time.time(),
        }
        key = manifest_key(ctx.namespace, name, version)
        if attempt is not None:
            check_attempt_current(ctx, job_id, attempt)
        try:
            ctx.storage.put_bytes(key, json.dumps(manifest, default=str).encode(), if_absent=True)
        except AlreadyExists:
            tried = version
            continue
        # From here the manifest names the files: whatever stops this run (a failure, or a
        # cancel met by ``on_phase``) either gives the number back with the manifest, or keeps
        # the files for the next run of the job, never deletes files a manifest still names.
        try:
            if on_phase is not None:
                on_phase("commit: Iceberg snapshot")
            snapshot = commit_snapshot(ctx, manifest, key)
        except BaseException as exc:
            # No snapshot, no version: give the number back so the data files are not kept
            # alive by a manifest nothing will ever register (a crash here leaves it for the
            # next run of the job to finish instead).
            if not _snapshot_may_exist(ctx, name, version, job_id):
                ctx.storage.delete(key)
            else:  # the table may list the files: the next run of the job finishes the commit
                _keep_files(exc)
            raise
        row_tried = False
        try:
            if on_phase is not None:
                on_phase("commit: catalog")
            row_tried = True
            record = ctx.catalog.add_version(
                namespace=ctx.namespace, name=name, version=version, job_id=job_id,
                manifest_key=key, storage_url=ctx.storage.url, rows=manifest["rows"],
                bytes=manifest["bytes"], checksum=manifest["checksum"], schema=schema,
                profile=profile, spec=spec, inputs=inputs, snapshot=snapshot)
        except BaseException as exc:
            if snapshot is not None and snapshot.get("snapshot_id") is not None or row_tried:
                # The snapshot is committed (its files are the table's now), or the row may be
                # (a connection lost after the commit): the next run of the job finishes it
                # (find_committed), gc removes what no run ever registers.
                _keep_files(exc)
            else:  # stopped before the row, with no snapshot: the number goes back
                ctx.storage.delete(key)
            raise
        return dataset_from_record(ctx, record, manifest, snapshot)
    raise AlreadyExists(f"could not allocate a version of {name!r}: too many concurrent writers")


def _keep_files(exc: BaseException) -> None:
    try:
        exc.workbench_keep_files = True  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a type refusing attributes (a frozen dataclass);
        pass  # no error met under a commit is one, and the caller re-raises it either way


def job_files_in_use(ctx: Context, name: str, job_id: str) -> bool:
    """Whether a version of ``name`` (committed, or with its manifest written) or a snapshot of
    its Iceberg table names files of this job: then a failed or cancelled run must not delete
    them (the next run of the job, or ``gc``, decides). True when it cannot tell."""
    try:
        record = ctx.catalog.version_by_job(job_id)
        if record is not None and record.name == name and record.namespace == ctx.namespace:
            return True
        latest = ctx.catalog.latest_version_number(ctx.namespace, name)
        for v in (latest + 1, latest + 2):
            key = manifest_key(ctx.namespace, name, v)
            if not ctx.storage.exists(key):
                break
            if json.loads(ctx.storage.get_bytes(key)).get("job_id") == job_id:
                return True
        ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
        table = iceberg.load_table(ice, ctx.namespace, name) if ice is not None else None
        return table is not None and any(
            (s.summary.additional_properties if s.summary else {}).get("wb.job") == job_id
            for s in table.snapshots())
    except Exception:  # noqa: BLE001 - cannot tell: keep the files for gc to judge
        return True


def _snapshot_may_exist(ctx: Context, name: str, version: int, job_id: str) -> bool:
    try:
        ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
        table = iceberg.load_table(ice, ctx.namespace, name) if ice is not None else None
        return table is not None and iceberg.find_snapshot(table, version, job_id) is not None
    except Exception:  # noqa: BLE001 - cannot tell: keep the manifest for the next run
        return True


def previous_files(ctx: Context, name: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Files and schema of the latest visible version (for append), or ([], None)."""
    try:
        ds = get_dataset(ctx, name)
    except NotFound:
        return [], None
    return ds.files, ds.schema
