"""The local copy of a remote write: complete copies while the disk allows, dropped (never an
error) once a write would pass the free space above the reserve, and removed with its folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from workbench.spool import Spool


def test_copies_within_the_budget_are_read_back_whole(tmp_path):
    spool = Spool(tmp_path / "tmp", budget=1024)
    a, b = spool.open(), spool.open()
    a.write(b"first ")
    b.write(b"second")
    a.write(b"file")
    paths = spool.paths()
    assert paths is not None and [Path(p).read_bytes() for p in paths] == [b"first file", b"second"]
    spool.remove()
    assert list((tmp_path / "tmp").iterdir()) == []
    spool.remove()  # idempotent


def test_a_write_past_the_budget_drops_the_whole_copy(tmp_path):
    spool = Spool(tmp_path / "tmp", budget=4096)
    a, b = spool.open(), spool.open()
    a.write(b"x" * 1000)
    assert spool.paths() is not None  # within the budget so far (closed and complete)
    spool = Spool(tmp_path / "tmp2", budget=4096)
    a, b = spool.open(), spool.open()
    a.write(b"x" * 1000)
    b.write(b"y" * 5000)  # past the 4 KiB: no copy is complete any more
    a.write(b"z")  # ignored, and no error
    assert spool.dropped and spool.paths() is None
    spool.remove()
    assert list((tmp_path / "tmp2").iterdir()) == []


def test_the_budget_is_the_free_space_above_the_reserve(tmp_path, monkeypatch):
    free = shutil.disk_usage(tmp_path).free
    monkeypatch.setenv("WORKBENCH_DISK_RESERVE", str(free + 2**30))  # more than is free
    spool = Spool(tmp_path / "tmp")
    f = spool.open()
    f.write(b"data")
    assert spool.paths() is None
    spool.remove()


def test_an_error_writing_the_copy_drops_it(tmp_path):
    spool = Spool(tmp_path / "tmp", budget=1024)
    f = spool.open()
    f.write(b"part")
    spool.close()  # as a failed disk would: the next write raises inside
    f.write(b"more")
    assert spool.paths() is None
    spool.remove()
