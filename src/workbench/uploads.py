"""Uploads straight from a browser (or any HTTP client) to the bucket, through presigned URLs.

The flow, never through the kernel or a worker's memory::

    create_upload(ctx, "big.csv", size)   -> upload id, a presigned PUT URL (or one per part)
    PUT the bytes to the URL(s)           -> the client talks to R2/S3 directly
    confirm_upload(ctx, upload_id)        -> completes a multipart upload, pins the bytes (a
                                             server-side copy no URL can reach), checks the
                                             copy's size (and SHA-256 if declared), marks the
                                             upload confirmed
    pipeline with wb.upload(upload_id)    -> ingest it into a dataset
    finish_upload(ctx, upload_id)         -> removes the temporary object

Each URL signs the exact ``Content-Length`` (and the single PUT its ``Content-Type``), so a
client cannot send more than it declared: R2 has no POST-policy uploads, and this is the
equivalent. URLs expire: after ``WORKBENCH_UPLOAD_URL_EXPIRES`` seconds (15 minutes unless
set), at most 7 days. Uploads that are never confirmed, or confirmed but never ingested, are
removed by ``workbench gc`` once expired.

What is confirmed is what is ingested: a presigned URL stays valid after ``confirm`` and accepts
new bytes of the same length, so confirm first copies the object (server-side, on its ETag) to
``<upload id>/confirmed/<file>``, which no URL names, removes the original, and checks the copy.
The ingest reads only the copy. Bytes PUT again after confirm make a second confirm and the
ingest fail with a clear error rather than be taken or silently dropped.

A browser upload also needs a CORS rule on the bucket allowing PUT from the page's origin and
exposing the ``ETag`` header.

Temporary objects live under ``<namespace>/uploads/<upload id>/``; the upload id is the only
handle a caller holds, and it is looked up within the caller's namespace.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from typing import Any

import sqlalchemy as sa

from .catalog import uploads as uploads_table
from .context import Context
from .errors import AlreadyExists, ConfigError, NotFound, SourceError, SpecError
from .spec.models import DatasetSink, Pipeline, UploadSource, validate_name

SINGLE_PUT_MAX = 100 * 1024 * 1024  # above this, a multipart upload with one URL per part
MAX_UPLOAD_SIZE = 5 * 1024 ** 4  # the S3/R2 object size limit
MAX_EXPIRES = 7 * 24 * 3600  # presigned URLs cannot live longer on S3 and R2
MAX_PARTS = 10_000
CONTENT_TYPE = "application/octet-stream"
_ID = re.compile(r"[0-9a-f]{32}")


def _storage(ctx: Context) -> Any:
    storage = ctx.storage
    if not hasattr(storage, "presign_put"):
        raise ConfigError(
            "presigned uploads need object storage (S3, R2, MinIO)",
            hint="set WORKBENCH_STORAGE_URL=s3://bucket/prefix (or r2://account/bucket/prefix); "
                 "with local storage, ingest the file by path instead")
    return storage


def upload_prefix(namespace: str, upload_id: str) -> str:
    return f"{validate_name(namespace, 'namespace')}/uploads/{upload_id}/"


def safe_filename(filename: str) -> str:
    """The file's base name reduced to a safe key segment, keeping its extensions (format
    detection reads them)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")[:120]
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    try:
        return validate_name(cleaned, "file name")
    except ValueError:
        return "upload"


def part_size_for(size: int, minimum: int) -> int:
    """Parts of ``minimum`` bytes, grown in whole MiB when the file would need > 10,000 parts."""
    mib = 1024 * 1024
    need = math.ceil(size / MAX_PARTS)
    return max(minimum, math.ceil(need / mib) * mib)


