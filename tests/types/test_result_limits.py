"""A sinkless result is whole or refused: no silent cut, on the kernel or on a worker.

The 1,000-row cap of old (5,000 rows locally, 1,000 on a worker, the job "succeeded") is gone:
a result travels as Arrow IPC through storage when it is large, and past
WORKBENCH_RESULT_MAX_BYTES (8 MB in this cluster) the job fails, naming the setting.
"""

from __future__ import annotations

import polars as pl
import pytest

import workbench as wb
from workbench.errors import InputError, NotFound
from workbench.runners.local import LIVE_JOBS, LocalRunner

pytestmark = pytest.mark.services

TIMEOUT = 180


def _csv(path, rows: int, width: int = 1):
    """Rows of an id, a text of ``width`` random letters (it does not compress) and a date."""
    import random

    rnd = random.Random(rows)
    letters = "abcdefghijklmnopqrstuvwxyz"
    pl.DataFrame({"id": range(rows),
                  "text": ["".join(rnd.choices(letters, k=width)) for _ in range(rows)],
                  "day": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, 1), eager=True)
                  .extend_constant(None, rows - 1)}).write_csv(path)
    return path


def test_five_thousand_rows_arrive_whole_through_storage(cluster, tmp_path):
    src = _csv(tmp_path / "five.csv", 5_000, width=200)  # ~1 MB of Arrow: over the inline size
    p = wb.Pipeline(source=wb.file(str(src)), steps=[wb.sql("SELECT id, text, min(day) OVER () AS "
                                                            "first_day FROM input ORDER BY id")])
    local = LocalRunner().submit(p).wait(TIMEOUT)
    remote = cluster.runner().submit(p).wait(TIMEOUT)
    assert remote.status == "succeeded", remote.error
    assert "arrow" not in remote.state.result and remote.state.result["arrow_key"]
    assert remote.result.height == 5_000 and remote.result.schema["first_day"] == pl.Date
    assert local.result.equals(remote.result)


def test_a_small_result_rides_inline_and_equals(cluster, tmp_path):
    src = _csv(tmp_path / "small.csv", 10)
    p = wb.Pipeline(source=wb.file(str(src)))
    remote = cluster.runner().submit(p).wait(TIMEOUT)
    assert remote.state.result["arrow"]
    assert remote.result.equals(LocalRunner().submit(p).wait(TIMEOUT).result)


@pytest.mark.parametrize("where", ["local", "celery"])
def test_past_the_limit_the_job_fails_naming_the_setting(cluster, tmp_path, where):
    src = _csv(tmp_path / "big.csv", 100_000, width=100)  # ~10 MB in memory, over 8 MB
    p = wb.Pipeline(source=wb.file(str(src)))
    runner = LocalRunner() if where == "local" else cluster.runner()
    job = runner.submit(p).wait(TIMEOUT)
    assert job.status == "failed"
    assert [e.kind for e in job.events].count("job_finished") == 0  # never "succeeded" first
    err = job.error
    assert isinstance(err, InputError) and err.step == "collect"
    assert "WORKBENCH_RESULT_MAX_BYTES=8000000" in err.message and "100,000 rows" in err.message
    assert "wb.limit" in err.hint and "sink" in err.hint
    with pytest.raises(InputError, match="WORKBENCH_RESULT_MAX_BYTES"):
        job.result
    # With a limit step the same source fits and arrives whole.
    limited = runner.submit(wb.Pipeline(source=wb.file(str(src)), steps=[wb.limit(1_000)])).wait(TIMEOUT)
    assert limited.status == "succeeded", limited.error
    assert limited.result.height == 1_000


def test_reattached_jobs_give_the_same_frame(cluster, tmp_path):
    """``wb.job(id)`` after the live handle is gone (a kernel restart) reads the rows back."""
    src = _csv(tmp_path / "re.csv", 3_000, width=300)
    p = wb.Pipeline(source=wb.file(str(src)))
    local = LocalRunner().submit(p).wait(TIMEOUT)
    remote = cluster.runner().submit(p).wait(TIMEOUT)
    want = local.result
    LIVE_JOBS.pop(local.id, None)
    again_local = wb.job(local.id)
    assert again_local is not local and again_local.result.equals(want)
    assert cluster.runner().attach(remote.id).wait(TIMEOUT).result.equals(want)
    # The job record keeps the key, never the rows.
    rec = cluster.ctx().catalog.get_job(remote.id)
    assert "arrow" not in rec["result"] and "data" not in rec["result"]
    assert rec["result"]["arrow_key"].startswith("default/results/")


def test_a_removed_result_says_so(cluster, tmp_path):
    src = _csv(tmp_path / "gone.csv", 10)
    job = LocalRunner().submit(wb.Pipeline(source=wb.file(str(src)))).wait(TIMEOUT)
    cluster.ctx().storage.delete(job.state.result["arrow_key"])
    LIVE_JOBS.pop(job.id, None)
    again = wb.job(job.id)
    again.state.result.pop("arrow", None)
    with pytest.raises(NotFound, match="no longer in storage"):
        again.result
