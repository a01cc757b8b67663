"""``GET /health`` against a real Jupyter Server whose catalog is unreachable: the catalog is
reported down (its password masked) and every other part is still probed."""

from __future__ import annotations

import json

import pytest
from api_client import start_server
from servers import free_port, redis_db

pytestmark = pytest.mark.services

SECRET = "catalog-s3cret"


@pytest.fixture(scope="module")
def catalog_down(tmp_path_factory, redis_server):
    root = tmp_path_factory.mktemp("srv-nocatalog")
    wb = start_server(root, {
        "WORKBENCH_HOME": str(root / "wbhome"),
        "WORKBENCH_CATALOG_URL": f"postgresql://u:{SECRET}@127.0.0.1:{free_port()}/wb",
        "WORKBENCH_BROKER_URL": redis_db(redis_server)})
    yield wb
    wb.stop()


def test_health_reports_the_catalog_down_and_still_probes_the_rest(catalog_down):
    with catalog_down.session() as s:
        r = s.get(catalog_down.api + "/health")
    assert r.status_code == 200, r.text
    h = r.json()
    assert set(h) >= {"ok", "namespace", "catalog", "storage", "broker", "keys", "workers"}, h
    assert h["ok"] is False and h["namespace"] == "default"
    assert h["catalog"]["state"] == "down"
    err = h["catalog"]["error"]
    assert err["type"] == "StorageUnavailable" and "cannot reach the catalog" in err["message"]
    assert "u:***@127.0.0.1" in err["message"] and "WORKBENCH_CATALOG_URL" in err["hint"]
    assert h["storage"]["state"] == "ok"
    assert h["broker"]["state"] == "ok"
    assert h["keys"]["state"] in ("ok", "missing")
    assert h["workers"]["state"] == "none" and h["workers"]["count"] == 0
    assert SECRET not in json.dumps(h)
