"""Database connections: resolving ``db=``, keeping passwords out of sight, and classifying errors.

``db`` in a spec is one of

* a DSN without a password: ``postgresql://user@host:5432/shop`` or ``sqlite:////abs/path.db``
  (``sqlite:///relative.db``, as SQLAlchemy writes it). The password comes from libpq's usual
  places on the machine that runs the job (``PGPASSWORD``, ``~/.pgpass``, ``PGPASSFILE``);
* a connection name, ``db="warehouse"``, read from ``WORKBENCH_CONN_WAREHOUSE=postgresql://user:pw@…``
  in the environment of the process that runs the job (the worker, or the kernel).

Specs, job records, events and logs only ever see :func:`mask_dsn` of a DSN.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .errors import (
    AccessDenied, ConfigError, NotFound, SourceError, SQLError, TransientError, WorkbenchError,
    missing_extra,
)
from .masking import mask_text, mask_url, secret_forms

CONN_PREFIX = "WORKBENCH_CONN_"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_MASK = "***"
_SECRET_KEYS = ("password", "sslpassword")


def mask_dsn(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***`` (URL userinfo, query or key=value form)."""
    return mask_url(dsn)


def dsn_has_password(dsn: str) -> bool:
    try:
        parts = urlsplit(dsn) if "://" in dsn else None
    except ValueError:
        return True
    if parts is None:
        return bool(re.search(r"(?i)\bpassword\s*=", dsn))
    return parts.password is not None or any(
        k.lower() in _SECRET_KEYS for k, _ in parse_qsl(parts.query, keep_blank_values=True))


@dataclass(frozen=True)
class DbTarget:
    """A resolved database: what to connect to (``uri``, secret) and what to show (``display``)."""

    dialect: str  # "postgresql" | "sqlite"
    uri: str = field(repr=False)
    display: str
    name: str | None = None  # the connection name, when db= named one

    def scrub(self, text: str) -> str:
        """Remove every trace of the credentials from a driver's message."""
        text = str(text)
        if self.uri and self.uri in text:
            text = text.replace(self.uri, self.display)
        try:
            password = urlsplit(self.uri).password if "://" in self.uri else None
        except ValueError:
            password = None
        if password:

            for secret in {password, unquote(password), quote(unquote(password), safe="")}:
                if secret:
                    text = text.replace(secret, _MASK)
        # the password up to the last '@' and the pieces a driver may quote of it
        for secret in secret_forms(self.uri):
            text = text.replace(secret, _MASK)
        return mask_text(text)


def resolve_db(db: str, environ: dict[str, str] | None = None, *,
               catalog_url: str | None = None) -> DbTarget:
    """Resolve a spec's ``db`` into a target; credentials come from the environment only.

    With ``catalog_url``, a target that is the workbench catalog database (whatever the spelling:
    a connection name, a symlink or another form of the same SQLite path, another host name of
    the same PostgreSQL server) is refused with AccessDenied: it holds every namespace's jobs,
    specs and versions, so it is never a query source or a table sink.
    """
    target = _resolve_db(db, environ)
    if catalog_url and same_database(target, catalog_url):
        raise AccessDenied(
            f"db={target.name or target.display!r} is the workbench catalog database, which is "
            "never a query source or a table sink",
            hint="name another database; jobs and datasets are read with wb.list_jobs() and "
                 "wb.list_datasets() (the catalog is WORKBENCH_CATALOG_URL)")
    return target


def _resolve_db(db: str, environ: dict[str, str] | None = None) -> DbTarget:
    env = os.environ if environ is None else environ
    name = None
    uri = db.strip()
    if "://" not in uri:
        if not _NAME_RE.fullmatch(uri):
            raise ConfigError(f"db={mask_dsn(db)!r} is neither a DSN nor a connection name",
                              hint="use postgresql://user@host/db, sqlite:////path/file.db, or a "
                                   "name NAME with WORKBENCH_CONN_NAME set")
        name = uri
        var = CONN_PREFIX + uri.upper().replace("-", "_")
        value = env.get(var)
        if not value:
            raise ConfigError(f"no connection named {uri!r}",
                              hint=f"set {var}=postgresql://user:password@host:5432/db in the "
                                   "environment of the kernel or worker that runs the job")
        uri = value.strip()
    scheme = uri.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        uri = "postgresql://" + uri.split("://", 1)[1]
        dialect = "postgresql"
    elif scheme == "sqlite" or scheme.startswith("sqlite+"):
        dialect = "sqlite"
        rest = uri.split("://", 1)[1]
        # SQLAlchemy's form: sqlite:///relative.db and sqlite:////absolute/path.db
        uri = rest[1:] if rest.startswith("/") else rest
        if not uri:
            raise ConfigError("a sqlite DSN needs a file: sqlite:////path/to/file.db")
    else:
        raise ConfigError(f"unsupported database {mask_dsn(uri)!r}",
                          hint="PostgreSQL (postgresql://…) and SQLite (sqlite:///…) are supported")
    display = mask_dsn(uri) if dialect == "postgresql" else f"sqlite:///{uri}"
    return DbTarget(dialect=dialect, uri=uri, display=display, name=name)


