"""``workbench init``: a commented pipeline.yaml and a sample file that run as they are."""

from __future__ import annotations

from pathlib import Path

from ..errors import AlreadyExists
from .demo_data import write_sample
from .output import add_command, output

PIPELINE_YAML = """\
# A workbench pipeline: a source, transform steps, data checks and a sink.
# Run it with:   workbench run pipeline.yaml
# Every key below reads like the Python builder of the same name (wb.file, wb.sql, wb.not_null, ...);
# `workbench schema` prints the whole vocabulary as a JSON Schema.
name: sales by region

# A path is a file source (CSV, TSV, JSON, NDJSON, Excel or Parquet, told from the file).
# Options go in a mapping:  source: {{file: {data}, delimiter: ";", encoding: latin-1}}
source: {data}

# Steps run in order. `sql` is DuckDB SQL over the relation `input`, in a sandbox.
steps:
  - sql: |
      SELECT region, count(*) AS orders, round(sum(amount), 2) AS revenue
      FROM input
      GROUP BY region
      ORDER BY region

# Checks run on the result before anything is written; a failed check writes nothing.
# `severity: warn` reports a failure and writes anyway.
checks:
  - not_null: region
  - in_range: {{column: revenue, min: 0}}
  - row_count: {{min: 1}}

# The result becomes a new version of a dataset (read it back with wb.read("sales_by_region")).
sink: {{dataset: sales_by_region}}
"""


def register(sub) -> None:
    p = add_command(sub, "init", cmd_init,
                    "write a commented pipeline.yaml and a sample data file that run as they are")
    p.add_argument("dir", nargs="?", default=".", help="the folder to write into (default: here)")
    p.add_argument("--rows", type=int, default=10_000, help="rows of the sample file (default: 10000)")
    p.add_argument("--force", action="store_true", help="overwrite pipeline.yaml if it exists")


def cmd_init(args) -> int:
    folder = Path(args.dir)
    spec = folder / "pipeline.yaml"
    if spec.exists() and not args.force:
        raise AlreadyExists(f"{spec} exists", file=str(spec),
                            hint="pass --force to overwrite it, or give another folder")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    sample = write_sample(folder / "data" / "sales.csv", rows=args.rows)
    spec.write_text(PIPELINE_YAML.format(data="data/sales.csv"), encoding="utf-8")
    where = "" if folder.resolve() == Path.cwd().resolve() else f"cd {folder} && "
    output(args, {"pipeline": str(spec), "data": str(sample)},
           f"wrote {spec} and {sample}\nnext: {where}workbench run pipeline.yaml")
    return 0
