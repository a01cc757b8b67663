"""Settings from the environment, with embedded defaults that need no servers.

==========================  ===============================  ==========================
variable                    default                          meaning
==========================  ===============================  ==========================
WORKBENCH_HOME              ./.workbench                     folder for the embedded default
WORKBENCH_STORAGE_URL       <home>/storage                   a folder, file://, s3:// or r2://
WORKBENCH_CATALOG_URL       sqlite:///<home>/catalog.db      SQLAlchemy URL (postgresql://…)
WORKBENCH_BROKER_URL        (unset: LocalRunner)             redis://host:port/db
WORKBENCH_NAMESPACE         default                          prefixes every key and catalog row
WORKBENCH_S3_ENDPOINT_URL   (AWS)                            R2: https://<acct>.r2.cloudflarestorage.com
WORKBENCH_S3_REGION         auto                             region name
WORKBENCH_S3_ADDRESSING     path                             path or virtual
WORKBENCH_ROLE              kernel                           kernel (the analyst's own process) or
                                                             worker (shared; trust rules apply)
WORKBENCH_PYTHON_STEPS      (none)                           worker: modules whose functions may run
                                                             as Python steps (comma-separated); with
                                                             ``workbench.steps`` entry points
WORKBENCH_NOTEBOOK_ROOTS    (none)                           worker: folders notebooks may run from
                                                             (comma-separated), besides storage
WORKBENCH_LOCAL_ISOLATION   process                          process: a kernel's jobs run in
                                                             a child process; thread: in the
                                                             kernel (tests, debugging)
WORKBENCH_JOB_TIME_LIMIT    3600                             seconds a job (or a preview) may
                                                             run in the kernel
WORKBENCH_JOB_MEMORY_LIMIT  50%                              resident memory of a kernel job's
                                                             process (a size like 4GB, or a
                                                             share of this machine's memory),
                                                             and what a preview may add to the
                                                             kernel's; SQL steps get at most it
WORKBENCH_KILL_GRACE        3                                seconds between a cancel and the
                                                             kill of a job's process
WORKBENCH_HEARTBEAT         5                                seconds between a kernel job's
                                                             heartbeats in the catalog
WORKBENCH_UPLOAD_URL_EXPIRES 900                             seconds a presigned upload URL lives
WORKBENCH_SOURCE_ROOTS      (kernel: any readable file;      comma-separated folders and s3://
                            worker: none)                    prefixes file sources may read
WORKBENCH_RESULT_MAX_BYTES  268435456 (256 MiB)              largest frame a pipeline without a sink
                                                             returns (in memory); past it the job fails
WORKBENCH_RESULT_INLINE_BYTES 524288 (512 KiB)               a result up to this size (Arrow IPC) also
                                                             rides inline in the job's finish event
WORKBENCH_SQL_TIME_LIMIT    1800                             seconds one SQL step may run (0: none)
WORKBENCH_SQL_MEMORY_LIMIT  2GB                              DuckDB memory_limit per SQL step
WORKBENCH_SQL_TEMP_LIMIT    10GB                             spill + inputs read twice, per SQL step
WORKBENCH_SQL_THREADS       (DuckDB's: one per core)         DuckDB threads per SQL step
WORKBENCH_PREVIEW_SAMPLE    100000                           rows per input when a preview's SQL
                                                             needs all rows (then flagged sampled)
WORKBENCH_ICEBERG_CATALOG   sql                              where each dataset's Iceberg table is:
                                                             sql (tables in the catalog database),
                                                             an https:// Iceberg REST catalog URI,
                                                             or none (manifests only, no tables)
WORKBENCH_ICEBERG_WAREHOUSE (none)                           REST catalog: the warehouse name
WORKBENCH_ICEBERG_TOKEN     (none)                           REST catalog: the bearer token
==========================  ===============================  ==========================

Reader limits (``WORKBENCH_MAX_*``, ``WORKBENCH_DISK_RESERVE``) are documented in
``engines/read_common.py``.

Credentials come from the usual AWS variables (or ``WORKBENCH_S3_ACCESS_KEY_ID`` /
``WORKBENCH_S3_SECRET_ACCESS_KEY``) and are never copied into specs, job records or events.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError
from .masking import mask_url, remember

_CATALOG_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
_BROKER_SCHEMES = ("redis", "rediss")
_HOST_FIRST = re.compile(r"[\w.\-\[\]%]+(?::\d*)?(?:[/?#]|$)")  # host[:port] after the userinfo


def _url(var: str, value: str | None, schemes: tuple[str, ...], example: str) -> str | None:
    """A URL from the environment, checked here so a typo is a ConfigError that names the variable,
    not a driver's traceback later. ``postgres://`` (Heroku, libpq) means ``postgresql://``."""
    if value is None:
        return None
    remember(value)  # a parser's message below may quote a piece of its password
    if value.startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://"):]
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    userinfo, at, tail = value.partition("://")[2].rpartition("@")
    if at and any(c in userinfo for c in "/?#") and _HOST_FIRST.match(tail):
        # urllib and the drivers end the userinfo at the first '/', '?' or '#': they would read
        # a piece of the password as the host, and connect there
        raise ConfigError(f"{var} is not a valid URL: its user name or password holds '/', '?' "
                          "or '#'", hint=f"percent-encode them (%2F, %3F, %23); for example "
                                         f"{example}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is what raises on a bad one
    except ValueError as exc:
        # urllib quotes the part it misread, which may be a piece of the password: never shown
        reason = re.sub(r"'[^']*'|\"[^\"]*\"", "'***'", str(exc))
        raise ConfigError(f"{var} is not a valid URL: {reason}",
                          hint=f"for example {example}; percent-encode a password holding "
                               "'@', '/', '?', '#' or ':'") from None
    if scheme not in schemes:
        raise ConfigError(f"{var} has an unsupported scheme {scheme or '(none)'!r}",
                          hint=f"use one of {', '.join(s + '://' for s in schemes)}; "
                               f"for example {example}")
    return value



def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int_env(name: str, default: int) -> int:
    text = _env(name)
    if text is None:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number of bytes",
                          hint=f"unset it for the default ({default}) or give an integer") from None
    return value


