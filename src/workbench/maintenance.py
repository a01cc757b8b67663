"""Deletion, garbage collection and integrity checks of datasets in storage.

* ``soft_delete`` hides a dataset or one version from reads at once (catalog only).
* ``gc`` removes for good what nobody can see any more: versions soft-deleted longer than the
  retention, the data files of dead write attempts (killed workers, failed jobs), multipart
  uploads those attempts left pending, expired uploads, and the stored rows of pipelines
  without a sink (``<namespace>/results/``) once expired. The daily cleanup task calls it.
* ``list_results`` lists those stored rows, each with its job's state and when it expires.
* ``verify`` re-reads every object a version's manifest names and recomputes its SHA-256, after
  checking that the version's Iceberg snapshot lists exactly those files.

The Iceberg side of each (and ``migrate``) is in ``table_maintenance.py``.

Layout knowledge comes from ``datasets.py``; nothing here builds a key of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from .catalog import FINAL_STATES, VersionRecord
from .catalog import datasets as datasets_table
from .catalog import jobs as jobs_table
from .catalog import versions as versions_table
from .context import Context
from .dataset_store import (
    data_prefix, dataset_prefix, legacy_data_prefix, manifest_checksum, read_manifest,
)
from .engines.sql_sandbox import sweep_dead, temp_root
from .storage.disk import temp_base
from .errors import NotFound, SpecError, WorkbenchError, as_workbench_error
from .results import results_prefix
from .spec.models import validate_name
from .storage import open_storage
from .table_maintenance import check_snapshot, table_follows, tidy_table
from .uploads import expire_upload, expired_uploads

# data/<job>/a<attempt>/...; and the older data/<job>-a<attempt>/... (tried second: a new
# layout key "data/x-a1/a2/..." must not read as job "x", attempt 1)
_ATTEMPT = re.compile(r"data/(?P<job>[^/]+)/a(?P<attempt>\d+)/")
_LEGACY_ATTEMPT = re.compile(r"data/(?P<job>[^/]+)-a(?P<attempt>\d+)/")
_MANIFEST = re.compile(r"v\d+\.manifest\.json")
_RESULT = re.compile(r"(?P<job>[^/]+)/a(?P<attempt>\d+)\.arrow")  # below <ns>/results/


def _attempt_of(inner: str) -> tuple[str, int, bool] | None:
    """(job id, attempt, legacy layout) of a key below a dataset's folder, or None."""
    m = _ATTEMPT.match(inner)
    if m:
        return m["job"], int(m["attempt"]), False
    m = _LEGACY_ATTEMPT.match(inner)
    return (m["job"], int(m["attempt"]), True) if m else None


def _name(name: str) -> str:
    try:
        return validate_name(name, "dataset name")
    except ValueError as exc:
        raise SpecError(str(exc)) from None


def _storage_for(ctx: Context, url: str) -> Any:
    if url == ctx.storage.url:
        return ctx.storage

    return open_storage(ctx.settings, url)


# ----------------------------------------------------------------------------- soft delete
def soft_delete(ctx: Context, name: str, version: int | None = None) -> dict[str, Any]:
    """Hide dataset ``name`` (or one version) from reads now; ``gc`` frees the space later."""
    _name(name)
    now = time.time()
    if version is None:
        ctx.catalog.soft_delete(ctx.namespace, name)
        # Mark every version too: writing a new dataset of the same name clears the dataset's
        # flag, and the old versions must not come back with it.
        n = ctx.catalog.execute(versions_table.update().where(
            versions_table.c.namespace == ctx.namespace, versions_table.c.name == name,
            versions_table.c.deleted_at.is_(None)).values(deleted_at=now))
        table_follows(ctx, name)
        return {"name": name, "version": None, "versions_deleted": int(n), "deleted_at": now}
    ctx.catalog.soft_delete(ctx.namespace, name, version)
    table_follows(ctx, name)
    return {"name": name, "version": version, "versions_deleted": 1, "deleted_at": now}


