"""A full disk, in local storage and in the temp folder (a 64 MB tmpfs): the job fails with a
StorageError "disk full at <path>" and a hint (never a step error), leaves no ``.part`` or temp
file holding space, and the next job runs once there is room."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import workbench as wb
from workbench.context import Context
from workbench.errors import StorageError
from workbench.runners.local import LocalRunner

from invariants import assert_clean_dataset, assert_settled

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

TIMEOUT = 300


@pytest.fixture
def small_disk():
    """``mount(dir)``: a 64 MB tmpfs on ``dir``, unmounted at the end."""
    mounted: list[Path] = []

    def mount(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], check=True)
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _big_parquet(path: Path) -> Path:
    rng = np.random.default_rng(0)
    pl.DataFrame({"x": rng.random(10_000_000)}).write_parquet(path, compression="uncompressed")
    return path  # 80 MB of incompressible floats


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _fine(tmp_path: Path, name: str) -> None:
    ok = tmp_path / "ok.csv"
    ok.write_text("id\n1\n2\n")
    job = LocalRunner().submit(wb.Pipeline(source=wb.file(str(ok)), sink=wb.dataset(name)))
    assert job.wait(TIMEOUT).status == "succeeded", job.error


def test_storage_fills_up_mid_write(wb_home, tmp_path, small_disk, monkeypatch):
    """ENOSPC while writing a dataset's Parquet (no reserve): StorageError naming the storage
    folder, no version, no ``.part`` file left, and the next job succeeds."""
    monkeypatch.setenv("WORKBENCH_DISK_RESERVE", "0")
    storage = small_disk(wb_home / "storage")
    src = _big_parquet(tmp_path / "big.parquet")
    job = LocalRunner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("big")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    assert isinstance(job.error, StorageError), job.error
    assert f"disk full at {storage}" in str(job.error) and "workbench gc" in job.error.hint
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert_clean_dataset(ctx, storage, "big", [])
    assert not [f for f in _files(storage) if f.endswith(".part")]
    _fine(tmp_path, "after_full")


def test_storage_below_the_reserve_is_refused_before_writing(wb_home, tmp_path, small_disk):
    """With the default reserve (256 MiB) a 64 MB disk is already too full: the write is refused
    before a byte is written, naming WORKBENCH_DISK_RESERVE."""
    storage = small_disk(wb_home / "storage")
    src = tmp_path / "in.csv"
    src.write_text("id\n1\n")
    job = LocalRunner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("reserve")))
    job.wait(TIMEOUT)
    assert job.status == "failed" and isinstance(job.error, StorageError), job.error
    assert "WORKBENCH_DISK_RESERVE" in str(job.error)
    assert _files(storage) == []


def test_temp_folder_fills_up_while_inflating(wb_home, tmp_path, small_disk, monkeypatch):
    """ENOSPC in the temp folder while a .gz source is inflated: StorageError "disk full at"
    the temp folder, the partial copy is removed, the next job succeeds."""
    monkeypatch.setenv("WORKBENCH_DISK_RESERVE", "0")
    temp = small_disk(wb_home / "tmp")
    src = tmp_path / "big.csv.gz"
    with gzip.open(src, "wb", compresslevel=1) as f:
        f.write(b"id,text\n")
        for i in range(40):
            f.write(b"".join(b"%d,%s\n" % (i, os.urandom(48).hex().encode()) for _ in range(20_000)))
    job = LocalRunner().submit(wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("inflated")))
    job.wait(TIMEOUT)
    assert job.status == "failed"
    assert isinstance(job.error, StorageError), job.error
    assert f"disk full at {temp}" in str(job.error)
    ctx = Context.from_settings()
    assert_settled(ctx, [job.id])
    assert _files(temp) == []
    assert_clean_dataset(ctx, wb_home / "storage", "inflated", [])
    _fine(tmp_path, "after_temp_full")
