"""``/datasets``: the namespace's datasets, one dataset's versions, schema, profile and lineage,
and its first rows.

The same calls as ``workbench datasets``, ``workbench show`` and ``wb.read``.
"""

from __future__ import annotations

import json
from typing import Any

from .. import api
from ..context import Context
from ..errors import NotFound, SpecError
from ..spec import validate_name
from .base import WorkbenchHandler, authenticated

PREVIEW_MAX = 1000


def check_name(name: str, what: str = "dataset name") -> str:
    try:
        return validate_name(name, what)
    except ValueError as exc:
        raise SpecError(str(exc), hint="e.g. sales_2026") from None


def _list() -> list[dict[str, Any]]:
    return [{"name": d.name, "version": d.version, "rows": d.rows, "bytes": d.bytes,
             "created_at": d.created_at, "checksum": d.checksum, "columns": d.columns,
             "job_id": d.job_id} for d in api.list_datasets()]


def _details(name: str, version: int | None) -> dict[str, Any]:
    ds = api.info(name, version=version)
    ctx = Context.from_settings()
    versions = [{"version": v.version, "rows": v.rows, "bytes": v.bytes, "created_at": v.created_at,
                 "job_id": v.job_id, "checksum": v.checksum}
                for v in ctx.catalog.list_versions(ctx.namespace, name)]
    lineage: dict[str, Any] = {"job_id": ds.job_id, "inputs": ds.inputs, "source": None,
                               "steps": [], "checks": ds.checks}
    if ds.job_id:
        try:
            spec = ctx.catalog.get_job(ds.job_id).get("spec") or {}
            lineage.update(source=spec.get("source"), steps=spec.get("steps") or [])
        except NotFound:  # a version written outside a recorded job (tests, imports)
            pass
    return {**ds.to_dict(), "versions": versions, "lineage": lineage,
            "locations": [ctx.storage.uri(f["key"]) for f in ds.files]}


def _preview(name: str, version: int | None, rows: int) -> dict[str, Any]:
    df = api.read(name, version=version).head(rows).collect()
    return {"name": name, "version": version,
            "columns": [{"name": c, "type": str(t)} for c, t in df.schema.items()],
            "rows": json.loads(df.write_json()) if df.height else []}


class DatasetsHandler(WorkbenchHandler):
    @authenticated
    async def get(self) -> None:
        self.reply({"datasets": await self.blocking(_list)})


class DatasetHandler(WorkbenchHandler):
    @authenticated
    async def get(self, name: str) -> None:
        check_name(name)
        version = self.int_arg("version", 0, low=0) or None
        self.reply(await self.blocking(_details, name, version))


class PreviewHandler(WorkbenchHandler):
    @authenticated
    async def get(self, name: str) -> None:
        check_name(name)
        rows = self.int_arg("rows", 20, low=1, high=PREVIEW_MAX)
        version = self.int_arg("version", 0, low=0) or None
        self.reply(await self.blocking(_preview, name, version, rows))


ROUTES = [
    ("/datasets", DatasetsHandler),
    ("/datasets/{name}", DatasetHandler),
    ("/datasets/{name}/preview", PreviewHandler),
]
