"""The S3 server unreachable while a job writes (every connection dropped by a proxy in front of
moto's server), then back: a short outage is retried through and commits once; a long one fails
the job with a TransientError, leaves no version and no pending upload visible, and once S3 is
back the next job commits."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench.context import Context
from workbench.errors import TransientError
from workbench.runners.local import LocalRunner

from invariants import assert_settled, wait_until
from s3_faults import FaultProxy
from s3_helpers import make_bucket

pytestmark = pytest.mark.services

TIMEOUT = 240


@pytest.fixture
def s3_home(s3_server, wb_home, monkeypatch):
    proxy = FaultProxy(s3_server.port)
    bucket = make_bucket(s3_server.url)
    monkeypatch.setenv("WORKBENCH_STORAGE_URL", f"s3://{bucket}/wb")
    monkeypatch.setenv("WORKBENCH_S3_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("WORKBENCH_S3_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("WORKBENCH_S3_SECRET_ACCESS_KEY", "testing")
    yield proxy
    proxy.close()


def _down(proxy: FaultProxy) -> None:
    proxy.fail(10**9, "drop")


def _back(proxy: FaultProxy) -> None:
    with proxy._lock:
        proxy._faults.clear()


def _job(src, tmp_path, name: str):
    marker, gate = tmp_path / f"{name}-running", tmp_path / f"{name}-gate"
    job = LocalRunner().submit(wb.Pipeline(
        source=wb.file(str(src)),
        steps=[wb.python("wbtest_steps:wait_for_gate", marker=str(marker), gate=str(gate))],
        sink=wb.dataset(name)))
    wait_until(marker.exists, "the job to run")
    return job, gate


def _versions(ctx, name: str) -> list[int]:
    return [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)]


def _src(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,v\n" + "".join(f"{i},{i * 2}\n" for i in range(5000)))
    return src


def test_s3_blip_mid_write_is_retried(s3_home, tmp_path):
    """Three dropped connections while the job writes: retried with backoff, one version."""
    src = _src(tmp_path)
    job, gate = _job(src, tmp_path, "blip")
    s3_home.fail(3, "drop", match=lambda method, path: method in ("PUT", "POST"))
    gate.touch()
    job.wait(TIMEOUT)
    assert job.status == "succeeded", job.error
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert _versions(ctx, "blip") == [1]
    assert any(status == 0 for _m, _p, status in s3_home.requests)  # the drops happened


def test_s3_down_mid_write_then_back(s3_home, tmp_path):
    """S3 gone for good while the job writes: the job fails with a TransientError saying so
    (after its retries), no version is visible; S3 back, the next job commits once."""
    src = _src(tmp_path)
    job, gate = _job(src, tmp_path, "outage")
    _down(s3_home)
    gate.touch()
    job.wait(TIMEOUT)
    assert job.status == "failed"
    assert isinstance(job.error, TransientError), job.error
    _back(s3_home)
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert _versions(ctx, "outage") == []
    objects = [o.key for o in ctx.storage.list(f"{ctx.namespace}/datasets/outage/")]
    assert not [k for k in objects if k.endswith(".manifest.json")], objects
    nxt = LocalRunner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("outage")))
    nxt.wait(TIMEOUT)
    assert nxt.status == "succeeded", nxt.error
    assert _versions(ctx, "outage") == [1]
