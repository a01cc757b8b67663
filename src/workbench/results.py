"""The rows of a pipeline without a sink: carried whole and typed, or refused with a reason.

A sinkless job's frame travels as Arrow IPC (every Polars type survives it exactly), never as
JSON rows. The IPC stream is written to storage under the job's key, so any process that can
read the datasets (the kernel that submitted, a kernel reattaching later with ``wb.job(id)``)
gets the same frame; a small one also rides inline in the job's result (base64), which saves
the round trip. The job's catalog row keeps only the key, so it stays small.

A frame over ``WORKBENCH_RESULT_MAX_BYTES`` fails the job before it is reported as succeeded,
with a hint to write it to a sink or limit the rows: never a silent cut.

Layout: ``<namespace>/results/<job_id>/a<attempt>.arrow``. ``maintenance.gc`` removes them
after its retention (at once for failed or cancelled jobs and replaced attempts);
``maintenance.list_results`` lists them.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Callable

import polars as pl

from .errors import InputError, NotFound
from .spec.models import validate_name

FORMAT = "arrow-ipc"


def result_key(namespace: str, job_id: str, attempt: int) -> str:
    return (f"{validate_name(namespace, 'namespace')}/results/"
            f"{validate_name(job_id, 'job id')}/a{int(attempt)}.arrow")


def results_prefix(namespace: str) -> str:
    return f"{validate_name(namespace, 'namespace')}/results/"


def _mb(n: int) -> str:
    return f"{n / 1_000_000:,.1f} MB"


def check_size(df: pl.DataFrame, max_bytes: int) -> None:
    """Refuse a frame too large to hand back whole; the error names the setting."""
    size = int(df.estimated_size())
    if size > max_bytes:
        raise InputError(
            f"the result of this pipeline without a sink is {_mb(size)} in memory "
            f"({df.height:,} rows × {df.width} columns), over WORKBENCH_RESULT_MAX_BYTES="
            f"{max_bytes} ({_mb(max_bytes)}); nothing was cut and nothing is returned",
            step="collect",
            hint="write it to a sink (sink=wb.dataset('name')) and read it with wb.read, keep "
                 "fewer rows with a wb.limit(n) step, or raise WORKBENCH_RESULT_MAX_BYTES")


def to_ipc(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_ipc(buf, compression="zstd")
    return buf.getvalue()


def from_ipc(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(data))


def encode_rows(df: pl.DataFrame, *, storage: Any, namespace: str, job_id: str, attempt: int,
                max_bytes: int, inline_bytes: int) -> dict[str, Any]:
    """Store the frame and describe where it is (the ``rows`` part of a job's result)."""
    check_size(df, max_bytes)
    data = to_ipc(df)
    key = result_key(namespace, job_id, attempt)
    storage.put_bytes(key, data)
    out: dict[str, Any] = {"format": FORMAT, "arrow_key": key, "storage_url": storage.url,
                           "arrow_bytes": len(data)}
    if len(data) <= inline_bytes:
        out["arrow"] = base64.b64encode(data).decode("ascii")
    return out


def decode_rows(result: dict[str, Any], open_storage: Callable[[str], Any]) -> pl.DataFrame:
    """The frame a sinkless job returned, exactly as it left (``open_storage(url)`` for a big one)."""
    if result.get("arrow"):
        return from_ipc(base64.b64decode(result["arrow"]))
    key = result.get("arrow_key")
    if not key:
        raise NotFound("this job's result holds no rows (it was recorded before results were "
                       "kept as Arrow, or by a newer version)",
                       hint="run the pipeline again")
    storage = open_storage(result.get("storage_url") or "")
    try:
        data = storage.get_bytes(key)
    except NotFound:
        raise NotFound(f"the rows of this job are no longer in storage ({key})",
                       hint="stored results expire: `workbench gc` removes them after its "
                            "retention (7 days by default); run the pipeline again, or give it "
                            "a sink to keep its rows as a dataset") from None
    return from_ipc(data)


def strip_inline(result: dict[str, Any]) -> dict[str, Any]:
    """The result as the job record keeps it: the key, not the inline bytes."""
    return {k: v for k, v in result.items() if k not in ("arrow", "_frame")}


__all__ = ["FORMAT", "check_size", "decode_rows", "encode_rows", "from_ipc", "result_key",
           "results_prefix", "strip_inline", "to_ipc"]