# ----------------------------------------------------------------------------- gc
def gc(ctx: Context, *, retention_seconds: float, now: float | None = None,
       all_namespaces: bool = False) -> dict[str, Any]:
    """Remove what soft deletes, dead writes and abandoned uploads left behind.

    Only ``ctx.namespace`` unless ``all_namespaces`` (the daily cleanup task). A write attempt is
    dead when its job finished, failed or was cancelled, a later attempt of it started, its
    heartbeat is older than the retention, or (no job record) its files are; files any manifest
    still names are never removed. Safe to run at any time and to run again after a failure.
    """

    now = time.time() if now is None else now
    cutoff = now - retention_seconds
    report: dict[str, Any] = {"versions_purged": 0, "objects_deleted": 0, "bytes_freed": 0,
                              "attempts_removed": 0, "multipart_aborted": 0,
                              "uploads_expired": 0, "partial_files": [], "results_removed": [],
                              "errors": []}
    namespaces = _namespaces(ctx) if all_namespaces else [ctx.namespace]

    report.update(snapshots_expired=0, metadata_deleted=0)
    for record_group in _group_by_dataset(ctx.catalog.deleted_before(cutoff), namespaces):
        try:
            _purge_versions(ctx, record_group, report)
        except WorkbenchError as exc:
            report["errors"].append(exc.to_dict())

    for ns in namespaces:
        try:
            tables = _remove_dead_attempts(ctx, ns, cutoff, report)
        except WorkbenchError as exc:
            report["errors"].append(exc.to_dict())
            continue
        for name in sorted(tables):
            try:
                tidy_table(ctx, ns, name, cutoff, report)
            except Exception as exc:  # noqa: BLE001 - one table's trouble stops no other's gc
                report["errors"].append(as_workbench_error(exc).to_dict())

    for ns in namespaces:
        try:
            _remove_expired_results(ctx, ns, now, retention_seconds, report)
        except WorkbenchError as exc:
            report["errors"].append(exc.to_dict())

    for row in expired_uploads(ctx, now, retention_seconds, None if all_namespaces else ctx.namespace):
        try:
            report["objects_deleted"] += expire_upload(ctx, row)
            report["uploads_expired"] += 1
        except WorkbenchError as exc:
            report["errors"].append(exc.to_dict())
    # Temp folders of jobs whose process is gone (a crash, a kill): DuckDB spill and sunk
    # inputs, and readers' inflated copies
    report["sql_temp_removed"] = sweep_dead(temp_root(ctx.settings.home), "job-")
    report["read_temp_removed"] = sweep_dead(temp_base(ctx.settings.home), "wb-read-")
    return report


def _namespaces(ctx: Context) -> list[str]:
    found = {ctx.namespace}
    for table in (datasets_table, jobs_table):
        found.update(r[0] for r in ctx.catalog.execute(sa.select(table.c.namespace).distinct()))
    return sorted(found)


def _group_by_dataset(records: list[VersionRecord], namespaces: list[str]
                      ) -> list[list[VersionRecord]]:
    groups: dict[tuple[str, str], list[VersionRecord]] = {}
    for r in records:
        if r.namespace in namespaces:
            groups.setdefault((r.namespace, r.name), []).append(r)
    return list(groups.values())


def _manifest_or_none(ctx: Context, record: VersionRecord) -> dict[str, Any] | None:
    try:
        return read_manifest(ctx, record)
    except NotFound:
        return None


def _purge_versions(ctx: Context, records: list[VersionRecord], report: dict[str, Any]) -> None:
    """Delete the files of expired versions that no kept version names, then each manifest,
    then the catalog row (in that order, so a crash midway is finished by the next run)."""
    ns, name = records[0].namespace, records[0].name
    purge = {r.version for r in records}
    kept: set[str] = set()
    for other in ctx.catalog.list_versions(ns, name, include_deleted=True):
        if other.version not in purge:
            manifest = _manifest_or_none(ctx, other)
            kept.update(f["key"] for f in (manifest or {}).get("files", []))
    own = dataset_prefix(ns, name)
    for record in sorted(records, key=lambda r: r.version):
        storage = _storage_for(ctx, record.storage_url)
        manifest = _manifest_or_none(ctx, record)
        for f in (manifest or {}).get("files", []):
            key = f["key"]
            if key in kept or not key.startswith(own):
                continue
            if storage.exists(key):
                storage.delete(key)
                report["objects_deleted"] += 1
                report["bytes_freed"] += int(f.get("bytes") or 0)
        if manifest is not None:
            storage.delete(record.manifest_key)
            report["objects_deleted"] += 1
        ctx.catalog.purge_version(ns, name, record.version)
        report["versions_purged"] += 1
    tidy_table(ctx, ns, name, float("inf") if not ctx.catalog.list_versions(
        ns, name, include_deleted=True) else 0.0, report)


