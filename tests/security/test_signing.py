"""Signed tasks: a worker runs only messages signed by a key it trusts, stamped with the task's
name and a recent issue time. Everything else is refused, logged, and never runs.

The attacker here can read and write Redis (the broker network is not trusted) but holds no
trusted private key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import workbench as wb
from forge import capture, inject, json_message, sign_body, signed_parts, with_body
from probes import all_output, log_lines, start_cluster, use_env, wait_log
from wb_cluster import wait_for
from workbench.errors import AccessDenied, ConfigError
from servers import redis_db

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def sec(redis_server, tmp_path_factory):
    cl = start_cluster(tmp_path_factory.mktemp("wb-sign"), redis_db(redis_server),
                       "sign")
    mp = use_env(cl)
    yield cl
    mp.undo()
    cl.stop()


def _spec(tmp_path: Path, sink: str) -> dict:
    src = tmp_path / f"{sink}.csv"
    src.write_text("a\n1\n2\n")
    return wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset(sink)).model_dump(mode="json")


def _private_key_bytes(cluster) -> list[bytes]:
    keys = Path(cluster.env["WORKBENCH_KEYS_DIR"])
    return [b"PRIVATE KEY"] + [line.encode() for role in ("worker", "client")
                               for line in (keys / f"{role}.key").read_text().splitlines()[1:3]]


def _assert_never_ran(sec, job_id: str, dataset: str) -> None:
    with pytest.raises(wb.NotFound):
        sec.ctx().catalog.get_job(job_id)
    with pytest.raises(wb.NotFound):
        wb.info(dataset)
    assert sec.redis().llen("pipeline") == 0
    out = all_output(sec)
    for secret in _private_key_bytes(sec):
        assert secret not in out


def _refused_by_stamp(sec, task_id: str) -> dict:
    """Wait for the worker's answer to a stamped-but-refused message: a FAILURE result."""
    res = sec.app.AsyncResult(task_id)
    wait_for(lambda: res.state == "FAILURE", f"the refusal of {task_id}")
    return {"type": type(res.result).__name__, "message": str(res.result)}


# ----------------------------------------------------------------------------- configuration
def test_every_process_speaks_signed_json_only(sec):
    conf = sec.app.conf
    assert conf.task_serializer == "auth" and conf.accept_content == ["auth"]
    assert conf.result_serializer == "json" and conf.result_accept_content == ["json"]
    assert conf.security_key.endswith("client.key")
    assert conf.security_cert_store == str(Path(sec.env["WORKBENCH_KEYS_DIR"]) / "certs" / "*.pem")


def test_a_signed_job_runs_and_its_stamp_is_in_the_signed_body(sec, tmp_path):
    job = sec.runner().submit(wb.pipeline_from_dict(_spec(tmp_path, "signed_ok")))
    assert job.wait(120).status == "succeeded"
    msg = capture(sec.app, sec.redis(), "workbench.health_check")
    stamp = signed_parts(msg)["data"][1]["_wb"]
    assert stamp["task"] == "workbench.health_check" and abs(stamp["issued"] - time.time()) < 60


# ----------------------------------------------------------------------------- unsigned / pickled
def test_bare_unsigned_client_json_run_pipeline_is_refused(sec, tmp_path):
    """The issue's case: a bare Celery(broker=...) client sends a JSON run_pipeline."""
    from celery import Celery

    job_id = uuid.uuid4().hex
    refusal = "Refusing to deserialize untrusted content of type json"
    before = len(log_lines(sec, "sign", refusal))
    evil = Celery("evil", broker=sec.broker_url, set_as_current=False)
    evil.conf.task_serializer = "json"
    evil.send_task("workbench.run_pipeline", args=[job_id, _spec(tmp_path, "evil_json"), {}],
                   task_id=job_id, queue="pipeline")
    evil.close()
    wait_log(sec, "sign", refusal, before + 1)
    _assert_never_ran(sec, job_id, "evil_json")


def test_raw_lpush_of_a_json_message_is_refused(sec, tmp_path):
    job_id = uuid.uuid4().hex
    refusal = "Refusing to deserialize untrusted content of type json"
    before = len(log_lines(sec, "sign", refusal))
    sec.redis().lpush("pipeline", json.dumps(json_message(
        "workbench.run_pipeline", [job_id, _spec(tmp_path, "evil_lpush"), {}], task_id=job_id,
        queue="pipeline")))
    wait_log(sec, "sign", refusal, before + 1)
    _assert_never_ran(sec, job_id, "evil_lpush")


