"""The Iceberg side of dataset maintenance: the table follows soft deletes, gc expires snapshots
and deletes orphan metadata files, verify checks a version's snapshot, and ``migrate`` makes
versions written before datasets were tables into snapshots (``maintenance.py`` calls the
first three; the CLI calls ``migrate``).
"""

from __future__ import annotations

from typing import Any

from . import iceberg
from .catalog import VersionRecord
from .context import Context
from .dataset_store import commit_snapshot, dataset_prefix, read_manifest, table_location
from .errors import NotFound, SpecError, as_workbench_error
from .names import check_name


def table_follows(ctx: Context, name: str) -> None:
    """Other engines see what ``wb.read`` sees, at once: a deleted dataset's table leaves the
    Iceberg catalog (its files stay until ``gc``); when the newest version was deleted, a new
    snapshot holds the newest visible one's files again."""
    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    if ice is None:
        return
    try:
        record = ctx.catalog.get_version(ctx.namespace, name)
    except NotFound:
        iceberg.drop(ice, ctx.namespace, name)
        return
    manifest = read_manifest(ctx, record)
    sink = (record.spec or {}).get("sink") or {}
    iceberg.point_at(ice, ctx.storage, namespace=ctx.namespace, name=name, version=record.version,
                     keys=[f["key"] for f in manifest.get("files", [])],
                     table_location=table_location(ctx, name),
                     partition_by=list(sink.get("partition_by") or []),
                     reason=f"restore-v{record.version}",
                     file_info={f["key"]: f for f in manifest.get("files", [])})


def tidy_table(ctx: Context, namespace: str, name: str, cutoff: float,
                report: dict[str, Any]) -> None:
    """Iceberg's side of gc for one dataset: expire the snapshots no kept version has (never the
    current one), drop the table once no version is left, and delete the table's metadata files
    that no live snapshot needs (orphans: expired snapshots' manifests, a dropped table's
    files), if older than the retention so no commit in flight loses its files."""
    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    if ice is None:
        return
    left = ctx.catalog.list_versions(namespace, name, include_deleted=True)
    if not left:
        iceberg.drop(ice, namespace, name)
    else:
        keep = {s["snapshot_id"] for s in (ctx.catalog.snapshot_of(namespace, name, v.version)
                                           for v in left) if s and s.get("snapshot_id")}
        report["snapshots_expired"] += iceberg.expire_except(ice, namespace, name, keep)
    needed = iceberg.referenced_locations(ice, namespace, name)
    for obj in list(ctx.storage.list(dataset_prefix(namespace, name) + "metadata/")):
        if obj.modified < cutoff and iceberg.location(ctx.storage, obj.key) not in needed:
            ctx.storage.delete(obj.key)
            report["metadata_deleted"] += 1
            report["objects_deleted"] += 1
            report["bytes_freed"] += int(obj.size or 0)


def check_snapshot(ctx: Context, storage: Any, record: VersionRecord, files: list[dict[str, Any]],
                    report: dict[str, Any]) -> str:
    """The version's Iceberg snapshot must list exactly the manifest's files (those are then
    re-hashed) and carry its checksum. "none": the version has no snapshot (tables off, a
    version from before tables, or columns Iceberg cannot hold)."""
    snap = ctx.catalog.snapshot_of(record.namespace, record.name, record.version)
    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    if snap is None or snap.get("snapshot_id") is None or ice is None:
        return "none"
    report["snapshot_id"] = snap["snapshot_id"]
    table = iceberg.load_table(ice, record.namespace, record.name)
    found = table.snapshot_by_id(snap["snapshot_id"]) if table is not None else None
    if found is None:
        return "missing from the table"
    if found.summary.additional_properties.get("wb.checksum") != record.checksum:
        return "checksum differs from the catalog"
    listed = set(iceberg.snapshot_locations(table, snap["snapshot_id"]))
    ours = {iceberg.location(storage, f["key"]) for f in files}
    for extra in sorted(listed - ours):
        report["mismatched"].append({"key": extra, "reason": "in the snapshot, not the manifest"})
    for lost in sorted(ours - listed):
        report["mismatched"].append({"key": lost, "reason": "in the manifest, not the snapshot"})
    return "ok" if listed == ours else "files differ from the manifest"


def migrate(ctx: Context, name: str | None = None) -> dict[str, Any]:
    """Make the versions written before datasets were Iceberg tables snapshots of their
    dataset's table, oldest first, from their manifests: the Parquet is registered where it is,
    never rewritten. Versions that have a snapshot (or a note why not) are left alone, so it is
    safe to run again; reads never needed it."""
    ice = iceberg.open_iceberg(ctx.settings, ctx.storage, ctx.catalog)
    if ice is None:
        raise SpecError("WORKBENCH_ICEBERG_CATALOG=none: there is no Iceberg catalog to migrate to",
                        hint="set WORKBENCH_ICEBERG_CATALOG=sql (the default) or a REST catalog URI")
    names = [check_name(name, "dataset name")] if name else [r.name for r in ctx.catalog.list_datasets(ctx.namespace)]
    report: dict[str, Any] = {"datasets": 0, "versions": 0, "without_snapshot": [], "errors": []}
    for n in names:
        report["datasets"] += 1
        for record in ctx.catalog.list_versions(ctx.namespace, n):
            if ctx.catalog.snapshot_of(ctx.namespace, n, record.version) is not None:
                continue
            try:
                if record.storage_url != ctx.storage.url:
                    raise SpecError(f"{n} v{record.version} is in other storage ({record.storage_url})")
                snap = commit_snapshot(ctx, read_manifest(ctx, record), record.manifest_key)
            except Exception as exc:  # noqa: BLE001 - one version's trouble stops no other
                report["errors"].append({"name": n, "version": record.version,
                                         **as_workbench_error(exc).to_dict()})
                continue
            if snap is not None:
                ctx.catalog.set_snapshot(ctx.namespace, n, record.version, snap)
                report["versions"] += 1
                if snap.get("snapshot_id") is None:
                    report["without_snapshot"].append({"name": n, "version": record.version,
                                                       "note": snap.get("note")})
    return report