def _remove_dead_attempts(ctx: Context, namespace: str, cutoff: float,
                          report: dict[str, Any]) -> set[str]:
    """Remove dead attempts' files; returns the datasets that have Iceberg metadata files."""
    storage = ctx.storage
    tables: set[str] = set()
    root = f"{validate_name(namespace, 'namespace')}/datasets/"
    # (dataset, job id, attempt, legacy) -> newest modification time of its objects / uploads
    attempts: dict[tuple[str, str, int, bool], float] = {}
    manifests: dict[str, list[str]] = {}
    for obj in storage.list(root):
        rest = obj.key[len(root):]
        name, _, inner = rest.partition("/")
        found = _attempt_of(inner)
        if found:
            k = (name, *found)
            attempts[k] = max(attempts.get(k, 0.0), obj.modified)
        elif _MANIFEST.fullmatch(inner):
            manifests.setdefault(name, []).append(obj.key)
        elif inner.startswith("metadata/"):
            tables.add(name)
    uploads = storage.list_uploads(root) if hasattr(storage, "list_uploads") else []
    # A writer that died mid-write leaves a temporary ``.part`` file no listing shows.
    partials = list(storage.list_partial(root)) if hasattr(storage, "list_partial") else []
    for obj in partials:
        name, _, inner = obj.key[len(root):].partition("/")
        found = _attempt_of(inner)
        if found:
            k = (name, *found)
            attempts[k] = max(attempts.get(k, 0.0), obj.modified)
    for up in uploads:
        rest = up["key"][len(root):]
        name, _, inner = rest.partition("/")
        found = _attempt_of(inner)
        if found:
            k = (name, *found)
            attempts[k] = max(attempts.get(k, 0.0), up["initiated"])
    if not attempts:
        return tables

    referenced: dict[str, set[str]] = {}
    for name, keys in manifests.items():
        refs = referenced.setdefault(name, set())
        for key in keys:
            try:
                refs.update(f["key"] for f in json.loads(storage.get_bytes(key)).get("files", []))
            except NotFound:
                continue  # purged in the meantime

    jobs = _jobs(ctx, {job for _, job, _, _ in attempts})
    for (name, job_id, attempt, legacy), newest in sorted(attempts.items()):
        try:
            prefix = (legacy_data_prefix if legacy else data_prefix)(namespace, name, job_id, attempt)
        except ValueError:
            continue  # not a key we wrote
        if any(k.startswith(prefix) for k in referenced.get(name, ())):
            continue
        if not _attempt_is_dead(jobs.get(job_id), attempt, newest, cutoff):
            continue
        pending = [u for u in uploads if u["key"].startswith(prefix)]
        removed = storage.delete_prefix(prefix)  # also aborts the attempt's pending uploads
        report["partial_files"].extend(p.key for p in partials if p.key.startswith(prefix))
        report["objects_deleted"] += removed
        report["multipart_aborted"] += len(pending)
        report["attempts_removed"] += 1
    return tables


# ----------------------------------------------------------------------------- results
def list_results(ctx: Context, *, retention_seconds: float, now: float | None = None,
                 namespace: str | None = None) -> list[dict[str, Any]]:
    """The stored rows of pipelines without a sink in a namespace, oldest first: ``key``,
    ``job_id``, ``attempt``, ``bytes``, ``modified``, the job's ``status`` (None: no record),
    ``expires_at`` and ``expired`` (what ``gc`` with this retention removes, and why)."""
    now = time.time() if now is None else now
    ns = namespace or ctx.namespace
    prefix = results_prefix(ns)
    found = []
    for obj in ctx.storage.list(prefix):
        m = _RESULT.fullmatch(obj.key[len(prefix):])
        if m:
            found.append((obj, m["job"], int(m["attempt"])))
    jobs = _jobs(ctx, {job for _, job, _ in found})
    out = []
    for obj, job_id, attempt in sorted(found, key=lambda f: f[0].modified):
        job = jobs.get(job_id)
        reason = _result_expired(job, attempt, obj.modified, now - retention_seconds)
        out.append({"key": obj.key, "job_id": job_id, "attempt": attempt, "bytes": obj.size,
                    "modified": obj.modified, "status": job["status"] if job else None,
                    "expires_at": obj.modified + retention_seconds,
                    "expired": reason is not None, "reason": reason})
    return out


