"""Storage in a local folder: the embedded default."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import AlreadyExists, NotFound, disk_full, is_enospc
from ..settings import disk_reserve_bytes
from .base import ObjectInfo
from .disk import check_free_space


class _LocalWriter:
    """Writes to a temporary file beside the target and renames it into place on close.

    A full disk (ENOSPC, or the free space down to ``WORKBENCH_DISK_RESERVE``, checked every
    few MiB) removes the temporary file at once and raises ``StorageError("disk full at …")``:
    a writer never sits on a half-written ``.part`` file.
    """

    CHECK_EVERY = 8 * 1024 * 1024

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._reserve = disk_reserve_bytes()
        self._check_space(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        self._file = os.fdopen(fd, "wb")
        self._tmp = Path(tmp)
        self._path = path
        self._done = False
        self._unchecked = 0

    def _check_space(self, folder: Path) -> None:
        check_free_space(folder, self._reserve)

    def _fail(self, exc: BaseException) -> None:
        self.abort()
        if isinstance(exc, OSError) and is_enospc(exc):
            raise disk_full(self._path.parent) from None
        raise exc

    def write(self, data: bytes) -> int:
        try:
            n = self._file.write(data)
            self._unchecked += n
            if self._unchecked >= self.CHECK_EVERY:
                self._unchecked = 0
                self._check_space(self._path.parent)
            return n
        except BaseException as exc:
            self._fail(exc)
            raise

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        if self._done:
            return
        try:
            self._file.close()
        except OSError as exc:
            self._fail(exc)
        self._done = True
        os.replace(self._tmp, self._path)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._file.close()
        except OSError:
            pass  # the disk is full: the data is thrown away anyway
        self._tmp.unlink(missing_ok=True)


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        root = str(root)
        if root.startswith("file://"):
            root = root[len("file://"):]
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        # A '..' segment could stay under the root and still leave the namespace prefix the key
        # was built under (another tenant's datasets): refuse it, as S3 keys do (check_key).
        if "\\" in key or any(seg in (".", "..") for seg in key.split("/")):
            raise ValueError(f"invalid storage key {key!r}: '.' or '..' segment")
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise ValueError(f"key escapes the storage root: {key!r}")
        return path

    def open_write(self, key: str) -> _LocalWriter:
        return _LocalWriter(self._path(key))

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"no object {key!r} in {self.url}", file=key) from None

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if if_absent:
            # Write aside, then link: link() fails if the target exists, so exactly one writer wins
            # and no reader ever sees a half-written object.
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                os.unlink(tmp)
                if is_enospc(exc):
                    raise disk_full(path.parent) from None
                raise
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise AlreadyExists(f"object {key!r} already exists", file=key) from None
            finally:
                os.unlink(tmp)
            return
        writer = self.open_write(key)
        writer.write(data)
        writer.close()

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def info(self, key: str) -> ObjectInfo:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            raise NotFound(f"no object {key!r} in {self.url}", file=key) from None
        return ObjectInfo(key, st.st_size, st.st_mtime)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self._walk(prefix, partial=False)

    def list_partial(self, prefix: str) -> Iterator[ObjectInfo]:
        """The temporary ``.part`` files of writes under ``prefix``: in flight, or left by a
        process that died mid-write (``gc`` lists and removes those of dead attempts)."""
        return self._walk(prefix, partial=True)

    def _walk(self, prefix: str, *, partial: bool) -> Iterator[ObjectInfo]:
        base = self._path(prefix) if prefix else self.root
        # A prefix is a string prefix, as in S3: "ns/a" also lists "ns/ab/...".
        start = base if base.is_dir() and (not prefix or prefix.endswith("/")) else base.parent
        if not start.exists():
            return
        for dirpath, _dirs, files in os.walk(start):
            for name in sorted(files):
                if (name.endswith(".part") and name.startswith(".")) != partial:
                    continue  # an in-flight write is not an object (and vice versa)
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        st = full.stat()
                    except FileNotFoundError:
                        continue  # renamed into place or removed meanwhile
                    yield ObjectInfo(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        for obj in list(self.list(prefix)):
            self.delete(obj.key)
            count += 1
        for obj in list(self.list_partial(prefix)):  # a dead writer's temporary files too
            self.delete(obj.key)
        base = self._path(prefix)
        if base.is_dir():
            shutil.rmtree(base, ignore_errors=True)
        return count

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def storage_options(self) -> dict[str, str] | None:
        return None

    def local_path(self, key: str) -> Path:
        return self._path(key)
