"""The promises every fault test checks, in one place."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

FINAL = ("succeeded", "failed", "cancelled")


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll a gate the test controls; the bound guards against hangs, it times nothing."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # a server still starting counts as "not yet"
            last, value = exc, None
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"gave up waiting for {what}" + (f": {last}" if last else ""))


def assert_settled(ctx: Any, job_ids: list[str]) -> list[dict[str, Any]]:
    """Every job is in a final state, and a failed one says why."""
    records = [ctx.catalog.get_job(j) for j in job_ids]
    for rec in records:
        assert rec["status"] in FINAL, (rec["id"], rec["status"])
        if rec["status"] == "failed":
            assert rec.get("error") and rec["error"].get("message"), rec
    return records


def dataset_files(storage_root: Path, name: str, namespace: str = "default") -> list[str]:
    base = storage_root / namespace / "datasets" / name
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def assert_clean_dataset(ctx: Any, storage_root: Path, name: str, versions: list[int]) -> None:
    """Exactly these versions, and no file beyond what their manifests name (no partial write,
    no ``.part`` left behind); Iceberg metadata only beside a committed version."""
    import json

    got = [v.version for v in ctx.catalog.list_versions(ctx.namespace, name)]
    assert got == versions, got
    files = dataset_files(storage_root, name)
    named: set[str] = set()
    for v in versions:
        manifest = f"v{v:06d}.manifest.json"
        named.add(manifest)
        data = json.loads((storage_root / ctx.namespace / "datasets" / name / manifest).read_text())
        named.update(f["key"].split(f"/datasets/{name}/", 1)[1] for f in data["files"])
    if versions:  # the Iceberg table's metadata, written with the commit
        files = [f for f in files if not f.startswith("metadata/")]
    assert files == sorted(named), files
