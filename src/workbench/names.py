"""Name rules for namespaces, datasets and job ids: each is one path segment and one key segment.

Every rule is a full match (``re.fullmatch``): a pattern ending in ``$`` also matches before a
trailing newline, which once let ``abc\\n`` through as a folder name in storage.
"""

from __future__ import annotations

import re

from .errors import ConfigError, SpecError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")

# The largest whole number the catalog stores (a signed 64-bit integer, SQLite's and
# PostgreSQL's BIGINT): a version number, a row offset or a count above it cannot exist there.
INT64_MAX = 2**63 - 1

RULE = ("use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit, with no '/', "
        "'..', spaces or control characters")


def is_valid_name(value: object) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None and ".." not in value


def validate_name(value: str, what: str = "name") -> str:
    """``value`` if it is a valid name, else ``ValueError`` (pydantic validators turn it into a
    spec error)."""
    if not is_valid_name(value):
        raise ValueError(f"invalid {what} {value!r}: {RULE}")
    return value


def check_namespace(namespace: str) -> str:
    """The namespace every key and catalog row of a process is prefixed with; a bad one is a
    setting to fix, refused before any job record or object exists."""
    if not is_valid_name(namespace):
        raise ConfigError(f"invalid namespace {namespace!r}: {RULE}",
                          hint="set WORKBENCH_NAMESPACE to a valid name, e.g. 'analytics'")
    return namespace


def check_name(value: str, what: str = "name") -> str:
    """``validate_name`` for a caller's argument: a ``SpecError`` at the edge."""
    if not is_valid_name(value):
        raise SpecError(f"invalid {what} {value!r}: {RULE}")
    return value


def check_job_id(job_id: str) -> str:
    if not is_valid_name(job_id):
        raise SpecError(f"invalid job id {job_id!r}: {RULE}",
                        hint="leave job_id unset for a generated one")
    return job_id
