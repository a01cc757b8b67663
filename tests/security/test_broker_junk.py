"""Junk in the broker: Redis is not trusted (SECURITY.md), so a message the worker cannot even
decode (not JSON, JSON that is not an object, an object that is no kombu envelope) is logged by a
short, escaped prefix, dropped, and the worker keeps serving: one `LPUSH pipeline hello` must not
end every worker.

Each probe pushes junk straight into the queues of a real `workbench worker` process (and onto its
broadcast channel), then runs a real signed job, and checks the worker is the same process, still
answers a ping, and that nothing past the logged prefix of the junk reached any output.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import workbench as wb
from probes import all_output, log_lines, use_env, wait_log
from servers import redis_db
from wb_cluster import make_cluster, wait_for

pytestmark = pytest.mark.services

DROPPED = "dropped an undecodable broker message"
#: A unique marker placed after the part of a junk message that may be logged.
SECRET = "JUNKSECRET" + str(time.time_ns())
PAD = "x" * 80  # longer than any logged prefix

JUNK = [
    # not JSON at all (the repro)
    ("pipeline", "hello " + PAD + SECRET),
    ("maintenance", "hello " + PAD + SECRET),
    ("pipeline", b"\xff\xfe\x00 not utf-8 " + (PAD + SECRET).encode()),
    ("pipeline", '{"body": "truncated ' + PAD + SECRET),
    # JSON, not an object
    ("pipeline", json.dumps([PAD, SECRET])),
    ("maintenance", json.dumps(PAD + SECRET)),
    ("pipeline", "12"),
    ("pipeline", "null"),
    # an object that is no kombu envelope
    ("pipeline", json.dumps({"body": 12, "headers": "x", "pad": PAD, "s": SECRET})),
    ("maintenance", json.dumps({"body": 12, "headers": "x", "pad": PAD, "s": SECRET})),
    ("pipeline", json.dumps({"body": "e30=", "properties": {"pad": PAD, "s": SECRET}})),
    ("pipeline", json.dumps({"body": "e30=", "headers": {"task": "x"}, "properties": {
        "delivery_tag": "t1", "pad": PAD, "s": SECRET}})),  # no delivery_info
    ("pipeline", json.dumps({"body": "e30=", "headers": {}, "properties": {
        "delivery_tag": "t2", "body_encoding": "rot13", "delivery_info": {
            "exchange": "", "routing_key": "pipeline"}, "s": PAD + SECRET}})),
    ("pipeline", json.dumps({"body": "!!not base64!!" + PAD + SECRET, "headers": {},
                             "properties": {"delivery_tag": "t3", "body_encoding": "base64",
                                            "delivery_info": {"exchange": "",
                                                              "routing_key": "pipeline"}}})),
]


@pytest.fixture(scope="module")
def junk(redis_server, tmp_path_factory):
    """One `workbench worker -c 1` (the command of the issue's repro) on its own Redis database."""
    cl = make_cluster(tmp_path_factory.mktemp("wb-junk"), redis_db(redis_server))
    cl.start_worker("junk", concurrency=1, cli=True)
    mp = use_env(cl)
    yield cl
    mp.undo()
    cl.stop()


def _spec(tmp_path: Path, sink: str) -> wb.Pipeline:
    src = tmp_path / f"{sink}.csv"
    src.write_text("a\n1\n2\n")
    return wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(sink))


def _assert_serving(cl, pid: int, tmp_path: Path, sink: str) -> None:
    job = cl.runner().submit(_spec(tmp_path, sink))
    assert job.wait(120).status == "succeeded"
    assert wb.info(sink).rows == 2
    proc = cl.workers["junk"]
    assert proc.poll() is None and proc.pid == pid, "the worker process ended"
    assert cl.app.control.ping(destination=["junk@wb"], timeout=5)
    text = cl.logs["junk"].read_text(errors="replace")
    assert "Unrecoverable error" not in text
    assert "KeyError('properties')" not in text


def _assert_no_junk_leaked(cl) -> None:
    out = all_output(cl)
    assert SECRET.encode() not in out
    assert PAD.encode() not in out  # not even the whole padding: only a short prefix is logged


def test_junk_in_a_consumed_queue_is_logged_dropped_and_the_worker_keeps_serving(junk, tmp_path):
    pid = junk.workers["junk"].pid
    r = junk.redis()
    before = len(log_lines(junk, "junk", DROPPED))
    for queue, raw in JUNK:
        r.lpush(queue, raw)
    lines = wait_log(junk, "junk", DROPPED, before + len(JUNK))
    wait_for(lambda: r.llen("pipeline") == 0 and r.llen("maintenance") == 0, "the queues drained")
    _assert_serving(junk, pid, tmp_path, "after_junk")
    # the log says what it dropped: the queue's message was no JSON / no envelope, with a prefix
    assert any("not JSON" in ln for ln in lines)
    assert any("envelope" in ln for ln in lines)
    assert any("'hello x" in ln for ln in lines)
    _assert_no_junk_leaked(junk)


def test_junk_between_valid_jobs_loses_none_of_them(junk, tmp_path):
    """Junk pushed while jobs are queued: every valid job still runs."""
    pid = junk.workers["junk"].pid
    r = junk.redis()
    before = len(log_lines(junk, "junk", DROPPED))
    jobs = []
    for k in range(3):
        r.lpush("pipeline", "hello " + PAD + SECRET)
        r.lpush("pipeline", json.dumps({"body": 12, "headers": "x", "s": SECRET}))
        jobs.append(junk.runner().submit(_spec(tmp_path, f"between_{k}")))
    assert [j.wait(120).status for j in jobs] == ["succeeded"] * 3
    wait_log(junk, "junk", DROPPED, before + 6)
    _assert_serving(junk, pid, tmp_path, "after_between")
    _assert_no_junk_leaked(junk)


def test_junk_on_the_broadcast_channel_is_dropped_and_control_still_works(junk, tmp_path):
    """The control channel (ping, inspect) is a Redis PUBLISH topic: junk there is dropped too,
    without the content kombu would otherwise log."""
    pid = junk.workers["junk"].pid
    r = junk.redis()
    db = junk.broker_url.rsplit("/", 1)[1]
    topic = f"/{db}.celery.pidbox"  # kombu's broadcast topic of the control exchange
    before = len(log_lines(junk, "junk", DROPPED))
    assert r.publish(topic, "hello " + PAD + SECRET) >= 1  # the worker is subscribed
    assert r.publish(topic, json.dumps({"body": 12, "headers": "x", "s": PAD + SECRET})) >= 1
    wait_log(junk, "junk", DROPPED, before + 2)
    _assert_serving(junk, pid, tmp_path, "after_broadcast_junk")
    _assert_no_junk_leaked(junk)
