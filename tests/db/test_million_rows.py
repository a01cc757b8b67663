"""A 1M-row table copied end to end, with progress events along the way."""

from __future__ import annotations

import pytest

import workbench as wb
from db_helpers import pg_exec, pg_rows, run

pytestmark = pytest.mark.services

N = 1_000_000


def test_a_million_rows_table_to_table_with_progress(postgres_url: str) -> None:
    pg_exec(postgres_url,
            "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS name, (g % 1000)::numeric(10,2) "
            f"AS amount, timestamp '2026-01-01' + g * interval '1 second' AS at "
            f"FROM generate_series(1, {N}) g")
    p = wb.Pipeline(source=wb.query("SELECT * FROM big", db=postgres_url, batch_rows=50_000),
                    checks=[wb.not_null("id"), wb.row_count(min=N)],
                    sink=wb.table("big_copy", db=postgres_url, mode="create", batch_rows=50_000))
    job = run(p)
    assert job.status == "succeeded", job.error
    assert job.result["rows"] == N
    progress = [e for e in job.events if e.kind == "progress"]
    assert len(progress) >= 2
    seen = [e.rows for e in progress]
    assert seen == sorted(seen) and seen[-1] == N
    assert any(0 < r < N for r in seen), "no progress was reported before the end"
    assert pg_rows(postgres_url, "SELECT count(*), sum(id), max(at) FROM big_copy") == \
        pg_rows(postgres_url, "SELECT count(*), sum(id), max(at) FROM big")
    assert pg_rows(postgres_url, "SELECT data_type FROM information_schema.columns WHERE "
                                 "table_name = 'big_copy' AND column_name = 'amount'") == [("numeric",)]
