"""The locked DuckDB connection user SQL runs in, and the job's own temp directory.

DuckDB always allows its temp directory, even with external access off, and its default (``.tmp``
under the process's cwd) is shared by every job of the process: user SQL could write there and
read other jobs' spill files. So every job gets a fresh directory (``mkdtemp``), set as the temp
directory *before* external access is switched off (which snapshots it as the only allowed
directory), capped with ``max_temp_directory_size``; the configuration is locked last.

The directory is removed when the job ends. A crash leaves it behind, so each directory holds a
marker naming its owner process (pid and start time, which survive pid reuse); the next start of
any SQL job sweeps the folders whose owner is gone (``sweep_dead``, also used by ``gc``).
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

MARKER = "owner.json"
ORPHAN_AGE = 3600.0  # a folder without a marker (a crash between mkdtemp and the marker) this old is dead


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux); None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(owner: dict[str, Any]) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # a shared folder: only the host that made it may judge it
    pid = int(owner.get("pid", 0))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = _start_time(pid)
    return started is None or owner.get("started") in (None, started)


def temp_root(home: Path | str) -> Path:
    return Path(home) / "tmp" / "duckdb"


def sweep_dead(root: Path | str) -> list[str]:
    """Remove the job folders under ``root`` whose owner process is gone; returns their paths."""
    root = Path(root)
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for d in entries:
        if not d.is_dir() or not d.name.startswith("job-"):
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
        if owner and _alive(owner):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(str(d))
    return removed


class JobTemp:
    """One job's temp folder: DuckDB spill and sunk inputs live under ``duck``."""

    def __init__(self, root: Path | str, job_id: str = "") -> None:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        sweep_dead(root)
        self.path = Path(tempfile.mkdtemp(prefix="job-", dir=root))
        marker = {"pid": os.getpid(), "started": _start_time(os.getpid()),
                  "host": socket.gethostname(), "job": job_id, "created": time.time()}
        (self.path / MARKER).write_text(json.dumps(marker))
        self._n = 0

    def step_dir(self) -> Path:
        """A fresh folder for one SQL step's connection (its own temp dir and sunk inputs)."""
        self._n += 1
        d = self.path / f"step-{self._n:03d}"
        (d / "duck").mkdir(parents=True)
        return d

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def sandboxed_connection(*, temp_dir: Path | str | None, memory_limit: str = "2GB",
                         temp_limit: str = "10GB", threads: int | None = None):
    """A DuckDB connection for user SQL. ``temp_dir=None``: no spilling and no file at all
    (used to parse and plan queries)."""
    # heavy optional dependency: imported on first use
    import duckdb

    con = duckdb.connect(":memory:")
    settings = [
        "SET python_enable_replacements=false",  # never read a Python variable named like a table
        "SET autoinstall_known_extensions=false",
        "SET autoload_known_extensions=false",
        "SET allow_community_extensions=false",
        f"SET memory_limit={_quote(memory_limit)}",
        # the temp directory must be set before external access is switched off: that snapshot
        # is what DuckDB keeps allowing
        f"SET temp_directory={_quote(temp_dir) if temp_dir is not None else _quote('')}",
        f"SET max_temp_directory_size={_quote(temp_limit)}",
        # progress is readable (query_progress) but DuckDB draws nothing itself: its default
        # differs between a script and a Jupyter kernel, where it would draw its own widget
        "SET enable_progress_bar=true",
        "SET enable_progress_bar_print=false",
    ]
    if threads:
        settings.append(f"SET threads={int(threads)}")
    settings += ["SET enable_external_access=false", "SET lock_configuration=true"]
    try:
        for s in settings:
            con.execute(s)
    except BaseException:
        con.close()
        raise
    return con
