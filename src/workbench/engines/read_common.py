"""What every file reader shares: limits, the input handle, temporary files, line arithmetic.

Row numbering, used by every reader error: ``row`` is the 1-based number of the *data* record,
the header being row 0 (rows skipped with ``skip_rows`` are not counted). Excel errors also say
the worksheet row; text errors also say the line and byte offset in the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

from ..errors import ConfigError
from ..settings import disk_reserve_bytes
from ..storage.disk import owned_temp_dir

DEFAULT_NULLS: tuple[str, ...] = ("", "NA", "N/A", "NULL", "null")
HEAD_BYTES = 64 * 1024  # sniffed from the start of every file
WINDOW_BYTES = 64 * 1024  # one sampled window further into a text file
SAMPLE_WINDOWS = 16  # windows spread over the inputs (plus each file's tail)
INFER_ROWS = 10_000  # rows read as text to type (and check) a file's head
PLAN_PREFIX_BYTES = 8 * 1024 * 1024  # of each file, what a types-only read parses (Input.head_source)
# rows Polars infers a CSV's first types from; the text of the first INFER_ROWS rows then
# widens them (inference costs ~0.1 ms per 1,000 fields: on a file of 10,000 columns, Polars'
# own 10,000-row inference was a fifth of the job, and the text read happens anyway)
CSV_GUESS_ROWS = 100


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile or broken input from filling the disk or memory.

    ===================================  ==========  =============================================
    variable                             default     meaning
    ===================================  ==========  =============================================
    WORKBENCH_MAX_DECOMPRESSED_BYTES     16 GiB      bytes a source (all files of a glob) may
                                                     inflate to, checked while inflating
    WORKBENCH_MAX_DECOMPRESSION_RATIO    100         inflated / compressed bytes, judged past
                                                     64 MiB of output (zeros gzip ~1000x, text
                                                     rarely beyond 20x)
    WORKBENCH_MAX_FIELD_BYTES            64 MiB      longest field of a CSV/TSV file (quoted
                                                     fields with line breaks too), longest
                                                     record (line) of an NDJSON file
    WORKBENCH_MAX_COLUMNS                16384       columns of a file (Excel's own maximum)
    WORKBENCH_MAX_JSON_DEPTH             512         nesting of a JSON value (the record is 1)
    WORKBENCH_DISK_RESERVE               256 MiB     free bytes kept on a disk that temp files
                                                     and local storage write to
    ===================================  ==========  =============================================
    """

    max_decompressed_bytes: int = 16 * 1024**3
    # A ratio is only judged past this much output: small files compress absurdly well.
    ratio_floor_bytes: int = 64 * 1024**2
    max_ratio: float = 100.0
    excel_max_uncompressed: int = 2 * 1024**3
    excel_max_ratio: float = 200.0
    max_diagnose_bytes: int = 16 * 1024**3  # the slow exact pass stops after this much
    max_field_bytes: int = 64 * 1024**2
    max_columns: int = 16_384
    # Parquet holds a schema 100 levels deep at most (a JSON nested 100 deep failed in the
    # writer, 200 deep in a recursion of the reader): the limit stays well under both
    max_json_depth: int = 64
    disk_reserve_bytes: int = 256 * 1024**2
    # Bytes inflated so far by this scan (every file of a glob counts against one cap).
    inflated: list = field(default_factory=lambda: [0], init=False, compare=False, repr=False)

    @classmethod
    def from_env(cls) -> Limits:
        def num(name: str, default: float) -> float:
            raw = os.environ.get(name) or str(default)
            try:
                value = float(raw)
            except ValueError:
                value = -1
            if value < 0:
                raise ConfigError(f"{name}={raw!r} is not a non-negative number")
            return value

        d = cls()
        return cls(
            max_decompressed_bytes=int(num("WORKBENCH_MAX_DECOMPRESSED_BYTES", d.max_decompressed_bytes)),
            max_ratio=num("WORKBENCH_MAX_DECOMPRESSION_RATIO", d.max_ratio),
            max_field_bytes=int(num("WORKBENCH_MAX_FIELD_BYTES", d.max_field_bytes)),
            max_columns=int(num("WORKBENCH_MAX_COLUMNS", d.max_columns)),
            max_json_depth=int(num("WORKBENCH_MAX_JSON_DEPTH", d.max_json_depth)),
            disk_reserve_bytes=disk_reserve_bytes(),
        )


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
            # marked with this process: if it is killed, the next start or ``gc`` removes it
            self._dir = owned_temp_dir(self._base, "wb-read-")
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
    # read for its column types only (``scan_file(types_only=True)``, a fan-out's plan)
    types_only: bool = False
    # a local file's (size, mtime, ctime, inode) when the scan opened it: one read in place is
    # hashed apart from the pass that reads its rows, so a change in between must show
    fingerprint: list[int] | None = None
    # the scan's temporary folder, for a reader that must write a corrected copy of the file
    temp: TempFiles | None = field(default=None, repr=False, compare=False)

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

    @property
    def head_is_whole(self) -> bool:
        """Whether ``head_source`` is the whole file."""
        return not self.types_only or self.target_size <= PLAN_PREFIX_BYTES

    def head_source(self) -> str | bytes:
        """What a Polars read of the file's first rows is given: the file itself, or, in a
        types-only read, its first ``PLAN_PREFIX_BYTES`` cut to whole lines. That read skips
        the search of every byte for an over-long field (the parts do it, each on its file), so
        its own reads must be bounded: no field past the prefix can reach Polars."""
        assert self.target is not None
        if self.head_is_whole:
            return self.target
        data = self.read_at(0, PLAN_PREFIX_BYTES)
        cut = data.rfind(b"\n")  # one copy of the prefix, not three (rsplit, then +)
        return data[:cut + 1] if cut >= 0 else data + b"\n"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size,
                               "local_path": self.target if self.target != self.path else self.path}
        if self.sha256:
            out["sha256"] = self.sha256
        elif self.fingerprint is not None and self.target == self.path:
            out["fingerprint"] = self.fingerprint
        return out


def file_fingerprint(path: str) -> list[int] | None:
    """What changes when a file is rewritten, replaced or removed (None: it is gone)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


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
