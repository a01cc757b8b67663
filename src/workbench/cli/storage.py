"""Storage commands: upload-url, confirm, gc, verify, delete, migrate."""

from __future__ import annotations

import re
import sys
from typing import Any

from .. import api as wb  # the public API (not the package root, which also loads front ends)
from ..context import Context
from ..errors import Cancelled, CheckFailed, SpecError
from ..maintenance import gc, soft_delete, verify
from ..table_maintenance import migrate
from ..textview import follow
from ..textview import human_time as _when
from ..uploads import confirm_upload, create_upload, finish_upload, upload_pipeline
from .output import add_command as _add
from .output import output, whole_number

DEFAULT_RETENTION = "7d"


def register(sub) -> None:
    p = _add(sub, "upload-url", cmd_upload_url,
             "presigned URL(s) to upload a file straight to the bucket (multipart when large)")
    p.add_argument("--filename", required=True, help="the file's name (its extension tells the format)")
    p.add_argument("--size", required=True, type=int, help="exact size in bytes")
    p.add_argument("--sha256", help="the file's SHA-256, checked on confirm")
    p.add_argument("--expires", type=int, default=None,
                   help="seconds the URLs stay valid (default WORKBENCH_UPLOAD_URL_EXPIRES, 900; max 7 days)")

    p = _add(sub, "confirm", cmd_confirm,
             "check an upload arrived whole; with --name, ingest it into a dataset")
    p.add_argument("upload_id", help="the id `workbench upload-url` printed")
    p.add_argument("--name", help="ingest into this dataset, then remove the temporary object")
    p.add_argument("--sha256", help="expected SHA-256 (if not given to upload-url)")
    p.add_argument("--format", default="auto",
                   choices=["auto", "csv", "tsv", "json", "ndjson", "excel", "parquet"],
                   help="the file format (default: told from the name and the first bytes)")
    p.add_argument("--mode", default="overwrite", choices=["create", "overwrite", "append"],
                   help="create, overwrite (a new version; default) or append")
    p.add_argument("--runner", default=None, help="local or celery (default: celery if a broker is set)")

    p = _add(sub, "gc", cmd_gc, "remove soft-deleted data past retention, dead writes, expired "
                                "uploads and expired results of pipelines without a sink")
    p.add_argument("--retention", default=DEFAULT_RETENTION,
                   help="keep soft-deleted data and stored results this long: seconds, or 30m, "
                        "12h, 7d (default 7d)")
    p.add_argument("--all-namespaces", action="store_true", help="every namespace, not only this one")

    p = _add(sub, "verify", cmd_verify, "re-read a dataset version's files and check their SHA-256")
    p.add_argument("name", help="the dataset")
    p.add_argument("--version", type=whole_number(1), help="one version (default: the latest)")

    p = _add(sub, "migrate", cmd_migrate,
             "make datasets written before Iceberg tables into tables (no Parquet rewritten)")
    p.add_argument("name", nargs="?", help="one dataset (default: every dataset of the namespace)")

    p = _add(sub, "delete", cmd_delete, "soft-delete a dataset (or one --version); gc frees the space")
    p.add_argument("name", help="the dataset")
    p.add_argument("--version", type=whole_number(1), help="one version (default: the latest)")


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not m:
        raise SpecError(f"invalid duration {text!r}", hint="seconds, or a number with s, m, h or d")
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


def _ctx():
    return Context.from_settings()


def cmd_upload_url(args) -> int:
    info = create_upload(_ctx(), args.filename, args.size, sha256=args.sha256, expires=args.expires)

    def text() -> str:
        lines = [f"upload {info['upload_id']} ({info['size']} bytes, until {_when(info['expires_at'])})"]
        if info["multipart"]:
            lines.append(f"{len(info['parts'])} parts of {info['part_size']} bytes; PUT each:")
            lines += [f"  part {p['part_number']} ({p['size']} bytes): {p['url']}" for p in info["parts"]]
        else:
            lines.append(f"PUT with Content-Type: {info['headers']['Content-Type']}:\n  {info['url']}")
        lines.append(f"then: workbench confirm {info['upload_id']} --name DATASET")
        return "\n".join(lines)

    output(args, info, text)
    return 0


