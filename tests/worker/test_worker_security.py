"""JSON only over the broker: a pickled task is refused and never runs."""

from __future__ import annotations

import time
import uuid

import pytest

import workbench as wb

pytestmark = pytest.mark.services


def test_app_speaks_json_only(cluster):
    conf = cluster.app.conf
    assert conf.accept_content == ["json"] and conf.result_accept_content == ["json"]
    assert conf.task_serializer == conf.result_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    hard = max(t.time_limit for name, t in cluster.app.tasks.items() if name.startswith("workbench."))
    assert conf.broker_transport_options["visibility_timeout"] > hard
    assert conf.result_backend_transport_options["visibility_timeout"] > hard


def test_pickled_task_is_refused_and_never_runs(cluster, tmp_path):
    from celery import Celery

    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    spec = wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("pickled")).model_dump(mode="json")
    ctx = cluster.ctx()
    job_id = uuid.uuid4().hex
    ctx.catalog.create_job(job_id=job_id, namespace=ctx.namespace, spec=spec, runner="celery")

    evil = Celery("sender", broker=cluster.broker_url, set_as_current=False)
    evil.conf.task_serializer = "pickle"
    evil.send_task("workbench.run_pipeline", args=[job_id, spec, {}], task_id=job_id,
                   queue="pipeline", serializer="pickle")
    evil.close()

    # A JSON job sent after it runs to the end: the pickled message was taken (and dropped) first.
    after = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("after_pickle")))
    assert after.wait(120).status == "succeeded"
    log = cluster.logs["shared"]
    deadline = time.monotonic() + 30
    while job_id not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [ln for ln in log.read_text().splitlines() if job_id in ln]
    assert lines and all("pickle" in ln for ln in lines)
    assert any("Refusing to deserialize untrusted content of type pickle" in ln for ln in lines)
    record = ctx.catalog.get_job(job_id)
    assert (record["status"], record["attempts"]) == ("queued", 0)
    assert cluster.redis().llen("pipeline") == 0
    with pytest.raises(wb.NotFound):
        wb.info("pickled")
