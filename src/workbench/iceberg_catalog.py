"""The Iceberg catalog the datasets' tables live in (``WORKBENCH_ICEBERG_CATALOG``): pyiceberg's
SQL catalog in the workbench catalog database, or a REST catalog; one per process and storage;
and where a storage key is, as Iceberg names it. ``iceberg.py`` re-exports these.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from .catalog import Catalog as WorkbenchCatalog
from .errors import ConfigError, StorageUnavailable
from .settings import Settings
from .storage import Storage

CATALOG_NAME = "workbench"
_LOCK = threading.Lock()
_CATALOGS: dict[tuple[str, str, str], Any] = {}


def warm_up() -> None:
    """Import what a commit uses (a thread calls this while the rows are written)."""
    try:
        # heavy optional dependency: imported on first use
        import pyiceberg.catalog.sql  # noqa: F401
        import pyiceberg.io.pyarrow  # noqa: F401
        import pyiceberg.table  # noqa: F401
    except Exception:  # noqa: BLE001 - the commit imports them again and reports any error
        pass


def enabled(settings: Settings) -> bool:
    return settings.iceberg_catalog != "none"


def needs_warm_up(settings: Settings) -> bool:
    """Whether a commit would still import the library: tables on, and not imported yet (a
    worker imports it before forking its pool processes)."""
    return enabled(settings) and "pyiceberg.table" not in sys.modules


def location(storage: Storage, key: str) -> str:
    """Where a storage key is, as Iceberg (and every engine reading the table) names it."""
    uri = storage.uri(key)
    return uri if "://" in uri else "file://" + uri


def io_properties(storage: Storage) -> dict[str, str]:
    """pyiceberg's own FileIO settings for this storage (they hold the secret: never log)."""
    opts = storage.storage_options() or {}
    props: dict[str, str] = {}
    for ours, theirs in (("aws_endpoint_url", "s3.endpoint"), ("aws_region", "s3.region"),
                         ("aws_access_key_id", "s3.access-key-id"),
                         ("aws_secret_access_key", "s3.secret-access-key")):
        if opts.get(ours):
            props[theirs] = opts[ours]
    if opts.get("aws_virtual_hosted_style_request") == "true":
        props["s3.force-virtual-addressing"] = "true"
    # metadata files in one PUT each (iceberg_io.py); reads stay PyArrow's
    props["py-io-impl"] = "workbench.iceberg_io.PutFileIO"
    return props


def open_iceberg(settings: Settings, storage: Storage, catalog: WorkbenchCatalog) -> Any:
    """The Iceberg catalog for these settings (one per process and storage), or None if off."""
    if not enabled(settings):
        return None
    key = (settings.iceberg_catalog, catalog.url, storage.url)
    with _LOCK:
        found = _CATALOGS.get(key)
        if found is None:
            found = _CATALOGS[key] = _open(settings, storage, catalog)
        return found


def _open(settings: Settings, storage: Storage, catalog: WorkbenchCatalog) -> Any:
    props = io_properties(storage)
    if settings.iceberg_catalog == "sql":
        # heavy optional dependency: imported on first use
        import sqlalchemy.exc
        from pyiceberg.catalog.sql import SqlCatalog

        url = catalog.engine.url.render_as_string(hide_password=False)
        if url.startswith("sqlite") and "timeout=" not in url:
            url += ("&" if "?" in url else "?") + "timeout=30"  # wait for the writing job
        if not url.startswith("sqlite"):
            # as the workbench catalog's own engine: a pooled connection the database dropped
            # (a restart) is replaced at checkout, not handed to the next commit, which failed
            props["pool_pre_ping"] = "true"
        for attempt in range(5):  # two processes creating the catalog's tables at once
            try:
                return SqlCatalog(CATALOG_NAME, uri=url, warehouse=_root(storage), **props)
            except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError,
                    sqlalchemy.exc.ProgrammingError):
                if attempt == 4:
                    raise
    # heavy optional dependency: imported on first use
    from pyiceberg.catalog.rest import RestCatalog

    rest: dict[str, str] = {"uri": settings.iceberg_catalog, **props}
    if settings.iceberg_warehouse:
        rest["warehouse"] = settings.iceberg_warehouse
    if settings.iceberg_token:
        rest["token"] = settings.iceberg_token
    try:
        return RestCatalog(CATALOG_NAME, **rest)
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is one message
        if isinstance(exc, (ConfigError, StorageUnavailable)):
            raise
        raise StorageUnavailable(
            f"cannot reach the Iceberg REST catalog at {settings.iceberg_catalog}: "
            f"{type(exc).__name__}: {str(exc)[:300]}",
            hint="check WORKBENCH_ICEBERG_CATALOG, WORKBENCH_ICEBERG_WAREHOUSE and "
                 "WORKBENCH_ICEBERG_TOKEN, or set WORKBENCH_ICEBERG_CATALOG=sql") from None


def _root(storage: Storage) -> str:
    """The storage root as a location (tables are always created with their own location)."""
    return location(storage, "x").rsplit("/", 1)[0]


def _reset_after_fork() -> None:
    for cat in _CATALOGS.values():
        engine = getattr(cat, "engine", None)
        if engine is not None:
            engine.dispose(close=False)  # the parent's connections stay the parent's
    _CATALOGS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
