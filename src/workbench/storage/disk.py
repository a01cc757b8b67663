"""Free space on a local disk: the one check every writer of temp files and local storage uses.

Readers inflating a compressed file into their temp folder (``engines.read_decompress``) and the
local storage writer (``storage.local``) both stop at ``WORKBENCH_DISK_RESERVE`` free bytes, so a
job fills a disk up to the reserve and no further, and says so as "disk full at <path>".
"""

from __future__ import annotations

import shutil
from pathlib import Path

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
