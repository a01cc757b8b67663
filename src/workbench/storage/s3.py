"""Storage in an S3-compatible bucket (Cloudflare R2, AWS S3, MinIO, moto) through boto3.

URLs: ``s3://bucket/prefix`` (endpoint from ``WORKBENCH_S3_ENDPOINT_URL``) and
``r2://<account>/<bucket>/prefix`` (endpoint ``https://<account>.r2.cloudflarestorage.com``,
region ``auto``). Credentials come from settings only and are kept out of ``repr``, errors and
logs.

Guarantees, the same as ``LocalStorage``: an object written with ``open_write`` appears only on
``close()`` (a multipart upload completed at the end, or one PUT for a small object), ``abort()``
leaves neither an object nor a pending multipart upload, and ``put_bytes(if_absent=True)`` is a
conditional PUT (``If-None-Match: *``) so exactly one writer of a manifest wins.
"""

from __future__ import annotations

import io
import re
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator, TypeVar

from ..errors import AlreadyExists, ConfigError, NotFound, SourceError, WorkbenchError
from .base import ObjectInfo
from .errors import classify
from .retry import RetryPolicy, retry_call

if TYPE_CHECKING:
    from ..settings import Settings

T = TypeVar("T")

MIN_PART_SIZE = 5 * 1024 * 1024  # S3 and R2: every part but the last at least 5 MiB
MAX_PARTS = 10_000
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ----------------------------------------------------------------------------- addresses
def check_key(key: str) -> str:
    """A relative ``/``-separated key with no empty, ``.`` or ``..`` segment and no control
    character; anything else could reach outside the namespace prefix it was built under."""
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key \
            or _CONTROL.search(key):
        raise ValueError(f"invalid storage key {key!r}")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise ValueError(f"invalid storage key {key!r}: empty, '.' or '..' segment")
    return key


def check_prefix(prefix: str) -> str:
    """A key prefix: empty, or a key optionally ending in ``/``."""
    if prefix in ("", None):
        return ""
    check_key(prefix.rstrip("/") or "x/")  # a lone "/" is refused by check_key's rule
    return prefix


