"""Masking credentials wherever a URL may be shown, logged or stored (SECURITY.md, point 9).

Every URL that is shown, logged or stored (S3 endpoint, broker, catalog, a DSN) goes through
:func:`mask_url`, and free text that may hold one (an error message, a log line, an event) through
:func:`mask_text`. The userinfo of a URL is a credential: its password is always replaced by
``***``; for anything but a database DSN the user part goes too (``http://KEY@host`` is a token).
A database user name stays, so ``postgresql://etl:***@dw/wh`` still says who connected.

The userinfo runs to the *last* ``@`` before the host, whatever it holds (a password with a space,
``@``, ``/``, ``#`` or ``?`` is masked whole). Parsers and drivers quote parts of a URL they
misread (urllib: ``Port could not be cast to integer value as 'Sec'``; libpq: ``failed to resolve
host 'ret1PW@127.0.0.1'``), so every secret of a configured URL
(:func:`remember`: the catalog, broker and S3 endpoint URLs, connections) is known to the process,
and :func:`mask_text` masks it, and its pieces between such delimiters, wherever it appears.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import unquote

MASK = "***"

# Schemes whose user name is an account, not a secret (kept, its password masked).
_DB_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb", "sqlite", "mssql", "oracle")
# Query parameters that carry secrets in URLs we meet (libpq, presigned S3, tokens).
_SECRET_PARAMS = frozenset({"password", "sslpassword", "pass", "pwd", "secret", "token",
                            "access_token", "x-amz-signature", "x-amz-credential",
                            "x-amz-security-token", "signature", "sig", "awsaccesskeyid"})
# A URL with userinfo inside free text: scheme://userinfo@host. The userinfo runs to the last '@'
# on the line that a host follows, so a password holding spaces, '@', '/', '#' or '?' is masked
# whole; it does not cross a quote, '<', '>' or another "scheme://" (the next URL, the end of a
# quoted or JSON string).
_URL_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://"
    r"(?P<userinfo>(?:(?![A-Za-z][A-Za-z0-9+.\-]*://)[^\r\n'\"<>])*)@(?=[\w\[.%-])")
_URL_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:" + "|".join(re.escape(p) for p in sorted(_SECRET_PARAMS)) + r")=)[^&\s'\"<>]*")
_KV_PASSWORD = re.compile(r"(?i)\b(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


# Where parsers cut a URL: a piece of a secret between these can be quoted alone in an error.
_PIECES = re.compile(r"[@/?#:;,\s]+")
_MIN_SECRET = 3  # shorter pieces are not masked: they would mask ordinary text, and tell little
_MAX_KNOWN = 256
_KNOWN: dict[str, None] = {}  # the secrets seen in URLs, longest masked first (an ordered set)
_KNOWN_LOCK = threading.Lock()
_KNOWN_SORTED: tuple[str, ...] = ()


def url_secrets(url: Any) -> list[str]:
    """The secrets in ``url``: its password (the userinfo up to the last ``@``, after its first
    ``:``), a non-database URL's token (userinfo without ``:``), a ``password=`` parameter."""
    text = str(url or "")
    found: list[str] = []
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest:
        userinfo = rest.rpartition("@")[0]
        _user, colon, password = userinfo.partition(":")
        if colon:
            found.append(password)
        elif not _is_db(scheme.strip()):
            found.append(userinfo)
    for m in _KV_PASSWORD.finditer(text):
        found.append(m.group(2).strip("'"))
    for m in re.finditer(r"(?i)[?&](?:password|sslpassword)=([^&\s]*)", text):
        found.append(m.group(1))
    return [f for f in found if f]


def secret_forms(*urls: Any) -> tuple[str, ...]:
    """Every form of the secrets of ``urls`` a message may quote: as written, percent-decoded,
    and each piece between the characters parsers cut a URL at; longest first."""
    forms: set[str] = set()
    for url in urls:
        for secret in url_secrets(url):
            for form in (secret, unquote(secret)):
                forms.add(form)
                forms.update(_PIECES.split(form))
    return tuple(sorted((f for f in forms if len(f) >= _MIN_SECRET and f != MASK),
                        key=len, reverse=True))


def remember(*urls: Any) -> None:
    """Know the secrets of configured ``urls`` (catalog, broker, S3 endpoint, a connection):
    from now on :func:`mask_text` masks them, and their pieces, wherever they appear, in
    whatever part a parser or driver quotes them."""
    global _KNOWN_SORTED
    new = [f for f in secret_forms(*urls) if f not in _KNOWN]
    if not new:
        return
    with _KNOWN_LOCK:
        for secret in new:
            _KNOWN[secret] = None
        while len(_KNOWN) > _MAX_KNOWN:
            del _KNOWN[next(iter(_KNOWN))]
        _KNOWN_SORTED = tuple(sorted(_KNOWN, key=len, reverse=True))


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
    return mask_text(str(url), secret_forms(url))


def mask_text(text: Any, secrets: tuple[str | None, ...] = (), *, known: bool = True) -> str:
    """Free text with every URL's credentials, libpq passwords and the given secrets masked;
    ``known``: the secrets of configured URLs (``remember``) too."""
    out = str(text)
    if "@" in out:
        out = _URL_USERINFO.sub(
            lambda m: f"{m['scheme']}://{_mask_userinfo(m['scheme'], m['userinfo'])}@", out)
    if "=" in out:
        out = _URL_QUERY_SECRET.sub(lambda m: m.group(1) + MASK, out)
        out = _KV_PASSWORD.sub(lambda m: f"{m.group(1)}={MASK}", out)
    for secret in (*sorted((s for s in secrets if s and len(s) >= _MIN_SECRET), key=len,
                           reverse=True), *(_KNOWN_SORTED if known else ())):
        if secret in out:
            out = out.replace(secret, MASK)
    return out


# The fields of a record or event that carry text a parser or driver wrote (an error, a
# warning): the secrets of configured URLs are masked there. Elsewhere (rows of a result, check
# examples, names) they are data: a password that is also an ordinary word ("admin") must not
# change a value.
_MESSAGE_KEYS = frozenset({"message", "text", "hint", "error", "detail", "traceback"})


def mask_value(value: Any, *, known: bool = False) -> Any:
    """``mask_text`` applied to every string inside a JSON-like value (records, events); the
    secrets of configured URLs only in message fields (``_MESSAGE_KEYS``)."""
    if isinstance(value, str):
        if "@" in value or "=" in value or (known and _KNOWN_SORTED):
            return mask_text(value, known=known)
        return value
    if isinstance(value, dict):
        return {k: mask_value(v, known=known or k in _MESSAGE_KEYS) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v, known=known) for v in value)
    return value


__all__ = ["MASK", "mask_text", "mask_url", "mask_value", "remember", "secret_forms",
           "url_secrets"]
