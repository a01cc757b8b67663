"""File sources only under configured roots; never the workbench home, storage or catalog.

Issue case: file sources read anything the worker could: another namespace's Parquet under the
storage folder, ``/etc/shadow``, and files reached through symlinks inside a glob. Paths are now
resolved with ``realpath`` and judged where they lead; a refusal is ``AccessDenied`` naming
``WORKBENCH_SOURCE_ROOTS`` (or the home rule) and says nothing about what is there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import workbench as wb
from data_probes import PASSWD_MARK, assert_no_leak, forbidden_file, s3_helpers
from workbench.context import Context
from workbench.errors import AccessDenied, SourceError


@pytest.fixture
def roots(wb_home, tmp_path):
    """A root with data in it, a forbidden file beside it, and the victim's dataset in storage."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.csv").write_text("a,b\n1,x\n")
    secret, mark = forbidden_file(tmp_path / "outside")
    return root, secret, mark


def _victim_dataset(monkeypatch, tmp_path) -> tuple[str, bytes]:
    """Namespace 'victim' commits a dataset; returns one of its Parquet paths and a marker in it."""
    src = tmp_path / "victim.csv"
    src.write_text("k,v\nVICTIMROW,1\n")
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "victim")
    ds = wb.ingest(str(src), name="private")
    path = Context.from_settings().storage.uri(ds.files[0]["key"])
    monkeypatch.setenv("WORKBENCH_NAMESPACE", "attacker")
    return path, b"VICTIMROW"


def _refused(path: str, *, steps=(), **source_options) -> wb.Job:
    job = wb.submit(wb.Pipeline(source=wb.file(path, **source_options), steps=list(steps),
                                sink=wb.dataset("stolen")), runner="local").wait(60)
    assert job.status == "failed", f"{path} was read"
    assert type(job.error).__name__ == "AccessDenied", job.error
    assert job.error.step == "read"
    return job


# ----------------------------------------------------------------------------- kernel default
def test_kernel_default_reads_any_user_file_but_the_home(roots, wb_home):
    root, secret, mark = roots
    ds = wb.ingest(str(secret), name="mine")  # the analyst's own file: fine in their kernel
    assert ds.rows == 1
    job = _refused(str(wb_home / "catalog.db"), format="csv")
    assert "inside the workbench home" in job.error.message
    assert_no_leak(["SQLite format"], job=job)


def test_another_namespaces_parquet_is_never_a_source_even_in_the_kernel(wb_home, tmp_path, monkeypatch):
    path, row = _victim_dataset(monkeypatch, tmp_path)
    job = _refused(path)
    folder = str(Path(path).parent)
    _refused(folder)
    _refused(str(wb_home / "storage" / "victim" / "**" / "*.parquet"))
    assert_no_leak([row.decode()], job=job, ctx=Context.from_settings())
    with pytest.raises(wb.NotFound):
        wb.info("stolen")


@pytest.mark.parametrize("how", ["dotdot", "symlink", "glob-symlink", "folder-symlink"])
def test_the_home_cannot_be_reached_by_dotdot_or_symlinks(how, wb_home, tmp_path, monkeypatch):
    path, row = _victim_dataset(monkeypatch, tmp_path)
    side = tmp_path / "side"
    side.mkdir()
    (side / "fine.parquet").write_bytes(Path(path).read_bytes()) if how == "glob-symlink" else None
    if how == "dotdot":
        rel = os.path.relpath(path, side)
        target = str(side / rel)
        assert ".." in target
    elif how == "symlink":
        (side / "link.parquet").symlink_to(path)
        target = str(side / "link.parquet")
    elif how == "glob-symlink":
        (side / "zz.parquet").symlink_to(path)
        target = str(side / "*.parquet")
    else:
        (side / "ds").symlink_to(Path(path).parent, target_is_directory=True)
        target = str(side / "ds")
    job = _refused(target)
    assert_no_leak([row.decode()], job=job, ctx=Context.from_settings())


# ----------------------------------------------------------------------------- configured roots
@pytest.fixture
def rooted(roots, monkeypatch):
    root, secret, mark = roots
    monkeypatch.setenv("WORKBENCH_SOURCE_ROOTS", str(root))
    return root, secret, mark


def test_inside_a_root_reads_as_before(rooted):
    root, _, _ = rooted
    assert wb.ingest(str(root / "ok.csv"), name="ok").rows == 1
    assert wb.ingest(str(root / "*.csv"), name="ok2").rows == 1
    assert wb.ingest(str(root), name="ok3").rows == 1