def _sqlite_file(path: str) -> str | None:
    """The file a SQLite target opens (``file:`` URIs included), or None for memory."""
    if path.startswith("file:"):
        path = path[len("file:"):].split("?", 1)[0]
        if path.startswith("//"):  # file://host/path: only the local host is meaningful
            path = "/" + path[2:].split("/", 1)[-1]
    if not path or path == ":memory:" or "mode=memory" in path:
        return None
    return os.path.realpath(os.path.expanduser(path))


def _pg_key(uri: str) -> tuple[frozenset[str], int, str]:
    """(addresses of the host, port, database) of a PostgreSQL URI, as libpq would fill them."""

    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query))
    host = parts.hostname or query.get("host") or os.environ.get("PGHOST") or "localhost"
    port = parts.port or int(query.get("port") or os.environ.get("PGPORT") or 5432)
    user = parts.username or query.get("user") or os.environ.get("PGUSER") or ""
    database = (parts.path or "").lstrip("/") or query.get("dbname") or \
        os.environ.get("PGDATABASE") or user
    if host.startswith("/"):  # a Unix socket folder: the local server
        host = "localhost"
    try:
        addresses = frozenset(a[4][0] for a in socket.getaddrinfo(host, port))
    except OSError:
        addresses = frozenset({host.lower()})
    if addresses & {"127.0.0.1", "::1"}:
        addresses = addresses | {"127.0.0.1", "::1"}
    return addresses, port, database


def same_database(target: DbTarget, catalog_url: str) -> bool:
    """Whether ``target`` opens the catalog database of ``catalog_url`` (a SQLAlchemy URL)."""
    scheme = catalog_url.split("://", 1)[0].lower()
    if target.dialect == "sqlite":
        if not scheme.startswith("sqlite"):
            return False
        rest = catalog_url.split("://", 1)[1].split("?", 1)[0]
        catalog = _sqlite_file(rest[1:] if rest.startswith("/") else rest)
        mine = _sqlite_file(target.uri)
        if catalog is None or mine is None:
            return False
        if mine == catalog:
            return True
        try:  # a hard link, or a path through a bind mount
            return os.path.samefile(mine, catalog)
        except OSError:
            return False
    if not scheme.startswith("postgres"):
        return False
    mine = _pg_key(target.uri)
    theirs = _pg_key("postgresql://" + catalog_url.split("://", 1)[1])
    return bool(mine[0] & theirs[0]) and mine[1:] == theirs[1:]


def connect(target: DbTarget, *, autocommit: bool = False) -> Any:
    """An ADBC DB-API connection; failures become typed errors that show no password."""
    try:
        if target.dialect == "postgresql":
            # heavy optional dependency: imported on first use
            import adbc_driver_postgresql.dbapi as driver
        else:
            # heavy optional dependency: imported on first use
            import adbc_driver_sqlite.dbapi as driver
    except ImportError:
        pkg = "adbc-driver-postgresql" if target.dialect == "postgresql" else "adbc-driver-sqlite"
        raise missing_extra(pkg, "postgres" if target.dialect == "postgresql" else "sqlite") from None
    try:
        if target.dialect == "sqlite":
            if target.uri != ":memory:" and not target.uri.startswith("file:"):
                parent = os.path.dirname(os.path.abspath(target.uri))
                if not os.path.isdir(parent):
                    raise NotFound(f"cannot open {target.display}: folder {parent} does not exist")
            conn = driver.connect(target.uri, autocommit=autocommit)
        else:
            conn = driver.connect(_with_application_name(target.uri), autocommit=autocommit)
    except WorkbenchError:
        raise
    except Exception as exc:
        raise classify_db_error(exc, target, connecting=True) from None
    return conn


def connect_copy(target: DbTarget) -> Any:
    """A psycopg connection to a PostgreSQL target, in a transaction, for table writes.

    Table sinks stream their own binary ``COPY`` bytes (``sinks/pg_copy``), which ADBC's
    DB-API has no way to send; psycopg's ``cursor.copy`` does, in the same transaction as the
    statements around it. The client encoding is UTF-8 whatever the server's default, so text
    arrives as the UTF-8 that Arrow holds.
    """
    try:
        # heavy optional dependency: imported on first use
        import psycopg
    except ImportError:
        raise missing_extra("psycopg", "postgres") from None
    try:
        return psycopg.connect(_with_application_name(target.uri), client_encoding="UTF8")
    except Exception as exc:
        raise classify_db_error(exc, target, connecting=True) from None