def create_upload(ctx: Context, filename: str, size: int, *, sha256: str | None = None,
                  expires: int | None = None, single_put_max: int = SINGLE_PUT_MAX,
                  max_size: int = MAX_UPLOAD_SIZE) -> dict[str, Any]:
    """Reserve an upload and return where to PUT it.

    Returns ``{"upload_id", "key", "method": "PUT", "expires_at", "max_size", "size",
    "multipart", ...}`` with ``url`` and ``headers`` for a single PUT, or ``part_size`` and
    ``parts: [{"part_number", "url", "size"}]`` for a multipart upload (PUT each part to its URL,
    in any order, then confirm).
    """
    storage = _storage(ctx)
    if expires is None:
        expires = ctx.settings.upload_url_expires
    if not isinstance(size, int) or size <= 0:
        raise SpecError(f"upload size must be a positive number of bytes, not {size!r}")
    if size > max_size:
        raise SpecError(f"upload of {size} bytes is larger than the limit of {max_size} bytes",
                        hint="split the file, or ask for a higher limit")
    if not isinstance(expires, int) or not 1 <= expires <= MAX_EXPIRES:
        raise SpecError(f"expires must be between 1 and {MAX_EXPIRES} seconds (7 days), "
                        f"not {expires}", hint="the default is WORKBENCH_UPLOAD_URL_EXPIRES")
    sha256 = _checksum(sha256)
    upload_id = uuid.uuid4().hex
    key = upload_prefix(ctx.namespace, upload_id) + safe_filename(filename)
    now = time.time()
    expires_at = now + expires
    out: dict[str, Any] = {"upload_id": upload_id, "key": key, "filename": filename,
                           "size": size, "max_size": size, "method": "PUT",
                           "expires_at": expires_at, "expires_in": expires}
    multipart_id = None
    if size <= single_put_max:
        out["multipart"] = False
        out["url"] = storage.presign_put(key, size=size, expires=expires, content_type=CONTENT_TYPE)
        out["headers"] = {"Content-Type": CONTENT_TYPE}
    else:
        part = part_size_for(size, storage.part_size)
        count = math.ceil(size / part)
        multipart_id = storage.create_upload(key, content_type=CONTENT_TYPE)
        out["multipart"] = True
        out["part_size"] = part
        out["parts"] = [
            {"part_number": n, "size": min(part, size - (n - 1) * part),
             "url": storage.presign_part(key, multipart_id, n,
                                         size=min(part, size - (n - 1) * part), expires=expires)}
            for n in range(1, count + 1)]
    ctx.catalog.execute(uploads_table.insert().values(
        id=upload_id, namespace=ctx.namespace, key=key, filename=filename, size=size,
        sha256=sha256.lower() if sha256 else None, multipart_id=multipart_id, created_at=now,
        expires_at=expires_at, status="pending"))
    return out


def _checksum(sha256: Any) -> str | None:
    """A declared SHA-256: ``None``, or 64 hexadecimal digits as a string (lower-cased)."""
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        shown = repr(sha256)[:80]
        raise SpecError(f"sha256 must be 64 hexadecimal digits in a string, not {shown}",
                        hint="the file's SHA-256 as `sha256sum` prints it, or leave it out")
    return sha256.lower()


def _row(ctx: Context, upload_id: str) -> Any:
    if not isinstance(upload_id, str) or not _ID.fullmatch(upload_id):
        raise NotFound(f"no upload {upload_id!r}", hint="an upload id is 32 hexadecimal digits, "
                       "as `workbench upload-url` prints it")
    rows = ctx.catalog.execute(uploads_table.select().where(
        uploads_table.c.id == upload_id, uploads_table.c.namespace == ctx.namespace))
    if not rows:  # another namespace's upload looks exactly like a missing one
        raise NotFound(f"no upload {upload_id!r}",
                       hint="`workbench upload-url` creates one; it must be confirmed in the same "
                            "namespace")
    return rows[0]._mapping


def _set(ctx: Context, upload_id: str, **values: Any) -> None:
    ctx.catalog.execute(uploads_table.update().where(uploads_table.c.id == upload_id)
                        .values(**values))


def _describe(ctx: Context, row: Any, **extra: Any) -> dict[str, Any]:
    return {"upload_id": row["id"], "key": row["key"], "uri": ctx.storage.uri(row["key"]),
            "filename": row["filename"], "size": row["size"], "sha256": row["sha256"],
            "status": row["status"], "expires_at": row["expires_at"], **extra}