def test_pickled_message_is_refused(sec, tmp_path):
    from celery import Celery

    job_id = uuid.uuid4().hex
    refusal = "Refusing to deserialize untrusted content of type pickle"
    before = len(log_lines(sec, "sign", refusal))
    evil = Celery("evil", broker=sec.broker_url, set_as_current=False)
    evil.send_task("workbench.run_pipeline", args=[job_id, _spec(tmp_path, "evil_pickle"), {}],
                   task_id=job_id, queue="pipeline", serializer="pickle")
    evil.close()
    wait_log(sec, "sign", refusal, before + 1)
    _assert_never_ran(sec, job_id, "evil_pickle")


# ----------------------------------------------------------------------------- forged signatures
def test_message_signed_by_an_unknown_key_is_refused(sec, tmp_path):
    """The attacker made their own key set with `workbench keys init`: not in the store."""
    from workbench.worker.signing import init_keys

    init_keys(tmp_path / "evil-keys")
    job_id = uuid.uuid4().hex
    msg = capture(sec.app, sec.redis(), "workbench.run_pipeline",
                  [job_id, _spec(tmp_path, "evil_unknown"), {}])
    body = signed_parts(msg)["data"]
    before = len(log_lines(sec, "sign", "Unknown certificate"))
    inject(sec.redis(), "pipeline", with_body(msg, sign_body(body, tmp_path / "evil-keys")),
           task_id=job_id)
    lines = wait_log(sec, "sign", "Unknown certificate", before + 1)
    assert "workbench client" in lines[-1]  # names the signer it does not know
    _assert_never_ran(sec, job_id, "evil_unknown")


def test_message_with_a_junk_signature_is_refused(sec, tmp_path):
    """A trusted signer's name with a signature that does not match the body."""
    import base64

    from celery.security.serialization import DEFAULT_SEPARATOR

    job_id = uuid.uuid4().hex
    msg = capture(sec.app, sec.redis(), "workbench.run_pipeline",
                  [job_id, _spec(tmp_path, "evil_junk"), {}])
    parts = signed_parts(msg)
    forged_body = json.dumps(parts["data"]).replace("evil_junk", "evil_junk2").encode()
    packed = base64.b64encode(DEFAULT_SEPARATOR.join([
        base64.b64encode(parts["signer"]), base64.b64encode(parts["signature"]),
        b"application/json", b"utf-8", forged_body]))
    before = len(log_lines(sec, "sign", "Bad signature"))
    inject(sec.redis(), "pipeline", with_body(msg, packed), task_id=job_id)
    wait_log(sec, "sign", "Bad signature", before + 1)
    _assert_never_ran(sec, job_id, "evil_junk")
    _assert_never_ran(sec, job_id, "evil_junk2")


# ----------------------------------------------------------------------------- replays
def test_replayed_body_under_another_task_header_is_refused(sec, tmp_path):
    """Only the body is signed: the task header of a captured message can be changed. The
    stamp inside the signed body names the task it was sent as."""
    msg = capture(sec.app, sec.redis(), "workbench.health_check")
    task_id = inject(sec.redis(), "maintenance", msg, task="workbench.cleanup")
    err = _refused_by_stamp(sec, task_id)
    assert err["type"] == "AccessDenied"
    assert "sent as 'workbench.health_check' but arrived as 'workbench.cleanup'" in err["message"]
    lines = wait_log(sec, "sign", task_id)
    assert any("refused task message" in ln for ln in lines)
    assert not log_lines(sec, "sign", "cleanup done")


