"""The same catalog behaviour on SQLite and on a real PostgreSQL cluster."""

from __future__ import annotations

import pytest

from workbench.catalog import Catalog
from workbench.errors import AlreadyExists, NotFound, StorageUnavailable


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def catalog(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    cat = Catalog(url)
    yield cat
    cat.close()


def _version(cat: Catalog, name: str, version: int, job: str, ns: str = "default"):
    return cat.add_version(namespace=ns, name=name, version=version, job_id=job,
                           manifest_key=f"{ns}/datasets/{name}/v{version:06d}.manifest.json",
                           storage_url="/s", rows=10 * version, bytes=100, checksum="c" * 64,
                           schema={"fields": []}, profile={"rows": 10 * version, "columns": {}},
                           spec={"k": 1}, inputs=[{"path": "a.csv", "sha256": "d" * 64}])


def test_versions_and_lineage(catalog):
    _version(catalog, "sales", 1, "j1")
    _version(catalog, "sales", 2, "j2")
    latest = catalog.get_version("default", "sales")
    assert latest.version == 2 and latest.rows == 20
    assert latest.spec == {"k": 1} and latest.inputs[0]["path"] == "a.csv"
    assert catalog.get_version("default", "sales", 1).job_id == "j1"
    assert catalog.version_by_job("j2").version == 2
    assert [d.name for d in catalog.list_datasets("default")] == ["sales"]
    assert catalog.latest_version_number("default", "sales") == 2


def test_duplicate_version_is_refused(catalog):
    _version(catalog, "sales", 1, "j1")
    with pytest.raises(AlreadyExists, match=r"^version 1 of dataset 'sales' already exists\. "
                                            r"Hint: a version is never replaced"):
        _version(catalog, "sales", 1, "j9")
    kept = catalog.get_version("default", "sales", 1)
    assert kept.job_id == "j1"
    assert [v.version for v in catalog.list_versions("default", "sales")] == [1]


def test_the_same_commit_again_returns_its_version(catalog):
    """A commit run again (catalog_retry after a connection lost past the COMMIT) is no conflict."""
    first = _version(catalog, "sales", 1, "j1")
    again = _version(catalog, "sales", 1, "j1")
    assert (again.version, again.job_id, again.created_at) == (1, "j1", first.created_at)


def test_namespaces_are_separate(catalog):
    _version(catalog, "sales", 1, "j1", ns="alice")
    with pytest.raises(NotFound):
        catalog.get_version("bob", "sales")
    assert catalog.list_datasets("bob") == []


def test_soft_delete_hides_at_once(catalog):
    _version(catalog, "sales", 1, "j1")
    _version(catalog, "sales", 2, "j2")
    catalog.soft_delete("default", "sales", 2)
    assert catalog.get_version("default", "sales").version == 1
    catalog.soft_delete("default", "sales")
    with pytest.raises(NotFound):
        catalog.get_version("default", "sales")
    assert catalog.list_datasets("default") == []
    assert {v.version for v in catalog.deleted_before(float("inf"))} == {1, 2}


def test_job_lifecycle(catalog):
    catalog.create_job(job_id="j1", namespace="default", spec={"a": 1}, runner="local", name="n")
    catalog.create_job(job_id="j1", namespace="default", spec={"a": 1}, runner="local")  # idempotent
    assert catalog.start_attempt("j1", "w1") == 1
    assert catalog.start_attempt("j1", "w2") == 2
    catalog.heartbeat("j1", {"rows": 5})
    catalog.request_cancel("j1")
    assert catalog.cancel_requested("j1")
    catalog.finish_job("j1", "failed", error={"type": "SourceError", "message": "m"})
    job = catalog.get_job("j1")
    assert job["status"] == "failed" and job["attempts"] == 2 and job["error"]["message"] == "m"
    assert job["progress"] == {"rows": 5}
    assert [j["id"] for j in catalog.list_jobs("default")] == ["j1"]
    with pytest.raises(NotFound):
        catalog.get_job("nope")


def test_stale_jobs_by_heartbeat(catalog):
    catalog.create_job(job_id="j1", namespace="default", spec={}, runner="celery")
    catalog.start_attempt("j1", "w1")
    assert [j["id"] for j in catalog.stale_jobs(heartbeat_before=float("inf"))] == ["j1"]
    assert catalog.stale_jobs(heartbeat_before=0) == []


def test_unreachable_postgres_is_a_clear_transient_error():
    from servers import free_port

    with pytest.raises(StorageUnavailable) as err:
        Catalog(f"postgresql://wb:secret@127.0.0.1:{free_port()}/db?connect_timeout=2")
    assert "secret" not in str(err.value)
    assert "WORKBENCH_CATALOG_URL" in (err.value.hint or "")


@pytest.mark.services
def test_pipeline_end_to_end_on_postgres_catalog(wb_home, tmp_path, monkeypatch, postgres_url):
    import workbench as wb

    monkeypatch.setenv("WORKBENCH_CATALOG_URL", postgres_url)
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,x\n2,y\n")
    ds = wb.ingest(str(data), name="pg_ds")
    assert ds.version == 1 and wb.read("pg_ds").collect().height == 2
    jobs = wb.list_jobs()
    assert jobs[0]["status"] == "succeeded" and jobs[0]["result"]["name"] == "pg_ds"
    assert not (wb_home / "catalog.db").exists()


def test_a_dataset_made_again_after_delete_does_not_bring_back_old_versions(catalog):
    _version(catalog, "sales", 1, "j1")
    catalog.soft_delete("default", "sales")
    _version(catalog, "sales", 2, "j2")
    assert [v.version for v in catalog.list_versions("default", "sales")] == [2]
    assert catalog.get_version("default", "sales").version == 2


def test_many_processes_opening_a_new_catalog_at_once(tmp_path):
    """A kernel, workers and the CLI may all create the catalog's tables at the same moment."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = f"from workbench.catalog import Catalog; Catalog({url!r}).list_jobs()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)]
    errors = [p.communicate()[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
