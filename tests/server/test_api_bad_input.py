"""Bad input over HTTP against a real Jupyter Server with the extension: every one is a 4xx
error object naming what is wrong, never a 500, and the server's event loop keeps serving."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from api_client import error_of, stream, write_csv

pytestmark = pytest.mark.services

MiB = 1024 * 1024


def spec(src: Path, name: str, **extra) -> dict:
    return {"name": f"load {name}", "source": {"kind": "file", "path": str(src)},
            "sink": {"kind": "dataset", "name": name}, **extra}


@pytest.fixture(scope="module")
def data(embedded) -> Path:
    d = embedded.root / "data"
    d.mkdir()
    write_csv(d / "sales.csv", 100)
    return d


# ----------------------------------------------------------------------------- body size
def test_an_oversized_body_is_refused_naming_the_limit(api, embedded, data):
    url = embedded.api
    padding = "x" * (2 * MiB)  # a valid spec, made large by a long name
    big = {**spec(data / "sales.csv", "big"), "name": padding}
    for kwargs in ({"json": big},
                   {"data": f"name: {padding}\nsource: x\n",
                    "headers": {"Content-Type": "application/yaml"}}):
        started = time.monotonic()
        err = error_of(api.post(url + "/jobs", **kwargs), 413, "SpecError")
        assert "limit of 1 MiB" in err["message"], err
        assert "WORKBENCH_HTTP_MAX_BODY" in err["hint"]
        assert time.monotonic() - started < 30  # refused unparsed (a guard, not a timing test)
    for path in ("/uploads", "/uploads/" + "0" * 32 + "/confirm", "/notebook-runs", "/schedules"):
        error_of(api.post(url + path, data=b"{" + b" " * (MiB + 1) + b"}",
                          headers={"Content-Type": "application/json"}), 413, "SpecError")
    # nothing was submitted, and the server keeps serving Jupyter's own API
    assert api.get(url + "/jobs", params={"dataset": "big"}).json()["jobs"] == []
    assert api.get(embedded.origin + "/api/status").status_code == 200


def test_a_spec_just_under_the_limit_and_a_normal_spec_still_run(api, embedded, data):
    url = embedded.api
    r = api.post(url + "/jobs", json=spec(data / "sales.csv", "normal"))
    assert r.status_code == 202, r.text
    assert stream(api, f"{url}/jobs/{r.json()['job_id']}/events")[-1].event == "job_finished"
    # a YAML spec close to the limit is parsed (off the event loop) and validated
    comment = "# " + "y" * 1000 + "\n"
    yaml_spec = (comment * 1030 + f"name: load near\nsource: {{kind: file, path: '{data / 'sales.csv'}'}}\n"
                 "sink: {kind: dataset, name: near}\n")
    assert MiB - 20_000 < len(yaml_spec) < MiB
    r = api.post(url + "/jobs", data=yaml_spec, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 202, r.text
    assert stream(api, f"{url}/jobs/{r.json()['job_id']}/events")[-1].event == "job_finished"


def test_the_limit_is_documented_in_openapi(api, embedded):
    doc = api.get(embedded.api + "/openapi.json").json()
    assert "413" in doc["paths"]["/jobs"]["post"]["responses"]
    assert "WORKBENCH_HTTP_MAX_BODY" in doc["components"]["responses"]["TooLarge"]["description"]


def test_the_limit_setting_is_read_and_checked(monkeypatch):
    from workbench.errors import ConfigError
    from workbench.server.base import max_body_bytes

    monkeypatch.delenv("WORKBENCH_HTTP_MAX_BODY", raising=False)
    assert max_body_bytes() == MiB
    for raw, n in (("4096", 4096), ("256KiB", 256 * 1024), ("4MiB", 4 * MiB), ("2mb", 2_000_000)):
        monkeypatch.setenv("WORKBENCH_HTTP_MAX_BODY", raw)
        assert max_body_bytes() == n
    for raw in ("lots", "0", "-5", "1.5MiB", "2GiB"):
        monkeypatch.setenv("WORKBENCH_HTTP_MAX_BODY", raw)
        with pytest.raises(ConfigError, match="WORKBENCH_HTTP_MAX_BODY"):
            max_body_bytes()
