"""``wait_for_result`` reads a task's stored record: the value, the task's own error, a timeout,
and a record written after a Redis restart while the client, which held a result subscription
from before the restart, already waits."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout

from servers import start_redis
from workbench.worker.task_result import wait_for_result

pytestmark = pytest.mark.services


@pytest.fixture
def redis_app():
    srv = start_redis(persistent=True)
    app = Celery("t", broker=srv.url, backend=srv.url, set_as_current=False)
    app.conf.result_backend_always_retry = True
    app.conf.result_backend_max_retries = 40
    yield srv, app
    srv.stop()


def test_the_value_the_error_and_the_timeout(redis_app):
    _srv, app = redis_app
    done, failed, never = (uuid.uuid4().hex for _ in range(3))
    app.backend.store_result(done, {"status": "succeeded"}, "SUCCESS")
    app.backend.store_result(failed, ValueError("row 3: not a number"), "FAILURE")
    assert wait_for_result(app.AsyncResult(done), 30) == {"status": "succeeded"}
    with pytest.raises(ValueError, match="row 3: not a number"):
        wait_for_result(app.AsyncResult(failed), 30)
    started = time.monotonic()
    with pytest.raises(CeleryTimeout, match=f"the task {never} did not end within 0.5s"):
        wait_for_result(app.AsyncResult(never), 0.5)
    assert time.monotonic() - started >= 0.5


def test_a_result_written_after_a_redis_restart(redis_app):
    srv, app = redis_app
    first = uuid.uuid4().hex
    app.backend.store_result(first, 1, "SUCCESS")
    assert app.AsyncResult(first).get(timeout=30) == 1  # Celery's own wait: a subscription
    srv.proc.kill()
    srv.proc.wait(30)
    srv.start()
    later = uuid.uuid4().hex
    writer = Celery("w", broker=srv.url, backend=srv.url, set_as_current=False)
    t = threading.Timer(0.2, lambda: writer.backend.store_result(later, {"rows": 7}, "SUCCESS"))
    t.start()
    try:
        assert wait_for_result(app.AsyncResult(later), 60) == {"rows": 7}
    finally:
        t.join(30)
