"""A password holding a space, '@', '/', '#', '?' or ':' is masked too (SECURITY.md, point 9).

The userinfo of a URL runs to the *last* '@' before the host, so the masking takes it whole; and
the parsers and drivers that misread such a URL quote a piece of it in their errors (urllib: "Port
could not be cast to integer value as 'Sec'"; libpq: "failed to resolve host 'ret1PW@...'"), so
every piece of a configured password is masked wherever it appears.

Each probe runs the real command (`workbench datasets`, `workbench worker`, `workbench submit`,
`workbench doctor`) against a catalog or broker that does not answer, and searches stdout, stderr
and the --json output for the password and every piece of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from servers import free_port
from workbench.masking import mask_text, mask_url

pytestmark = pytest.mark.services

# the characters that broke the masking, each between two pieces no parser could guess
SEPARATORS = [" ", "@", "/", "#", "?", ":", "@@", " / ", "#?@/ :"]


def _password(sep: str) -> tuple[str, list[str]]:
    """A password made of two unique pieces around ``sep``, and the pieces."""
    pieces = [f"Sec{uuid.uuid4().hex[:8]}", f"ret{uuid.uuid4().hex[:8]}PW"]
    return sep.join(pieces), pieces


def _assert_hidden(text: str, password: str, pieces: list[str]) -> None:
    for secret in (password, *pieces):
        assert secret not in text, f"{secret!r} shown in: {text}"


def _run(tmp_path: Path, argv: list[str], timeout: float = 120, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    base.update({"WORKBENCH_HOME": str(tmp_path / "home"),
                 "WORKBENCH_KEYS_DIR": os.environ["WORKBENCH_KEYS_DIR"], **env})
    base["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    out = subprocess.run([sys.executable, "-m", "workbench", *argv], cwd=tmp_path, env=base,
                         capture_output=True, text=True, timeout=timeout)
    return out.stdout + "\n" + out.stderr


# ----------------------------------------------------------------------------- the function
@pytest.mark.parametrize("sep", SEPARATORS)
def test_mask_url_takes_the_userinfo_up_to_the_last_at(sep):
    password, pieces = _password(sep)
    db = f"postgresql://wbuser:{password}@127.0.0.1:5432/wb"
    assert mask_url(db) == "postgresql://wbuser:***@127.0.0.1:5432/wb"
    broker = f"redis://:{password}@127.0.0.1:6379/0"
    assert mask_url(broker) == "redis://***@127.0.0.1:6379/0"
    endpoint = f"http://AKIA{pieces[0]}:{password}@127.0.0.1:9000"
    assert mask_url(endpoint) == "http://***@127.0.0.1:9000"
    for url in (db, broker, endpoint):
        for text in (f"cannot reach {url}: refused", json.dumps({"m": f"at {url}", "n": "x@y"})):
            _assert_hidden(mask_text(text), password, pieces)
    # a JSON log line stays JSON: the masking does not run past the end of the string
    line = json.loads(mask_text(json.dumps({"m": f"at {broker}", "who": "ops@corp.example"})))
    assert line == {"m": "at redis://***@127.0.0.1:6379/0", "who": "ops@corp.example"}


# ----------------------------------------------------------------------------- the catalog
@pytest.mark.parametrize("sep", SEPARATORS)
def test_a_catalog_password_with_any_character_is_in_no_output(sep, tmp_path):
    password, pieces = _password(sep)
    url = f"postgresql://wbuser:{password}@127.0.0.1:{free_port()}/wb"
    for argv in (["datasets", "--json"], ["datasets"], ["doctor"], ["doctor", "--json"]):
        out = _run(tmp_path, argv, WORKBENCH_CATALOG_URL=url)
        assert "catalog" in out.lower()  # the command said what failed
        _assert_hidden(out, password, pieces)
    js = json.loads(_run(tmp_path, ["datasets", "--json"],
                         WORKBENCH_CATALOG_URL=url).strip().splitlines()[0])
    assert js["error"]["type"] in ("StorageUnavailable", "ConfigError")


@pytest.mark.parametrize("sep", [" ", "@", "/", "#?"])
def test_the_worker_names_a_catalog_it_cannot_reach_without_its_password(sep, tmp_path):
    password, pieces = _password(sep)
    url = f"postgresql://wbuser:{password}@127.0.0.1:{free_port()}/wb"
    out = _run(tmp_path, ["worker", "--concurrency", "1"], timeout=180,
               WORKBENCH_CATALOG_URL=url, WORKBENCH_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert "catalog" in out.lower(), out
    _assert_hidden(out, password, pieces)


def test_the_issues_catalog_urls(tmp_path):
    """The exact URLs of the report, and what each leaked."""
    for password, leaked in (("Sec ret5PW", "ret5PW"), ("Sec@ret1PW", "ret1PW"),
                             ("Sec/ret12PW", "ret12PW")):
        url = f"postgresql://wbuser:{password}@127.0.0.1:1/wb"
        for argv in (["datasets", "--json"], ["datasets"]):
            out = _run(tmp_path, argv, WORKBENCH_CATALOG_URL=url)
            assert password not in out and leaked not in out and "'Sec'" not in out, out
            assert "Sec " not in out and "Sec@" not in out and "Sec/" not in out


# ----------------------------------------------------------------------------- the broker
@pytest.mark.parametrize("sep", [" ", "@", "/", "#", "?", " @/#?"])
def test_a_broker_password_with_any_character_is_in_no_output(sep, tmp_path):
    password, pieces = _password(sep)
    url = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    spec = tmp_path / "p.yaml"
    (tmp_path / "in.csv").write_text("a\n1\n")
    spec.write_text(f"source: {{file: {tmp_path / 'in.csv'}}}\n")
    outs = []
    for argv in (["submit", str(spec), "--json"], ["submit", str(spec)], ["doctor"],
                 ["doctor", "--json"]):
        out = _run(tmp_path, argv, WORKBENCH_BROKER_URL=url)
        assert "broker" in out.lower() or "WORKBENCH_BROKER_URL" in out, out
        _assert_hidden(out, password, pieces)
        outs.append(out)
    # named masked, or (a '/', '?' or '#' cuts the URL short for urllib) refused as no URL
    assert any("redis://***@127.0.0.1" in o or "WORKBENCH_BROKER_URL is not a valid URL" in o
               for o in outs)


def test_the_issues_broker_url(tmp_path):
    url = "redis://:Br Pw2@127.0.0.1:1/0"
    spec = tmp_path / "p.yaml"
    (tmp_path / "in.csv").write_text("a\n1\n")
    spec.write_text(f"source: {{file: {tmp_path / 'in.csv'}}}\n")
    for argv in (["submit", str(spec), "--json"], ["doctor"], ["doctor", "--json"]):
        out = _run(tmp_path, argv, WORKBENCH_BROKER_URL=url)
        assert "Br Pw2" not in out and "Pw2@" not in out and ":Br " not in out, out


def test_a_password_that_is_an_ordinary_word_changes_no_data_but_no_message_shows_it():
    """The secrets of configured URLs are masked in messages (errors, warnings, hints), where a
    parser or driver may quote them; rows of a result and check examples are data: a password
    such as "admin" must not turn a value "admin" into ***."""
    from workbench import masking
    from workbench.events import JobFinished, Message

    masking.remember("postgresql://etl:admin@127.0.0.1:1/wb")  # forgotten after (conftest)
    done = JobFinished(job_id="j", result={"kind": "rows", "rows": [["admin", 1]],
                                           "columns": ["role", "n"]}).to_dict()
    assert done["result"]["rows"] == [["admin", 1]]
    said = Message(job_id="j", level="warning", text="login failed for admin").to_dict()
    assert "admin" not in said["text"] and "***" in said["text"]
