"""Local disk: the free-space check every writer of temp files and local storage uses, and the
temp folders of jobs, marked with their owner so the folders of killed jobs are found.

Readers inflating a compressed file into their temp folder (``engines.read_decompress``) and the
local storage writer (``storage.local``) both stop at ``WORKBENCH_DISK_RESERVE`` free bytes, so a
job fills a disk up to the reserve and no further, and says so as "disk full at <path>".
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import disk_full
from ..settings import disk_reserve_bytes


def check_free_space(path: Path | str, reserve: int | None = None) -> None:
    """Raise ``StorageError("disk full at <path>")`` when the disk holding ``path`` has fewer
    than ``reserve`` free bytes (default: ``WORKBENCH_DISK_RESERVE``)."""
    if reserve is None:
        reserve = disk_reserve_bytes()
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return  # the folder is not there yet; the write itself reports what is wrong
    if free < reserve:
        raise disk_full(path, f"only {free:,} bytes are free, below the reserve of {reserve:,} "
                              "(WORKBENCH_DISK_RESERVE)")


# ----------------------------------------------------------------------------- owned temp folders
# A job's temp folder (a reader's inflated copy, DuckDB's spill and sunk inputs) holds a marker
# naming the process that made it (pid and start time, which survive pid reuse). A process
# killed mid-job cannot remove its folder, so whoever starts next on this machine (a worker, a
# replaced pool process, the kernel after its job's process died) and ``gc`` remove the folders
# whose owner is gone: a killed job holds no space for long.
MARKER = "owner.json"
ORPHAN_AGE = 3600.0  # a folder without a marker (a crash between mkdtemp and the marker) this old is dead


def temp_base(home: Path | str) -> Path:
    """Where reader temp folders (``wb-read-*``) go."""
    return Path(home) / "tmp"


def duckdb_temp_root(home: Path | str) -> Path:
    """Where SQL jobs' DuckDB temp folders (``job-*``) go."""
    return Path(home) / "tmp" / "duckdb"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux); None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Is a process with this id running on this machine (one of another user's counts too)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(owner: dict[str, Any]) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # a shared folder: only the host that made it may judge it
    pid = int(owner.get("pid", 0))
    if not pid_alive(pid):
        return False
    started = _start_time(pid)
    return started is None or owner.get("started") in (None, started)


def owned_temp_dir(root: Path | str | None, prefix: str, job_id: str = "") -> Path:
    """A fresh folder under ``root`` (the system temp folder if None), marked as this process's."""
    if root is not None:
        Path(root).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    marker = {"pid": os.getpid(), "started": _start_time(os.getpid()),
              "host": socket.gethostname(), "job": job_id, "created": time.time()}
    (path / MARKER).write_text(json.dumps(marker))
    return path


def sweep_dead(root: Path | str, prefix: str = "job-") -> list[str]:
    """Remove the folders ``root/<prefix>*`` whose owner process is gone; returns their paths."""
    root = Path(root)
    removed: list[str] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for d in entries:
        if not d.name.startswith(prefix) or not d.is_dir():
            continue
        try:
            owner = json.loads((d / MARKER).read_text())
        except FileNotFoundError:
            try:
                if time.time() - d.stat().st_mtime < ORPHAN_AGE:
                    continue
            except OSError:
                continue
            owner = {}
        except (OSError, ValueError):
            owner = {}
        if owner and owner_alive(owner):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(str(d))
    return removed


def sweep_dead_temp(home: Path | str) -> list[str]:
    """Every temp folder under ``home`` whose owner process is gone (reader copies, DuckDB
    spill), removed; returns their paths. Cheap: a listing of two folders."""
    return sweep_dead(temp_base(home), "wb-read-") + sweep_dead(duckdb_temp_root(home), "job-")
