"""Core commands: demo, ingest, run, datasets, show, jobs, job, schema, validate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .. import api as wb  # the public API (not the package root, which also loads front ends)
from ..context import Context
from ..dataset_store import get_dataset
from ..errors import Cancelled, SpecError
from ..settings import get_settings
from ..spec.io import json_schema, load_pipeline, pipeline_from_dict
from ..textview import datasets_text, fit, follow, human_bytes, human_number
from ..textview import human_time as _when
from ..textview import terminal_width
from .demo_data import write_sample
from .output import add_command as _add
from .output import output, whole_number


def register(sub) -> None:
    p = _add(sub, "demo", cmd_demo, "make a sample file, run a pipeline on it, show the result")
    p.add_argument("--rows", type=int, default=200_000, help="rows in the sample file (default: 200000)")
    p.add_argument("--dir", default=None, help="where to write the sample (default: the workbench home)")

    p = _add(sub, "ingest", cmd_ingest, "read a file (or glob, or s3:// object) into a dataset")
    p.add_argument("path", help="a file, a glob ('orders/*.csv') or an s3:// / r2:// object or prefix")
    p.add_argument("--name", required=True, help="the dataset to write")
    p.add_argument("--mode", default="overwrite", choices=["create", "overwrite", "append"],
                   help="create (fails if it exists), overwrite (a new version; default) or append")
    p.add_argument("--format", default="auto",
                   choices=["auto", "csv", "tsv", "json", "ndjson", "excel", "parquet"],
                   help="the file format (default: told from the name and the first bytes)")
    p.add_argument("--delimiter", help="the field delimiter, e.g. ';' or tab (default: sniffed)")
    p.add_argument("--encoding", help="auto (default), utf8, utf16, latin1, cp1252, utf8-lossy or a Python codec name such as latin-1")
    p.add_argument("--sheet", help="an Excel sheet, by name or 0-based index (default: the first)")
    p.add_argument("--no-header", action="store_true", help="the first line is data; columns are named column_1, …")
    p.add_argument("--null", action="append", dest="null_values", metavar="MARKER",
                   help="a null marker (repeatable); default: '', NA, N/A, NULL, null")
    p.add_argument("--type", action="append", default=[], metavar="COL=TYPE",
                   help="declare a column's type, e.g. --type amount=decimal(12,2)")
    p.add_argument("--partition-by", action="append", default=[], metavar="SPEC",
                   help="a column, or day(col), month(col), year(col), bucket(16, col): files "
                        "grouped by its values, the Iceberg table's partition spec (repeatable)")
    p.add_argument("--runner", default="local", help="local (default) or celery")

    p = _add(sub, "run", cmd_run, "run a pipeline spec file (YAML or JSON) and wait for it")
    p.add_argument("spec", help="a pipeline file, .yaml/.yml or .json")
    p.add_argument("--runner", default=None, help="local or celery (default: celery if a broker is set)")

    p = _add(sub, "validate", cmd_validate, "check a pipeline spec file without running it")
    p.add_argument("spec", help="a pipeline file, .yaml/.yml or .json")

    _add(sub, "datasets", cmd_datasets, "list datasets: names, versions, rows, size, created")

    p = _add(sub, "show", cmd_show, "a dataset's schema, profile, checksum, versions and files")
    p.add_argument("name", help="the dataset")
    p.add_argument("--version", type=whole_number(1), help="a version number (default: the latest)")

    p = _add(sub, "jobs", cmd_jobs, "recent jobs: status, duration, error")
    p.add_argument("--limit", type=whole_number(1), default=20,
                   help="how many jobs, newest first (default: 20)")
    p.add_argument("--status", help="only jobs in this state: queued, running, succeeded, failed, cancelled")

    p = _add(sub, "job", cmd_job, "one job's record")
    p.add_argument("job_id", help="the job id (from `workbench jobs`)")

    _add(sub, "schema", cmd_schema, "print the JSON Schema of pipeline specs")


# ----------------------------------------------------------------------------- helpers
def _follow(job, args) -> Any:
    follow(job, sys.stderr)
    if job.status == "failed":
        err = job.error
        err.shown = True  # the view printed it with its hint; report_error need not repeat it
        raise err  # type: ignore[misc]
    if job.status == "cancelled":

        raise Cancelled("the job was cancelled")
    return job


def _dataset_text(d: dict[str, Any]) -> str:
    lines = [f"{d['name']} v{d['version']}: {d['rows']} rows, {_size(d['bytes'])}, "
             f"checksum {d['checksum'][:16]}…"
             + (f", Iceberg snapshot {d['snapshot_id']}" if d.get("snapshot_id") else "")
             + (f", no Iceberg snapshot: {d['snapshot_note']}" if d.get("snapshot_note") else "")]
    for f in d["schema"]["fields"]:
        col = d["profile"]["columns"].get(f["name"], {})
        stats = ", ".join(f"{k} {human_number(col[k])}"
                          for k in ("null_count", "min", "max", "mean")
                          if k in col and col[k] is not None)
        distinct = col.get("distinct", col.get("approx_distinct"))
        if distinct is not None:  # exact unless the profile says it was estimated
            approx = col.get("distinct_estimated", "distinct" not in col)
            stats += (", " if stats else "") + f"distinct {'≈' if approx else ''}{human_number(distinct)}"
        lines.append(f"  {f['name']:<24} {f['type']:<16} {'null' if f['nullable'] else '    '}  {stats}")
        if col.get("top_values"):
            tops = ", ".join(f"{human_number(t['value'])} ({t['count']:,})" for t in col["top_values"])
            lines.append(f"  {'':<24} top: {tops}")
    return "\n".join(lines)


def _size(n: int | None) -> str:
    return human_bytes(n)


# ----------------------------------------------------------------------------- commands
def cmd_demo(args) -> int:
    folder = Path(args.dir) if args.dir else get_settings().home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = write_sample(folder / "sales.csv", rows=args.rows)
    if not args.json:
        print(f"sample: {path} ({_size(path.stat().st_size)}, {args.rows} rows, with NA nulls)")
    p = wb.Pipeline(
        name="demo: sales by region",
        source=wb.file(str(path), schema_overrides={"ordered_at": "datetime"}),
        steps=[wb.sql("SELECT region, count(*) AS orders, sum(amount) AS revenue, "
                      "avg(quantity) AS avg_quantity FROM input GROUP BY region ORDER BY region")],
        checks=[wb.not_null("region"), wb.row_count(min=1), wb.in_range("revenue", min=0)],
        sink=wb.dataset("demo_sales_by_region"),
    )
    ingest_job = wb.submit(wb.Pipeline(name="demo: ingest sales",
                                       source=wb.file(str(path), schema_overrides={"ordered_at": "datetime"}),
                                       checks=[wb.not_null("order_id"), wb.is_unique("order_id")],
                                       sink=wb.dataset("demo_sales")), runner="local")
    _follow(ingest_job, args)
    job = wb.submit(p, runner="local")
    _follow(job, args)
    ds = job.result
    table = wb.read(ds.name).collect()
    output(args, {"ingest": ingest_job.result.to_dict(), "result": ds.to_dict(),
                  "rows": table.to_dicts()},
           lambda: f"{table}\n\ndatasets: `workbench datasets`; details: `workbench show {ds.name}`")
    return 0


def _source_options(args) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.delimiter:
        opts["delimiter"] = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    if args.encoding:
        opts["encoding"] = args.encoding
    if args.sheet is not None:
        opts["sheet"] = int(args.sheet) if args.sheet.isdigit() else args.sheet
    if args.no_header:
        opts["has_header"] = False
    if args.null_values is not None:
        opts["null_values"] = args.null_values
    if args.type:
        overrides = {}
        for item in args.type:
            col, sep, typ = item.partition("=")
            if not sep:

                raise SpecError(f"--type expects COL=TYPE, got {item!r}")
            overrides[col] = typ
        opts["schema_overrides"] = overrides
    return opts


def cmd_ingest(args) -> int:
    spec = {"name": f"ingest {args.name}",
            "source": {"kind": "file", "path": args.path, "format": args.format, **_source_options(args)},
            "sink": {"kind": "dataset", "name": args.name, "mode": args.mode,
                     "partition_by": args.partition_by}}
    pipeline = pipeline_from_dict(spec)
    job = wb.submit(pipeline, runner=args.runner)
    _follow(job, args)
    ds = job.result
    output(args, ds.to_dict(), lambda: _dataset_text(ds.to_dict()))
    return 0


def cmd_run(args) -> int:
    pipeline = load_pipeline(args.spec)
    job = wb.submit(pipeline, runner=args.runner)
    if not args.json:
        print(f"job {job.id}", file=sys.stderr)
    _follow(job, args)
    result = job.result
    if hasattr(result, "to_dict"):
        output(args, {"job_id": job.id, **result.to_dict()}, lambda: _dataset_text(result.to_dict()))
    else:
        res = job.state.result or {}
        output(args, {"job_id": job.id, **{k: v for k, v in res.items() if k != "_frame"}},
               lambda: str(result))
    return 0


def cmd_validate(args) -> int:
    p = load_pipeline(args.spec)
    output(args, {"valid": True, "spec": p.model_dump(mode="json")},
           f"valid: {len(p.steps)} steps, {len(p.checks)} checks, sink "
           f"{p.sink.kind if p.sink else 'none'}")
    return 0


def cmd_datasets(args) -> int:
    items = wb.list_datasets()
    rows = [{"name": d.name, "version": d.version, "rows": d.rows, "bytes": d.bytes,
             "created_at": d.created_at, "checksum": d.checksum, "columns": d.columns}
            for d in items]
    output(args, {"datasets": rows}, lambda: datasets_text(
        items, empty="no datasets yet: try `workbench demo` or `workbench ingest FILE --name NAME`",
        width=terminal_width(sys.stdout)))
    return 0


def cmd_show(args) -> int:
    ctx = Context.from_settings()
    ds = get_dataset(ctx, args.name, args.version)
    versions = [{"version": v.version, "rows": v.rows, "bytes": v.bytes, "created_at": v.created_at,
                 "job_id": v.job_id, "checksum": v.checksum}
                for v in ctx.catalog.list_versions(ctx.namespace, args.name)]
    data = {**ds.to_dict(), "versions": versions,
            "locations": [ctx.storage.uri(f["key"]) for f in ds.files]}

    def text() -> str:
        out = [_dataset_text(ds.to_dict()), "versions:"]
        out += [f"  v{v['version']}  {v['rows']} rows  {_size(v['bytes'])}  {_when(v['created_at'])}"
                for v in versions]
        out.append("files:")
        out += [f"  {loc}  sha256 {f['sha256'][:16]}…" for loc, f in zip(data["locations"], ds.files)]
        if ds.inputs:
            out.append("inputs:")
            out += [f"  {i.get('path')}  sha256 {str(i.get('sha256'))[:16]}…" for i in ds.inputs]
        return "\n".join(out)

    output(args, data, text)
    return 0


def _job_row(j: dict[str, Any]) -> dict[str, Any]:
    dur = (j["finished_at"] - (j["started_at"] or j["submitted_at"])) if j.get("finished_at") else None
    return {"id": j["id"], "name": j.get("name"), "status": j["status"], "runner": j["runner"],
            "submitted_at": j["submitted_at"], "duration": dur, "attempts": j.get("attempts"),
            "error": j.get("error"), "result": j.get("result")}


def cmd_jobs(args) -> int:
    rows = [_job_row(j) for j in wb.list_jobs(limit=args.limit, status=args.status)]

    def text() -> str:
        if not rows:
            return "no jobs yet"
        out = [f"{'id':<32} {'status':<9} {'duration':>8}  {'submitted':<11}  name / error"]
        for r in rows:
            dur = f"{r['duration']:.2f}s" if r["duration"] is not None else "-"
            tail = r["name"] or ""
            if r["error"]:
                tail += f"  ✗ {r['error'].get('message')}"
            when = _when(r["submitted_at"], seconds=False)[5:]  # MM-DD HH:MM
            out.append(f"{r['id']:<32} {r['status']:<9} {dur:>8}  {when:<11}  {' '.join(tail.split())}")
        width = terminal_width(sys.stdout)  # on a terminal a row is cut, not wrapped; --json has all
        return "\n".join(fit(line, width) for line in out)

    output(args, {"jobs": rows}, text)
    return 0


def cmd_job(args) -> int:
    ctx = Context.from_settings()
    record = ctx.catalog.get_job(args.job_id, ctx.namespace)
    output(args, record, lambda: json.dumps(record, indent=2, default=str))
    return 0


def cmd_schema(args) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0
