"""Helpers for the data-side probes: forbidden files, and a search of every output for their bytes.

A probe passes only if the refusal happened, with the expected error type, AND no byte of what it
tried to reach shows up anywhere a user or another tenant could look: the error (text and dict),
the job's events, its catalog record, and every file under the workbench home (the SQLite
catalog, manifests and data in storage, worker logs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

#: The first bytes of /etc/passwd on every Linux this runs on.
PASSWD_MARK = "root:x:0:0"


def forbidden_file(folder: Path, name: str = "secret.csv") -> tuple[Path, str]:
    """A readable CSV outside every root, whose first line is a unique marker (as /etc/passwd's
    first line is in the issue's attack), so a leak of any part of it is detectable."""
    mark = f"SECRET{abs(hash(str(folder))) % 10**9:09d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"{mark}_header,x\n{mark}_value,1\n")
    return path, mark


def outputs(*, error: Any = None, job: Any = None, ctx: Any = None,
            home: Path | None = None, extra: Iterable[Any] = (),
            ignore: Iterable[Path] = ()) -> list[tuple[str, bytes]]:
    """Everything a refusal could have written, as (where, bytes); ``ignore`` names the
    forbidden files themselves when they live under the home (the victim's own data)."""
    skipped = {Path(p).resolve() for p in ignore}
    out: list[tuple[str, bytes]] = []
    if job is not None:
        error = error if error is not None else job.error
        out.append(("events", json.dumps([e.to_dict() for e in job.events], default=str).encode()))
        if ctx is not None:
            try:
                out.append(("job record", json.dumps(ctx.catalog.get_job(job.id), default=str).encode()))
            except Exception as exc:  # no record is fine: nothing leaked into one
                out.append(("job record", str(exc).encode()))
    if error is not None:
        out.append(("error", f"{error}\n{error!r}".encode()))
        if hasattr(error, "to_dict"):
            out.append(("error dict", json.dumps(error.to_dict(), default=str).encode()))
    if home is not None and Path(home).exists():
        for p in sorted(Path(home).rglob("*")):
            if p.is_file() and p.resolve() not in skipped:
                out.append((str(p), p.read_bytes()))
    for item in extra:
        out.append(("extra", item if isinstance(item, bytes) else str(item).encode()))
    return out


def assert_no_leak(marks: Iterable[str], **where: Any) -> None:
    found = [(w, m) for w, data in outputs(**where) for m in marks if m.encode() in data]
    assert not found, f"forbidden bytes reached an output: {found}"


# ----------------------------------------------------------------------------- real workers
def _cluster_module() -> Any:
    import sys

    here = Path(__file__).resolve().parents[1] / "worker"
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    import wb_cluster

    return wb_cluster


def start_worker_cluster(tmp: Path, broker_url: str, **worker_env: str) -> Any:
    """A home, the Redis database ``broker_url`` names and one worker process with ``WORKBENCH_ROLE=worker`` (the shared
    worker the trust rules apply to); ``worker_env`` is given to the worker process only."""
    wb_cluster = _cluster_module()
    cl = wb_cluster.make_cluster(tmp, broker_url)
    cl.start_worker("sec", concurrency=1, WORKBENCH_ROLE="worker", **worker_env)
    return cl


def redis_dump(cluster: Any) -> bytes:
    """Every key and every string, list, stream entry, hash, set and sorted-set member in the
    cluster's Redis database (events, results, Celery's queues and its bookkeeping)."""
    r = cluster.redis()
    chunks: list[bytes] = []
    for key in r.scan_iter(count=500):
        kind = r.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            chunks.append(r.get(key) or b"")
        elif kind == "list":
            chunks.extend(r.lrange(key, 0, -1))
        elif kind == "stream":
            chunks.extend(json.dumps(e, default=str).encode() for e in r.xrange(key))
        elif kind == "hash":
            chunks.append(json.dumps(r.hgetall(key), default=str).encode())
        elif kind == "set":
            chunks.extend(r.smembers(key))
        elif kind == "zset":
            chunks.extend(m for m, _ in r.zrange(key, 0, -1, withscores=True))
        chunks.append(key if isinstance(key, bytes) else str(key).encode())
    return b"\n".join(c if isinstance(c, bytes) else str(c).encode() for c in chunks)


def s3_helpers() -> Any:
    """tests/storage/s3_helpers.py (moto bucket set-up), importable from the security probes."""
    import sys

    here = Path(__file__).resolve().parents[1] / "storage"
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    import s3_helpers as mod

    return mod