def test_replay_of_a_finished_job_changes_nothing(sec, tmp_path):
    """A replayed run_pipeline (same body, new delivery) finds its job done: one version."""
    spec = _spec(tmp_path, "replayed")
    job = sec.runner().submit(wb.pipeline_from_dict(spec))
    assert job.wait(120).status == "succeeded"
    rec = sec.ctx().catalog.get_job(job.id)
    msg = capture(sec.app, sec.redis(), "workbench.run_pipeline", [job.id, spec, {}])
    replay = inject(sec.redis(), "pipeline", msg)
    res = sec.app.AsyncResult(replay)
    out = wait_for(lambda: res.state == "SUCCESS" and res.result, "the replay's outcome")
    assert out["status"] == "succeeded"
    after = sec.ctx().catalog.get_job(job.id)
    assert after["attempts"] == rec["attempts"] and wb.info("replayed").version == 1


def test_stale_issue_time_is_refused(sec, tmp_path):
    """A message signed by the trusted client two days ago (captured then, replayed now)."""
    job_id = uuid.uuid4().hex
    msg = capture(sec.app, sec.redis(), "workbench.run_pipeline",
                  [job_id, _spec(tmp_path, "evil_stale"), {}])
    body = signed_parts(msg)["data"]
    body[1]["_wb"]["issued"] = time.time() - 2 * 86400
    keys = Path(sec.env["WORKBENCH_KEYS_DIR"])
    inject(sec.redis(), "pipeline", with_body(msg, sign_body(body, keys)), task_id=job_id)
    err = _refused_by_stamp(sec, job_id)
    assert err["type"] == "AccessDenied" and "WORKBENCH_TASK_MAX_AGE" in err["message"]
    _assert_never_ran(sec, job_id, "evil_stale")


def test_issue_time_in_the_future_is_refused(sec, tmp_path):
    job_id = uuid.uuid4().hex
    msg = capture(sec.app, sec.redis(), "workbench.run_pipeline",
                  [job_id, _spec(tmp_path, "evil_future"), {}])
    body = signed_parts(msg)["data"]
    body[1]["_wb"]["issued"] = time.time() + 86400
    keys = Path(sec.env["WORKBENCH_KEYS_DIR"])
    inject(sec.redis(), "pipeline", with_body(msg, sign_body(body, keys)), task_id=job_id)
    err = _refused_by_stamp(sec, job_id)
    assert err["type"] == "AccessDenied" and "in the future" in err["message"]
    _assert_never_ran(sec, job_id, "evil_future")


def test_signed_body_without_a_stamp_is_refused(sec, tmp_path):
    job_id = uuid.uuid4().hex
    msg = capture(sec.app, sec.redis(), "workbench.run_pipeline",
                  [job_id, _spec(tmp_path, "evil_nostamp"), {}])
    body = signed_parts(msg)["data"]
    del body[1]["_wb"]
    keys = Path(sec.env["WORKBENCH_KEYS_DIR"])
    inject(sec.redis(), "pipeline", with_body(msg, sign_body(body, keys)), task_id=job_id)
    err = _refused_by_stamp(sec, job_id)
    assert err["type"] == "AccessDenied" and "no task stamp" in err["message"]
    _assert_never_ran(sec, job_id, "evil_nostamp")


# ----------------------------------------------------------------------------- control messages
def test_unsigned_shutdown_broadcast_is_refused_and_the_worker_keeps_serving(sec):
    from celery import Celery

    evil = Celery("evil", broker=sec.broker_url, set_as_current=False)
    evil.conf.task_serializer = "json"
    before = len(log_lines(sec, "sign", "ContentDisallowed"))
    evil.control.broadcast("shutdown", destination=["sign@wb"])
    evil.close()
    wait_log(sec, "sign", "ContentDisallowed", before + 1)
    assert sec.workers["sign"].poll() is None
    assert sec.app.control.ping(destination=["sign@wb"], timeout=5)