def _number(name: str, default: float) -> float:
    text = _env(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{name}={text!r} must not be negative")
    return value


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def _memory(name: str, default: str) -> int:
    """A memory size setting: bytes, a size with a unit (4GB, 512MiB) or a share of this
    machine's memory (50%)."""
    raw = _env(name, default) or default
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b|b)?\s*", raw, re.I)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{name}={raw!r} is not a memory size",
                          hint="write it like 4GB, 512MiB, or 50% (of this machine's memory)")
    unit = (m.group(2) or "").lower()
    if unit == "%":
        return int(physical_memory() * min(float(m.group(1)), 100.0) / 100)
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def _positive(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} is not a positive number of seconds")
    return value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env(name, default)
    if value not in choices:
        raise ConfigError(f"{name}={value!r}: use one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    storage_url: str
    catalog_url: str
    broker_url: str | None = None
    namespace: str = "default"
    s3_endpoint_url: str | None = None
    s3_region: str = "auto"
    s3_addressing: str = "path"
    s3_access_key_id: str | None = field(default=None, repr=False)
    s3_secret_access_key: str | None = field(default=None, repr=False)
    part_size: int = 16 * 1024 * 1024
    batch_rows: int = 100_000
    # "kernel": the analyst's own process, which may do anything its user may.
    # "worker": a shared worker process; the trust boundary (SECURITY.md) applies.
    role: str = "kernel"
    # On a worker only: modules whose functions may run as Python steps, and the folders
    # notebooks may run from (SECURITY.md). The kernel runs whatever its user can.
    python_steps: tuple[str, ...] = ()
    notebook_roots: tuple[str, ...] = ()
    local_isolation: str = "process"
    job_time_limit: float = 3600.0
    job_memory_limit: int = 0  # bytes; 0: none (from_env's default is half the machine's memory)
    kill_grace: float = 3.0
    heartbeat: float = 5.0
    # Folders and s3:// prefixes file sources may read (engines/source_roots.py); empty: any
    # readable file in the kernel, none on a worker.
    source_roots: tuple[str, ...] = ()
    upload_url_expires: int = 900
    result_max_bytes: int = 256 * 1024 * 1024
    result_inline_bytes: int = 512 * 1024
    # limits of one SQL step (engines/sql.py); each error names its variable
    sql_time_limit: float | None = 1800.0
    sql_memory_limit: str = "2GB"
    sql_temp_limit: str = "10GB"
    sql_threads: int | None = None
    preview_sample_rows: int = 100_000
    # the Iceberg catalog of the datasets' tables (iceberg.py): "sql", "none" or a REST URI
    iceberg_catalog: str = "sql"
    iceberg_warehouse: str | None = None
    iceberg_token: str | None = field(default=None, repr=False)
    # versions wider than this get no snapshot (with a note): the commit's cost grows with width
    iceberg_max_columns: int | None = 2000

    def __post_init__(self) -> None:
        # their passwords are masked wherever a driver or parser quotes them (masking.remember)
        remember(self.catalog_url, self.broker_url, self.s3_endpoint_url, self.storage_url)

    @property
    def on_worker(self) -> bool:
        return self.role == "worker"

    def __repr__(self) -> str:
        # URLs may carry passwords (catalog, broker, endpoint): never show them
        return (f"Settings(home={str(self.home)!r}, storage_url={mask_url(self.storage_url)!r}, "
                f"catalog_url={mask_url(self.catalog_url)!r}, "
                f"broker_url={mask_url(self.broker_url) if self.broker_url else None!r}, "
                f"namespace={self.namespace!r}, "
                f"s3_endpoint_url={mask_url(self.s3_endpoint_url) if self.s3_endpoint_url else None!r}, "
                f"role={self.role!r})")

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(_env("WORKBENCH_HOME", ".workbench")).expanduser().absolute()
        return cls(
            home=home,
            storage_url=_env("WORKBENCH_STORAGE_URL", str(home / "storage")),
            catalog_url=_url("WORKBENCH_CATALOG_URL",
                             _env("WORKBENCH_CATALOG_URL", f"sqlite:///{home / 'catalog.db'}"),
                             _CATALOG_SCHEMES, "postgresql://user@host:5432/workbench"),
            broker_url=_url("WORKBENCH_BROKER_URL", _env("WORKBENCH_BROKER_URL"), _BROKER_SCHEMES,
                            "redis://:password@host:6379/0"),
            namespace=_env("WORKBENCH_NAMESPACE", "default"),
            s3_endpoint_url=_env("WORKBENCH_S3_ENDPOINT_URL"),
            s3_region=_env("WORKBENCH_S3_REGION", "auto"),
            s3_addressing=_env("WORKBENCH_S3_ADDRESSING", "path"),
            s3_access_key_id=_env("WORKBENCH_S3_ACCESS_KEY_ID", _env("AWS_ACCESS_KEY_ID")),
            s3_secret_access_key=_env("WORKBENCH_S3_SECRET_ACCESS_KEY", _env("AWS_SECRET_ACCESS_KEY")),
            part_size=int(_env("WORKBENCH_PART_SIZE", str(16 * 1024 * 1024))),
            role=_env("WORKBENCH_ROLE", "kernel"),
            python_steps=tuple(m.strip() for m in (_env("WORKBENCH_PYTHON_STEPS", "") or "").split(",")
                               if m.strip()),
            notebook_roots=tuple(r.strip() for r in (_env("WORKBENCH_NOTEBOOK_ROOTS") or "").split(",")
                                 if r.strip()),
            local_isolation=_choice("WORKBENCH_LOCAL_ISOLATION", "process", ("process", "thread")),
            job_time_limit=_positive("WORKBENCH_JOB_TIME_LIMIT", 3600.0),
            job_memory_limit=_memory("WORKBENCH_JOB_MEMORY_LIMIT", "50%"),
            kill_grace=_positive("WORKBENCH_KILL_GRACE", 3.0),
            heartbeat=_positive("WORKBENCH_HEARTBEAT", 5.0),
            upload_url_expires=int(_number("WORKBENCH_UPLOAD_URL_EXPIRES", 900)),
            source_roots=tuple(r.strip() for r in (_env("WORKBENCH_SOURCE_ROOTS") or "").split(",")
                               if r.strip()),
            result_max_bytes=_int_env("WORKBENCH_RESULT_MAX_BYTES", 256 * 1024 * 1024),
            result_inline_bytes=_int_env("WORKBENCH_RESULT_INLINE_BYTES", 512 * 1024),
            sql_time_limit=_number("WORKBENCH_SQL_TIME_LIMIT", 1800.0) or None,
            sql_memory_limit=_env("WORKBENCH_SQL_MEMORY_LIMIT", "2GB"),
            sql_temp_limit=_env("WORKBENCH_SQL_TEMP_LIMIT", "10GB"),
            sql_threads=int(_number("WORKBENCH_SQL_THREADS", 0)) or None,
            preview_sample_rows=int(_number("WORKBENCH_PREVIEW_SAMPLE", 100_000)),
            iceberg_catalog=_iceberg_catalog(),
            iceberg_warehouse=_env("WORKBENCH_ICEBERG_WAREHOUSE"),
            iceberg_token=_env("WORKBENCH_ICEBERG_TOKEN"),
            iceberg_max_columns=int(_number("WORKBENCH_ICEBERG_MAX_COLUMNS", 2000)) or None,
        )

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


def disk_reserve_bytes() -> int:
    """``WORKBENCH_DISK_RESERVE``: free bytes kept on any disk that temp files and local storage
    write to (default 256 MiB); a write that would go below it is refused as "disk full"."""
    raw = _env("WORKBENCH_DISK_RESERVE", str(256 * 1024 * 1024))
    try:
        return max(0, int(float(raw)))
    except ValueError:
        raise ConfigError(f"WORKBENCH_DISK_RESERVE={raw!r} is not a number of bytes") from None


def _iceberg_catalog() -> str:
    raw = (_env("WORKBENCH_ICEBERG_CATALOG") or "sql").strip()
    if raw.lower() in ("sql", "none"):
        return raw.lower()
    if urlsplit(raw).scheme in ("http", "https") and urlsplit(raw).netloc:
        return raw
    raise ConfigError(f"WORKBENCH_ICEBERG_CATALOG={mask_url(raw)!r}: use 'sql' (tables in the catalog "
                      "database), 'none', or the https:// URI of an Iceberg REST catalog")


def get_settings() -> Settings:
    """Read the environment now (not at import), so tests and notebooks can change it."""
    return Settings.from_env()