@pytest.mark.parametrize("target", ["file", "passwd", "shadow", "dotdot", "symlink", "glob-symlink",
                                    "folder-with-symlink", "relative"])
def test_outside_the_roots_is_refused_naming_the_setting(target, rooted, wb_home, monkeypatch):
    root, secret, mark = rooted
    if target == "file":
        path = str(secret)
    elif target == "passwd":
        path = "/etc/passwd"
    elif target == "shadow":
        path = "/etc/shadow"
    elif target == "dotdot":
        path = str(root / ".." / "outside" / secret.name)
    elif target == "symlink":
        (root / "link.csv").symlink_to(secret)
        path = str(root / "link.csv")
    elif target == "glob-symlink":
        (root / "zz.csv").symlink_to(secret)
        path = str(root / "*.csv")
    elif target == "folder-with-symlink":
        sub = root / "sub"
        sub.mkdir()
        (sub / "a.csv").write_text("a,b\n1,x\n")
        (sub / "b.csv").symlink_to(secret)
        path = str(sub)
    else:
        monkeypatch.chdir(secret.parent)
        path = secret.name
    job = _refused(path, format="csv")
    assert "WORKBENCH_SOURCE_ROOTS" in (job.error.hint or "")
    assert_no_leak([mark, PASSWD_MARK, "root:*:", "root:!"], job=job, ctx=Context.from_settings(),
                   home=wb_home)


def test_a_refusal_does_not_tell_whether_a_file_exists(rooted, tmp_path):
    _, secret, _ = rooted
    errors = []
    for path in (str(secret), str(secret.parent / "no-such-file.csv")):
        with pytest.raises(AccessDenied) as info:
            wb.preview(wb.Pipeline(source=wb.file(path)))
        errors.append(str(info.value).replace(path, "<p>"))
    assert errors[0] == errors[1]
    with pytest.raises(SourceError) as inside:  # inside a root, a missing file is said so
        wb.preview(wb.Pipeline(source=wb.file(str(tmp_path / "root" / "missing.csv"))))
    assert type(inside.value) is SourceError


def test_preview_is_refused_too(rooted):
    _, secret, mark = rooted
    with pytest.raises(AccessDenied) as info:
        wb.preview(wb.Pipeline(source=wb.file(str(secret))))
    assert_no_leak([mark], error=info.value)


# ----------------------------------------------------------------------------- buckets
@pytest.fixture
def s3_env(s3_server, wb_home, monkeypatch):
    h = s3_helpers()
    bucket = h.make_bucket(s3_server.url)
    monkeypatch.setenv("WORKBENCH_STORAGE_URL", f"s3://{bucket}/wb")
    monkeypatch.setenv("WORKBENCH_S3_ENDPOINT_URL", s3_server.url)
    monkeypatch.setenv("WORKBENCH_S3_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("WORKBENCH_S3_SECRET_ACCESS_KEY", "testing")
    client = h.admin_client(s3_server.url)
    client.put_object(Bucket=bucket, Key="raw/ok.csv", Body=b"a,b\n1,x\n")
    client.put_object(Bucket=bucket, Key="private/secret.csv", Body=b"S3SECRETMARK,1\n2,3\n")
    return bucket


@pytest.mark.services
def test_bucket_roots_and_the_storage_prefix(s3_env, monkeypatch, tmp_path):
    bucket = s3_env
    path, row = _victim_dataset(monkeypatch, tmp_path)
    assert path.startswith(f"s3://{bucket}/wb/victim/")
    job = _refused(path)  # another namespace's Parquet in the storage bucket: never, even here
    assert "workbench storage" in job.error.message
    _refused(f"s3://{bucket}/wb/victim/**/*.parquet")
    assert_no_leak([row.decode()], job=job, ctx=Context.from_settings())
    monkeypatch.setenv("WORKBENCH_SOURCE_ROOTS", f"s3://{bucket}/raw/")
    assert wb.ingest(f"s3://{bucket}/raw/ok.csv", name="fromraw").rows == 1
    for path in (f"s3://{bucket}/private/secret.csv", f"s3://{bucket}/raw/../private/secret.csv",
                 f"s3://{bucket}/**/secret.csv"):
        job = _refused(path)
        assert_no_leak(["S3SECRETMARK"], job=job, ctx=Context.from_settings())
