"""Signed task messages: the keys, the Celery settings, and the stamp each task checks.

Workers run only task messages signed by a key whose certificate is in their store (Celery's
``auth`` serializer over JSON). A key directory holds one key pair per role::

    <dir>/worker.key  <dir>/client.key       RSA private keys (mode 0600)
    <dir>/certs/worker.pem  certs/client.pem  self-signed certificates: the trust store

Workers and beat sign with ``worker.key``; clients (kernels, the CLI, Flower) with
``client.key``. Both trust every certificate in ``certs/``. The directory is
``WORKBENCH_KEYS_DIR``; when that is unset it is ``<WORKBENCH_HOME>/keys``, created on first use
so that one machine needs no set-up step. A directory the operator named is never created here:
``workbench keys init DIR`` does that.

Celery signs the message body only, not its headers. So every body carries a stamp (the task's
name and the time it was sent), put there when the message is published and checked by the task
before anything runs: a captured body replayed under another task's name, or long after it was
sent, is refused.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import AccessDenied, ConfigError, missing_extra

log = logging.getLogger("workbench.worker.signing")

ROLES = ("worker", "client")
STAMP = "_wb"  # the keyword argument that carries the stamp inside the signed body
CLOCK_SKEW = 300.0  # seconds a stamp may lie in the future (clocks of two machines differ)
CERT_DAYS = 3650


def _now() -> float:
    return time.time()


# ----------------------------------------------------------------------------- key files
@dataclass(frozen=True)
class KeyFiles:
    directory: Path
    role: str

    @property
    def key(self) -> Path:
        return self.directory / f"{self.role}.key"

    @property
    def certificate(self) -> Path:
        return self.directory / "certs" / f"{self.role}.pem"

    @property
    def store(self) -> str:
        # a glob of certificates only: a directory would make Celery parse the keys too
        return str(self.directory / "certs" / "*.pem")


def default_keys_dir() -> Path:
    home = os.environ.get("WORKBENCH_HOME") or ".workbench"
    return Path(home).expanduser().absolute() / "keys"


def _generate(role: str) -> tuple[bytes, bytes]:
    """A new RSA key (PEM, unencrypted) and its self-signed certificate."""
    # imported here: cryptography's X.509 machinery is needed only when keys are made
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
    except ImportError:  # pragma: no cover - a base dependency through celery[auth]
        raise missing_extra("cryptography", "auth") from None
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    # Celery names a signer by issuer and serial: the random serial keeps two key sets apart.
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "workbench"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"workbench {role}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _write_set(directory: Path) -> None:
    (directory / "certs").mkdir(parents=True, exist_ok=True)
    for role in ROLES:
        key_pem, cert_pem = _generate(role)
        files = KeyFiles(directory, role)
        fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        files.certificate.write_bytes(cert_pem)


def init_keys(directory: str | Path, *, force: bool = False) -> dict[str, Any]:
    """Write a worker and a client key pair with their certificates into ``directory``."""
    directory = Path(directory).expanduser().absolute()
    existing = [p for r in ROLES for p in (KeyFiles(directory, r).key,
                                            KeyFiles(directory, r).certificate) if p.exists()]
    if existing and not force:
        raise ConfigError(f"keys already exist in {directory}",
                          hint="keep them, or pass --force to replace them (every worker and "
                               "client must then get the new certificates)")
    if existing:
        for p in existing:
            p.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    _write_set(directory)
    return describe(directory)


def describe(directory: Path) -> dict[str, Any]:
    from cryptography import x509  # only when keys are shown (heavy, as above)

    out: dict[str, Any] = {"directory": str(directory)}
    for role in ROLES:
        files = KeyFiles(directory, role)
        cert = x509.load_pem_x509_certificate(files.certificate.read_bytes())
        out[role] = {"key": str(files.key), "certificate": str(files.certificate),
                     "expires": cert.not_valid_after_utc.isoformat()}
    out["store"] = KeyFiles(directory, "worker").store
    return out


def ensure_default_keys(directory: Path) -> None:
    """Create the home's key set on first use; two processes starting at once agree on one."""
    if KeyFiles(directory, "worker").key.exists() and KeyFiles(directory, "client").key.exists():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".keys-", dir=directory.parent))
    try:
        os.chmod(tmp, 0o700)
        _write_set(tmp)
        try:
            os.rename(tmp, directory)  # atomic: the first process to get here wins
        except OSError:
            if not (KeyFiles(directory, "worker").key.exists()
                    and KeyFiles(directory, "client").key.exists()):
                raise ConfigError(f"{directory} exists but holds no complete key set",
                                  hint="run `workbench keys init DIR` and set WORKBENCH_KEYS_DIR, "
                                       "or remove the folder") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def key_files(role: str, keys_dir: str | Path | None) -> KeyFiles:
    """The key files this process signs with; the home's set is created when needed."""
    if keys_dir:
        directory = Path(keys_dir).expanduser().absolute()
    else:
        directory = default_keys_dir()
        ensure_default_keys(directory)
    files = KeyFiles(directory, role)
    for path, what in ((files.key, "key"), (files.certificate, "certificate")):
        if not path.is_file():
            raise ConfigError(f"the {role} {what} {path} is missing",
                              hint="create the keys with `workbench keys init DIR` and point "
                                   "WORKBENCH_KEYS_DIR at DIR (workers need worker.key, clients "
                                   "client.key, both the certs/ folder)")
    return files


