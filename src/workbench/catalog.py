"""The catalog: datasets, versions (with lineage), jobs and their bookkeeping.

SQLAlchemy Core over SQLite by default (a file in the workbench home) or PostgreSQL
(``WORKBENCH_CATALOG_URL=postgresql://…``). The catalog is the truth about jobs and about which
dataset versions are visible: a version row is inserted only after its manifest exists.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from . import catalog_retry
# The tables stay importable from here (``from workbench.catalog import jobs``).
from .catalog_schema import (  # noqa: F401
    FINAL_STATES, JOB_STATES, cursors, datasets, dead_letters, jobs, metadata, notebook_runs,
    schedules, uploads, version_snapshots, versions,
)
from .errors import AlreadyExists, NotFound, SpecError, StorageUnavailable, missing_extra
from .masking import mask_url, remember
from .names import INT64_MAX, check_job_id, check_namespace


@dataclass(frozen=True)
class VersionRecord:
    namespace: str
    name: str
    version: int
    job_id: str | None
    manifest_key: str
    storage_url: str
    rows: int
    bytes: int
    checksum: str
    schema: dict[str, Any]
    profile: dict[str, Any]
    spec: dict[str, Any] | None
    inputs: list[dict[str, Any]]
    created_at: float
    deleted_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> VersionRecord:
        m = row._mapping
        return cls(
            namespace=m["namespace"], name=m["name"], version=m["version"], job_id=m["job_id"],
            manifest_key=m["manifest_key"], storage_url=m["storage_url"], rows=m["rows"],
            bytes=m["bytes"], checksum=m["checksum"], schema=json.loads(m["schema_json"]),
            profile=json.loads(m["profile_json"]),
            spec=json.loads(m["spec_json"]) if m["spec_json"] else None,
            inputs=json.loads(m["inputs_json"]) if m["inputs_json"] else [],
            created_at=m["created_at"], deleted_at=m["deleted_at"],
        )


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def default_owner() -> str | None:
    """Who submits a job when the caller names no one: ``WORKBENCH_USER``, else the OS account."""
    try:
        return os.environ.get("WORKBENCH_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (some containers)
        return None


def job_from_row(row: Any) -> dict[str, Any]:
    m = dict(row._mapping)
    for key in ("spec_json", "progress_json", "error_json", "result_json"):
        m[key[:-5]] = _loads(m.pop(key))
    return m


class Catalog:
    """Every method is one short transaction; callers never hold a connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        remember(url)  # libpq may quote a piece of a password it misread (masking.remember)
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            path = sa.engine.make_url(url).database  # None or ":memory:" for an in-memory one
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = sa.create_engine(url, **kwargs)
        except ImportError:  # the PostgreSQL driver is an extra
            raise missing_extra("psycopg", "postgres") from None
        if self.engine.dialect.name == "sqlite":
            sa_event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self._create_tables()
        except sa.exc.OperationalError as exc:
            raise StorageUnavailable(f"cannot reach the catalog at {_mask(self.url)}: "
                                     f"{exc.orig}".strip(), hint="check WORKBENCH_CATALOG_URL") from None

    def _create_tables(self) -> None:
        # Several processes (a kernel, workers, the CLI) may open a new catalog at the same moment:
        # a table another one created between our check and our CREATE is not an error.
        for attempt in range(5):  # pragma: no branch - the last attempt returns or raises
            try:
                metadata.create_all(self.engine)
                return
            except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError) as exc:
                if "already exists" not in str(exc) and "duplicate key" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))  # pragma: no cover - a race between processes
                # (test_many_processes_opening_a_new_catalog_at_once provokes it at times)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _insert_ignore(self, table: sa.Table):
        if self.dialect == "postgresql":
            # heavy optional dependency: imported on first use
            from sqlalchemy.dialects.postgresql import insert
        else:
            # heavy optional dependency: imported on first use
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    # ------------------------------------------------------------------ datasets and versions
    def add_version(self, *, namespace: str, name: str, version: int, job_id: str | None,
                    manifest_key: str, storage_url: str, rows: int, bytes: int, checksum: str,
                    schema: dict, profile: dict, spec: dict | None, inputs: list,
                    snapshot: dict | None = None) -> VersionRecord:
        """The version row, and with ``snapshot`` its Iceberg snapshot's row, in one transaction."""
        now = time.time()
        try:
            self._insert_version(namespace, name, version, now, snapshot, dict(
                job_id=job_id, manifest_key=manifest_key, storage_url=storage_url, rows=rows,
                bytes=bytes, checksum=checksum, schema_json=json.dumps(schema),
                profile_json=json.dumps(profile),
                spec_json=json.dumps(spec) if spec is not None else None,
                inputs_json=json.dumps(inputs)))
        except sa.exc.IntegrityError:
            # The only unique key of a version is (namespace, name, version): it is taken. By
            # this very commit when a lost connection made catalog_retry run it again.
            held = self.get_version(namespace, name, version, include_deleted=True)
            if held.job_id == job_id and held.manifest_key == manifest_key:
                return held
            raise AlreadyExists(f"version {version} of dataset {name!r} already exists",
                                hint="a version is never replaced; commit the next number") from None
        return self.get_version(namespace, name, version)

    def _insert_version(self, namespace: str, name: str, version: int, now: float,
                        snapshot: dict | None, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._insert_ignore(datasets)
                         .values(namespace=namespace, name=name, created_at=now)
                         .on_conflict_do_nothing())
            conn.execute(datasets.update()
                         .where(datasets.c.namespace == namespace, datasets.c.name == name)
                         .values(deleted_at=None))
            conn.execute(versions.insert().values(
                namespace=namespace, name=name, version=version, created_at=now, **values))
            if snapshot is not None:
                self._put_snapshot(conn, namespace, name, version, snapshot)

    def _put_snapshot(self, conn: Any, namespace: str, name: str, version: int,
                      snapshot: dict) -> None:
        conn.execute(version_snapshots.delete().where(
            version_snapshots.c.namespace == namespace, version_snapshots.c.name == name,
            version_snapshots.c.version == version))
        conn.execute(version_snapshots.insert().values(
            namespace=namespace, name=name, version=version,
            snapshot_id=snapshot.get("snapshot_id"), timestamp_ms=snapshot.get("timestamp_ms"),
            table_name=snapshot.get("table"), note=snapshot.get("note")))

    def set_snapshot(self, namespace: str, name: str, version: int, snapshot: dict) -> None:
        """Record the snapshot of an existing version (``workbench migrate``)."""
        with self.engine.begin() as conn:
            self._put_snapshot(conn, namespace, name, version, snapshot)

    def forget_snapshots(self, namespace: str, name: str, before: int, note: str) -> None:
        """The snapshots of versions below ``before`` are gone (their table was dropped)."""
        with self.engine.begin() as conn:
            conn.execute(version_snapshots.update().where(
                version_snapshots.c.namespace == namespace, version_snapshots.c.name == name,
                version_snapshots.c.version < before, version_snapshots.c.snapshot_id.is_not(None))
                .values(snapshot_id=None, note=note[:1000]))

    def snapshot_of(self, namespace: str, name: str, version: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(version_snapshots.select().where(
                version_snapshots.c.namespace == namespace, version_snapshots.c.name == name,
                version_snapshots.c.version == version)).first()
        if row is None:
            return None
        m = row._mapping
        return {"snapshot_id": m["snapshot_id"], "timestamp_ms": m["timestamp_ms"],
                "table": m["table_name"], "note": m["note"]}

    def version_as_of(self, namespace: str, name: str, when: float) -> VersionRecord:
        """The latest visible version committed at or before ``when`` (seconds since the epoch):
        its snapshot's timestamp, or for a version without one its catalog row's time."""
        self.get_version(namespace, name)  # NotFound for a missing or deleted dataset
        at = sa.func.coalesce(version_snapshots.c.timestamp_ms / 1000.0, versions.c.created_at)
        q = (versions.select().select_from(versions.outerjoin(version_snapshots, sa.and_(
            version_snapshots.c.namespace == versions.c.namespace,
            version_snapshots.c.name == versions.c.name,
            version_snapshots.c.version == versions.c.version)))
            .where(versions.c.namespace == namespace, versions.c.name == name,
                   versions.c.deleted_at.is_(None), at <= when)
            .order_by(versions.c.version.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"dataset {name!r} has no version as of {_when(when)}",
                           hint="`workbench show NAME` lists its versions and their times")
        return VersionRecord.from_row(row)

    def get_version(self, namespace: str, name: str, version: int | None = None, *,
                    include_deleted: bool = False) -> VersionRecord:
        q = versions.select().where(versions.c.namespace == namespace, versions.c.name == name)
        if not include_deleted:
            q = q.where(versions.c.deleted_at.is_(None))
            ds = self._dataset_row(namespace, name)
            if ds is None or ds.deleted_at is not None:
                raise NotFound(f"no dataset named {name!r}",
                               hint="`workbench datasets` lists the datasets there are")
        if version is not None:
            if not 1 <= version <= INT64_MAX:  # no such number in the table (nor in its type)
                raise NotFound(f"no version {version} of dataset {name!r}",
                               hint="versions count from 1; `workbench show NAME` lists them")
            q = q.where(versions.c.version == version)
        q = q.order_by(versions.c.version.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            what = f"version {version} of dataset {name!r}" if version else f"dataset {name!r}"
            raise NotFound(f"no {what}", hint="`workbench show NAME` lists its versions")
        return VersionRecord.from_row(row)

    def _dataset_row(self, namespace: str, name: str):
        with self.engine.connect() as conn:
            return conn.execute(datasets.select().where(
                datasets.c.namespace == namespace, datasets.c.name == name)).first()

    def latest_version_number(self, namespace: str, name: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(versions.c.version)).where(
                versions.c.namespace == namespace, versions.c.name == name)).scalar()
        return int(value or 0)

    def version_by_job(self, job_id: str) -> VersionRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(versions.select().where(versions.c.job_id == job_id)).first()
        return VersionRecord.from_row(row) if row else None

    def list_versions(self, namespace: str, name: str, *, include_deleted: bool = False
                      ) -> list[VersionRecord]:
        q = versions.select().where(versions.c.namespace == namespace, versions.c.name == name)
        if not include_deleted:
            q = q.where(versions.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            return [VersionRecord.from_row(r) for r in conn.execute(q.order_by(versions.c.version))]

    def list_datasets(self, namespace: str, *, include_deleted: bool = False) -> list[VersionRecord]:
        """The latest visible version of every dataset in a namespace."""
        latest = (sa.select(versions.c.name, sa.func.max(versions.c.version).label("v"))
                  .where(versions.c.namespace == namespace, versions.c.deleted_at.is_(None))
                  .group_by(versions.c.name).subquery())
        q = (versions.select()
             .join(latest, sa.and_(versions.c.name == latest.c.name, versions.c.version == latest.c.v))
             .join(datasets, sa.and_(datasets.c.namespace == versions.c.namespace,
                                     datasets.c.name == versions.c.name))
             .where(versions.c.namespace == namespace))
        if not include_deleted:
            q = q.where(datasets.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            return [VersionRecord.from_row(r) for r in conn.execute(q.order_by(versions.c.name))]

    def soft_delete(self, namespace: str, name: str, version: int | None = None) -> int:
        now = time.time()
        with self.engine.begin() as conn:
            if version is None:
                n = conn.execute(datasets.update().where(
                    datasets.c.namespace == namespace, datasets.c.name == name,
                    datasets.c.deleted_at.is_(None)).values(deleted_at=now)).rowcount
                # the versions go with it, so a dataset made again later starts without them
                conn.execute(versions.update().where(
                    versions.c.namespace == namespace, versions.c.name == name,
                    versions.c.deleted_at.is_(None)).values(deleted_at=now))
            else:
                n = conn.execute(versions.update().where(
                    versions.c.namespace == namespace, versions.c.name == name,
                    versions.c.version == version, versions.c.deleted_at.is_(None))
                    .values(deleted_at=now)).rowcount
        if not n:
            raise NotFound(f"no dataset {name!r}" + (f" version {version}" if version else ""))
        return n

    def deleted_before(self, cutoff: float) -> list[VersionRecord]:
        """Versions soft-deleted (themselves or their dataset) before ``cutoff``."""
        q = (versions.select().join(datasets, sa.and_(
            datasets.c.namespace == versions.c.namespace, datasets.c.name == versions.c.name))
            .where(sa.or_(versions.c.deleted_at < cutoff, datasets.c.deleted_at < cutoff)))
        with self.engine.connect() as conn:
            return [VersionRecord.from_row(r) for r in conn.execute(q)]

    def purge_version(self, namespace: str, name: str, version: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(versions.delete().where(
                versions.c.namespace == namespace, versions.c.name == name,
                versions.c.version == version))
            conn.execute(version_snapshots.delete().where(
                version_snapshots.c.namespace == namespace, version_snapshots.c.name == name,
                version_snapshots.c.version == version))
            left = conn.execute(sa.select(sa.func.count()).select_from(versions).where(
                versions.c.namespace == namespace, versions.c.name == name)).scalar()
            if not left:
                conn.execute(datasets.delete().where(
                    datasets.c.namespace == namespace, datasets.c.name == name))

    # ------------------------------------------------------------------ jobs
    def create_job(self, *, job_id: str, namespace: str, spec: dict, runner: str,
                   name: str | None = None, kind: str = "pipeline", owner: str | None = None,
                   status: str = "queued") -> None:
        # The edge for every runner and task: no record with a bad name is ever written.
        check_namespace(namespace)
        check_job_id(job_id)
        with self.engine.begin() as conn:
            conn.execute(self._job_insert(job_id=job_id, namespace=namespace, spec=spec,
                                          runner=runner, name=name, kind=kind, owner=owner,
                                          status=status))

    def _job_insert(self, *, job_id: str, namespace: str, spec: dict, runner: str, name: str | None,
                    kind: str, owner: str | None, status: str) -> Any:
        return self._insert_ignore(jobs).values(
            id=job_id, namespace=namespace, name=name, kind=kind, status=status, runner=runner,
            owner=owner or default_owner(), spec_json=json.dumps(spec), submitted_at=time.time(),
            attempts=0, cancel_requested=False).on_conflict_do_nothing()

    def start_job(self, *, job_id: str, namespace: str, spec: dict, runner: str,
                  name: str | None = None, worker: str | None = None) -> int:
        """``create_job`` (if the record is not there yet) and ``start_attempt`` in one
        transaction: a job that runs at once costs one round trip, not three. Returns the
        attempt number."""
        check_namespace(namespace)
        check_job_id(job_id)
        with self.engine.begin() as conn:
            conn.execute(self._job_insert(job_id=job_id, namespace=namespace, spec=spec,
                                          runner=runner, name=name, kind="pipeline", owner=None,
                                          status="queued"))
            return self._start_attempt(conn, job_id, worker)

    def update_job(self, job_id: str, *, attempt: int | None = None, **values: Any) -> bool:
        """Set fields of the job's record. ``attempt``: only while that attempt is the job's
        latest (a later one took the job over otherwise); returns whether the record changed."""
        for key in ("progress", "error", "result"):
            if key in values:
                v = values.pop(key)
                values[f"{key}_json"] = json.dumps(v) if v is not None else None
        cond = [jobs.c.id == job_id]
        if attempt is not None:
            cond.append(jobs.c.attempts == attempt)
        with self.engine.begin() as conn:
            return conn.execute(jobs.update().where(*cond).values(**values)).rowcount > 0

    def start_attempt(self, job_id: str, worker: str | None) -> int:
        """Mark a job running and count the attempt; returns the attempt number."""
        with self.engine.begin() as conn:
            return self._start_attempt(conn, job_id, worker)

    def _start_attempt(self, conn: Any, job_id: str, worker: str | None) -> int:
        now = time.time()
        update = jobs.update().where(jobs.c.id == job_id).values(
            status="running", started_at=sa.func.coalesce(jobs.c.started_at, now),
            heartbeat_at=now, worker=worker, attempts=jobs.c.attempts + 1, error_json=None)
        if self.engine.dialect.update_returning:  # PostgreSQL, SQLite >= 3.35: one statement
            return int(conn.execute(update.returning(jobs.c.attempts)).scalar() or 1)
        conn.execute(update)
        return int(conn.execute(sa.select(jobs.c.attempts).where(jobs.c.id == job_id)).scalar() or 1)

    def heartbeat(self, job_id: str, progress: dict | None = None) -> None:
        values: dict[str, Any] = {"heartbeat_at": time.time()}
        if progress is not None:
            values["progress_json"] = json.dumps(progress)
        with self.engine.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))

    def finish_job(self, job_id: str, status: str, *, result: dict | None = None,
                   error: dict | None = None, attempt: int | None = None) -> bool:
        return self.update_job(job_id, attempt=attempt, status=status, finished_at=time.time(),
                               result=result, error=error)

    def get_job(self, job_id: str, namespace: str | None = None) -> dict[str, Any]:
        """The job's record; with ``namespace``, a job of another namespace is NotFound (front
        ends pass theirs: a job id is no key to another tenant's specs and errors)."""
        q = jobs.select().where(jobs.c.id == job_id)
        if namespace is not None:
            q = q.where(jobs.c.namespace == namespace)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"no job {job_id!r}", hint="`workbench jobs` lists recent jobs")
        return job_from_row(row)

    def list_jobs(self, namespace: str | None = None, *, limit: int = 50,
                  status: str | None = None, owner: str | None = None,
                  dataset: str | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first; ``dataset`` matches jobs that write or read that dataset."""
        for what, value in (("limit", limit), ("offset", offset)):
            if not 0 <= value <= INT64_MAX:
                raise SpecError(f"{what} must be between 0 and {INT64_MAX}, not {value}")
        q = (jobs.select().order_by(jobs.c.submitted_at.desc(), jobs.c.id)
             .limit(limit).offset(offset))
        if namespace is not None:
            q = q.where(jobs.c.namespace == namespace)
        if status is not None:
            q = q.where(jobs.c.status == status)
        if owner is not None:
            q = q.where(jobs.c.owner == owner)
        if dataset is not None:
            q = q.where(sa.or_(self._spec_field("sink", "name") == dataset,
                               sa.and_(self._spec_field("source", "kind") == "dataset",
                                       self._spec_field("source", "name") == dataset)))
        with self.engine.connect() as conn:
            return [job_from_row(r) for r in conn.execute(q)]

    def _spec_field(self, *path: str) -> Any:
        """A text field inside the stored spec JSON, in this database's JSON functions."""
        if self.dialect == "postgresql":
            # heavy optional dependency: imported on first use
            from sqlalchemy.dialects.postgresql import JSONB

            return sa.cast(jobs.c.spec_json, JSONB)[tuple(path)].astext
        return sa.func.json_extract(jobs.c.spec_json, "$." + ".".join(path))

    def request_cancel(self, job_id: str) -> None:
        self.get_job(job_id)
        self.update_job(job_id, cancel_requested=True)

    def cancel_requested(self, job_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.select(jobs.c.cancel_requested)
                                     .where(jobs.c.id == job_id)).scalar())

    def stale_jobs(self, heartbeat_before: float) -> list[dict[str, Any]]:
        q = jobs.select().where(jobs.c.status.in_(("running", "retrying")),
                                jobs.c.heartbeat_at < heartbeat_before)
        with self.engine.connect() as conn:
            return [job_from_row(r) for r in conn.execute(q)]

    # ------------------------------------------------------------------ generic access
    def execute(self, statement: Any) -> Any:
        """Run one Core statement in its own transaction (for the feature modules' tables)."""
        with self.engine.begin() as conn:
            result = conn.execute(statement)
            return result.fetchall() if result.returns_rows else result.rowcount

    def rows(self, statement: Any) -> Iterator[Any]:
        # fetched whole, so a lost connection is retried before any row reached the caller
        with self.engine.connect() as conn:
            return iter(conn.execute(statement).fetchall())


# Every method is one short transaction (or a read), so running it again after a lost
# connection is safe: see catalog_retry.
catalog_retry.install(Catalog, [
    "add_version", "set_snapshot", "forget_snapshots", "snapshot_of", "version_as_of", "get_version", "latest_version_number", "version_by_job", "list_versions",
    "list_datasets", "soft_delete", "deleted_before", "purge_version", "create_job", "update_job",
    "start_attempt", "start_job", "heartbeat", "finish_job", "get_job", "list_jobs", "request_cancel",
    "cancel_requested", "stale_jobs", "execute", "rows"])


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writing job
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _mask(url: str) -> str:
    """A DSN with its password replaced, for errors and logs."""
    return mask_url(url)


_CATALOGS: dict[str, Catalog] = {}


def open_catalog(url: str) -> Catalog:
    """One Catalog (and connection pool) per URL per process."""
    cat = _CATALOGS.get(url)
    if cat is None:
        cat = _CATALOGS[url] = Catalog(url)
    return cat


def opened_catalogs() -> list[Catalog]:
    """The catalogs this process has opened (a forked worker disposes their connections)."""
    return list(_CATALOGS.values())
