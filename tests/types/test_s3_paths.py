"""The same types through S3 storage (moto's server over HTTP) as through a local folder:
file → dataset → ``wb.read``, and a sinkless result large enough to travel through storage."""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from s3_helpers import make_bucket
from typecases import polars_frame

pytestmark = pytest.mark.services


@pytest.fixture
def on_s3(s3_server, wb_home, monkeypatch):
    bucket = make_bucket(s3_server.url)
    for key, value in {"WORKBENCH_STORAGE_URL": f"s3://{bucket}/wb",
                       "WORKBENCH_S3_ENDPOINT_URL": s3_server.url,
                       "WORKBENCH_S3_ACCESS_KEY_ID": "testing",
                       "WORKBENCH_S3_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    return bucket


def test_every_type_through_an_s3_dataset(on_s3, every_type_parquet):
    wb.ingest(str(every_type_parquet), name="every_type")
    back = wb.read("every_type").collect()
    want = polars_frame()
    assert back.schema == want.schema
    for name in want.columns:
        assert back.select(name).equals(want.select(name)), name


def test_a_large_sinkless_result_travels_through_s3(on_s3, every_type_parquet, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RESULT_INLINE_BYTES", "0")  # every result through storage
    p = wb.Pipeline(source=wb.file(str(every_type_parquet)))
    job = wb.submit(p, runner="local").wait(120)
    assert job.status == "succeeded", job.error
    assert "arrow" not in job.state.result
    assert job.state.result["storage_url"].startswith(f"s3://{on_s3}/")
    from workbench.runners.local import LIVE_JOBS

    LIVE_JOBS.pop(job.id, None)
    again = wb.job(job.id).result  # read back from the bucket, not from the kernel's frame
    assert again.equals(polars_frame()) and again.schema == polars_frame().schema
