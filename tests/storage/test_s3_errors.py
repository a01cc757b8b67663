"""Each storage failure gives a clear, typed error naming bucket/key and what to check;
transient ones are retried with backoff, the rest are not, and secrets never show."""

from __future__ import annotations

import json
import time

import pytest
from s3_faults import INTERNAL, SLOWDOWN, FaultProxy
from servers import free_port, start_moto_with_auth

from workbench.errors import (
    AccessDenied, NotFound, StorageUnavailable, TransientError, WorkbenchError,
)
from workbench.storage.errors import classify, redact
from workbench.storage.s3 import S3Storage

from s3_helpers import FAST_RETRY, make_bucket

pytestmark = pytest.mark.services

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def s3(bucket: str, endpoint: str, *, key: str = "testing", secret: str = "testing",
       retries: list | None = None) -> S3Storage:
    storage = S3Storage(bucket, "wb", endpoint_url=endpoint, access_key_id=key,
                        secret_access_key=secret, retry=FAST_RETRY)
    if retries is not None:
        storage.on_retry = lambda attempt, delay, err: retries.append((attempt, delay, err))
    return storage


def assert_no_secret(err: WorkbenchError, *secrets: str) -> None:
    text = str(err) + json.dumps(err.to_dict()) + repr(err.args)
    for s in secrets:
        assert s not in text


# ----------------------------------------------------------------------------- moto, no auth
def test_missing_bucket_is_named(s3_server):
    retries: list = []
    storage = s3("wb-no-such-bucket", s3_server.url, retries=retries)
    with pytest.raises(NotFound) as exc:
        storage.put_bytes("ns/x", b"1")
    err = exc.value
    assert "wb-no-such-bucket" in err.message and "does not exist" in err.message
    assert "WORKBENCH_STORAGE_URL" in err.hint
    assert err.file == "s3://wb-no-such-bucket/wb/ns/x"
    with pytest.raises(NotFound, match="wb-no-such-bucket"):
        list(storage.list("ns/"))
    assert retries == []  # never retried


def test_missing_key_is_not_retried(s3_server, bucket):
    retries: list = []
    with pytest.raises(NotFound, match=f"s3://{bucket}/wb/ns/missing"):
        s3(bucket, s3_server.url, retries=retries).get_bytes("ns/missing")
    assert retries == []


def test_unreachable_endpoint_is_transient_and_retried(bucket):
    port = free_port()  # nothing listens here
    retries: list = []
    storage = s3(bucket, f"http://127.0.0.1:{port}", retries=retries, secret=SECRET)
    with pytest.raises(StorageUnavailable) as exc:
        storage.put_bytes("ns/x", b"1")
    err = exc.value
    assert isinstance(err, TransientError) and err.retryable
    assert f"127.0.0.1:{port}" in err.message and bucket in err.message
    assert "WORKBENCH_S3_ENDPOINT_URL" in err.hint
    assert [a for a, _, _ in retries] == [1, 2]  # attempts 1 and 2 failed, the 3rd raised
    delays = [d for _, d, _ in retries]
    assert all(0 < d <= FAST_RETRY.cap for d in delays)
    assert_no_secret(err, SECRET)


# ----------------------------------------------------------------------------- injected faults
@pytest.fixture
def proxy(s3_server):
    p = FaultProxy(s3_server.port)
    yield p
    p.close()


def test_throttling_is_retried_with_backoff_then_succeeds(proxy, bucket):
    retries: list = []
    storage = s3(bucket, proxy.url, retries=retries)
    proxy.fail(2, SLOWDOWN, match=lambda method, path: method == "PUT")
    storage.put_bytes("ns/t.bin", b"payload")
    assert storage.get_bytes("ns/t.bin") == b"payload"
    puts = [status for method, _, status in proxy.requests if method == "PUT"]
    assert puts == [503, 503, 200]
    assert len(retries) == 2
    for _, _, err in retries:
        assert isinstance(err, StorageUnavailable)
        assert "throttling" in err.message and bucket in err.message


def test_persistent_throttling_gives_up_with_clear_error(proxy, bucket):
    retries: list = []
    proxy.fail(100, SLOWDOWN)
    with pytest.raises(StorageUnavailable) as exc:
        s3(bucket, proxy.url, retries=retries).get_bytes("ns/t.bin")
    assert "SlowDown" in exc.value.message and f"s3://{bucket}/wb/ns/t.bin" in exc.value.message
    assert "backoff" in exc.value.hint
    assert len(retries) == FAST_RETRY.attempts - 1


def test_server_errors_and_dropped_connections_are_retried(proxy, bucket):
    storage = s3(bucket, proxy.url)
    storage.put_bytes("ns/r.bin", b"abc")
    proxy.fail(1, INTERNAL, match=lambda m, p: m == "GET")
    proxy.fail(1, "drop", match=lambda m, p: m == "GET")
    assert storage.get_bytes("ns/r.bin") == b"abc"
    assert [s for m, _, s in proxy.requests if m == "GET"] == [500, 0, 200]