def _with_application_name(uri: str) -> str:
    # lets a DBA (and the tests) tell workbench's sessions apart in pg_stat_activity
    if "application_name=" in uri:
        return uri
    return uri + ("&" if "?" in uri else "?") + "application_name=workbench"


def _message(exc: BaseException) -> str:
    text = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
    return re.sub(r"^[A-Z_]+: ", "", text).strip()


def classify_db_error(exc: BaseException, target: DbTarget, *, connecting: bool = False,
                      sql: str | None = None, step: str | None = None) -> WorkbenchError:
    """A driver exception as a typed, located error; the DSN is masked and the password scrubbed."""
    if isinstance(exc, WorkbenchError):
        return exc.with_context(step=step)
    text = target.scrub(_message(exc))
    low = text.lower()
    where = target.display
    sqlstate = getattr(exc, "sqlstate", None) or _sqlstate_in(text)
    if connecting or "failed to connect" in low:
        reason = text.split("failed:", 1)[-1].strip() if "failed:" in text else text
        reason = reason.replace("FATAL:", "").strip().splitlines()[0] if reason else text
        if "password authentication failed" in low or "no password supplied" in low or \
                sqlstate == "28P01" or "authentication failed" in low:
            return AccessDenied(f"cannot log in to {where}: {reason}", step=step,
                                hint="check the user and password of the connection "
                                     "(WORKBENCH_CONN_<NAME>, PGPASSWORD or ~/.pgpass)")
        if "does not exist" in low:
            return NotFound(f"cannot connect to {where}: {reason}", step=step,
                            hint="check the database and user names")
        if "unable to open database" in low:
            return NotFound(f"cannot open {where}: {reason}", step=step)
        return TransientError(f"cannot connect to {where}: {reason}", step=step,
                              hint="is the database server running and reachable from here?")
    if sqlstate and sqlstate.startswith(("08", "57P")) or any(
            t in low for t in ("server closed the connection", "connection is lost",
                               "the connection is closed", "consuming input failed")):
        return TransientError(f"the connection to {where} was lost: {_first_line(text)}", step=step)
    if sqlstate and sqlstate.startswith(("42", "22", "0A", "21", "2B")) or _looks_like_sql_error(low):
        line = _line_of_error(exc, sql)
        msg = _first_line(text.split("ERROR:", 1)[-1].strip() if "ERROR:" in text else text)
        if line is not None and sql is not None and sql.count("\n"):
            msg += f" at line {line} of the query"
        hint = "check the query's syntax, tables and column names"
        if sqlstate == "42883":
            hint = "a parameter or column has a type the operator does not accept: CAST it in the query"
        prefix = (f"a statement writing to {where} failed" if step == "write"
                  else f"the query failed on {where}")
        return SQLError(f"{prefix}: {msg}" + (f" (SQLSTATE {sqlstate})" if sqlstate else ""),
                        step=step, hint=hint)
    if sqlstate and sqlstate.startswith("23"):
        return SourceError(f"{where}: {_first_line(text)} (SQLSTATE {sqlstate})", step=step)
    return SourceError(f"{where}: {_first_line(text)}", step=step)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return re.sub(r"^(Failed to (prepare|execute) query: )?(ERROR:\s+)?", "", line)
    return text


def _sqlstate_in(text: str) -> str | None:
    m = re.search(r"SQLSTATE:? ([0-9A-Z]{5})", text)
    return m.group(1) if m else None


def _looks_like_sql_error(low: str) -> bool:
    # SQLite reports no SQLSTATE: recognise its compile errors by text
    return any(s in low for s in ("syntax error", "no such table", "no such column",
                                  "no such function", "ambiguous column", "incomplete input",
                                  "does not exist", "unrecognized token"))


def _line_of_error(exc: BaseException, sql: str | None) -> int | None:
    """The line of ``sql`` where PostgreSQL placed the error, when it reports a position."""
    try:
        details = dict(getattr(exc, "details", None) or [])
    except (TypeError, ValueError):
        return None
    pos = details.get(b"PG_DIAG_STATEMENT_POSITION") or details.get("PG_DIAG_STATEMENT_POSITION")
    if pos is None or sql is None:
        return None
    try:
        offset = int(pos) - 1
    except (TypeError, ValueError):
        return None
    return sql[:offset].count("\n") + 1


__all__ = ["CONN_PREFIX", "DbTarget", "classify_db_error", "connect", "connect_copy",
           "dsn_has_password", "mask_dsn", "resolve_db", "same_database"]
