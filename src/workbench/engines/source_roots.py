"""Which files a file source may read: the roots policy, apart from the readers' I/O.

* Local paths are resolved with ``realpath`` first, so ``..`` and symlinks (also a symlink that a
  glob matched) are judged by where they lead, and the reader is given the resolved path.
* ``WORKBENCH_SOURCE_ROOTS`` (comma-separated folders and ``s3://bucket/prefix`` or
  ``r2://account/bucket/prefix`` URLs) limits sources to those roots. Unset, the analyst's kernel
  may read whatever its user can; a worker (``WORKBENCH_ROLE=worker``), which holds everyone's
  secrets, reads nothing until the operator names roots.
* Never a source, in the kernel too: the workbench home (catalog, storage, temp files, keys;
  only ``<home>/demo``, the demo's sample data, is readable), the
  storage (every namespace's prefix: datasets are read with ``from_dataset``) and the SQLite
  catalog file. The one way into the storage is a confirmed upload of this namespace, which
  ``execute`` opens as ``internal``.

A path outside the roots is refused before it is opened, listed or even tested for existence,
so a refusal says nothing about what is there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AccessDenied

if TYPE_CHECKING:
    from ..settings import Settings
from ..storage.s3 import parse_url

SETTING = "WORKBENCH_SOURCE_ROOTS"


@dataclass(frozen=True)
class Remote:
    bucket: str
    prefix: str  # "" or ending in "/"

    def covers(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key.startswith(self.prefix)


def _remote(url: str) -> Remote:
    _, _, bucket, prefix = parse_url(url)
    return Remote(bucket, prefix + "/" if prefix else "")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _real(path: str | Path) -> str:
    return os.path.realpath(os.path.expanduser(str(path)))


@dataclass(frozen=True)
class SourcePolicy:
    local_roots: tuple[str, ...] | None  # None: any local path (the kernel's default)
    remote_roots: tuple[Remote, ...] | None  # None: any bucket
    forbidden_local: tuple[str, ...]
    forbidden_remote: tuple[Remote, ...]
    on_worker: bool
    home_exceptions: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> SourcePolicy:
        local: list[str] = []
        remote: list[Remote] = []
        configured = [r.strip() for r in (settings.source_roots or ()) if r.strip()]
        for root in configured:
            if root.startswith(("s3://", "r2://")):
                remote.append(_remote(root))
            else:
                local.append(_real(root[len("file://"):] if root.startswith("file://") else root))
        restricted = bool(configured) or settings.on_worker
        forbidden_local = [_real(settings.home)]
        forbidden_remote: list[Remote] = []
        storage = settings.storage_url
        if storage.startswith(("s3://", "r2://")):
            forbidden_remote.append(_remote(storage))
        else:
            forbidden_local.append(_real(storage[len("file://"):] if storage.startswith("file://")
                                         else storage))
        catalog = settings.catalog_url
        if catalog.startswith("sqlite:///"):
            forbidden_local.append(_real(catalog[len("sqlite:///"):].split("?", 1)[0]))
        # `workbench demo` writes its sample data into the home: the one folder there that holds
        # nothing of the catalog, the storage, temp files or keys.
        demo = (_real(Path(settings.home) / "demo"),)
        return cls(tuple(local) if restricted else None, tuple(remote) if restricted else None,
                   tuple(forbidden_local), tuple(forbidden_remote), settings.on_worker, demo)

    # ------------------------------------------------------------------------- refusals
    def _denied(self, path: str, why: str) -> AccessDenied:
        if self.local_roots is None:
            hint = ("the workbench home and storage are never a source: read a dataset with "
                    "wb.from_dataset(name), or copy the file elsewhere")
        elif self.on_worker and not (self.local_roots or self.remote_roots):
            hint = (f"workers read files only under the roots their operator sets in {SETTING} "
                    "(folders or s3:// prefixes, comma-separated); none is set on this worker")
        else:
            shown = ", ".join([*self.local_roots, *(f"s3://{r.bucket}/{r.prefix}"
                                                     for r in self.remote_roots or ())])
            hint = f"allowed roots ({SETTING}): {shown or 'none'}"
        return AccessDenied(f"file source {path!r} {why}", file=path, hint=hint)

    # ------------------------------------------------------------------------- local
    def check_local(self, shown: str, path: str | Path) -> str:
        """The resolved path of ``path`` if it may be read; AccessDenied otherwise (``shown`` is
        what the user wrote, the only path an error names)."""
        real = _real(path)
        if any(_inside(real, f) for f in self.forbidden_local) and not any(
                _inside(real, d) for d in self.home_exceptions):
            raise self._denied(shown, "is inside the workbench home or storage")
        if self.local_roots is not None and not any(_inside(real, r) for r in self.local_roots):
            raise self._denied(shown, "is outside the allowed source roots"
                               if real == _real(shown) or "*" in shown or "?" in shown
                               else "resolves outside the allowed source roots")
        return real

    def check_glob_base(self, pattern: str) -> None:
        """Refuse before listing: the folder a glob starts from must be inside a root."""
        literal = pattern
        for i, ch in enumerate(pattern):
            if ch in "*?[":
                literal = pattern[:i]
                break
        base = os.path.dirname(literal) if not literal.endswith(os.sep) else literal
        if self.local_roots is not None:
            real = _real(base or ".")
            if not any(_inside(real, r) for r in self.local_roots):
                raise self._denied(pattern, "is outside the allowed source roots")

    # ------------------------------------------------------------------------- remote
    def check_remote(self, shown: str, bucket: str, key: str, *, internal: bool = False) -> None:
        segments = key.split("/")
        if any(s in (".", "..") for s in segments) or "//" in key:
            raise self._denied(shown, "has '.' or '..' segments or an empty segment in its key")
        if internal:
            return
        if any(f.covers(bucket, key) for f in self.forbidden_remote):
            raise self._denied(shown, "is inside the workbench storage")
        if self.remote_roots is not None and not any(r.covers(bucket, key)
                                                     for r in self.remote_roots):
            raise self._denied(shown, "is outside the allowed source roots")


def source_policy(settings: Settings) -> SourcePolicy:
    return SourcePolicy.from_settings(settings)