def test_a_read_timeout_is_transient_and_retried(proxy, bucket, wb_home):
    """A server that accepts the request and never answers: the product's own client (as
    ``open_storage`` builds it from settings: read timeout 60 s, botocore's retries off, our
    default retry policy) gives up after its read timeout, the stall is a StorageUnavailable,
    retried once, and the next try succeeds. It takes the production timeout: a minute."""
    from workbench.settings import Settings
    from workbench.storage import open_storage
    from workbench.storage.retry import RetryPolicy

    settings = Settings(home=wb_home, storage_url=f"s3://{bucket}/wb",
                        catalog_url=f"sqlite:///{wb_home / 'catalog.db'}",
                        s3_endpoint_url=proxy.url, s3_region="auto", s3_addressing="path",
                        s3_access_key_id="testing", s3_secret_access_key="testing")
    storage = open_storage(settings)
    assert storage.retry == RetryPolicy() and storage.client.meta.config.read_timeout == 60
    retries: list = []
    storage.on_retry = lambda attempt, delay, err: retries.append((attempt, delay, err))
    storage.put_bytes("ns/slow.bin", b"abc")
    proxy.fail(1, "stall", match=lambda m, p: m == "GET")
    started = time.monotonic()
    assert storage.get_bytes("ns/slow.bin") == b"abc"
    waited = time.monotonic() - started
    assert [s for m, _, s in proxy.requests if m == "GET"] == [-1, 200]
    (attempt, delay, err), = retries
    assert attempt == 1 and type(err) is StorageUnavailable and err.retryable
    assert err.message.startswith("the S3 endpoint") and "dropped or stalled" in err.message
    assert RetryPolicy().base / 2 <= delay <= RetryPolicy().base  # the first backoff, jittered
    # the first try waited out the client's read timeout, no less (an upper bound for a loaded
    # machine: the stall plus the retry)
    assert 60 <= waited < 240


def test_reader_resumes_after_a_dropped_ranged_get(proxy, bucket):
    storage = s3(bucket, proxy.url)
    data = bytes(range(256)) * 4096
    storage.put_bytes("ns/big.bin", data)
    with storage.open_read("ns/big.bin") as f:
        f.seek(5000)
        proxy.fail(1, "drop", match=lambda m, p: m == "GET")
        assert f.read(100) == data[5000:5100]


def test_classifier_on_a_real_503_without_body():
    """A HEAD answered 503 has no body: botocore reports code "503"; still throttling."""
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": "503", "Message": "Service Unavailable"},
                       "ResponseMetadata": {"HTTPStatusCode": 503}}, "HeadObject")
    err = classify(exc, bucket="b", key="k", endpoint="https://x.r2.cloudflarestorage.com")
    assert isinstance(err, StorageUnavailable) and "s3://b/k" in err.message


def test_redact_hides_secrets_and_signatures():
    text = (f"secret {SECRET} url https://h/b/k?X-Amz-Credential=AKIA1%2F2&"
            "X-Amz-Signature=abcdef0123&x=1 header Credential=AKIA/2026, Signature=ffff")
    out = redact(text, [SECRET])
    assert SECRET not in out and "abcdef0123" not in out and "ffff" not in out
    assert "AKIA1" not in out


def test_repr_and_settings_hide_credentials(s3_settings):
    storage = S3Storage.from_url(s3_settings.storage_url,
                                 s3_settings.with_(s3_secret_access_key=SECRET))
    assert SECRET not in repr(storage) and SECRET not in repr(storage.__dict__.get("url"))
    assert SECRET not in repr(s3_settings.with_(s3_secret_access_key=SECRET))


# ----------------------------------------------------------------------------- moto with auth
@pytest.fixture(scope="module")
def auth_server():
    import boto3

    # Five unauthenticated actions: user, key, policy and two buckets; then every call is checked.
    srv = start_moto_with_auth(5)
    common = dict(endpoint_url=srv.url, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
    iam = boto3.client("iam", **common)
    iam.create_user(UserName="analyst")
    key = iam.create_access_key(UserName="analyst")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::wb-allowed", "arn:aws:s3:::wb-allowed/*"]}]}
    iam.put_user_policy(UserName="analyst", PolicyName="one-bucket",
                        PolicyDocument=json.dumps(policy))
    make_bucket(srv.url, "wb-allowed")
    make_bucket(srv.url, "wb-forbidden")
    srv.key = (key["AccessKeyId"], key["SecretAccessKey"])  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def test_valid_credentials_work(auth_server):
    key_id, secret = auth_server.key
    storage = s3("wb-allowed", auth_server.url, key=key_id, secret=secret)
    storage.put_bytes("ns/ok", b"1")
    assert storage.get_bytes("ns/ok") == b"1"


@pytest.mark.parametrize("which", ["unknown key id", "wrong secret"])
def test_wrong_credentials(auth_server, which):
    key_id, secret = auth_server.key
    if which == "unknown key id":
        key_id = "AKIAUNKNOWNKEY000000"
    retries: list = []
    storage = s3("wb-allowed", auth_server.url, key=key_id, secret=SECRET, retries=retries)
    with pytest.raises(AccessDenied) as exc:
        list(storage.list("ns/"))
    err = exc.value
    assert "refused the credentials" in err.message and "wb-allowed" in err.message
    assert "AWS_ACCESS_KEY_ID" in err.hint
    assert retries == []
    assert_no_secret(err, SECRET, secret)


def test_access_denied_names_bucket_and_permission(auth_server):
    key_id, secret = auth_server.key
    storage = s3("wb-forbidden", auth_server.url, key=key_id, secret=secret)
    with pytest.raises(AccessDenied) as exc:
        storage.put_bytes("ns/x", b"1")
    assert "access denied to s3://wb-forbidden/wb/ns/x" in exc.value.message
    assert "wb-forbidden" in exc.value.hint and "permission" in exc.value.hint
    with pytest.raises(AccessDenied):  # HEAD: a bodiless 403
        storage.exists("ns/x")
    assert_no_secret(exc.value, secret)
