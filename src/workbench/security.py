"""The trust boundary's small rules, below everything else (SECURITY.md has the whole picture).

Each rule takes the settings of the process that applies it: in the analyst's own kernel
(``role="kernel"``) it allows what the user's account allows; on a shared worker
(``settings.on_worker``) only what the operator configured.

Masking: every URL that is shown, logged or stored (S3 endpoint, broker, catalog, a DSN) goes
through :func:`mask_url`, and free text that may hold one (an error message, a log line) through
:func:`mask_text`. The userinfo of a URL is a credential: its password is always replaced by
``***``; for anything but a database DSN the user part goes too (``http://KEY@host`` is a token).
A database user name stays, so ``postgresql://etl:***@dw/wh`` still says who connected.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

MASK = "***"
STEPS_GROUP = "workbench.steps"  # entry points of installed packages: registered Python steps

# Schemes whose user name is an account, not a secret (kept, its password masked).
_DB_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb", "sqlite", "mssql", "oracle")
# Query parameters that carry secrets in URLs we meet (libpq, presigned S3, tokens).
_SECRET_PARAMS = frozenset({"password", "sslpassword", "pass", "pwd", "secret", "token",
                            "access_token", "x-amz-signature", "x-amz-credential",
                            "x-amz-security-token", "signature", "sig", "awsaccesskeyid"})
# A URL with userinfo inside free text: scheme://userinfo@ (userinfo has no whitespace, '/', '@').
# (greedy: a password with an unencoded '@' is masked whole)
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<userinfo>[^\s/'\"<>]*)@")
_URL_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:" + "|".join(re.escape(p) for p in sorted(_SECRET_PARAMS)) + r")=)[^&\s'\"<>]*")
_KV_PASSWORD = re.compile(r"(?i)\b(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def _is_db(scheme: str) -> bool:
    scheme = scheme.lower()
    return any(scheme == s or scheme.startswith(s + "+") for s in _DB_SCHEMES)


def _mask_userinfo(scheme: str, userinfo: str) -> str:
    if not userinfo:
        return userinfo
    if _is_db(scheme):
        user, sep, _password = userinfo.partition(":")
        return f"{user}:{MASK}" if sep else user
    return MASK


def mask_url(url: Any) -> str:
    """``url`` as it may be shown: no password, no token, no secret query parameter."""
    if url is None:
        return ""
    return mask_text(str(url))


def mask_text(text: Any, secrets: tuple[str | None, ...] = ()) -> str:
    """Free text with every URL's credentials, libpq passwords and the given secrets masked."""
    out = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, MASK)
    if "@" in out:
        out = _URL_USERINFO.sub(
            lambda m: f"{m['scheme']}://{_mask_userinfo(m['scheme'], m['userinfo'])}@", out)
    if "=" in out:
        out = _URL_QUERY_SECRET.sub(lambda m: m.group(1) + MASK, out)
        out = _KV_PASSWORD.sub(lambda m: f"{m.group(1)}={MASK}", out)
    return out


def mask_value(value: Any) -> Any:
    """``mask_text`` applied to every string inside a JSON-like value (records, events)."""
    if isinstance(value, str):
        return mask_text(value) if ("@" in value or "=" in value) else value
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v) for v in value)
    return value


# ----------------------------------------------------------------------------- Python steps
def registered_steps() -> dict[str, str]:
    """``workbench.steps`` entry points: name -> ``module:function`` (read from metadata; nothing
    is imported)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value.replace(" ", "") for ep in entry_points(group=STEPS_GROUP)}


def _in_allowlist(module: str, allowlist: tuple[str, ...]) -> bool:
    return any(module == m or module.startswith(m + ".") for m in allowlist)


def check_python_step(ref: str, settings: Settings, *, step: str | None = None) -> None:
    """Refuse, before anything is imported, a Python step a worker was not told to run.

    On a worker a step runs only if ``module:function`` is a ``workbench.steps`` entry point or
    its module is in ``WORKBENCH_PYTHON_STEPS``. In the kernel any importable function runs.
    """
    if not settings.on_worker:
        return
    from .errors import AccessDenied

    module = ref.partition(":")[0]
    if ref in registered_steps().values() or _in_allowlist(module, settings.python_steps):
        return
    raise AccessDenied(
        f"Python step {ref!r} is not registered on this worker, so it was not loaded", step=step,
        hint=f"register it as a '{STEPS_GROUP}' entry point of an installed package, or add its "
             f"module {module!r} to WORKBENCH_PYTHON_STEPS on the workers; in your own kernel "
             "(runner='local') any importable function runs")


def check_loaded_step(ref: str, fn: Any, settings: Settings, *, step: str | None = None) -> None:
    """On a worker, an allowlisted module's step must be a function defined in that module: a
    name it merely imported (``from os import system``) is not registered."""
    if not settings.on_worker or ref in registered_steps().values():
        return
    from .errors import AccessDenied

    defined_in = getattr(fn, "__module__", None) or ""
    if not _in_allowlist(defined_in, settings.python_steps):
        raise AccessDenied(
            f"Python step {ref!r} is {defined_in or 'an object'}'s, imported into "
            f"{ref.partition(':')[0]!r}, not a function of an allowed module", step=step,
            hint="point the step at a function defined in a module of WORKBENCH_PYTHON_STEPS")


# ----------------------------------------------------------------------------- databases
def check_db_ref(db: str, settings: Settings, *, step: str | None = None) -> None:
    """On a worker, ``db=`` must name a connection; a raw DSN is for the analyst's kernel."""
    if not settings.on_worker or "://" not in db and "=" not in db:
        return
    from .errors import AccessDenied

    raise AccessDenied(
        f"db={mask_url(db)!r} is a DSN; on the workers a database is reached only through a "
        "connection the operator configured", step=step,
        hint="use db='<name>' with WORKBENCH_CONN_<NAME>=postgresql://... set on the workers; a "
             "DSN works in your own kernel (runner='local')")


# ----------------------------------------------------------------------------- notebooks
def inside(path: str, root: str) -> bool:
    """Is ``path`` inside ``root`` once both are resolved (``..`` and symlinks followed)?"""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def check_notebook_path(path: str, settings: Settings) -> None:
    """On a worker, a notebook runs only from ``WORKBENCH_NOTEBOOK_ROOTS``."""
    if not settings.on_worker:
        return
    from .errors import AccessDenied

    if any(inside(path, root) for root in settings.notebook_roots):
        return
    raise AccessDenied(
        f"notebook {os.path.basename(path)!r} is outside the folders workers run notebooks from",
        hint="put it under a folder of WORKBENCH_NOTEBOOK_ROOTS on the workers, or in the "
             "workbench storage; in your own kernel any notebook runs")


__all__ = ["MASK", "STEPS_GROUP", "check_db_ref", "check_loaded_step", "check_notebook_path",
           "check_python_step", "inside", "mask_text", "mask_url", "mask_value",
           "registered_steps"]
