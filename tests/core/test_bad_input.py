"""Every bad input of the core issue ends in a clean failed job: a typed error saying what and
where, nothing visible written, no leftovers, and the next job runs fine."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Callable

import polars as pl
import pytest

import workbench as wb
from workbench.context import Context


def _csv(path: Path, text: str | bytes) -> str:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def _excel(path: Path) -> str:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, ["a", "b"])
    sheet.write_row(1, 0, [1, 2])
    book.close()
    return str(path)


def _parquet_truncated(path: Path) -> str:
    pl.DataFrame({"a": list(range(1000))}).write_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def _gzip_truncated(path: Path) -> str:
    data = gzip.compress(("a,b\n" + "".join(f"{i},{i}\n" for i in range(20000))).encode())
    path.write_bytes(data[: len(data) // 2])
    return str(path)


# (id, builds the pipeline from a tmp folder, expected error type name(s), expected location fields)
CASES: list[tuple[str, Callable[[Path], wb.Pipeline], tuple[str, ...], dict]] = [
    ("missing file", lambda d: wb.Pipeline(source=wb.file(str(d / "nope.csv")), sink=wb.dataset("t")),
     ("SourceError", "NotFound"), {"file": True}),
    ("empty file", lambda d: wb.Pipeline(source=wb.file(_csv(d / "e.csv", "")), sink=wb.dataset("t")),
     ("SourceError",), {"file": True}),
    ("ragged rows", lambda d: wb.Pipeline(source=wb.file(_csv(d / "r.csv", "a,b\n1,2\n3,4,5\n6,7\n")),
                                          sink=wb.dataset("t")), ("SourceError",), {"file": True, "row": True}),
    ("value does not fit declared type", lambda d: wb.Pipeline(
        source=wb.file(_csv(d / "v.csv", "a,b\n1,2\n3,x\n"), schema_overrides={"b": "int64"}),
        sink=wb.dataset("t")), ("SourceError",), {"file": True, "column": "b"}),
    ("invalid utf-8", lambda d: wb.Pipeline(
        source=wb.file(_csv(d / "u.csv", b"a,b\n1,caf\xe9\n"), encoding="utf8"), sink=wb.dataset("t")),
     ("SourceError",), {"file": True}),
    ("NUL byte", lambda d: wb.Pipeline(source=wb.file(_csv(d / "n.csv", b"a,b\n1,2\n3,\x004\n")),
                                       sink=wb.dataset("t")), ("SourceError",), {"file": True}),
    ("truncated gzip", lambda d: wb.Pipeline(source=wb.file(_gzip_truncated(d / "t.csv.gz")),
                                             sink=wb.dataset("t")), ("SourceError",), {"file": True}),
    ("truncated parquet", lambda d: wb.Pipeline(source=wb.file(_parquet_truncated(d / "t.parquet")),
                                                sink=wb.dataset("t")), ("SourceError",), {"file": True}),
    ("malformed json", lambda d: wb.Pipeline(source=wb.file(_csv(d / "m.json", '[{"a": 1}, {"a": ')),
                                             sink=wb.dataset("t")), ("SourceError",), {"file": True}),
    ("not excel", lambda d: wb.Pipeline(source=wb.file(_csv(d / "x.xlsx", "a,b\n1,2\n")),
                                        sink=wb.dataset("t")), ("SourceError",), {"file": True}),
    ("missing sheet", lambda d: wb.Pipeline(source=wb.file(_excel(d / "s.xlsx"), sheet="Nope"),
                                            sink=wb.dataset("t")), ("SourceError",), {"file": True}),
    ("duplicate column names", lambda d: wb.Pipeline(source=wb.file(_csv(d / "d.csv", "a,a\n1,2\n")),
                                                     sink=wb.dataset("t")), ("SourceError",), {"file": True}),
    ("empty column name", lambda d: wb.Pipeline(source=wb.file(_csv(d / "c.csv", "a,,b\n1,2,3\n")),
                                                sink=wb.dataset("t")), ("SourceError",), {"file": True}),
    ("sql syntax error", lambda d: wb.Pipeline(source=wb.file(_csv(d / "ok.csv", "a,b\n1,2\n")),
                                               steps=[wb.sql("SELEC a FROM input")], sink=wb.dataset("t")),
     ("SQLError",), {"step": "1:sql"}),
    ("sql missing column", lambda d: wb.Pipeline(source=wb.file(_csv(d / "ok.csv", "a,b\n1,2\n")),
                                                 steps=[wb.sql("SELECT nope FROM input")], sink=wb.dataset("t")),
     ("SQLError",), {"step": "1:sql", "column": "nope"}),
    *[(f"sql forbidden: {q.split()[0]}", (lambda q: lambda d: wb.Pipeline(
        source=wb.file(_csv(d / "ok.csv", "a,b\n1,2\n")), steps=[wb.sql(q)], sink=wb.dataset("t")))(q),
       ("SQLError",), {"step": "1:sql"})
      for q in ["SELECT * FROM read_csv('/etc/passwd')", "COPY input TO '/tmp/wb_leak.csv'",
                "ATTACH '/tmp/wb_leak.db' AS x", "INSTALL httpfs", "SET threads = 1",
                "SELECT * FROM '/etc/passwd'", "LOAD httpfs", "PRAGMA enable_external_access"]],
    ("python step raises", lambda d: wb.Pipeline(source=wb.file(_csv(d / "ok.csv", "a,b\n1,2\n")),
                                                 steps=[wb.python("json:loads")], sink=wb.dataset("t")),
     ("StepError",), {"step": "1:python"}),
    ("failed check", lambda d: wb.Pipeline(source=wb.file(_csv(d / "ok.csv", "a,b\n1,\n")),
                                           checks=[wb.not_null("b")], sink=wb.dataset("t")),
     ("CheckFailed",), {"step": "check", "column": "b"}),
    ("polars step on a missing column", lambda d: wb.Pipeline(
        source=wb.file(_csv(d / "ok.csv", "a,b\n1,2\n")), steps=[wb.select("zzz")], sink=wb.dataset("t")),
     ("StepError",), {"column": "zzz"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_cleanly(wb_home, tmp_path, case):
    _name, build, types, where = case
    pipeline = build(tmp_path)
    job = wb.submit(pipeline, runner="local").wait(60)
    assert job.status == "failed"
    err = job.error
    assert type(err).__name__ in types, f"{type(err).__name__}: {err}"
    assert err.message
    for key, expected in where.items():
        value = getattr(err, key)
        assert value is not None, f"error has no {key}: {err.to_dict()}"
        if expected is not True:
            assert value == expected, err.to_dict()
    if "file" in where:
        assert Path(err.file).name in str(pipeline.source.path) or err.file in str(pipeline.source.path)
    record = Context.from_settings().catalog.get_job(job.id)
    assert record["status"] == "failed" and record["error"]["type"] == type(err).__name__
    # nothing visible, nothing left behind
    storage = Context.from_settings().storage
    assert list(storage.list("default/datasets/t/")) == []
    with pytest.raises(wb.NotFound):
        wb.info("t")
    assert not Path("/tmp/wb_leak.csv").exists() and not Path("/tmp/wb_leak.db").exists()
    # and the next job runs fine
    good = tmp_path / "good.csv"
    good.write_text("a,b\n1,2\n")
    assert wb.ingest(str(good), name="t").rows == 1


@pytest.mark.parametrize("name", ["../evil", "a/b", "/etc", "x y"])
def test_dataset_name_with_path_parts_is_refused(wb_home, tmp_path, name):
    good = tmp_path / "good.csv"
    good.write_text("a\n1\n")
    with pytest.raises(wb.SpecError, match="invalid dataset name"):
        wb.ingest(str(good), name=name)
    assert not (wb_home.parent / "evil").exists()


def test_spec_file_with_unknown_field_fails_the_cli(wb_home, tmp_path, capsys):
    from workbench.cli import main

    spec = tmp_path / "p.json"
    spec.write_text(json.dumps({"source": {"kind": "file", "path": "x.csv", "colour": "red"}}))
    code = main(["run", str(spec), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["error"]["type"] == "SpecError" and "colour" in out["error"]["message"]
    assert set(out["error"]) == {"type", "message", "file", "row", "column", "step", "hint"}
