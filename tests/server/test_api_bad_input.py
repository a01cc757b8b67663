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


# ----------------------------------------------------------------------------- numbers and nesting
HUGE = ("99999999999999999999999", "9223372036854775808", "-1", "1" * 5000)


def test_numbers_past_the_catalogs_range_are_400_not_500(api, embedded, data):
    url = embedded.api
    r = api.post(url + "/jobs", json=spec(data / "sales.csv", "sales"))
    assert r.status_code == 202, r.text
    assert stream(api, f"{url}/jobs/{r.json()['job_id']}/events")[-1].event == "job_finished"
    for value in HUGE:
        err = error_of(api.get(url + "/jobs", params={"offset": value}), 400, "SpecError")
        assert "'offset' must be between 0 and 9223372036854775807" in err["message"], err
        for path in ("/datasets/sales", "/datasets/sales/preview"):
            err = error_of(api.get(url + path, params={"version": value}), 400, "SpecError")
            assert "'version'" in err["message"] and "9223372036854775807" in err["message"]
    assert len(error_of(api.get(url + "/jobs", params={"offset": "1" * 5000}), 400,
                        "SpecError")["message"]) < 200  # the number is not echoed whole
    # the largest number the catalog stores is an offset past the end, not an error
    r = api.get(url + "/jobs", params={"offset": str(2**63 - 1)})
    assert r.status_code == 200 and r.json()["jobs"] == []
    error_of(api.get(url + "/datasets/sales", params={"version": str(2**63 - 1)}), 404, "NotFound")

    # a spec's dataset version: refused when submitted, no job made
    too_big = {"name": "read huge", "source": {"kind": "dataset", "name": "sales",
                                               "version": 99999999999999999999},
               "sink": {"kind": "dataset", "name": "huge_copy"}}
    err = error_of(api.post(url + "/jobs", json=too_big), 400, "SpecError")
    assert "version" in err["message"] and "9223372036854775807" in err["message"]
    too_big["source"]["version"] = 0
    error_of(api.post(url + "/jobs", json=too_big), 400, "SpecError")
    assert api.get(url + "/jobs", params={"dataset": "huge_copy"}).json()["jobs"] == []


def test_deeply_nested_bodies_are_400_not_valid_json(api, embedded, data):
    url = embedded.api
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/jobs", "/uploads", "/notebook-runs", "/schedules"):
        err = error_of(api.post(url + path, data=deep, headers={"Content-Type": "application/json"}),
                       400, "SpecError")
        assert "not valid JSON" in err["message"] and "nested" in err["message"], err
    deep_yaml = "a: " + "[" * 100_000 + "]" * 100_000
    err = error_of(api.post(url + "/jobs", data=deep_yaml, headers={"Content-Type": "application/yaml"}),
                   400, "SpecError")
    assert "not valid YAML" in err["message"] and "nested" in err["message"], err
    # deep enough to pass the parser, deeper than any spec: refused before validation
    nested: object = 1
    for _ in range(500):
        nested = {"k": nested}
    body = {**spec(data / "sales.csv", "deep"), "steps": [
        {"op": "python", "function": "srvtest_steps:gate", "kwargs": {"x": nested}}]}
    err = error_of(api.post(url + "/jobs", json=body), 400, "SpecError")
    assert "nested more than 64 levels" in err["message"]
    assert api.get(embedded.origin + "/api/status").status_code == 200


def test_a_notebook_name_too_long_for_the_file_system_is_400(api, embedded):
    err = error_of(api.post(embedded.api + "/notebook-runs", json={"notebook": "n" * 5000 + ".ipynb"}),
                   400, "SpecError")
    assert "too long" in err["message"]
