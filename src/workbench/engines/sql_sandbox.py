"""The locked DuckDB connection user SQL runs in, and the job's own temp directory.

DuckDB always allows its temp directory, even with external access off, and its default (``.tmp``
under the process's cwd) is shared by every job of the process: user SQL could write there and
read other jobs' spill files. So every job gets a fresh directory (``mkdtemp``), set as the temp
directory *before* external access is switched off (which snapshots it as the only allowed
directory), capped with ``max_temp_directory_size``; the configuration is locked last.

The directory is removed when the job ends. A crash leaves it behind, so each directory holds a
marker naming its owner process (pid and start time, which survive pid reuse); the next start of
any SQL job, worker or kernel sweeps the folders whose owner is gone (``storage.disk``, also used
by ``gc``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..storage.disk import duckdb_temp_root, owned_temp_dir, sweep_dead

__all__ = ["JobTemp", "sandboxed_connection", "sweep_dead", "temp_root"]


def temp_root(home: Path | str) -> Path:
    return duckdb_temp_root(home)


class JobTemp:
    """One job's temp folder: DuckDB spill and sunk inputs live under ``duck``."""

    def __init__(self, root: Path | str, job_id: str = "") -> None:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        sweep_dead(root, "job-")
        self.path = owned_temp_dir(root, "job-", job_id)
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
