"""The FileIO of the datasets' Iceberg tables: pyiceberg's PyArrow FileIO, except that on S3
each metadata file (table metadata, manifest list, manifest) is written with one PUT.

Iceberg's own files are small and written whole, so one request instead of a multipart upload's
three (create, part, complete) per file shortens every commit. It also avoids CompleteMultipart
responses some S3-compatible servers answer in a form the AWS C++ SDK under PyArrow rejects
(moto 5.2: the whole commit failed with INTERNAL_FAILURE). Reading and deleting stay PyArrow's.

pyiceberg loads this class by name (``py-io-impl``); only ``iceberg.py`` names it.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from pyiceberg.io import OutputFile, OutputStream
from pyiceberg.io.pyarrow import PyArrowFileIO

_CLIENTS: dict[tuple, Any] = {}
_LOCK = threading.Lock()


class PutFileIO(PyArrowFileIO):
    def new_output(self, location: str) -> OutputFile:
        scheme, netloc, path = self.parse_location(location, self.properties)
        if scheme not in ("s3", "s3a", "s3n"):
            return super().new_output(location)
        return _PutFile(location, bucket=netloc, key=path[len(netloc) + 1:]
                        if path.startswith(netloc + "/") else path, fileio=self)

    def client(self) -> Any:
        p = self.properties
        key = tuple(sorted((k, v) for k, v in p.items() if k.startswith("s3.")))
        with _LOCK:
            found = _CLIENTS.get(key)
            if found is None:
                # heavy optional dependency: imported on first use
                import boto3
                from botocore.config import Config

                virtual = str(p.get("s3.force-virtual-addressing", "false")).lower() == "true"
                found = _CLIENTS[key] = boto3.client(
                    "s3", endpoint_url=p.get("s3.endpoint"),
                    aws_access_key_id=p.get("s3.access-key-id"),
                    aws_secret_access_key=p.get("s3.secret-access-key"),
                    region_name=p.get("s3.region") or "us-east-1",
                    config=Config(s3={"addressing_style": "virtual" if virtual else "path"},
                                  retries={"max_attempts": 5, "mode": "standard"}))
            return found


class _PutFile(OutputFile):
    def __init__(self, location: str, *, bucket: str, key: str, fileio: PutFileIO) -> None:
        super().__init__(location)
        self._bucket, self._key, self._io = bucket, key, fileio

    def __len__(self) -> int:
        return len(self.to_input_file())

    def exists(self) -> bool:
        return self.to_input_file().exists()

    def to_input_file(self) -> Any:
        return self._io.new_input(self.location)

    def create(self, overwrite: bool = False) -> OutputStream:
        if not overwrite and self.exists():
            raise FileExistsError(f"Cannot create file, already exists: {self.location}")
        return _PutStream(self)


class _PutStream(io.BytesIO):
    """Bytes kept in memory, stored with one PUT on close (never a partial object)."""

    def __init__(self, target: _PutFile) -> None:
        super().__init__()
        self._target = target
        self._done = False

    def close(self) -> None:
        if not self._done and not self.closed:
            self._done = True
            t = self._target
            t._io.client().put_object(Bucket=t._bucket, Key=t._key, Body=self.getvalue())
        super().close()

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None:
            self._done = True  # an error while writing: store nothing
        self.close()