def pinned_key(key: str) -> str:
    """Where confirm keeps the bytes it checked: beside the original, under ``confirmed/``."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/confirmed/{name}"


def _original_key(row: Any) -> str:
    key = row["key"]
    return key.replace("/confirmed/", "/", 1) if "/confirmed/" in key else key


def _changed_after_confirm(ctx: Context, row: Any) -> SourceError | None:
    """New bytes PUT to the still-valid URL after confirm (the original was removed then)."""
    original = _original_key(row)
    if original != row["key"] and ctx.storage.exists(original):
        return SourceError(
            f"upload {row['id']!r} received new bytes after it was confirmed", file=row["filename"],
            hint="the confirmed bytes are kept and nothing else is read; to send other content, "
                 "create a new upload")
    return None


def confirm_upload(ctx: Context, upload_id: str, *, sha256: str | None = None) -> dict[str, Any]:
    """Check that the upload arrived whole, pin exactly those bytes, and mark it confirmed.

    Completes a multipart upload from the parts the server holds (the client need not send
    ETags), copies the object to a key no presigned URL names, then checks the copy's size and,
    when one was declared here or at creation, its SHA-256: what is checked is what the ingest
    will read. A wrong size or checksum removes the object and keeps the upload open until it
    expires, so the client can PUT again. Confirming again returns the same answer, unless new
    bytes were PUT since (or another checksum is declared): then it fails.
    """
    storage = _storage(ctx)
    expected = _checksum(None if sha256 == "" else sha256)
    row = _row(ctx, upload_id)
    if row["status"] in ("confirmed", "ingested"):
        changed = _changed_after_confirm(ctx, row)
        if changed is not None:
            raise changed
        if expected and row["sha256"] and expected != row["sha256"]:
            raise SourceError(f"upload {upload_id!r} was confirmed with SHA-256 {row['sha256']}, "
                              f"not {expected}", file=row["filename"],
                              hint="create a new upload for other content")
        return _describe(ctx, row)
    if row["status"] != "pending" or time.time() > row["expires_at"]:
        raise NotFound(f"upload {upload_id!r} expired before it was confirmed",
                       hint="request a new upload URL and upload again")
    key, size = row["key"], int(row["size"])
    if row["multipart_id"]:
        _complete_multipart(storage, upload_id, key, row["multipart_id"], size)
    pinned = pinned_key(key)
    try:
        _pin(storage, key, pinned)
    except NotFound:
        raise SourceError(f"nothing was uploaded for upload {upload_id!r}", file=row["filename"],
                          hint="PUT the file to the presigned URL, then confirm") from None
    storage.delete(key)  # from now on, bytes at the original key are a PUT after confirm
    got = storage.info(pinned).size
    if got != size:
        storage.delete(pinned)
        raise SourceError(f"upload {upload_id!r} holds {got} bytes but {size} were declared",
                          file=row["filename"], hint="upload the whole file again, then confirm")
    expected = expected or row["sha256"]
    digest = None
    if expected:
        digest = _sha256(storage, pinned)
        if digest != expected:
            storage.delete(pinned)
            raise SourceError(f"upload {upload_id!r} does not match its SHA-256: expected "
                              f"{expected}, got {digest}", file=row["filename"],
                              hint="the file changed or was corrupted in transit: upload it again")
    _set(ctx, upload_id, status="confirmed", key=pinned, sha256=digest or row["sha256"])
    return _describe(ctx, _row(ctx, upload_id))


def _pin(storage: Any, key: str, pinned: str) -> None:
    """A server-side copy of ``key`` to ``pinned``, conditional on the ETag seen first, so the
    copy is one version of the object (large objects are copied in parts, each on that ETag)."""
    # heavy optional dependency: imported on first use
    from boto3.s3.transfer import TransferConfig

    full, target = storage.full_key(key), storage.full_key(pinned)
    etag = storage.call("head_object", full, Key=full)["ETag"]
    chunk = max(int(storage.part_size), 64 * 1024 * 1024)
    try:
        storage.call("copy", full, CopySource={"Bucket": storage.bucket, "Key": full}, Key=target,
                     ExtraArgs={"CopySourceIfMatch": etag},
                     Config=TransferConfig(multipart_threshold=chunk, multipart_chunksize=chunk))
    except AlreadyExists:  # 412: replaced between the HEAD and the copy
        raise SourceError(f"the upload at {key!r} changed while it was being confirmed",
                          hint="confirm again once the upload has finished") from None


def _complete_multipart(storage: Any, upload_id: str, key: str, multipart_id: str,
                        size: int) -> None:
    part = part_size_for(size, storage.part_size)
    count = math.ceil(size / part)
    try:
        parts = storage.list_parts(key, multipart_id)
    except NotFound:
        return  # completed by an earlier confirm whose answer was lost: the size check follows
    have = {p["PartNumber"]: p for p in parts}
    missing = [n for n in range(1, count + 1) if n not in have]
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
        raise SourceError(f"upload {upload_id!r} is incomplete: {count - len(missing)} of {count} "
                          f"parts arrived; missing parts {shown}",
                          hint="PUT the missing parts to their URLs, then confirm again")
    wrong = [n for n in range(1, count + 1)
             if have[n]["Size"] != min(part, size - (n - 1) * part)]
    extra = [n for n in have if n > count]
    if wrong or extra:
        raise SourceError(f"upload {upload_id!r} has parts of the wrong size: "
                          f"{', '.join(map(str, (wrong + extra)[:20]))}",
                          hint=f"every part is {part} bytes except the last; PUT them again")
    storage.complete_upload(key, multipart_id, [have[n] for n in range(1, count + 1)])


def _sha256(storage: Any, key: str) -> str:
    h = hashlib.sha256()
    with storage.open_read(key) as f:
        while chunk := f.read(8 * 1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def upload_uri(ctx: Context, upload_id: str) -> str:
    """Where a confirmed upload can be read (for ``UploadSource``); NotFound otherwise."""
    row = _row(ctx, upload_id)
    if row["status"] == "ingested" and not ctx.storage.exists(row["key"]):
        raise NotFound(f"upload {upload_id!r} was already ingested and removed",
                       hint="read the dataset it was ingested into")
    if row["status"] not in ("confirmed", "ingested"):
        raise NotFound(f"upload {upload_id!r} is not confirmed",
                       hint=f"run `workbench confirm {upload_id}` first")
    changed = _changed_after_confirm(ctx, row)
    if changed is not None:  # the ingest would read only the pinned copy, but say so
        raise changed
    return ctx.storage.uri(row["key"])


def upload_pipeline(ctx: Context, upload_id: str, *, name: str, format: str = "auto",
                    mode: str = "overwrite") -> Any:
    """The pipeline that ingests a confirmed upload into dataset ``name``.

    An upload already ingested is refused here, before any job is made: its file was removed
    once the ingest succeeded, so a second ingest could only fail."""

    row = _row(ctx, upload_id)
    if row["status"] == "ingested":
        raise AlreadyExists(f"upload {upload_id!r} was already ingested, and its file removed",
                            file=row["filename"],
                            hint="read the dataset it went into; to ingest the file again, create "
                                 "a new upload")
    return Pipeline(name=f"upload {row['filename']}"[:200],
                    source=UploadSource(upload_id=upload_id, format=format),
                    sink=DatasetSink(name=name, mode=mode))


def finish_upload(ctx: Context, upload_id: str) -> None:
    """After a successful ingest: remove the temporary object and mark the upload ingested."""
    row = _row(ctx, upload_id)
    ctx.storage.delete_prefix(upload_prefix(ctx.namespace, upload_id))
    if row["status"] != "ingested":
        _set(ctx, upload_id, status="ingested")


def expired_uploads(ctx: Context, now: float, retention_seconds: float,
                    namespace: str | None) -> list[Any]:
    """Pending uploads past their expiry, and confirmed ones never ingested past expiry plus
    retention (for ``maintenance.gc``)."""
    t = uploads_table
    q = t.select().where(sa.or_(
        sa.and_(t.c.status == "pending", t.c.expires_at < now),
        sa.and_(t.c.status == "confirmed", t.c.expires_at < now - retention_seconds)))
    if namespace is not None:
        q = q.where(t.c.namespace == namespace)
    return [r._mapping for r in ctx.catalog.execute(q)]


def expire_upload(ctx: Context, row: Any) -> int:
    """Abort/remove what an expired upload left in storage; returns objects removed."""
    storage = ctx.storage
    if row["multipart_id"] and hasattr(storage, "abort_upload"):
        storage.abort_upload(_original_key(row), row["multipart_id"])
    n = storage.delete_prefix(upload_prefix(row["namespace"], row["id"]))
    _set(ctx, row["id"], status="expired")
    return n
