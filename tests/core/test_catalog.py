"""The same catalog behaviour on SQLite and on a real PostgreSQL cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import time

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


# ----------------------------------------------------------------------------- found by coverage
def test_snapshots_recorded_later_forgotten_and_absent(catalog):
    _version(catalog, "sales", 1, "j1")
    _version(catalog, "sales", 2, "j2")
    assert catalog.snapshot_of("default", "sales", 1) is None  # committed without one
    for v, sid in ((1, 11), (2, 22)):  # what `workbench migrate` records for older versions
        catalog.set_snapshot("default", "sales", v, {"snapshot_id": sid, "timestamp_ms": 1000 * v,
                                                     "table": "default.sales", "note": None})
    catalog.forget_snapshots("default", "sales", 2, "the Iceberg table was dropped at v2")
    assert catalog.snapshot_of("default", "sales", 1) == {
        "snapshot_id": None, "timestamp_ms": 1000, "table": "default.sales",
        "note": "the Iceberg table was dropped at v2"}
    assert catalog.snapshot_of("default", "sales", 2)["snapshot_id"] == 22


def test_version_as_of_a_time(catalog):
    _version(catalog, "sales", 1, "j1")
    catalog.set_snapshot("default", "sales", 1, {"snapshot_id": 1, "timestamp_ms": 5_000})
    _version(catalog, "sales", 2, "j2")  # no snapshot: its row's time counts
    assert catalog.version_as_of("default", "sales", 5.0).version == 1
    assert catalog.version_as_of("default", "sales", time.time() + 1).version == 2
    with pytest.raises(NotFound) as err:
        catalog.version_as_of("default", "sales", 4.999)
    assert (err.value.message, err.value.hint) == (
        "dataset 'sales' has no version as of 1970-01-01 00:00:04 UTC",
        "`workbench show NAME` lists its versions and their times")


def test_soft_delete_of_nothing_and_purge_of_the_last_version(catalog):
    with pytest.raises(NotFound) as err:
        catalog.soft_delete("default", "nope")
    assert err.value.message == "no dataset 'nope'"
    _version(catalog, "sales", 1, "j1")
    _version(catalog, "sales", 2, "j2")
    with pytest.raises(NotFound) as err:
        catalog.soft_delete("default", "sales", 9)
    assert err.value.message == "no dataset 'sales' version 9"
    catalog.purge_version("default", "sales", 1)
    assert [v.version for v in catalog.list_versions("default", "sales")] == [2]
    catalog.purge_version("default", "sales", 2)  # the last one takes the dataset with it
    assert catalog.list_datasets("default", include_deleted=True) == []
    with pytest.raises(NotFound) as err:
        catalog.get_version("default", "sales")
    assert err.value.message == "no dataset named 'sales'"


def test_list_jobs_by_status_owner_and_dataset(catalog):
    specs = {"w": {"source": {"kind": "file", "path": "a.csv"},
                   "sink": {"kind": "dataset", "name": "sales"}},
             "r": {"source": {"kind": "dataset", "name": "sales"}, "sink": None},
             "o": {"source": {"kind": "file", "path": "b.csv"},
                   "sink": {"kind": "dataset", "name": "other"}}}
    for job, spec in specs.items():
        catalog.create_job(job_id=job, namespace="default", spec=spec, runner="local",
                           owner="ana" if job != "o" else "bo")
    catalog.finish_job("w", "succeeded")
    assert {j["id"] for j in catalog.list_jobs("default", dataset="sales")} == {"w", "r"}
    assert [j["id"] for j in catalog.list_jobs("default", status="succeeded")] == ["w"]
    assert [j["id"] for j in catalog.list_jobs("default", owner="bo")] == ["o"]
    assert catalog.list_jobs("default", owner="ana", dataset="other") == []


def test_an_in_memory_sqlite_catalog_makes_nothing_on_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mem = Catalog("sqlite:///:memory:")
    mem.create_job(job_id="j", namespace="default", spec={}, runner="local")
    assert mem.get_job("j")["status"] == "queued"
    mem.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.services
def test_a_postgres_url_naming_its_driver_opens_as_given(postgres_url):
    cat = Catalog("postgresql+psycopg://" + postgres_url[len("postgresql://"):])
    assert cat.dialect == "postgresql" and cat.list_jobs() == []
    cat.close()


def test_without_the_postgres_extra_the_error_names_it(tmp_path):
    # psycopg made unimportable in a fresh process, as on an install without the extra
    code = ("import sys; sys.modules['psycopg'] = None\n"
            "from workbench.catalog import Catalog\n"
            "from workbench.errors import ConfigError\n"
            "try:\n    Catalog('postgresql://wb@127.0.0.1:1/db')\n"
            "except ConfigError as e:\n    print(e.message, '|', e.hint)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == ("the optional dependency 'psycopg' is not installed | "
                                  "pip install 'workbench[postgres]'"), out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="changing to a user id without an account needs root")
def test_an_owner_without_an_account_is_none(tmp_path):
    # some containers run as a uid with no passwd entry and no USER: the job has no owner
    code = ("import getpass, os, pwd\nfrom workbench.catalog import default_owner\n"
            "os.setuid(54321)\nprint(repr(default_owner()))\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("USER", "LOGNAME", "LNAME", "USERNAME", "WORKBENCH_USER")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert out.stdout.strip() == "None", out.stderr


def test_start_job_creates_the_record_and_counts_attempts_in_one_transaction(catalog):
    assert catalog.start_job(job_id="j2", namespace="default", spec={"a": 1}, runner="local",
                             name="n", worker="w1") == 1
    job = catalog.get_job("j2")
    assert job["status"] == "running" and job["worker"] == "w1" and job["name"] == "n"
    assert job["spec"] == {"a": 1} and job["started_at"] is not None
    # a record the client made first is kept (name, runner), only the attempt is counted
    catalog.create_job(job_id="j3", namespace="default", spec={"b": 2}, runner="celery",
                       name="mine")
    assert catalog.start_job(job_id="j3", namespace="default", spec={"b": 2}, runner="local",
                             worker="w1") == 1
    assert catalog.start_job(job_id="j3", namespace="default", spec={"b": 2}, runner="local",
                             worker="w2") == 2
    job = catalog.get_job("j3")
    assert (job["name"], job["runner"], job["attempts"]) == ("mine", "celery", 2)
    assert job["worker"] == "w2"


def test_attempts_are_counted_on_a_database_without_update_returning(tmp_path, monkeypatch):
    """SQLite before 3.35 has no UPDATE ... RETURNING: the attempt is read back in the same
    transaction. (The SQLite linked here is newer: its SQLAlchemy dialect is told it is not.)"""
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    monkeypatch.setattr(cat.engine.dialect, "update_returning", False)
    try:
        assert [cat.start_job(job_id="j1", namespace="default", spec={}, runner="local",
                              worker=w) for w in ("w1", "w2")] == [1, 2]
        job = cat.get_job("j1")
        assert (job["status"], job["attempts"], job["worker"]) == ("running", 2, "w2")
    finally:
        cat.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_catalog_makes_no_folder(url, tmp_path, monkeypatch):
    """``sqlite://`` used to make a folder named ``sqlite:`` in the working directory."""
    monkeypatch.chdir(tmp_path)
    c = Catalog(url)
    c.create_job(job_id="j1", namespace="default", spec={}, runner="local")
    assert c.get_job("j1")["status"] == "queued"
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_catalog_makes_its_parent_folders(tmp_path):
    Catalog(f"sqlite:///{tmp_path}/a/b/catalog.db").create_job(
        job_id="j1", namespace="default", spec={}, runner="local")
    assert (tmp_path / "a" / "b" / "catalog.db").is_file()