# ----------------------------------------------------------------------------- the Celery side
def celery_settings(files: KeyFiles) -> dict[str, Any]:
    return {
        "task_serializer": "auth",
        "accept_content": ["auth"],  # exactly this list: anything unsigned is refused
        "result_serializer": "json",
        "result_accept_content": ["json"],  # results stay JSON (else .get() refuses them)
        "event_serializer": "json",
        "security_key": str(files.key),
        "security_certificate": str(files.certificate),
        "security_cert_store": files.store,
        "security_digest": "sha256",
    }


def configure(app: Any, role: str, keys_dir: str | Path | None) -> KeyFiles:
    """Make ``app`` sign with ``role``'s key and accept only messages signed by a trusted key.

    Celery registers the signing serializer for the whole process, so a process has one key
    set; the last call wins (the worker start switches a process from client to worker key).
    """
    files = key_files(role, keys_dir)
    app.conf.update(celery_settings(files))
    # JSON stays decodable for other code in the process (results, events pass their own
    # accept lists); task and control messages are checked against accept_content=["auth"].
    app.setup_security(allowed_serializers=["json"])
    return files


def stamp_message(sender: str | None = None, body: Any = None, headers: Any = None,
                  **_: Any) -> None:
    """``before_task_publish``: put the task's name and the send time into the signed body."""
    name = (headers or {}).get("task") or sender
    if not isinstance(name, str) or not name.startswith("workbench."):
        return
    try:
        kwargs = body[1]
    except (TypeError, IndexError, KeyError):
        return
    if isinstance(kwargs, dict):
        kwargs[STAMP] = {"task": name, "issued": _now()}


def check_stamp(stamp: Any, task_name: str, max_age: float) -> str | None:
    """Why a message must not run (None when its stamp is good)."""
    if not isinstance(stamp, dict) or not isinstance(stamp.get("task"), str) \
            or not isinstance(stamp.get("issued"), (int, float)):
        return "its signed body carries no task stamp"
    if stamp["task"] != task_name:
        return (f"its signed body was sent as {stamp['task']!r} but arrived as {task_name!r} "
                "(a replayed body with a changed task header)")
    age = _now() - float(stamp["issued"])
    if age > max_age:
        return (f"it was sent {age:.0f}s ago, longer than WORKBENCH_TASK_MAX_AGE "
                f"({max_age:g}s): a replayed message")
    if age < -CLOCK_SKEW:
        return f"it claims to be sent {-age:.0f}s in the future"
    return None


_GUARDED: dict[Callable[..., Any], Callable[..., Any]] = {}


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The task body behind a stamp check: a refused message runs nothing and is logged.

    One wrapper per function (Celery warns when a second app registers another callable under
    a task's name); the allowed age comes from the app that runs it.
    """
    if fn in _GUARDED:
        return _GUARDED[fn]

    def guarded(task: Any, *args: Any, **kwargs: Any) -> Any:
        cfg = getattr(task.app, "workbench_config", None)
        max_age = cfg.task_max_age if cfg is not None else 86400.0
        reason = check_stamp(kwargs.pop(STAMP, None), task.name, max_age)
        if reason is not None:
            log.error("refused task message %s (%s): %s", task.request.id, task.name, reason,
                      extra={"refused": task.name, "task_id": task.request.id})
            raise AccessDenied(f"task message refused: {reason}",
                               hint="only signed messages from a workbench client or worker run")
        return fn(task, *args, **kwargs)

    # Not functools.wraps: Celery would check arguments against the wrapped signature, which
    # does not accept the stamp.
    guarded.__name__ = getattr(fn, "__name__", "task")
    guarded.__qualname__ = getattr(fn, "__qualname__", guarded.__name__)
    guarded.__doc__ = fn.__doc__
    guarded.__module__ = fn.__module__
    _GUARDED[fn] = guarded
    return guarded


__all__ = ["KeyFiles", "celery_settings", "check_stamp", "configure", "default_keys_dir",
           "describe", "ensure_default_keys", "guard", "init_keys", "key_files", "stamp_message"]
