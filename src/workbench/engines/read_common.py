"""What every file reader shares: limits, the input handle, temporary files, line arithmetic.

Row numbering, used by every reader error: ``row`` is the 1-based number of the *data* record,
the header being row 0 (rows skipped with ``skip_rows`` are not counted). Excel errors also say
the worksheet row; text errors also say the line and byte offset in the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

DEFAULT_NULLS: tuple[str, ...] = ("", "NA", "N/A", "NULL", "null")
HEAD_BYTES = 64 * 1024  # sniffed from the start of every file
WINDOW_BYTES = 64 * 1024  # one sampled window further into a text file
SAMPLE_WINDOWS = 16  # windows spread over the inputs (plus each file's tail)
INFER_ROWS = 10_000  # rows Polars infers types from, before sampled windows widen them


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile or broken input from filling the disk or memory."""

    max_decompressed_bytes: int = 64 * 1024**3
    # A ratio is only judged past this much output: small files compress absurdly well.
    ratio_floor_bytes: int = 256 * 1024**2
    max_ratio: float = 1000.0
    excel_max_uncompressed: int = 2 * 1024**3
    excel_max_ratio: float = 200.0
    max_diagnose_bytes: int = 16 * 1024**3  # the slow exact pass stops after this much


LIMITS = Limits()


def default_nulls(values: list[str] | None) -> list[str]:
    """``None`` means the default markers; ``[]`` turns them all off (empty text stays "")."""
    return list(DEFAULT_NULLS) if values is None else list(values)


class TempFiles:
    """One private folder per scan, removed by ``SourceScan.cleanup`` (idempotent)."""

    def __init__(self, base: Path | None) -> None:
        self._base = base
        self._dir: Path | None = None

    def path(self, name: str) -> Path:
        if self._dir is None:
            if self._base is not None:
                self._base.mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix="wb-read-", dir=self._base))
        return self._dir / name

    def cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


@dataclass
class Input:
    """One input file: where it came from and what is actually scanned.

    ``path`` is what the user named (a local path or URL); ``target`` is the local plain
    UTF-8 (or binary format) file Polars scans: the original for a plain local file, else a
    temporary copy. ``sha256`` is filled when a copy was made, since the copy already read the
    original bytes once (execute then skips hashing it again).
    """

    path: str
    size: int
    opener: Callable[[], BinaryIO]
    target: str | None = None
    sha256: str | None = None
    head: bytes = b""
    compression: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def read_at(self, offset: int, n: int) -> bytes:
        """Bytes of the scanned target (local) at ``offset``."""
        assert self.target is not None
        with open(self.target, "rb") as f:
            f.seek(offset)
            return f.read(n)

    @property
    def target_size(self) -> int:
        assert self.target is not None
        return os.path.getsize(self.target)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size,
                               "local_path": self.target if self.target != self.path else self.path}
        if self.sha256:
            out["sha256"] = self.sha256
        return out


class HashingReader:
    """A read-only stream that hashes what passes through it (the original bytes)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.sha.update(data)
        self.bytes += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._raw.close()

    def __enter__(self) -> HashingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def count_lines_before(path: str, offset: int, chunk: int = 8 * 1024 * 1024) -> int:
    """Newlines in ``path`` before byte ``offset`` (C speed: bytes.count), for line numbers."""
    n = 0
    with open(path, "rb") as f:
        left = offset
        while left > 0:
            data = f.read(min(chunk, left))
            if not data:
                break
            n += data.count(b"\n")
            left -= len(data)
    return n
