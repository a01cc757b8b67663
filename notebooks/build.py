"""Write the example notebooks from the cell sources below, then execute them once so the cells
marked ``# NBVAL_CHECK_OUTPUT`` carry the outputs ``pytest --nbval-lax notebooks/`` compares.

    python notebooks/build.py            # rewrite and execute every notebook
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).parent

SETUP = '''\
import os, tempfile
import workbench as wb

# A fresh workbench folder for this run unless one is given (the embedded default: no servers).
os.environ["WORKBENCH_HOME"] = workbench_home or tempfile.mkdtemp(prefix="wb-example-")
# Sample files go to <home>/demo: the one folder of the home a file source may read.
os.makedirs(os.path.join(os.environ["WORKBENCH_HOME"], "demo"), exist_ok=True)
os.chdir(os.path.join(os.environ["WORKBENCH_HOME"], "demo"))'''


def md(text: str):
    return nbformat.v4.new_markdown_cell(text)


def code(text: str, *tags: str):
    cell = nbformat.v4.new_code_cell(text)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def params(text: str):
    return code(text, "parameters")


NOTEBOOKS = {
    "01-quickstart": [
        md("# Quickstart\n\nIngest a file, read it back lazily, transform it with SQL, and watch a "
           "job live. Everything here runs in this kernel with no servers: datasets go to a local "
           "folder and the catalog is a SQLite file."),
        params('workbench_home = ""  # empty: a fresh folder\nrows = 200_000'),
        code(SETUP),
        md("Make a sample file (a seeded generator, so the numbers are the same on every run)."),
        code('import polars as pl\n\n'
             'regions = ["north", "south", "east", "west"]\n'
             'sample = pl.DataFrame({\n'
             '    "order_id": range(rows),\n'
             '    "region": [regions[i % 4] for i in range(rows)],\n'
             '    "amount": [round((i * 37 % 1000) / 10, 1) for i in range(rows)],\n'
             '})\n'
             'sample.write_csv("sales.csv")'),
        md("## Ingest and read"),
        code('ds = wb.ingest("sales.csv", name="sales")\n'
             'print(ds.name, ds.rows, ds.columns)', ),
        code('# NBVAL_CHECK_OUTPUT\n'
             'print(ds.rows, ds.columns)\n'
             'print(wb.read("sales").group_by("region").len().sort("region").collect().rows())'),
        md("## A pipeline with SQL, and its live view\n\nThe last expression of a cell shows the "
           "job: a live progress view in JupyterLab (it keeps updating while you run other cells), "
           "plain text lines under papermill or nbconvert."),
        code('pipeline = wb.Pipeline(\n'
             '    name="totals by region",\n'
             '    source=wb.from_dataset("sales"),\n'
             '    steps=[wb.sql("SELECT region, count(*) AS orders, round(sum(amount), 1) AS total "\n'
             '                  "FROM input GROUP BY region ORDER BY region")],\n'
             '    checks=[wb.not_null("region"), wb.row_count(min=1)],\n'
             '    sink=wb.dataset("totals"),\n'
             ')\n'
             'job = wb.submit(pipeline)\n'
             'job'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'job.wait()\n'
             'print(job.status)\n'
             'print(wb.read("totals").collect().rows())'),
        md("When the job ends, its output is replaced by a static copy of the finished view "
           "(status, rows, bytes, duration, steps, checks, the result's first rows), so the saved "
           "notebook, nbconvert's HTML and GitHub show what happened without a kernel. It follows "
           "JupyterLab's light or dark theme.\n\n"
           "After a kernel restart, `wb.job(\"<id>\")` reattaches to a job and shows the same view, "
           "steps and checks included:"),
        code('wb.job(job.id)'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'again = wb.job(job.id)\n'
             'print(again.status, again.result.name, again.result.version, again.result.rows)\n'
             'print([c["name"] for c in again.state.checks], [s.status for s in again.state.steps])'),
        md("`wb.jobs()` and `wb.datasets()` list what there is: live tables in JupyterLab, "
           "newest first. Select a job's row (click it, or Enter on a focused row) to open its "
           "view under the table; running jobs offer **Cancel**, finished ones **Re-run**. "
           "Select a dataset's row to see its schema, profile and first rows. Their saved copies "
           "show the same rows when the kernel is gone. `wb.list_jobs()` and "
           "`wb.list_datasets()` return the same lists as data."),
        code('wb.jobs()'),
        code('# NBVAL_CHECK_OUTPUT\n'
             '# the same jobs as data, newest first: name, status, rows written\n'
             'print([(j["name"], j["status"], j["result"]["rows"]) for j in wb.list_jobs()])'),
        code('wb.datasets()'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'print([(d.name, d.version, d.rows) for d in wb.list_datasets()])'),
    ],
    "02-upload-form": [
        md("# Upload form\n\n`wb.upload_form()` lets you pick a file in the browser, name the "
           "dataset, choose options and press **Ingest** (enabled once a file is chosen; the form "
           "shows its name and size); the upload id and the job appear in the form with the job's "
           "live view.\n\n"
           "* With local storage (the default) the file comes through the kernel (up to 50 MB).\n"
           "* With S3/R2 storage the browser sends the file straight to the bucket through presigned "
           "URLs (multipart for large files), with a byte progress bar; the kernel never holds it. "
           "The bucket needs a CORS rule allowing `PUT` from your JupyterLab's origin."),
        params('workbench_home = ""'),
        code(SETUP),
        code('form = wb.upload_form()\nform'),
        md("Outside JupyterLab (this notebook run by papermill or nbval) the form is not shown and a "
           "note says how to ingest by path instead. The same ingest from code:"),
        code('with open("tiny.csv", "w") as f:\n'
             '    f.write("city,visits\\nLyon,3\\nOslo,5\\n")\n'
             'ds = wb.ingest("tiny.csv", name="tiny")'),
        code('# NBVAL_CHECK_OUTPUT\nprint(wb.read("tiny").collect().rows())'),
    ],
    "03-pipeline-builder": [
        md("# Pipeline builder\n\n`wb.pipeline_builder()` builds a pipeline from forms: a source "
           "(file, upload or dataset), steps (a SQL editor and Polars operations), checks and a sink. "
           "**Preview** runs it on its first rows in this kernel (nothing is written), **Submit** sends "
           "it to the configured runner, **Export** shows its YAML or Python."),
        params('workbench_home = ""'),
        code(SETUP),
        code('with open("orders.csv", "w") as f:\n'
             '    f.write("id,region,amount\\n" + "".join(f"{i},{\'nsew\'[i % 4]},{i * 3 % 50}\\n" for i in range(1000)))'),
        code('builder = wb.pipeline_builder()\nbuilder'),
        md("Fill the form (by hand in JupyterLab; here from code so the notebook runs unattended). "
           "Each button replaces what the last one showed; Preview also runs the checks on the "
           "preview rows; Export gives Python with the public `wb.*` builders (or YAML without "
           "defaults), with **Copy** and **Insert as a new cell**:"),
        code('builder.path.value = "orders.csv"\n'
             'builder.add_row("steps", "filter", "amount > 10")\n'
             'builder.add_row("steps", "sql", "SELECT region, count(*) AS n, sum(amount) AS total "\n'
             '                "FROM input GROUP BY region ORDER BY region")\n'
             'builder.add_row("checks", "not_null", "region")\n'
             'builder.sink_name.value = "region_totals"'),
        code('# NBVAL_CHECK_OUTPUT\nprint(builder.preview().rows())'),
        code('# NBVAL_CHECK_OUTPUT\nprint(builder.export("python"))'),
        code('# NBVAL_CHECK_OUTPUT\nprint(builder.export("yaml"))'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'job = builder.submit()\njob.wait()\nprint(job.status)\n'
             'print(wb.read("region_totals").collect().rows())'),
    ],
    "04-checks-and-profiles": [
        md("# Checks and profiles\n\nChecks run in the same pass that writes the data; a failing "
           "check with severity `error` stops the commit (nothing is written), `warn` only reports. "
           "Every dataset version carries a profile: nulls, distinct counts, ranges, top values."),
        params('workbench_home = ""'),
        code(SETUP),
        code('with open("people.csv", "w") as f:\n'
             '    f.write("id,name,age,country\\n1,Ann,34,NO\\n2,Bo,,SE\\n3,Cy,51,NO\\n4,Di,230,DK\\n")'),
        code('ok = wb.Pipeline(\n'
             '    source=wb.file("people.csv"),\n'
             '    checks=[wb.not_null("id", "name"), wb.is_unique("id"),\n'
             '            wb.in_range("age", min=0, max=120, severity="warn")],\n'
             '    sink=wb.dataset("people"),\n'
             ')\n'
             'job = wb.submit(ok)\n'
             'job'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'job.wait()\n'
             'print(job.status)\n'
             'for c in job.state.checks:\n'
             '    print(c["name"], "passed" if c["passed"] else f"failed ({c[\'severity\']}): {c[\'failed_rows\']} rows")'),
        md("A check with severity `error` that fails: the job fails with the reason and nothing "
           "is committed."),
        code('strict = wb.Pipeline(source=wb.file("people.csv"),\n'
             '                     checks=[wb.not_null("age")], sink=wb.dataset("people_strict"))\n'
             'bad = wb.submit(strict)\n'
             'bad'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'bad.wait()\n'
             'print(bad.status, bad.error.__class__.__name__)\n'
             'print([(s.name, s.status) for s in bad.state.steps])  # the check failed, not the read\n'
             'print([d.name for d in wb.list_datasets()])'),
        md("The profile of a dataset version:"),
        code('# NBVAL_CHECK_OUTPUT\n'
             'profile = wb.info("people").profile\n'
             'for name, col in profile["columns"].items():\n'
             '    print(name, col["type"], "nulls:", col["null_count"], "min:", col.get("min"), "max:", col.get("max"))'),
        md("The same profile as `wb.datasets()` shows it: nulls as numbers and shares, distinct "
           "counts (exact up to two million rows, marked ≈ when estimated above that), numbers "
           "formatted for people."),
        code('# NBVAL_CHECK_OUTPUT\n'
             'from workbench.notebook.profile_html import profile_text\n'
             'print(profile_text(profile))'),
        md("A mistake in a SQL step names the step, shows the statement with the place marked and "
           "lists the columns `input` has:"),
        code('typo = wb.submit(wb.Pipeline(source=wb.from_dataset("people"),\n'
             '                             steps=[wb.sql("SELECT nmae, age FROM input")]))\n'
             'typo.wait()\n'
             'typo'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'print(typo.status, typo.error.__class__.__name__, typo.error.step)\n'
             'print([(s.name, s.status) for s in typo.state.steps])'),
    ],
    "05-object-storage": [
        md("# Datasets on R2 / S3\n\nPoint workbench at a bucket with settings (environment "
           "variables), and the same code writes Parquet datasets there:\n\n"
           "```\nWORKBENCH_STORAGE_URL=s3://bucket/prefix     # or r2://<account>/<bucket>/prefix\n"
           "WORKBENCH_S3_ENDPOINT_URL=https://<account>.r2.cloudflarestorage.com\n"
           "AWS_ACCESS_KEY_ID=…  AWS_SECRET_ACCESS_KEY=…\n```\n\n"
           "This notebook is parameterized: give `s3_endpoint_url` and `bucket` (papermill `-p`, "
           "or `workbench notebook run … -p bucket NAME`) to run the remote part; without them it "
           "says so and skips it."),
        params('workbench_home = ""\ns3_endpoint_url = ""\nbucket = ""\n'
               'access_key_id = "testing"\nsecret_access_key = "testing"'),
        code(SETUP),
        code('with open("events.csv", "w") as f:\n'
             '    f.write("day,clicks\\n" + "".join(f"2026-01-{d:02d},{d * 7}\\n" for d in range(1, 29)))'),
        code('remote = bool(s3_endpoint_url and bucket)\n'
             'if remote:\n'
             '    os.environ.update({"WORKBENCH_STORAGE_URL": f"s3://{bucket}/workbench",\n'
             '                       "WORKBENCH_S3_ENDPOINT_URL": s3_endpoint_url,\n'
             '                       "AWS_ACCESS_KEY_ID": access_key_id,\n'
             '                       "AWS_SECRET_ACCESS_KEY": secret_access_key})\n'
             '    print("storage:", wb.get_settings().storage_url)\n'
             'else:\n'
             '    print("No s3_endpoint_url/bucket given: skipping the remote part "\n'
             '          "and using local storage.")'),
        code('ds = wb.ingest("events.csv", name="events")\n'
             'print(ds.uri)'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'import polars as pl\n\n'
             'print(ds.rows, wb.read("events").select(pl.col("clicks").sum()).collect().item())'),
    ],
    "06-distributed-celery": [
        md("# Distributed runs on Celery\n\nWith a broker configured, `wb.submit` sends the "
           "pipeline to Celery workers and the job view streams their progress back; without one "
           "it runs in this kernel (the LocalRunner). Start workers with\n\n"
           "```\nexport WORKBENCH_BROKER_URL=redis://localhost:6379/0\n"
           "workbench worker --queues ingestion,transformation,persistence,pipeline\n```\n\n"
           "and give this notebook `broker_url` as a parameter. Workers and the notebook must share "
           "storage and catalog settings."),
        params('workbench_home = ""\nbroker_url = ""'),
        code(SETUP),
        code('if broker_url:\n'
             '    os.environ["WORKBENCH_BROKER_URL"] = broker_url\n'
             '    print("submitting to Celery workers")\n'
             'else:\n'
             '    print("no broker_url given: jobs run in this kernel (LocalRunner)")'),
        code('with open("metrics.csv", "w") as f:\n'
             '    f.write("host,cpu\\n" + "".join(f"h{i % 5},{i % 100}\\n" for i in range(50_000)))\n'
             'job = wb.submit(wb.Pipeline(\n'
             '    source=wb.file(os.path.abspath("metrics.csv")),\n'
             '    steps=[wb.sql("SELECT host, avg(cpu) AS cpu FROM input GROUP BY host ORDER BY host")],\n'
             '    sink=wb.dataset("cpu_by_host")))\n'
             'job'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'job.wait()\n'
             'print(job.status, job.runner)\n'
             'print(wb.read("cpu_by_host").collect().rows())'),
    ],
    "07-scheduled-report": [
        md("# A scheduled, parameterized report\n\nThe cell tagged `parameters` holds the defaults; "
           "a run overrides them:\n\n"
           "```\nworkbench notebook run notebooks/07-scheduled-report.ipynb -p region north\n"
           "workbench notebook schedule notebooks/07-scheduled-report.ipynb --cron \"0 6 * * *\" -p region north\n"
           "workbench notebook schedules\n```\n\n"
           "Each run is recorded (parameters, duration, status, failing cell) and its executed "
           "notebook is stored, failed or not. In scheduled runs job views print text lines."),
        params('workbench_home = ""\nregion = "all"\nmin_amount = 0'),
        code(SETUP),
        code('import polars as pl\n\n'
             'pl.DataFrame({"region": ["north", "south", "north", "east"],\n'
             '              "amount": [120, 80, 45, 300]}).write_csv("daily.csv")\n'
             '# the job view here; text lines in a scheduled run\n'
             'job = wb.submit(wb.Pipeline(name="daily",\n'
             '                            source=wb.file(os.path.abspath("daily.csv")),\n'
             '                            sink=wb.dataset("daily")))\n'
             'job.wait()\n'
             'job'),
        code('# NBVAL_CHECK_OUTPUT\n'
             'print("ingest:", job.status)\n'
             'print(job.result.rows, "rows in", job.result.name)  # a failed job raises its error here'),
        code('frame = wb.read("daily").filter(pl.col("amount") >= min_amount)\n'
             'if region != "all":\n'
             '    frame = frame.filter(pl.col("region") == region)\n'
             'report = frame.group_by("region").agg(pl.col("amount").sum()).sort("region").collect()'),
        code('# NBVAL_CHECK_OUTPUT\nprint(f"report for region={region}, min_amount={min_amount}")\n'
             'print(report.rows())'),
        code('report'),
    ],
}


def build(names: list[str] | None = None, execute: bool = True) -> None:
    from nbclient import NotebookClient

    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.cells = cells
        path = HERE / f"{name}.ipynb"
        if execute:
            NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(HERE)}}).execute()
        for cell in nb.cells:  # keep only what nbval compares: the checked cells' outputs
            if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" not in cell.source:
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, path)
        print("wrote", path)


if __name__ == "__main__":
    build(sys.argv[1:] or None)
