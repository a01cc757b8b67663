"""Child process for the killed-write test: runs one ingest into S3 storage and, after its
second Parquet part is on its way, tells the parent (a marker file) and waits to be killed.

    python s3_killed_writer.py CSV_PATH DATASET JOB_ID MARKER
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main() -> None:
    csv_path, name, job_id, marker = sys.argv[1:5]
    from workbench.context import Context
    from workbench.execute import run_job
    from workbench.spec.models import DatasetSink, FileSource, Pipeline
    from workbench.storage import s3

    original = s3.S3Writer._submit
    parts = {"n": 0}

    def submit_then_hang(self, chunk: bytes) -> None:
        original(self, chunk)
        parts["n"] += 1
        if parts["n"] == 2:
            Path(marker).write_text("halfway")
            time.sleep(600)  # the parent SIGKILLs us here

    s3.S3Writer._submit = submit_then_hang  # fault injection: a worker dying mid-write
    pipeline = Pipeline(source=FileSource(path=csv_path), sink=DatasetSink(name=name))
    run_job(pipeline, job_id=job_id, ctx=Context.from_settings())


if __name__ == "__main__":
    main()