def parse_url(url: str) -> tuple[str, str | None, str, str]:
    """``(scheme, account, bucket, prefix)`` of an ``s3://`` or ``r2://`` URL."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("s3", "r2") or not rest:
        raise ConfigError(f"not an s3:// or r2:// URL: {url!r}")
    account = None
    if scheme == "r2":
        account, _, rest = rest.partition("/")
        if not account or not re.fullmatch(r"[A-Za-z0-9]+", account):
            raise ConfigError(f"invalid R2 account in {url!r}",
                              hint="use r2://<account id>/<bucket>/<prefix>")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(f"invalid bucket name {bucket!r} in {url!r}",
                          hint="3-63 lower-case letters, digits, '.' or '-'")
    prefix = prefix.strip("/")
    if prefix:
        try:
            check_key(prefix)
        except ValueError:
            raise ConfigError(f"invalid key prefix {prefix!r} in {url!r}") from None
    return scheme, account, bucket, prefix


def r2_endpoint(account: str) -> str:
    return f"https://{account}.r2.cloudflarestorage.com"


# ----------------------------------------------------------------------------- clients
_CLIENTS: dict[tuple, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def make_client(*, endpoint_url: str | None, region: str, addressing: str,
                access_key_id: str | None, secret_access_key: str | None,
                max_pool_connections: int = 16) -> Any:
    """A boto3 S3 client, cached per process for the same endpoint and credentials.

    * checksums only "when_required": boto3 >= 1.36 otherwise adds CRC32 trailers that R2 and
      older S3-compatible servers refuse;
    * botocore's retries off (``total_max_attempts=1``): ``retry.py`` is the one retry layer;
    * explicit timeouts, so a dead endpoint fails in seconds and is classified as transient.
    """
    import boto3
    from botocore.config import Config

    if addressing not in ("path", "virtual", "auto"):
        raise ConfigError(f"WORKBENCH_S3_ADDRESSING must be path, virtual or auto, not {addressing!r}")
    if not access_key_id or not secret_access_key:
        raise ConfigError(
            "no S3 credentials are configured",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or WORKBENCH_S3_ACCESS_KEY_ID / "
                 "WORKBENCH_S3_SECRET_ACCESS_KEY)")
    # AWS itself has no region "auto"; R2 and most S3-compatible servers accept any region.
    region_name = "us-east-1" if (region == "auto" and not endpoint_url) else region
    cache_key = (endpoint_url, region_name, addressing, access_key_id, secret_access_key,
                 max_pool_connections)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(cache_key)
        if client is None:
            config = Config(
                region_name=region_name,
                signature_version="s3v4",
                s3={"addressing_style": addressing},
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=60,
                tcp_keepalive=True,
                max_pool_connections=max_pool_connections,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            # A private session: boto3's default one is shared, and its credential chain must
            # not pick up ~/.aws files when settings say otherwise.
            session = boto3.session.Session(aws_access_key_id=access_key_id,
                                            aws_secret_access_key=secret_access_key,
                                            region_name=region_name)
            client = session.client("s3", endpoint_url=endpoint_url, config=config)
            _CLIENTS[cache_key] = client
    return client


def client_for_settings(settings: Settings, *, endpoint_url: str | None = None) -> Any:
    return make_client(
        endpoint_url=endpoint_url or settings.s3_endpoint_url, region=settings.s3_region,
        addressing=settings.s3_addressing, access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key)


def polars_options(*, endpoint_url: str | None, region: str, addressing: str,
                   access_key_id: str | None, secret_access_key: str | None) -> dict[str, str]:
    """``storage_options`` for Polars' object-store reader/writer (they hold the secret: never
    log or store them)."""
    opts: dict[str, str] = {
        "aws_region": "us-east-1" if (region == "auto" and not endpoint_url) else region,
    }
    if endpoint_url:
        opts["aws_endpoint_url"] = endpoint_url
        if endpoint_url.startswith("http://"):
            opts["aws_allow_http"] = "true"
    if access_key_id:
        opts["aws_access_key_id"] = access_key_id
    if secret_access_key:
        opts["aws_secret_access_key"] = secret_access_key
    opts["aws_virtual_hosted_style_request"] = "true" if addressing == "virtual" else "false"
    return opts


# ----------------------------------------------------------------------------- storage
class S3Storage:
    """An S3 bucket (and key prefix) as workbench storage."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str = "auto", addressing: str = "path",
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 part_size: int = 16 * 1024 * 1024, concurrency: int = 4,
                 retry: RetryPolicy | None = None, url: str | None = None) -> None:
        if part_size < MIN_PART_SIZE:
            raise ConfigError(f"part size {part_size} is below the S3 minimum of 5 MiB",
                              hint="set WORKBENCH_PART_SIZE to at least 5242880")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self.addressing = addressing
        self.part_size = part_size
        self.concurrency = max(1, concurrency)
        self.retry = retry or RetryPolicy()
        self.url = url or (f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}")
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: Any = None
        # Retry observers (events, logs); each gets (attempt, delay, error).
        self.on_retry: Callable[[int, float, WorkbenchError], None] | None = None

    @classmethod
    def from_url(cls, url: str, settings: Settings, *, retry: RetryPolicy | None = None,
                 concurrency: int = 4) -> S3Storage:
        scheme, account, bucket, prefix = parse_url(url)
        endpoint = settings.s3_endpoint_url
        region = settings.s3_region
        if scheme == "r2":
            endpoint = endpoint or r2_endpoint(account or "")
            region = "auto"
        return cls(bucket, prefix, endpoint_url=endpoint, region=region,
                   addressing=settings.s3_addressing, access_key_id=settings.s3_access_key_id,
                   secret_access_key=settings.s3_secret_access_key, part_size=settings.part_size,
                   concurrency=concurrency, retry=retry, url=url.rstrip("/"))

    def __repr__(self) -> str:  # never the credentials
        return f"S3Storage({self.url!r}, endpoint={self.endpoint_url!r})"

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(
                endpoint_url=self.endpoint_url, region=self.region, addressing=self.addressing,
                access_key_id=self._access_key_id, secret_access_key=self._secret_access_key,
                max_pool_connections=max(16, self.concurrency * 2))
        return self._client

    def full_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _full_prefix(self, prefix: str) -> str:
        check_prefix(prefix)
        if not self.prefix:
            return prefix
        return f"{self.prefix}/{prefix}" if prefix else f"{self.prefix}/"

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def classify(self, exc: BaseException, key: str | None = None,
                 operation: str | None = None) -> WorkbenchError:
        return classify(exc, bucket=self.bucket, key=key, endpoint=self.endpoint_url,
                        operation=operation,
                        secrets=(self._secret_access_key, self._access_key_id))

    def call(self, operation: str, key: str | None = None, **params: Any) -> Any:
        """One S3 API call with our retries; errors classified and naming bucket/key."""
        method = getattr(self.client, operation)
        return self._retry(lambda: method(Bucket=self.bucket, **params), key, operation)

    def _retry(self, fn: Callable[[], T], key: str | None, operation: str) -> T:
        return retry_call(fn, policy=self.retry,
                          classify=lambda e: self.classify(e, key, operation),
                          on_retry=self.on_retry)

    # ------------------------------------------------------------------ Storage protocol
    def open_write(self, key: str) -> S3Writer:
        return S3Writer(self, self.full_key(key))

    def open_read(self, key: str) -> BinaryIO:
        raw = S3Reader(self, self.full_key(key))
        return io.BufferedReader(raw, buffer_size=1024 * 1024)  # type: ignore[return-value]

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        full = self.full_key(key)
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self.call("put_object", full, Key=full, Body=bytes(data), **extra)
        except AlreadyExists:
            raise AlreadyExists(f"object {key!r} already exists in {self.url}", file=key) from None

    def get_bytes(self, key: str) -> bytes:
        full = self.full_key(key)
        return self._retry(lambda: self.client.get_object(Bucket=self.bucket, Key=full)["Body"].read(),
                           full, "get_object")

    def exists(self, key: str) -> bool:
        full = self.full_key(key)
        try:
            self.call("head_object", full, Key=full)
        except NotFound:
            # HEAD has no body, so a missing bucket looks like a missing key here; the next
            # write or listing names the bucket (NoSuchBucket).
            return False
        return True

    def info(self, key: str) -> ObjectInfo:
        full = self.full_key(key)
        head = self.call("head_object", full, Key=full)
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp())

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        full_prefix = self._full_prefix(prefix)
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Prefix": full_prefix, "MaxKeys": 1000}
            if token:
                params["ContinuationToken"] = token
            page = self.call("list_objects_v2", full_prefix, **params)
            for obj in page.get("Contents", []) or []:
                yield ObjectInfo(self._rel(obj["Key"]), int(obj["Size"]),
                                 obj["LastModified"].timestamp())
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def delete(self, key: str) -> None:
        full = self.full_key(key)
        self.call("delete_object", full, Key=full)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` and abort the multipart uploads left there."""
        full_prefix = self._full_prefix(prefix)
        self.abort_uploads(prefix)
        # Listed keys are used as they are: whatever lies under the prefix goes.
        keys = [f"{self.prefix}/{o.key}" if self.prefix else o.key for o in self.list(prefix)]
        for i in range(0, len(keys), 1000):
            batch = keys[i:i + 1000]
            resp = self.call("delete_objects", full_prefix,
                             Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0]
                raise self.classify(_client_error(first.get("Code"), first.get("Message")),
                                    first.get("Key"), "delete_objects")
        return len(keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.full_key(key)}"

    def storage_options(self) -> dict[str, str] | None:
        return polars_options(endpoint_url=self.endpoint_url, region=self.region,
                              addressing=self.addressing, access_key_id=self._access_key_id,
                              secret_access_key=self._secret_access_key)

    # ------------------------------------------------------------------ multipart and presigning
    def list_uploads(self, prefix: str = "") -> list[dict[str, Any]]:
        """Pending multipart uploads under ``prefix``: ``{"key", "upload_id", "initiated"}``."""
        full_prefix = self._full_prefix(prefix)
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Prefix": full_prefix}
        while True:
            page = self.call("list_multipart_uploads", full_prefix, **params)
            for up in page.get("Uploads", []) or []:
                out.append({"key": self._rel(up["Key"]), "upload_id": up["UploadId"],
                            "initiated": up["Initiated"].timestamp()})
            if not page.get("IsTruncated"):
                return out
            params = {"Prefix": full_prefix, "KeyMarker": page.get("NextKeyMarker"),
                      "UploadIdMarker": page.get("NextUploadIdMarker")}

    def abort_uploads(self, prefix: str = "", *, initiated_before: float | None = None) -> int:
        """Abort pending multipart uploads under ``prefix`` (those of dead writers)."""
        n = 0
        for up in self.list_uploads(prefix):
            if initiated_before is not None and up["initiated"] >= initiated_before:
                continue
            full = f"{self.prefix}/{up['key']}" if self.prefix else up["key"]
            try:
                self.call("abort_multipart_upload", full, Key=full, UploadId=up["upload_id"])
            except NotFound:
                continue  # completed or aborted meanwhile
            n += 1
        return n

    def create_upload(self, key: str, *, content_type: str | None = None) -> str:
        full = self.full_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        return self.call("create_multipart_upload", full, Key=full, **extra)["UploadId"]

    def abort_upload(self, key: str, upload_id: str) -> None:
        full = self.full_key(key)
        try:
            self.call("abort_multipart_upload", full, Key=full, UploadId=upload_id)
        except NotFound:
            pass  # already completed, aborted or expired: nothing is pending

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        full = self.full_key(key)
        parts: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Key": full, "UploadId": upload_id}
        while True:
            page = self.call("list_parts", full, **params)
            parts += [{"PartNumber": p["PartNumber"], "ETag": p["ETag"], "Size": p["Size"]}
                      for p in page.get("Parts", []) or []]
            if not page.get("IsTruncated"):
                return parts
            params["PartNumberMarker"] = page["NextPartNumberMarker"]

    def complete_upload(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        full = self.full_key(key)
        self.call("complete_multipart_upload", full, Key=full, UploadId=upload_id,
                  MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                                             for p in sorted(parts, key=lambda p: p["PartNumber"])]})

    def presign_put(self, key: str, *, size: int, expires: int,
                    content_type: str = "application/octet-stream") -> str:
        """A URL a browser can PUT exactly ``size`` bytes to (Content-Length and type signed)."""
        full = self.full_key(key)
        return self.client.generate_presigned_url(
            "put_object", ExpiresIn=expires,
            Params={"Bucket": self.bucket, "Key": full, "ContentLength": size,
                    "ContentType": content_type})

    def presign_part(self, key: str, upload_id: str, part_number: int, *, size: int,
                     expires: int) -> str:
        full = self.full_key(key)
        return self.client.generate_presigned_url(
            "upload_part", ExpiresIn=expires,
            Params={"Bucket": self.bucket, "Key": full, "UploadId": upload_id,
                    "PartNumber": part_number, "ContentLength": size})

    def allow_browser_uploads(self, origins: list[str], *, max_age: int = 3600) -> None:
        """Set the bucket's CORS rule so pages from ``origins`` (e.g. the JupyterLab URL) can PUT
        to presigned URLs and read the ``ETag`` of each part. Replaces the bucket's CORS rules."""
        self.call("put_bucket_cors", None, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": list(origins), "AllowedMethods": ["PUT", "GET", "HEAD"],
            "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": max_age}]})

    def presign_get(self, key: str, *, expires: int = 3600) -> str:
        full = self.full_key(key)
        return self.client.generate_presigned_url(
            "get_object", ExpiresIn=expires, Params={"Bucket": self.bucket, "Key": full})


def _client_error(code: str | None, message: str | None) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code or "", "Message": message or ""}}, "DeleteObjects")


# ----------------------------------------------------------------------------- writing
class S3Writer:
    """A streaming multipart upload: parts go up while the producer writes the next ones.

    At most ``concurrency`` parts are in flight, so memory stays near
    ``(concurrency + 1) * part_size`` whatever the object's size; nothing is staged on local
    disk. All parts are ``part_size`` bytes except the last (R2 requires equal parts). An object
    smaller than one part is a single PUT on ``close()``.
    """

    def __init__(self, storage: S3Storage, full_key: str) -> None:
        self._s = storage
        self.key = full_key
        self._part_size = storage.part_size
        # The part being filled, as the pieces written (joined once, when the part is full).
        self._pieces: list[bytearray | memoryview] = []
        self._filled = 0
        self._upload_id: str | None = None
        self._parts: dict[int, str] = {}
        self._next_part = 1
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._slots = threading.BoundedSemaphore(storage.concurrency)
        self._error: BaseException | None = None
        self._done = False
        self.bytes_written = 0

    # file-like surface that Polars, pyarrow and shutil expect
    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.bytes_written

    def flush(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return self._done

    def __enter__(self) -> S3Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._done:
            raise ValueError("write to a closed or aborted S3 writer")
        self._raise_background_error()
        if not isinstance(data, bytes):
            data = bytes(data)  # the caller may reuse its buffer once write() returns
        n = len(data)
        self.bytes_written += n
        view = memoryview(data)
        while len(view):
            room = self._part_size - self._filled
            if len(view) < room:
                if len(view) < 64 * 1024:  # small writes are copied together, not kept apart
                    if not self._pieces or not isinstance(self._pieces[-1], bytearray):
                        self._pieces.append(bytearray())
                    self._pieces[-1] += view  # type: ignore[operator]
                else:
                    self._pieces.append(view)
                self._filled += len(view)
                break
            self._pieces.append(view[:room])
            view = view[room:]
            self._submit(self._take())
        return n

    def _take(self) -> bytes:
        chunk = b"".join(self._pieces)
        self._pieces = []
        self._filled = 0
        return chunk

    def _submit(self, chunk: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._s.call("create_multipart_upload", self.key,
                                           Key=self.key)["UploadId"]
            self._pool = ThreadPoolExecutor(self._s.concurrency,
                                            thread_name_prefix="workbench-s3-part")
        if self._next_part > MAX_PARTS:
            raise ConfigError(f"{self.key}: more than {MAX_PARTS} parts",
                              hint="raise WORKBENCH_PART_SIZE for objects this large")
        number = self._next_part
        self._next_part += 1
        self._slots.acquire()  # back-pressure: the producer waits while all slots are busy
        self._raise_background_error(release=True)
        assert self._pool is not None
        fut = self._pool.submit(self._upload_part, number, chunk)
        fut.add_done_callback(lambda _f: self._slots.release())
        self._futures.append(fut)

    def _upload_part(self, number: int, chunk: bytes) -> None:
        try:
            resp = self._s.call("upload_part", self.key, Key=self.key, UploadId=self._upload_id,
                                PartNumber=number, Body=chunk)
            self._parts[number] = resp["ETag"]
        except BaseException as exc:
            self._error = self._error or exc
            raise

    def _raise_background_error(self, release: bool = False) -> None:
        if self._error is not None:
            if release:
                self._slots.release()
            err = self._error
            self.abort()
            raise err

    def close(self) -> None:
        if self._done:
            return
        try:
            if self._upload_id is None:
                self._s.call("put_object", self.key, Key=self.key, Body=self._take())
            else:
                if self._filled or not self._futures:
                    self._submit(self._take())
                wait(self._futures, return_when=FIRST_EXCEPTION)
                self._raise_background_error()  # else every part is up
                self._complete()
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._shutdown()

    def _complete(self) -> None:
        parts = [{"PartNumber": n, "ETag": e} for n, e in sorted(self._parts.items())]
        try:
            self._s.call("complete_multipart_upload", self.key, Key=self.key,
                         UploadId=self._upload_id, MultipartUpload={"Parts": parts})
        except NotFound:
            # A retried complete whose first try succeeded (its answer was lost) finds no upload:
            # the object is there with our size, so the write did happen.
            head = self._s.call("head_object", self.key, Key=self.key)
            if int(head["ContentLength"]) != self.bytes_written:
                raise

    def abort(self) -> None:
        """Stop the upload; no object appears and no multipart upload is left pending."""
        if self._done:
            return
        self._done = True
        for fut in self._futures:
            fut.cancel()
        if self._futures:
            wait(self._futures)
        self._shutdown()
        if self._upload_id is not None:
            try:
                self._s.call("abort_multipart_upload", self.key, Key=self.key,
                             UploadId=self._upload_id)
            except NotFound:
                pass
            except WorkbenchError:
                # The endpoint is gone: the upload stays pending until `workbench gc` (or the
                # bucket's lifecycle rule) aborts it. Never visible as an object either way.
                pass
        self._pieces = []
        self._filled = 0

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


# ----------------------------------------------------------------------------- reading
FIRST_BLOCK = 256 * 1024  # enough to sniff a format; a reader that stops there costs no more
BLOCK = 8 * 1024 * 1024
READ_AHEAD = 4


class S3Reader(io.RawIOBase):
    """A seekable view of one object, read in ranged blocks with read-ahead.

    The first GET asks for 256 KiB only (sniffing a header and closing costs just that); once
    reading goes on sequentially, up to ``READ_AHEAD`` blocks of 8 MiB are fetched in parallel
    ahead of the reader, as s3transfer and Polars do, since one S3 stream is slower than the
    link. Each block is one retried request; every request carries ``If-Match`` on the first
    ETag, so an object replaced while it is read is an error, never a mix of two versions.
    Memory stays near ``(READ_AHEAD + 1) * 8 MiB``.
    """

    def __init__(self, storage: S3Storage, full_key: str) -> None:
        super().__init__()
        self._s = storage
        self.key = full_key
        self._pos = 0
        self._etag: str | None = None
        self._block = b""  # the block holding _pos, starting at _block_start
        self._block_start = 0
        self._ahead: dict[int, Future] = {}  # block start -> future bytes
        self._pool: ThreadPoolExecutor | None = None
        self._sequential = 0
        head = self._fetch_first()
        self.size: int = head[0]
        self._block = head[1]

    def _fetch_first(self) -> tuple[int, bytes]:
        from botocore.exceptions import ClientError

        client, bucket, key = self._s.client, self._s.bucket, self.key

        def once() -> tuple[int, bytes]:
            try:
                resp = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{FIRST_BLOCK - 1}")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                    raise
                resp = client.get_object(Bucket=bucket, Key=key)  # an empty object has no range
            self._etag = resp.get("ETag")
            data = resp["Body"].read()
            total = resp.get("ContentRange", "").rpartition("/")[2]
            return (int(total) if total.isdigit() else len(data)), data

        return self._s._retry(once, key, "get_object")

    def _fetch(self, start: int) -> bytes:
        end = min(start + BLOCK, self.size) - 1
        client, bucket, key = self._s.client, self._s.bucket, self.key

        def once() -> bytes:
            params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{end}"}
            if self._etag:
                params["IfMatch"] = self._etag
            data = client.get_object(**params)["Body"].read()
            if len(data) != end - start + 1:
                from botocore.exceptions import IncompleteReadError

                raise IncompleteReadError(actual_bytes=len(data), expected_bytes=end - start + 1)
            return data

        try:
            return self._s._retry(once, key, "get_object")
        except AlreadyExists:  # If-Match failed: 412
            raise SourceError(f"s3://{bucket}/{key} changed while it was being read",
                              file=f"s3://{bucket}/{key}", hint="read it again once it is written")

    def _next_starts(self, after: int) -> Iterator[int]:
        start = after
        while start < self.size:
            yield start
            start += BLOCK

    def _load(self, pos: int, *, sequential: bool) -> None:
        """Make ``_block`` the block starting at ``pos``, from the read-ahead if it is there."""
        self._sequential = self._sequential + 1 if sequential else 0
        if not sequential:
            for fut in self._ahead.values():
                fut.cancel()
            self._ahead = {}
        fut = self._ahead.pop(pos, None)
        self._block = fut.result() if fut is not None else self._fetch(pos)
        self._block_start = pos
        if self._sequential >= 1:  # reading on past a block: fetch the next ones in parallel
            if self._pool is None:
                self._pool = ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="workbench-s3-read")
            for start in self._next_starts(pos + len(self._block)):
                if len(self._ahead) >= READ_AHEAD:
                    break
                if start not in self._ahead:
                    self._ahead[start] = self._pool.submit(self._fetch, start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self.size or len(buffer) == 0:
            return 0
        offset = self._pos - self._block_start
        if not 0 <= offset < len(self._block):
            # the next block in order, or (after a seek) a fresh block from here
            self._load(self._pos, sequential=offset == len(self._block))
            offset = 0
        n = min(len(buffer), len(self._block) - offset)
        buffer[:n] = memoryview(self._block)[offset:offset + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        # RawIOBase.readall would go 8 KiB at a time; the rest of an object comes in big reads.
        chunks = []
        while True:
            buf = bytearray(min(BLOCK, max(self.size - self._pos, 1)))
            n = self.readinto(buf)
            if not n:
                return b"".join(chunks)
            chunks.append(bytes(buf[:n]))

    def close(self) -> None:
        for fut in self._ahead.values():
            fut.cancel()
        self._ahead = {}
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._block = b""
        super().close()
