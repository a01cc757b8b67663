"""Two deployments on one broker database (one team's staging and production workers, say): a
worker keeps its own catalog and storage, so a job submitted with the other catalog is refused
there, never run against the wrong records. The suite once did exactly this by accident: a worker
of one test module took another module's retried job and recorded it in its own catalog."""

from __future__ import annotations

import pytest

import workbench as wb
from servers import redis_db
from wb_cluster import make_cluster, storage_files, wait_for, write_csv

pytestmark = pytest.mark.services


def test_a_worker_refuses_a_job_made_in_another_catalog(redis_server, tmp_path):
    broker = redis_db(redis_server)
    ours = make_cluster(tmp_path / "ours", broker)
    theirs = make_cluster(tmp_path / "theirs", broker)  # same broker database, same keys
    src = write_csv(tmp_path / "in.csv", 1_000)
    theirs.start_worker("theirs")
    try:
        job = ours.runner().submit(wb.Pipeline(source=wb.file(str(src)),
                                               sink=wb.dataset("orders")))
        job.wait(120)
        assert job.status == "failed"
        assert isinstance(job.error, wb.ConfigError)
        assert "another catalog" in job.error.message and job.id in job.error.message
        assert "broker database of its own" in job.error.hint
        # the submitter's record says why (the kernel recorded the refusal it was streamed)
        wait_for(lambda: ours.ctx().catalog.get_job(job.id)["status"] == "failed",
                 "the refusal in the submitter's catalog")
        assert ours.ctx().catalog.get_job(job.id)["error"]["type"] == "ConfigError"
        # nothing of the job in the refusing worker's catalog or storage
        with pytest.raises(wb.NotFound):
            theirs.ctx().catalog.get_job(job.id)
        assert storage_files(theirs.home, "orders") == []
        assert "refused job" in theirs.logs["theirs"].read_text()
    finally:
        theirs.stop()

    # the same submitter's next job, on a worker of its own deployment, runs
    ours.start_worker("ours")
    try:
        job = ours.runner().submit(wb.Pipeline(source=wb.file(str(src)),
                                               sink=wb.dataset("orders")))
        job.wait(120)
        assert job.status == "succeeded", job.error
        assert job.result.rows == 1_000
        assert ours.ctx().catalog.get_job(job.id)["attempts"] == 1
    finally:
        ours.stop()


def test_the_catalog_id_is_made_once_and_kept(tmp_path):
    from workbench.catalog import Catalog
    from workbench.catalog_identity import catalog_id

    url = f"sqlite:///{tmp_path}/c.db"
    first = catalog_id(Catalog(url))
    assert len(first) == 32 and catalog_id(Catalog(url)) == first
    assert catalog_id(Catalog(f"sqlite:///{tmp_path}/other.db")) != first