def _result_expired(job: dict[str, Any] | None, attempt: int, modified: float,
                    cutoff: float) -> str | None:
    """Why gc removes a stored result, or None to keep it. The rows of a job that succeeded stay
    readable (``wb.job(id).result``) for the retention; nobody can read those of a failed or
    cancelled job, or of an attempt a later one replaced."""
    if job is not None and job["status"] in ("failed", "cancelled"):
        return f"the job {job['status']}"
    if job is not None and int(job["attempts"] or 0) > attempt:
        return "a later attempt replaced it"
    if modified >= cutoff:
        return None
    if job is None:
        return "older than the retention (no job record)"
    if job["status"] in FINAL_STATES:
        return "older than the retention"
    heartbeat = job["heartbeat_at"]
    if heartbeat is not None and heartbeat < cutoff:
        return "older than the retention (its job stopped beating)"
    return None


def _remove_expired_results(ctx: Context, namespace: str, now: float, retention_seconds: float,
                            report: dict[str, Any]) -> None:
    for item in list_results(ctx, retention_seconds=retention_seconds, now=now,
                             namespace=namespace):
        if not item["expired"]:
            continue
        try:
            ctx.storage.delete(item["key"])
        except NotFound:
            continue  # removed in the meantime
        report["objects_deleted"] += 1
        report["bytes_freed"] += item["bytes"]
        report["results_removed"].append(item["key"])


def _jobs(ctx: Context, ids: set[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = ctx.catalog.execute(sa.select(
        jobs_table.c.id, jobs_table.c.status, jobs_table.c.attempts, jobs_table.c.heartbeat_at
    ).where(jobs_table.c.id.in_(sorted(ids))))
    return {r.id: dict(r._mapping) for r in rows}


def _attempt_is_dead(job: dict[str, Any] | None, attempt: int, newest: float,
                     cutoff: float) -> bool:
    if job is None:
        return newest < cutoff  # written outside a recorded job: wait out the retention
    if job["status"] in FINAL_STATES:
        return True
    if int(job["attempts"] or 0) > attempt:
        return True  # a later attempt of the same job has started
    heartbeat = job["heartbeat_at"]
    return heartbeat is not None and heartbeat < cutoff and newest < cutoff


# ----------------------------------------------------------------------------- verify
def verify(ctx: Context, name: str, version: int | None = None) -> dict[str, Any]:
    """Re-read every object of a version (the latest when ``version`` is None) and check its
    size and SHA-256 against the manifest. ``ok`` is False on any mismatch or missing object."""
    _name(name)
    record = ctx.catalog.get_version(ctx.namespace, name, version)
    storage = _storage_for(ctx, record.storage_url)
    report: dict[str, Any] = {"name": name, "version": record.version,
                              "namespace": ctx.namespace, "files": 0, "bytes_checked": 0,
                              "missing": [], "mismatched": [], "manifest": "ok"}
    try:
        manifest = json.loads(storage.get_bytes(record.manifest_key))
    except NotFound:
        report.update(manifest="missing", ok=False)
        report["missing"].append(record.manifest_key)
        return report
    files = manifest.get("files", [])
    report["files"] = len(files)
    report["snapshot"] = check_snapshot(ctx, storage, record, files, report)
    if manifest_checksum(files) != manifest.get("checksum") or manifest.get("checksum") != record.checksum:
        report["manifest"] = "checksum differs from the catalog"
    own = dataset_prefix(ctx.namespace, name)

    def check(f: dict[str, Any]) -> tuple[dict[str, Any], str | None, int | None]:
        key = f["key"]
        if not key.startswith(own):  # a manifest may only name this dataset's own files
            return f, "outside", None
        h = hashlib.sha256()
        n = 0
        try:
            with storage.open_read(key) as stream:
                while chunk := stream.read(8 * 1024 * 1024):
                    h.update(chunk)
                    n += len(chunk)
        except NotFound:
            return f, None, None
        return f, h.hexdigest(), n

    with ThreadPoolExecutor(4, thread_name_prefix="workbench-verify") as pool:
        for f, digest, size in pool.map(check, files):
            if digest is None:
                report["missing"].append(f["key"])
                continue
            if size is not None:
                report["bytes_checked"] += size
            if digest == "outside" or digest != f.get("sha256") or size != int(f.get("bytes", -1)):
                report["mismatched"].append({
                    "key": f["key"], "expected_sha256": f.get("sha256"),
                    "actual_sha256": None if digest == "outside" else digest,
                    "expected_bytes": f.get("bytes"), "actual_bytes": size,
                    "reason": "outside the dataset" if digest == "outside" else "content differs"})
    report["ok"] = (not report["missing"] and not report["mismatched"] and report["manifest"] == "ok"
                    and report["snapshot"] in ("ok", "none"))
    return report
