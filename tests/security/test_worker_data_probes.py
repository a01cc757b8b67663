"""The data-side probes against a real worker (``WORKBENCH_ROLE=worker``) on a real Redis.

Each asserts the refusal, its type, and that no byte of the forbidden file reaches the error, the
job record, the events, the worker's log, the Redis keys and streams, or anything under the home.
"""

from __future__ import annotations

import pytest

import workbench as wb
from data_probes import PASSWD_MARK, assert_no_leak, forbidden_file, redis_dump, start_worker_cluster

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def cluster(redis_server, tmp_path_factory):
    cl = start_worker_cluster(tmp_path_factory.mktemp("wb-sec-data"), redis_server.url)
    yield cl
    cl.stop()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("wb-sec-in") / "a.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    return str(path)


def _leaks(cluster, job, marks):
    assert_no_leak(marks, job=job, ctx=cluster.ctx(), home=cluster.home,
                   extra=[redis_dump(cluster)])


@pytest.mark.parametrize("where", ["with_columns", "filter", "check_sql"])
def test_expression_reading_a_file_is_refused_on_a_worker(cluster, source, where, tmp_path):
    secret, mark = forbidden_file(tmp_path / "outside")
    expr = f"a IN (SELECT x FROM read_csv('{secret}')) OR a IN (SELECT x FROM read_csv('/etc/passwd'))"
    steps = {"with_columns": [wb.with_columns(z=expr)], "filter": [wb.filter(expr)]}.get(where, [])
    checks = [wb.check_sql(expr)] if where == "check_sql" else []
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(source), steps=steps, checks=checks,
                                              sink=wb.dataset(f"expr_{where}")))
    job.wait(120)
    assert job.status == "failed" and type(job.error).__name__ == "SQLError"
    assert "subquery" in job.error.message
    _leaks(cluster, job, [mark, PASSWD_MARK])
