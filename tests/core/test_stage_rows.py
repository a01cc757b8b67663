"""Each stage reports its own rows: the read step the rows read, the write step the rows written
(never the one's count under the other's name)."""

from __future__ import annotations

import polars as pl

import workbench as wb


def step_rows(job) -> dict[str, int | None]:
    return {e.step: e.rows for e in job.events if e.kind == "step_finished"}


def test_read_and_write_rows_of_an_aggregation(wb_home, tmp_path):
    path = tmp_path / "sales.csv"
    pl.DataFrame({"region": ["n", "s", "e", "w"] * 500, "amount": range(2000)}).write_csv(path)
    job = wb.submit(wb.Pipeline(source=wb.file(str(path)),
                                steps=[wb.sql("SELECT region, sum(amount) AS total FROM input GROUP BY 1")],
                                sink=wb.dataset("totals"))).wait(120)
    assert job.status == "succeeded", job.state.error
    rows = step_rows(job)
    assert rows["read"] == 2000 and rows["write"] == 4
    (sql,) = [name for name in rows if name not in ("read", "write")]
    assert rows[sql] == 4  # the SQL step's own output


def test_each_sql_step_reports_its_own_output_rows(wb_home, tmp_path):
    path = tmp_path / "sales.csv"
    pl.DataFrame({"region": ["n", "s", "e", "w"] * 500, "amount": range(2000)}).write_csv(path)
    job = wb.submit(wb.Pipeline(source=wb.file(str(path)),
                                steps=[wb.sql("SELECT * FROM input WHERE amount < 1000", name="recent"),
                                       wb.sql("SELECT region, count(*) AS n FROM input GROUP BY 1",
                                              name="by_region")])).wait(120)
    assert job.status == "succeeded", job.state.error
    rows = step_rows(job)
    assert (rows["read"], rows["recent"], rows["by_region"]) == (2000, 1000, 4)
    assert {s.name: s.rows for s in job.state.steps}["recent"] == 1000


def test_a_filter_does_not_pass_its_output_off_as_the_rows_read(wb_home, tmp_path):
    path = tmp_path / "sales.csv"
    pl.DataFrame({"amount": range(2000)}).write_csv(path)
    wb.ingest(str(path), name="sales")
    job = wb.submit(wb.Pipeline(source=wb.from_dataset("sales"), steps=[wb.filter("amount < 10")],
                                sink=wb.dataset("small"))).wait(120)
    assert job.status == "succeeded", job.state.error
    rows = step_rows(job)
    assert rows["read"] == 2000  # the dataset's own count, not the 10 rows the filter kept
    assert rows["write"] == 10


def test_a_filter_before_a_sql_step_leaves_the_read_step_its_rows(wb_home, tmp_path):
    """A CSV's row count is unknown until it is read, and a filter before the first SQL step
    changes it: the read step counts the rows as the source gives them, the filter reports the
    rows it kept (the rows entering the SQL step), the SQL step its own."""
    path = tmp_path / "sales.csv"
    pl.DataFrame({"region": ["n", "s", "e", "w"] * 500, "amount": range(2000)}).write_csv(path)
    job = wb.submit(wb.Pipeline(source=wb.file(str(path)),
                                steps=[wb.filter("amount < 1000"),
                                       wb.sql("SELECT region, count(*) AS n FROM input GROUP BY 1",
                                              name="by_region")],
                                sink=wb.dataset("by_region"))).wait(120)
    assert job.status == "succeeded", job.state.error
    rows = step_rows(job)
    assert (rows["read"], rows["1:filter"], rows["by_region"], rows["write"]) == (2000, 1000, 4, 4)


def test_a_filter_into_the_sink_reports_its_rows_and_the_rows_read(wb_home, tmp_path):
    path = tmp_path / "sales.csv"
    pl.DataFrame({"amount": range(2000)}).write_csv(path)
    job = wb.submit(wb.Pipeline(source=wb.file(str(path)), steps=[wb.filter("amount < 10")],
                                sink=wb.dataset("few"))).wait(120)
    assert job.status == "succeeded", job.state.error
    assert step_rows(job) == {"read": 2000, "1:filter": 10, "write": 10}
