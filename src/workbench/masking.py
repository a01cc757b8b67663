"""Masking credentials wherever a URL may be shown, logged or stored (SECURITY.md, point 9).

Every URL that is shown, logged or stored (S3 endpoint, broker, catalog, a DSN) goes through
:func:`mask_url`, and free text that may hold one (an error message, a log line, an event) through
:func:`mask_text`. The userinfo of a URL is a credential: its password is always replaced by
``***``; for anything but a database DSN the user part goes too (``http://KEY@host`` is a token).
A database user name stays, so ``postgresql://etl:***@dw/wh`` still says who connected.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

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


__all__ = ["MASK", "mask_text", "mask_url", "mask_value"]
