"""Signed JSON only over the broker: a pickled task is refused and never runs.

(The attacker's probes are in tests/security/.)"""

from __future__ import annotations

import time
import uuid

import pytest

import workbench as wb

pytestmark = pytest.mark.services


def test_app_speaks_signed_json_only(cluster):
    conf = cluster.app.conf
    assert conf.accept_content == ["auth"] and conf.result_accept_content == ["json"]
    assert conf.task_serializer == "auth" and conf.result_serializer == "json"
    assert conf.security_cert_store.endswith("/certs/*.pem")
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

    log = cluster.logs["shared"]
    refusal = "Refusing to deserialize untrusted content of type pickle"

    def refusals() -> int:
        return sum(refusal in line for line in log.read_text().splitlines())

    before = refusals()
    evil = Celery("sender", broker=cluster.broker_url, set_as_current=False)
    evil.conf.task_serializer = "pickle"
    evil.send_task("workbench.run_pipeline", args=[job_id, spec, {}], task_id=job_id,
                   queue="pipeline", serializer="pickle")
    evil.close()

    # A signed job sent after it runs to the end; the pickled message was refused and logged.
    after = cluster.runner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("after_pickle")))
    assert after.wait(120).status == "succeeded"
    deadline = time.monotonic() + 30
    while refusals() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert refusals() == before + 1
    record = ctx.catalog.get_job(job_id)
    assert (record["status"], record["attempts"]) == ("queued", 0)
    assert cluster.redis().llen("pipeline") == 0
    with pytest.raises(wb.NotFound):
        wb.info("pickled")