def cmd_confirm(args) -> int:
    ctx = _ctx()
    info = confirm_upload(ctx, args.upload_id, sha256=args.sha256)
    if not args.name:
        output(args, info, lambda: f"upload {info['upload_id']} confirmed: {info['size']} bytes "
                                   f"at {info['uri']}")
        return 0

    pipeline = upload_pipeline(ctx, args.upload_id, name=args.name, format=args.format,
                               mode=args.mode)
    job = wb.submit(pipeline, runner=args.runner)
    follow(job, sys.stderr)
    if job.status != "succeeded":

        raise job.error if job.error is not None else Cancelled("the job was cancelled")
    finish_upload(ctx, args.upload_id)
    ds = job.result
    data: dict[str, Any] = ds.to_dict() if hasattr(ds, "to_dict") else dict(ds)
    output(args, {**data, "upload": {**info, "status": "ingested"}},
           lambda: f"{data['name']} v{data['version']}: {data['rows']} rows from upload "
                   f"{args.upload_id}")
    return 0


def cmd_gc(args) -> int:
    retention = parse_duration(args.retention)
    report = gc(_ctx(), retention_seconds=retention, all_namespaces=args.all_namespaces)
    output(args, {**report, "retention_seconds": retention},
           lambda: (f"purged {report['versions_purged']} versions, removed "
                    f"{report['attempts_removed']} dead write attempts and "
                    f"{report['uploads_expired']} expired uploads"
                    + (f", {len(report['results_removed'])} stored results of pipelines without "
                       "a sink" if report.get("results_removed") else "")
                    + f": {report['objects_deleted']} "
                    f"objects deleted, {report['multipart_aborted']} multipart uploads aborted"
                    + (f", {len(report['partial_files'])} partial files of dead writes removed"
                       + "".join(f"\n  {k}" for k in report["partial_files"])
                       if report["partial_files"] else "")
                    + "".join(f", {len(report[k])} {what} removed" + "".join(
                        f"\n  {p}" for p in report[k]) for k, what in (
                        ("sql_temp_removed", "SQL temp folders (spill) of dead jobs"),
                        ("read_temp_removed", "reader temp folders of dead jobs"))
                        if report.get(k))
                    + (f"; {len(report['errors'])} errors" if report["errors"] else "")))
    return 1 if report["errors"] else 0


def cmd_verify(args) -> int:
    report = verify(_ctx(), args.name, args.version)
    if not report["ok"]:
        bad = len(report["missing"]) + len(report["mismatched"])
        err = CheckFailed(f"{args.name} v{report['version']}: {bad} of {report['files']} objects "
                          f"missing or differing from the manifest"
                          + ("" if report["manifest"] == "ok" else f"; manifest {report['manifest']}"),
                          file=(report["missing"] + [m["key"] for m in report["mismatched"]] or [None])[0],
                          hint="restore the objects from a backup, or delete this version")
        report["error"] = err.to_dict()

    def text() -> str:
        if report["ok"]:
            return (f"{args.name} v{report['version']}: {report['files']} objects, "
                    f"{report['bytes_checked']} bytes, all SHA-256 match")
        lines = [f"error: {report['error']['message']}"]
        lines += [f"  missing: {k}" for k in report["missing"]]
        lines += [f"  differs: {m['key']} ({m['reason']})" for m in report["mismatched"]]
        return "\n".join(lines)

    output(args, report, text)
    return 0 if report["ok"] else 1


def cmd_migrate(args) -> int:
    report = migrate(_ctx(), args.name)
    output(args, report, lambda: (
        f"{report['versions']} versions of {report['datasets']} datasets registered as Iceberg "
        f"snapshots" + "".join(f"\n  {w['name']} v{w['version']}: no snapshot ({w['note']})"
                               for w in report["without_snapshot"])
        + "".join(f"\n  error: {e['name']} v{e['version']}: {e.get('message')}"
                  for e in report["errors"])))
    return 1 if report["errors"] else 0


def cmd_delete(args) -> int:
    info = soft_delete(_ctx(), args.name, args.version)
    what = f"{args.name} v{args.version}" if args.version else f"dataset {args.name}"
    output(args, info, lambda: f"{what} deleted (hidden now; `workbench gc` frees the space "
                               "after the retention period)")
    return 0
