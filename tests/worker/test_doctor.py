"""`workbench doctor` against a real redis-server and a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import redis

from servers import free_port, redis_db


def doctor(env: dict[str, str]) -> tuple[int, dict]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    proc = subprocess.run([sys.executable, "-m", "workbench", "doctor", "--json", "--timeout", "5"],
                          env={**base, **env}, capture_output=True, text=True, timeout=180)
    return proc.returncode, {c["check"]: c for c in json.loads(proc.stdout)["checks"]}


def test_a_queue_with_messages_and_no_worker_is_a_warning(redis_server, tmp_path):
    broker = redis_db(redis_server)
    client = redis.Redis.from_url(broker)
    client.flushdb()
    client.lpush("maintenance", b"{}")  # a due schedule waiting for a maintenance worker
    rc, checks = doctor({"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_BROKER_URL": broker})
    assert rc == 0
    assert checks["catalog"]["status"] == checks["storage"]["status"] == checks["broker"]["status"] == "ok"
    assert checks["workers"]["status"] == "warn" and "workbench worker" in checks["workers"]["detail"]
    assert checks["queue maintenance"]["status"] == "warn"
    assert checks["queue maintenance"]["detail"].startswith("1 message wait and no worker serves")
    assert checks["queue pipeline"]["status"] == "ok"
    client.flushdb()


def test_every_queue_is_served_by_a_default_worker(cluster):
    rc, checks = doctor(cluster.env)
    assert rc == 0 and checks["workers"]["status"] == "ok", checks["workers"]
    for queue in ("ingestion", "transformation", "persistence", "pipeline", "notebooks", "maintenance"):
        assert checks[f"queue {queue}"]["status"] == "ok"
        assert "served by" in checks[f"queue {queue}"]["detail"], checks[f"queue {queue}"]


def test_an_unreachable_broker_fails_with_the_variable_named(tmp_path):
    rc, checks = doctor({"WORKBENCH_HOME": str(tmp_path),
                         "WORKBENCH_BROKER_URL": f"redis://:s3cret@127.0.0.1:{free_port()}/0"})
    assert rc == 1 and checks["broker"]["status"] == "fail"
    assert "WORKBENCH_BROKER_URL" in checks["broker"]["detail"]
    assert "s3cret" not in json.dumps(checks)


def test_an_unreachable_catalog_fails_alone_and_the_other_parts_are_still_checked(redis_server,
                                                                                  tmp_path):
    """Opening the catalog came first and ended the command with one error object; now the
    catalog is one failed check (its password masked) and storage, broker and queues follow."""
    broker = redis_db(redis_server)
    redis.Redis.from_url(broker).flushdb()
    rc, checks = doctor({"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_BROKER_URL": broker,
                         "WORKBENCH_CATALOG_URL": f"postgresql://u:s3cret@127.0.0.1:{free_port()}/wb"})
    assert rc == 1
    assert checks["catalog"]["status"] == "fail"
    assert "cannot reach the catalog" in checks["catalog"]["detail"]
    assert "WORKBENCH_CATALOG_URL" in checks["catalog"]["detail"]
    assert checks["storage"]["status"] == checks["storage write"]["status"] == "ok"
    assert checks["broker"]["status"] == "ok" and checks["workers"]["status"] == "warn"
    assert checks["queue pipeline"]["status"] == "ok"
    assert "s3cret" not in json.dumps(checks) and "u:***@127.0.0.1" in checks["catalog"]["detail"]
