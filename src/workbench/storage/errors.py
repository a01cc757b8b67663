"""botocore's exceptions mapped onto the workbench error tree.

The mapping decides retries: throttling, 5xx, timeouts and refused connections become
``StorageUnavailable`` (transient); a missing bucket or object, refused credentials and denied
access become input errors that are never retried. Every message names the bucket/key and what
to check, and is built from the error code and our own words: server messages are passed through
``redact`` so that no credential or presigned signature can reach an error, a log or a job record.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import (
    AccessDenied, AlreadyExists, ConfigError, InternalError, NotFound, StorageUnavailable,
    WorkbenchError,
)

CREDENTIAL_CODES = frozenset({
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
    "TokenRefreshRequired", "InvalidClientTokenId", "AuthorizationHeaderMalformed",
    "InvalidSecurity", "MissingSecurityHeader", "RequestTimeTooSkewed", "Unauthorized",
})
DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "Forbidden", "403", "401"})
MISSING_KEY_CODES = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchVersion"})
THROTTLE_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
    "TooManyRequestsException", "RequestThrottled", "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded", "429",
})
TRANSIENT_CODES = frozenset({
    "InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException",
    "PriorRequestNotComplete", "ConditionalRequestConflict", "OperationAborted",
    "ServiceUnavailableException", "InternalServerError", "BadGateway", "GatewayTimeout",
})

_SIGNATURE = re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"'<]+", re.I)
_AUTH_HEADER = re.compile(r"(Credential=|Signature=)[^,\s\"'<]+")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the given secrets and any presigned-URL signature replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _SIGNATURE.sub(r"\1***", text)
    return _AUTH_HEADER.sub(r"\1***", text)


def location(bucket: str, key: str | None = None) -> str:
    return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"


def classify(
    exc: BaseException,
    *,
    bucket: str,
    key: str | None = None,
    endpoint: str | None = None,
    operation: str | None = None,
    secrets: Iterable[str | None] = (),
) -> WorkbenchError:
    """The workbench error for ``exc`` raised while working on ``bucket``/``key``."""
    if isinstance(exc, WorkbenchError):
        return exc
    # heavy optional dependency: imported on first use
    from botocore import exceptions as bce

    where = location(bucket, key)
    at = endpoint or "the default AWS endpoint"
    doing = f" during {operation}" if operation else ""
    secrets = tuple(secrets)

    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = redact(str(error.get("Message") or ""), secrets)
        said = f" ({code}{': ' + detail if detail and detail != code else ''})" if code else ""
        return _client_error(code, status, said, where=where, bucket=bucket, key=key, at=at,
                             doing=doing)

    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return ConfigError(
            f"no complete S3 credentials to reach {where}",
            file=where,
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or WORKBENCH_S3_ACCESS_KEY_ID / "
                 "WORKBENCH_S3_SECRET_ACCESS_KEY)")
    if isinstance(exc, (bce.ConnectTimeoutError, bce.EndpointConnectionError,
                        bce.ConnectionClosedError, bce.ProxyConnectionError)):
        return StorageUnavailable(
            f"cannot reach the S3 endpoint {at} for {where}{doing}",
            file=where,
            hint="check WORKBENCH_S3_ENDPOINT_URL, that the server is up and the network between; "
                 "transient failures are retried with backoff")
    if isinstance(exc, (bce.ReadTimeoutError, bce.IncompleteReadError, bce.ResponseStreamingError,
                        bce.HTTPClientError, ConnectionError, TimeoutError)):
        return StorageUnavailable(
            f"the S3 endpoint {at} dropped or stalled the connection for {where}{doing}",
            file=where, hint="transient failures are retried with backoff")
    if isinstance(exc, bce.ParamValidationError):
        return InternalError(f"invalid S3 request for {where}{doing}: "
                             f"{redact(str(exc), secrets)}", file=where)
    return InternalError(f"{type(exc).__name__} on {where}{doing}: {redact(str(exc), secrets)}",
                         file=where)


def _client_error(code: str, status: int, said: str, *, where: str, bucket: str,
                  key: str | None, at: str, doing: str) -> WorkbenchError:
    if code == "NoSuchBucket":
        return NotFound(
            f"bucket {bucket!r} does not exist at {at}{said}", file=where,
            hint="check the bucket in WORKBENCH_STORAGE_URL or the s3:// path, and that "
                 "WORKBENCH_S3_ENDPOINT_URL points at the account that owns it")
    if code in CREDENTIAL_CODES:
        return AccessDenied(
            f"the S3 endpoint {at} refused the credentials for {where}{said}", file=where,
            hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or WORKBENCH_S3_*), that the "
                 "key is active, and WORKBENCH_S3_REGION (R2: auto)")
    if code in THROTTLE_CODES or (status == 503 and code in ("", "503", "SlowDown")):
        return StorageUnavailable(
            f"the S3 endpoint {at} is throttling requests to {where}{doing}{said}", file=where,
            hint="retried with backoff and jitter; if it persists, lower the number of parallel "
                 "jobs or the request rate on this bucket")
    if code in DENIED_CODES or status in (401, 403):
        return AccessDenied(
            f"access denied to {where}{doing}{said}", file=where,
            hint=f"check that the credentials may read and write bucket {bucket!r} (for R2, the "
                 "API token's bucket scope and permission), and that they are the right ones")
    if code == "NoSuchUpload":
        return NotFound(f"no multipart upload in progress for {where}{said}", file=where,
                        hint="it was completed, aborted or expired")
    if code in MISSING_KEY_CODES or status == 404:
        return NotFound(f"no object {where}{said}", file=where)
    if code == "PreconditionFailed" or status == 412:
        return AlreadyExists(f"object {where} already exists{said}", file=where)
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return StorageUnavailable(
            f"the S3 endpoint {at} failed on {where}{doing}{said}", file=where,
            hint="a server-side error: retried with backoff")
    if code in ("InvalidBucketName", "PermanentRedirect", "IllegalLocationConstraintException",
                "AuthorizationQueryParametersError"):
        return ConfigError(
            f"the S3 endpoint {at} rejected the address of {where}{said}", file=where,
            hint="check the bucket name, WORKBENCH_S3_ENDPOINT_URL, WORKBENCH_S3_REGION and "
                 "WORKBENCH_S3_ADDRESSING (path for MinIO/moto, either for R2)")
    return InternalError(f"S3 request on {where}{doing} failed{said or f' (HTTP {status})'}",
                         file=where)
