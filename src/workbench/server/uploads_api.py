"""``/uploads``: presigned uploads straight to the bucket, then confirm (and ingest).

The flow of ``workbench upload-url`` and ``workbench confirm``: the client PUTs the bytes to the
URLs it was given (the server never sees them), then confirms; with a dataset ``name`` the
confirm also submits the ingest job and answers with its id, whose events show its progress.
The temporary object is removed once the ingest succeeds (a failed ingest keeps it for a retry).
"""

from __future__ import annotations

import os
from typing import Any

from .. import api
from ..context import Context
from ..errors import ConfigError, SpecError
from ..uploads import (
    SINGLE_PUT_MAX, confirm_upload, create_upload, finish_upload, upload_pipeline,
)
from .base import WorkbenchHandler, authenticated
from .datasets_api import check_name
from .jobs_api import handle

FORMATS = ("auto", "csv", "tsv", "json", "ndjson", "excel", "parquet")
MODES = ("create", "overwrite", "append")


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(key, default)
    if value not in allowed:
        raise SpecError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _create(body: dict[str, Any]) -> dict[str, Any]:
    filename, size = body.get("filename"), body.get("size")
    if not isinstance(filename, str) or not filename:
        raise SpecError("filename is required (the file's name; its extension tells the format)")
    if not isinstance(size, int) or isinstance(size, bool):
        raise SpecError(f"size must be the file's exact size in bytes, not {size!r}")
    expires = body.get("expires")
    if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool)):
        raise SpecError(f"expires must be a number of seconds, not {expires!r}")
    return create_upload(Context.from_settings(), filename, size, sha256=body.get("sha256"),
                         expires=expires, single_put_max=single_put_max())


def single_put_max() -> int:
    """Files above this many bytes get a multipart upload (``WORKBENCH_UPLOAD_SINGLE_PUT_MAX``)."""
    text = os.environ.get("WORKBENCH_UPLOAD_SINGLE_PUT_MAX")
    if not text:
        return SINGLE_PUT_MAX
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"WORKBENCH_UPLOAD_SINGLE_PUT_MAX must be a number of bytes, not {text!r}"
                          ) from None


def _confirm(upload_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    ctx = Context.from_settings()
    name = body.get("name")
    if name is not None:
        check_name(name)
    fmt = _choice(body, "format", FORMATS, "auto")
    mode = _choice(body, "mode", MODES, "overwrite")
    info = confirm_upload(ctx, upload_id, sha256=body.get("sha256"))
    if name is None:
        return 200, {"upload": info}
    job = api.submit(upload_pipeline(ctx, upload_id, name=name, format=fmt, mode=mode))
    handle(job.id, job)

    def cleanup(ev: Any) -> None:
        if ev.kind == "job_finished":
            finish_upload(ctx, upload_id)

    job.subscribe(cleanup)
    return 202, {"upload": info, "job_id": job.id, "dataset": name,
                 "links": {"job": f"/workbench/api/v1/jobs/{job.id}",
                           "events": f"/workbench/api/v1/jobs/{job.id}/events"}}


class UploadsHandler(WorkbenchHandler):
    @authenticated
    async def post(self) -> None:
        body = await self.body_object()
        self.reply(await self.blocking(_create, body), 201)


class ConfirmHandler(WorkbenchHandler):
    @authenticated
    async def post(self, upload_id: str) -> None:
        body = await self.body_object()
        status, out = await self.blocking(_confirm, upload_id, body)
        self.reply(out, status)


ROUTES = [
    ("/uploads", UploadsHandler),
    ("/uploads/{upload_id}/confirm", ConfirmHandler),
]
