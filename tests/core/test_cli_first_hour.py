"""What a new user meets first on the command line: usage errors, typos, URLs, encodings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import workbench as wb


def cli(*args: str, home: Path, env: dict[str, str] | None = None, cwd: Path | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    base.update({"WORKBENCH_HOME": str(home), **(env or {})})
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=base, cwd=cwd, timeout=120)


@pytest.mark.parametrize("argv, message, hint", [
    (["ingets"], "unknown command 'ingets'", "did you mean 'ingest'?"),
    (["ingest", "sales.csv"], "the following arguments are required: --name", "see `workbench ingest --help`"),
    (["ingest", "sales.csv", "--name", "s", "--nmae", "t"], "unrecognized arguments: --nmae t",
     "did you mean '--name'?"),
    (["datasets", "--jsn"], "unknown argument '--jsn'", "did you mean '--json'?"),
])
def test_usage_errors_are_json_objects_with_did_you_mean(tmp_path, argv, message, hint):
    proc = cli(*argv, "--json", home=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == ""  # no argparse text: the error is the one JSON object
    err = json.loads(proc.stdout)["error"]
    assert err["type"] == "UsageError" and message in err["message"] and err["hint"] == hint


def test_a_usage_error_without_json_is_one_line(tmp_path):
    proc = cli("ingets", home=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "did you mean 'ingest'?" in proc.stderr


def test_every_flag_has_help_text():
    from workbench.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in sub.choices.items()
               for a in p._actions
               if not a.help and a.__class__.__name__ not in ("_HelpAction", "_SubParsersAction")]
    assert missing == []


def test_a_failure_is_printed_once(tmp_path):
    page = tmp_path / "export.csv"
    page.write_text("<!DOCTYPE html>\n<html><body><p>Session expired</p></body></html>\n")
    proc = cli("ingest", str(page), "--name", "export", home=tmp_path / "home")
    assert proc.returncode == 1
    assert proc.stderr.count("looks like an HTML page") == 1
    assert "Traceback" not in proc.stderr


def test_an_html_page_saved_as_csv_is_a_source_error(wb_home, tmp_path):
    page = tmp_path / "report.csv"
    page.write_text("  <html>\n<head><title>x</title></head><body><table></table></body></html>")
    job = wb.submit(wb.Pipeline(source=wb.file(str(page)), sink=wb.dataset("report")))
    job.wait(60)
    assert job.status == "failed" and isinstance(job.error, wb.SourceError)
    assert "HTML page" in job.error.message and job.error.file.endswith("report.csv")
    assert wb.list_datasets() == []


@pytest.mark.parametrize("name, expected", [
    ("latin-1", "latin1"), ("ISO-8859-1", "latin1"), ("utf-8", "utf8"), ("UTF8", "utf8"),
    ("utf-16le", "utf16le"), ("UTF-16BE", "utf16be"), ("utf-16", "utf16"), ("windows-1252", "cp1252"),
    ("cp1252", "cp1252"), ("auto", "auto"), ("utf8-lossy", "utf8-lossy"),
])
def test_encodings_take_python_codec_names(name, expected):
    assert wb.file("x.csv", encoding=name).encoding == expected


def test_an_unknown_encoding_lists_the_allowed_ones():
    with pytest.raises(wb.SpecError) as info:
        wb.file("x.csv", encoding="klingon")
    assert "'latin1'" in info.value.hint and "'cp1252'" in info.value.hint


def test_utf16le_without_a_bom_is_read_as_declared(wb_home, tmp_path):
    f = tmp_path / "u.csv"
    f.write_bytes("name,n\nZoë,1\nŁódź,2\n".encode("utf-16-le"))
    df = wb.run(wb.Pipeline(source=wb.file(str(f), encoding="UTF-16LE")))
    assert df["name"].to_list() == ["Zoë", "Łódź"]


def test_latin1_on_the_command_line(tmp_path):
    f = tmp_path / "l.csv"
    f.write_bytes("name,n\nJosé,1\n".encode("latin-1"))
    proc = cli("ingest", str(f), "--name", "l", "--encoding", "latin-1", "--json", home=tmp_path / "h")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["rows"] == 1


@pytest.mark.parametrize("url, message", [
    ("postgresql://x@[bad/db", "WORKBENCH_CATALOG_URL is not a valid URL"),
    ("postgresql://x@h:99999/db", "WORKBENCH_CATALOG_URL is not a valid URL"),
    ("mysqlx://x@h/db", "WORKBENCH_CATALOG_URL has an unsupported scheme 'mysqlx'"),
])
def test_a_malformed_catalog_url_is_a_config_error_naming_the_variable(tmp_path, url, message):
    proc = cli("datasets", "--json", home=tmp_path, env={"WORKBENCH_CATALOG_URL": url})
    assert proc.returncode == 1
    err = json.loads(proc.stdout)["error"]
    assert err["type"] == "ConfigError" and message in err["message"]


def test_a_malformed_broker_url_is_a_config_error(tmp_path):
    proc = cli("datasets", "--json", home=tmp_path, env={"WORKBENCH_BROKER_URL": "amqp//nope"})
    err = json.loads(proc.stdout)["error"]
    assert err["type"] == "ConfigError" and "WORKBENCH_BROKER_URL" in err["message"]


@pytest.mark.services
def test_postgres_scheme_is_accepted_for_the_catalog(tmp_path, postgres_url):
    url = "postgres://" + postgres_url.split("://", 1)[1]
    sales = tmp_path / "s.csv"
    sales.write_text("a\n1\n")
    proc = cli("ingest", str(sales), "--name", "s", "--json", home=tmp_path / "h",
               env={"WORKBENCH_CATALOG_URL": url})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = json.loads(cli("datasets", "--json", home=tmp_path / "h",
                            env={"WORKBENCH_CATALOG_URL": url}).stdout)
    assert [d["name"] for d in listed["datasets"]] == ["s"]


def _on_a_terminal(args: list[str], home: Path, columns: int = 80) -> list[str]:
    """Run a command with stdout and stderr on a real pseudo-terminal of ``columns`` columns."""
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update({"WORKBENCH_HOME": str(home), "COLUMNS": str(columns), "LINES": "40", "TERM": "xterm"})
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            proc.kill()
            raise AssertionError("no output from the command within 300 s")
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode()
    # what a terminal shows: each "\r" returns to the start of the line, "\x1b[2K" clears it
    return [seg.replace("\x1b[2K", "") for line in text.split("\r\n") for seg in line.split("\r")]


def test_progress_and_tables_fit_an_80_column_terminal(tmp_path):
    home = tmp_path / "home"
    shown = _on_a_terminal(["demo", "--rows", "20000"], home)
    assert any("done: demo_sales_by_region" in line for line in shown)
    progress = [line for line in shown if line.startswith(("read ", "write ", "1:sql", "check ", "["))]
    assert progress and all(len(line) <= 80 for line in progress), [ln for ln in progress if len(ln) > 80]
    for cmd in (["datasets"], ["jobs"], ["show", "demo_sales"]):
        lines = _on_a_terminal(cmd, home)
        if cmd[0] != "show":
            assert all(len(line) <= 80 for line in lines), (cmd, [ln for ln in lines if len(ln) > 80])
    show = "\n".join(_on_a_terminal(["show", "demo_sales"], home))
    assert "mean 10,000.50" in show  # statistics formatted for people


def test_human_numbers():
    from workbench.textview import human_number

    assert human_number(58381.81000000001) == "58,381.81"
    assert human_number(1204) == "1,204" and human_number(3.0) == "3"
    assert human_number(0.012345) == "0.01235" and human_number("north") == "north"
    assert human_number(True) == "True" and human_number(float("nan")) == "nan"
