"""The storage interface: a flat key space of immutable objects.

Keys are ``/``-separated relative paths built only from validated names (see ``keys.py``).
Policy (layout, manifests, commit order) lives in ``datasets.py``; an implementation here only
moves bytes. A fake for tests is one class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator, Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: float  # unix seconds


class ObjectWriter(Protocol):
    """A write stream whose object appears only on ``close()``; ``abort()`` leaves nothing."""

    def write(self, data: bytes) -> int: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


@runtime_checkable
class Storage(Protocol):
    url: str

    def open_write(self, key: str) -> ObjectWriter: ...

    def open_read(self, key: str) -> BinaryIO: ...

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        """Write a whole object; with ``if_absent`` raise ``AlreadyExists`` if the key exists
        (the atomic commit of a manifest: exactly one writer wins)."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def info(self, key: str) -> ObjectInfo: ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def uri(self, key: str) -> str:
        """A location Polars/DuckDB can scan (a local path or an s3:// URL)."""
        ...

    def storage_options(self) -> dict[str, str] | None:
        """Options for ``polars.scan_parquet(..., storage_options=...)``; None for local."""
        ...
