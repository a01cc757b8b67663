"""Limits of a SQL step (issue 11, point 5): time, memory and temp size, each a setting named by
its error; cancel interrupts a running DuckDB query; DuckDB's progress reaches the job's events;
nothing is left in the job's temp folder afterwards."""

from __future__ import annotations

import threading

import polars as pl
import pytest

import workbench as wb
from workbench.engines.sql import SqlLimits, run_sql
from workbench.engines.sql_sandbox import temp_root
from workbench.errors import ConfigError, SQLError
from workbench.settings import get_settings

# a query that runs for minutes (a 400 G-row cross join) and whose progress DuckDB can estimate
ENDLESS = "SELECT sum(x.a * y.a) AS s FROM range(2000000) x(a), range(200000) y(a)"


@pytest.fixture
def small(wb_home, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a\n1\n2\n")
    return path


def _job_folders(home) -> list:
    root = temp_root(home)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_time_limit_interrupts_and_names_the_setting(small, wb_home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SQL_TIME_LIMIT", "0.5")
    p = wb.Pipeline(source=wb.file(str(small)), steps=[wb.sql(ENDLESS)])
    job = wb.submit(p, runner="local").wait(120)
    assert job.status == "failed"
    assert isinstance(job.error, SQLError) and job.error.step == "1:sql"
    assert "0.5s" in job.error.message and "WORKBENCH_SQL_TIME_LIMIT" in job.error.hint
    assert _job_folders(wb_home) == []


def test_cancel_interrupts_a_running_query_after_its_progress_was_reported(small, wb_home):
    p = wb.Pipeline(source=wb.file(str(small)), steps=[wb.sql(ENDLESS, name="big")])
    running = threading.Event()

    def on_event(ev):
        if ev.kind == "progress" and ev.step == "big" and ev.percent:
            running.set()

    job = wb.submit(p, runner="local")
    job.subscribe(on_event)
    assert running.wait(120), "no SQL progress was reported"
    progress = [e for e in job.events if e.kind == "progress" and e.step == "big" and e.percent]
    assert all(0 < e.percent <= 100 for e in progress)
    job.cancel()
    job.wait(120)
    assert job.status == "cancelled"
    assert _job_folders(wb_home) == []


def test_out_of_memory_is_an_sql_error_naming_the_setting(small, wb_home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SQL_MEMORY_LIMIT", "64MB")
    p = wb.Pipeline(source=wb.file(str(small)),
                    steps=[wb.sql("SELECT string_agg(repeat('x', 200), ',') AS s FROM range(2000000)")])
    job = wb.submit(p, runner="local").wait(120)
    assert job.status == "failed"
    assert isinstance(job.error, SQLError)
    assert "WORKBENCH_SQL_MEMORY_LIMIT=64MB" in job.error.message
    assert "WORKBENCH_SQL_MEMORY_LIMIT" in job.error.hint
    assert _job_folders(wb_home) == []
    # the kernel goes on: the next job runs
    ok = wb.submit(wb.Pipeline(source=wb.file(str(small)), steps=[wb.sql("SELECT sum(a) AS s FROM input")]),
                   runner="local").wait(60)
    assert ok.status == "succeeded" and ok.result["s"].to_list() == [3]


def test_spill_past_the_temp_limit_names_the_setting_and_leaves_nothing(wb_home, tmp_path):
    frame = pl.LazyFrame({"a": range(3_000_000)}).with_columns(b=pl.col("a").cast(pl.String) + "-pad-pad-pad")
    limits = SqlLimits(memory_limit="40MB", temp_limit="8MB", threads=1)
    from workbench.engines.sql_sandbox import JobTemp

    temp = JobTemp(temp_root(wb_home))
    with pytest.raises(SQLError) as err:
        run_sql("SELECT * FROM input ORDER BY b DESC", {"input": frame}, limits=limits, temp=temp).collect()
    assert "WORKBENCH_SQL_TEMP_LIMIT" in err.value.message + (err.value.hint or "")
    assert [p.name for p in temp.path.iterdir()] == ["owner.json"]  # the step's spill is gone
    temp.remove()


def test_an_input_read_twice_counts_against_the_temp_limit(wb_home):
    frame = pl.LazyFrame({"a": range(2_000_000)}).with_columns(b=pl.col("a").cast(pl.String) + "-x")
    with pytest.raises(SQLError) as err:
        run_sql("SELECT count(*) FROM input WHERE a > (SELECT avg(a) FROM input)", {"input": frame},
                limits=SqlLimits(temp_limit="1MB"), batch_rows=50_000).collect()
    assert "reads 'input' more than once" in err.value.message
    assert "WORKBENCH_SQL_TEMP_LIMIT=1MB" in err.value.message


@pytest.mark.parametrize("var,value", [("WORKBENCH_SQL_TIME_LIMIT", "soon"),
                                       ("WORKBENCH_SQL_THREADS", "-1")])
def test_bad_limit_settings_are_config_errors(wb_home, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        get_settings()


def test_a_bad_size_setting_names_itself(small, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SQL_TEMP_LIMIT", "lots")
    job = wb.submit(wb.Pipeline(source=wb.file(str(small)), steps=[wb.sql("SELECT * FROM input")]),
                    runner="local").wait(60)
    assert job.status == "failed" and "WORKBENCH_SQL_TEMP_LIMIT" in job.error.message


def test_defaults_are_safe():
    s = get_settings()
    assert s.sql_time_limit == 1800.0 and s.sql_memory_limit == "2GB" and s.sql_temp_limit == "10GB"
