"""A Jupyter Server with the workbench extension, started for a test module, and a small client
for its API (a module of its own: conftest is not importable)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import requests

from servers import Server, start_jupyterlab

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PREFIX = "/workbench/api/v1"
TERMINAL = {"job_finished", "job_failed", "job_cancelled"}


@dataclass
class WorkbenchServer:
    server: Server
    root: Path
    token: str
    origin: str

    @property
    def api(self) -> str:
        return self.origin + PREFIX

    def session(self, *, token: bool = True) -> requests.Session:
        s = requests.Session()
        if token:
            s.headers["Authorization"] = f"token {self.token}"
        return s

    def stop(self) -> None:
        self.server.stop()


def start_server(root: Path, env: dict[str, str]) -> WorkbenchServer:
    """JupyterLab (Jupyter Server) on ``root`` with the extension enabled by the config file
    the package ships: ``jupyter-config/`` is put on the config path, nothing else enables it."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    full.update(env)
    full["JUPYTER_CONFIG_PATH"] = str(REPO / "jupyter-config")
    full["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(HERE)])
    server = start_jupyterlab(root, full)
    parts = urlsplit(server.url)
    token = parse_qs(parts.query)["token"][0]
    origin = f"{parts.scheme}://{parts.netloc}"
    wb = WorkbenchServer(server, root, token, origin)
    wait_for_api(wb)
    return wb


def wait_for_api(wb: WorkbenchServer, timeout: float = 60.0) -> None:
    """The port opens before the extensions load: wait until the API answers."""
    deadline = time.monotonic() + timeout
    s = wb.session()
    log_file = wb.server.workdir / "server.log"
    while time.monotonic() < deadline:
        log = log_file.read_text(errors="replace")
        if "workbench.server | extension failed loading" in log:  # no point waiting
            start = log.index("workbench.server | extension failed loading")
            raise RuntimeError(f"the workbench extension failed to load:\n{log[start:start + 4000]}")
        try:
            if s.get(wb.api + "/openapi.json", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    log = (wb.server.workdir / "server.log").read_text()[-4000:]
    raise TimeoutError(f"the workbench API never answered:\n{log}")


@dataclass
class SSE:
    id: str | None
    event: str
    data: Any


def events(resp: requests.Response) -> Iterator[SSE]:
    """Parse a ``text/event-stream`` response, one event at a time (comments skipped)."""
    ev_id, kind, data = None, "message", []
    for raw in resp.iter_lines(decode_unicode=True):
        line = raw if raw is not None else ""
        if line == "":
            if data:
                yield SSE(ev_id, kind, json.loads("\n".join(data)))
            ev_id, kind, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id":
            ev_id = value
        elif field == "event":
            kind = value
        elif field == "data":
            data.append(value)


def stream(s: requests.Session, url: str, *, last_id: str | None = None,
           until: set[str] | None = None) -> list[SSE]:
    """Read a job's events until one of ``until`` (default: the job's end)."""
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    out: list[SSE] = []
    with s.get(url, headers=headers, stream=True, timeout=120) as resp:
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        for ev in events(resp):
            out.append(ev)
            if ev.event in (until or TERMINAL):
                break
    return out


def wait_for(predicate, what: str, timeout: float = 120.0) -> Any:
    """Poll until ``predicate()`` is truthy (a guard against hangs, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"gave up waiting for {what}")


def error_of(resp: requests.Response, status: int, type_: str) -> dict[str, Any]:
    """The response is the CLI's error object with this status and type; returns the error."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"type", "message", "file", "row", "column", "step", "hint"}, err
    assert err["type"] == type_, err
    return err


def write_csv(path: Path, rows: int) -> Path:
    with open(path, "w") as f:
        f.write("id,region,amount\n")
        f.writelines(f"{i},{('north', 'south', 'east')[i % 3]},{i * 1.5}\n" for i in range(rows))
    return path


__all__ = ["SSE", "WorkbenchServer", "error_of", "events", "start_server", "stream", "wait_for",
           "write_csv"]
