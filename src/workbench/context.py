"""Where a job runs: settings, storage, catalog and namespace, opened once per process."""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import Catalog, open_catalog
from .names import check_namespace
from .settings import Settings, get_settings
from .storage import Storage, open_storage


@dataclass(frozen=True)
class Context:
    settings: Settings
    storage: Storage
    catalog: Catalog

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Context:
        settings = settings or get_settings()
        # Every key and catalog row is prefixed with the namespace: refuse a bad one before any
        # storage or catalog is opened (ConfigError naming WORKBENCH_NAMESPACE).
        check_namespace(settings.namespace)
        return cls(settings, open_storage(settings), open_catalog(settings.catalog_url))


def current_context() -> Context:
    """The context for the environment as it is now (settings are read on each call)."""
    return Context.from_settings(get_settings())