def test_celery_inspect_works_with_the_signed_app(sec):
    out = subprocess.run([sys.executable, "-m", "celery", "-A", "workbench.worker.app", "inspect",
                          "ping", "-d", "sign@wb", "--timeout", "10"], cwd=sec.home,
                         env=sec.process_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pong" in out.stdout and "1 node online" in out.stdout


# ----------------------------------------------------------------------------- keys
def test_keys_init_writes_two_key_pairs_private_to_their_owner(tmp_path, capsys):
    from workbench.cli import main

    assert main(["keys", "init", str(tmp_path / "k"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for role in ("worker", "client"):
        key = Path(info[role]["key"])
        assert key.stat().st_mode & 0o777 == 0o600
        assert Path(info[role]["certificate"]).read_text().startswith("-----BEGIN CERTIFICATE")
        assert "PRIVATE KEY" not in Path(info[role]["certificate"]).read_text()
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o700
    # a second init would silently cut off every worker and client: refused
    assert main(["keys", "init", str(tmp_path / "k"), "--json"]) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert err["type"] == "ConfigError" and "--force" in err["hint"]


def test_a_named_keys_dir_without_keys_is_a_clear_error(tmp_path, monkeypatch):
    from workbench.worker.app import make_app
    from workbench.worker.config import WorkerConfig

    monkeypatch.setenv("WORKBENCH_KEYS_DIR", str(tmp_path / "nothing"))
    with pytest.raises(ConfigError) as exc:
        make_app(WorkerConfig.from_env())
    assert "workbench keys init" in exc.value.hint and not (tmp_path / "nothing").exists()


def test_one_machine_needs_no_setup_keys_are_made_in_the_home(redis_server, tmp_path):
    """No WORKBENCH_KEYS_DIR: the worker and the client make (one) key set in the home."""
    from wb_cluster import make_cluster

    cl = make_cluster(tmp_path, redis_db(redis_server))  # no worker: ours
    try:
        home = tmp_path / "home"
        env = cl.process_env()
        env.pop("WORKBENCH_KEYS_DIR")
        env["WORKBENCH_HOME"] = str(home / "fresh")
        env["WORKBENCH_CATALOG_URL"] = f"sqlite:///{home / 'fresh.db'}"
        src = tmp_path / "in.csv"
        src.write_text("a\n1\n")
        script = (
            "import subprocess, sys, os, workbench as wb\n"
            "from workbench.runners.celery_runner import CeleryRunner\n"
            "w = subprocess.Popen([sys.executable, '-m', 'workbench', 'worker', '-Q', "
            "'pipeline', '-c', '1', '-n', 'fresh@wb'], stdout=open(sys.argv[2], 'ab'), "
            "stderr=subprocess.STDOUT)\n"
            "try:\n"
            f"    job = CeleryRunner().submit(wb.Pipeline(source=wb.file({str(src)!r}), "
            "sink=wb.dataset('fresh')))\n"
            "    print(job.wait(120).status)\n"
            "finally:\n"
            "    w.terminate(); w.wait(30)\n")
        out = subprocess.run([sys.executable, "-c", script, "x", str(tmp_path / "fresh.log")],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        assert out.stdout.strip().endswith("succeeded"), out.stdout + out.stderr + \
            (tmp_path / "fresh.log").read_text()[-3000:]
        keys = home / "fresh" / "keys"
        assert sorted(p.name for p in (keys / "certs").iterdir()) == ["client.pem", "worker.pem"]
        assert (keys / "worker.key").stat().st_mode & 0o777 == 0o600
    finally:
        cl.stop()


def test_role_key_and_max_age_come_from_the_environment(monkeypatch):
    from workbench.worker.config import WorkerConfig

    monkeypatch.setenv("WORKBENCH_ROLE", "worker")
    assert WorkerConfig.from_env().signing_role == "worker"
    monkeypatch.setenv("WORKBENCH_ROLE", "admin")
    with pytest.raises(ConfigError):
        WorkerConfig.from_env()
    monkeypatch.setenv("WORKBENCH_ROLE", "kernel")
    monkeypatch.setenv("WORKBENCH_TASK_MAX_AGE", "60")
    with pytest.raises(ConfigError) as exc:
        WorkerConfig.from_env()
    assert "visibility timeout" in str(exc.value)


def test_stamp_check_refuses_before_the_task_body_runs():
    from workbench.worker.signing import guard

    ran = []

    class Req:
        id = "t1"

    class Task:
        name = "workbench.cleanup"
        request = Req()
        app = None

    def body(task, *a, **k):
        ran.append(a)

    guarded = guard(body)
    assert guard(body) is guarded  # one callable per task body, whatever the app
    with pytest.raises(AccessDenied):
        guarded(Task(), 1, _wb={"task": "workbench.run_pipeline", "issued": time.time()})
    assert ran == []
    guarded(Task(), 1, _wb={"task": "workbench.cleanup", "issued": time.time()})
    assert ran == [(1,)]
