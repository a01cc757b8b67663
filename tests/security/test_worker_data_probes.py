"""The data-side probes against a real worker (``WORKBENCH_ROLE=worker``) on a real Redis.

Each asserts the refusal, its type, and that no byte of the forbidden file reaches the error, the
job record, the events, the worker's log, the Redis keys and streams, or anything under the home.
"""

from __future__ import annotations

import pytest

import workbench as wb
from data_probes import PASSWD_MARK, assert_no_leak, forbidden_file, redis_dump, start_worker_cluster
from servers import redis_db

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The one folder the worker's operator allows (WORKBENCH_SOURCE_ROOTS)."""
    return tmp_path_factory.mktemp("wb-sec-root")


@pytest.fixture(scope="module")
def cluster(redis_server, tmp_path_factory, root):
    tmp = tmp_path_factory.mktemp("wb-sec-data")
    # a connection the operator set up that happens to name the catalog (another spelling of it)
    catalog = tmp / "home" / "catalog.db"
    cl = start_worker_cluster(tmp, redis_db(redis_server), WORKBENCH_SOURCE_ROOTS=str(root),
                              WORKBENCH_CONN_REPORTS=f"sqlite:////{str(catalog).lstrip('/')}")
    yield cl
    cl.stop()


@pytest.fixture(scope="module")
def source(root):
    path = root / "a.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    return str(path)


def _leaks(cluster, job, marks, ignore=()):
    assert_no_leak(marks, job=job, ctx=cluster.ctx(), home=cluster.home,
                   extra=[redis_dump(cluster)], ignore=ignore)


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


def _submit(cluster, source, name, **source_options):
    job = cluster.runner().submit(wb.Pipeline(source=wb.file(source, **source_options),
                                              sink=wb.dataset(name)))
    return job.wait(120)


def test_a_file_under_the_workers_root_reads(cluster, source):
    job = _submit(cluster, source, "inside")
    assert job.status == "succeeded", job.error


@pytest.mark.parametrize("target", ["passwd", "shadow", "secret", "other-namespace", "catalog",
                                    "dotdot", "glob-symlink", "fanout-glob-symlink"])
def test_files_outside_the_workers_roots_are_refused(cluster, root, target, tmp_path):
    secret, mark = forbidden_file(tmp_path / "outside")
    marks = [mark, PASSWD_MARK, "root:*:", "root:!"]
    options, ignore = {}, []
    if target == "passwd":
        path = "/etc/passwd"
    elif target == "shadow":
        path = "/etc/shadow"
    elif target == "secret":
        path = str(secret)
    elif target == "other-namespace":
        victim = cluster.home / "storage" / "victim" / "datasets" / "p" / "data" / "j" / "a1"
        victim.mkdir(parents=True, exist_ok=True)
        (victim / "part-00000.csv").write_text("k\nVICTIMROW\n")
        path, marks = str(victim / "part-00000.csv"), marks + ["VICTIMROW"]
        ignore = [victim / "part-00000.csv"]
    elif target == "catalog":
        path, options = str(cluster.home / "catalog.db"), {"format": "csv"}
    elif target == "dotdot":
        path = str(root / ".." / secret.relative_to(root.parent))
    else:
        sub = root / f"g-{target}"
        sub.mkdir(exist_ok=True)
        (sub / "a.csv").write_text("x,1\n")
        link = sub / "z.csv"
        if not link.is_symlink():
            link.symlink_to(secret)
        path = str(sub / "*.csv")
        options = {"parallel": True} if target.startswith("fanout") else {}
    job = _submit(cluster, path, f"stolen_{target.replace('-', '_')}", **options)
    assert job.status == "failed"
    assert type(job.error).__name__ == "AccessDenied", job.error
    assert "WORKBENCH_SOURCE_ROOTS" in (job.error.hint or "") or "home" in job.error.message
    _leaks(cluster, job, marks, ignore)


def test_a_worker_without_roots_reads_no_file(wb_home, monkeypatch, tmp_path):
    """Role worker, no WORKBENCH_SOURCE_ROOTS: every file source is refused (here in-process,
    with the worker's settings, through the same execute)."""
    monkeypatch.setenv("WORKBENCH_ROLE", "worker")
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    job = wb.submit(wb.Pipeline(source=wb.file(str(path)), sink=wb.dataset("x")),
                    runner="local").wait(60)
    assert job.status == "failed" and type(job.error).__name__ == "AccessDenied"
    assert "none is set on this worker" in job.error.hint


@pytest.mark.parametrize("how", ["sink-symlink", "sink-connection", "query-dotdot", "query-connection"])
def test_the_catalog_is_no_source_or_sink_on_a_worker(cluster, source, how, tmp_path):
    """From the issue: wb.table("datasets", db=<catalog>, mode="replace") rewrote the catalog and
    wb.query(..., db=<catalog>) read every namespace's specs."""
    catalog = cluster.home / "catalog.db"
    link = tmp_path / "reports.db"
    link.symlink_to(catalog)
    marker = "SPECMARK" + how.replace("-", "")
    victim = cluster.runner().submit(wb.Pipeline(name=marker, source=wb.file(source),
                                                 sink=wb.dataset(f"v_{how.replace('-', '_')}")))
    assert victim.wait(120).status == "succeeded"
    db = {"sink-symlink": f"sqlite:///{link}", "sink-connection": "reports",
          "query-dotdot": f"sqlite:///{catalog.parent / '..' / 'home' / 'catalog.db'}",
          "query-connection": "reports"}[how]
    if how.startswith("sink"):
        pipeline = wb.Pipeline(source=wb.file(source), sink=wb.table("datasets", db=db, mode="replace"))
    else:
        pipeline = wb.Pipeline(source=wb.query("SELECT name, spec_json FROM jobs", db=db),
                               sink=wb.dataset(f"loot_{how.replace('-', '_')}"))
    job = cluster.runner().submit(pipeline).wait(120)
    assert job.status == "failed" and type(job.error).__name__ == "AccessDenied", job.error
    # a raw DSN may also be refused on a worker as such (db= must name a connection there)
    assert "catalog" in job.error.message or (not how.endswith("connection")
                                              and "WORKBENCH_CONN_" in (job.error.hint or ""))
    names = [r.name for r in cluster.ctx().catalog.list_datasets("default")]
    assert f"v_{how.replace('-', '_')}" in names  # the catalog is intact
    # the attacker's job (its error, events and record) shows nothing of the victim's spec
    assert_no_leak([marker], job=job, ctx=cluster.ctx())
