"""The catalog database is never a query source or a table sink, however it is spelled.

Issue case: ``wb.table("datasets", db="sqlite:///<home>/catalog.db", mode="replace")`` from
namespace ``attacker`` rewrote the catalog, and ``workbench gc`` in the victim's namespace then
deleted its data; ``wb.query(..., db=<the catalog>)`` read every namespace's jobs and specs.
"""

from __future__ import annotations

import os

import pytest

import workbench as wb
from data_probes import assert_no_leak
from workbench.context import Context
from workbench.maintenance import gc, verify

pytestmark = pytest.mark.services  # PostgreSQL for the server-catalog case


@pytest.fixture
def victim(wb_home, tmp_path, monkeypatch):
    """Namespace 'victim' has a dataset whose job spec holds a marker; the caller is 'attacker'."""
    src = tmp_path / "VICTIMSPEC.csv"
    src.write_text("k,v\n1,2\n")
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "victim")
    wb.ingest(str(src), name="precious")
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "attacker")
    return wb_home / "catalog.db"


def _aliases(catalog, tmp_path, monkeypatch):
    link = tmp_path / "innocent.db"
    link.symlink_to(catalog)
    hard = tmp_path / "hard.db"
    os.link(catalog, hard)
    monkeypatch.setenv("WORKBENCH_CONN_CAT", f"sqlite:///{catalog}")
    monkeypatch.chdir(catalog.parent)
    return {
        "as-written": f"sqlite:///{catalog}",
        "four-slashes": f"sqlite:////{str(catalog).lstrip('/')}",
        "relative": "sqlite:///catalog.db",
        "three-slashes-from-root": f"sqlite:///{os.path.relpath(catalog, '/')}",
        "dotdot": f"sqlite:///{catalog.parent / '..' / catalog.parent.name / 'catalog.db'}",
        "symlink": f"sqlite:///{link}",
        "hardlink": f"sqlite:///{hard}",
        "connection-name": "cat",
        "driver-suffix": f"sqlite+pysqlite:///{catalog}",
    }


ALIASES = ["as-written", "four-slashes", "relative", "three-slashes-from-root", "dotdot",
           "symlink", "hardlink", "connection-name", "driver-suffix"]


def _run(pipeline):
    return wb.submit(pipeline, runner="local").wait(60)


@pytest.mark.parametrize("alias", ALIASES)
def test_table_sink_into_the_catalog_is_refused(alias, victim, tmp_path, monkeypatch):
    db = _aliases(victim, tmp_path, monkeypatch)[alias]
    if alias == "three-slashes-from-root":  # a relative path that is the catalog from "/"
        monkeypatch.chdir("/")
    src = tmp_path / "evil.csv"
    src.write_text("namespace,name,deleted_at\nvictim,precious,1\n")
    before = Context.from_settings().catalog.list_datasets("victim")
    job = _run(wb.Pipeline(source=wb.file(str(src)), sink=wb.table("datasets", db=db, mode="replace")))
    assert job.status == "failed" and type(job.error).__name__ == "AccessDenied", job.error
    assert "catalog" in job.error.message and "WORKBENCH_CATALOG_URL" in job.error.hint
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "victim")
    assert wb.read("precious").collect().height == 1
    ctx = Context.from_settings()
    gc(ctx, retention_seconds=0)
    assert verify(ctx, "precious")["ok"]
    assert [r.name for r in ctx.catalog.list_datasets("victim")] == [r.name for r in before] == ["precious"]


@pytest.mark.parametrize("alias", ["as-written", "symlink", "hardlink", "connection-name", "dotdot"])
def test_query_of_the_catalog_is_refused_and_shows_no_other_namespaces_specs(alias, victim, tmp_path,
                                                                              monkeypatch):
    db = _aliases(victim, tmp_path, monkeypatch)[alias]
    job = _run(wb.Pipeline(source=wb.query("SELECT id, spec_json FROM jobs", db=db)))
    assert job.status == "failed" and type(job.error).__name__ == "AccessDenied"
    assert_no_leak(["VICTIMSPEC"], job=job, ctx=Context.from_settings())
    with pytest.raises(wb.AccessDenied):
        wb.preview(wb.Pipeline(source=wb.query("SELECT * FROM datasets", db=db)))


def test_other_sqlite_databases_still_work(victim, tmp_path):
    db = f"sqlite:///{tmp_path / 'warehouse.db'}"
    src = tmp_path / "x.csv"
    src.write_text("a\n1\n2\n")
    job = _run(wb.Pipeline(source=wb.file(str(src)), sink=wb.table("t", db=db, mode="replace")))
    assert job.status == "succeeded", job.error
    out = _run(wb.Pipeline(source=wb.query("SELECT a FROM t ORDER BY a", db=db)))
    assert out.status == "succeeded" and out.result.to_series().to_list() == [1, 2]


def test_a_postgresql_catalog_is_refused_under_another_host_name(postgres_url, wb_home, tmp_path,
                                                                 monkeypatch):
    catalog = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    monkeypatch.setenv("WORKBENCH_CATALOG_URL", catalog)
    src = tmp_path / "VICTIMSPEC.csv"
    src.write_text("k\n1\n")
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "victim")
    wb.ingest(str(src), name="precious")
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "attacker")
    spellings = {postgres_url, postgres_url.replace("127.0.0.1", "localhost")}
    if "localhost" in postgres_url:
        spellings.add(postgres_url.replace("localhost", "127.0.0.1"))
    assert len(spellings) == 2
    for db in spellings:
        job = _run(wb.Pipeline(source=wb.query("SELECT spec_json FROM jobs", db=db)))
        assert job.status == "failed" and type(job.error).__name__ == "AccessDenied", (db, job.error)
        assert_no_leak(["VICTIMSPEC"], job=job, ctx=Context.from_settings())
        sink = _run(wb.Pipeline(source=wb.file(str(src)), sink=wb.table("datasets", db=db, mode="replace")))
        assert type(sink.error).__name__ == "AccessDenied"
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "victim")
    assert wb.read("precious").collect().to_dict(as_series=False) == {"k": [1]}
