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
                                                             (os.pathsep-separated), besides storage
==========================  ===============================  ==========================

Credentials come from the usual AWS variables (or ``WORKBENCH_S3_ACCESS_KEY_ID`` /
``WORKBENCH_S3_SECRET_ACCESS_KEY``) and are never copied into specs, job records or events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


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

    @property
    def on_worker(self) -> bool:
        return self.role == "worker"

    def __repr__(self) -> str:
        # URLs may carry passwords (catalog, broker, endpoint): never show them
        from .security import mask_url

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
            catalog_url=_env("WORKBENCH_CATALOG_URL", f"sqlite:///{home / 'catalog.db'}"),
            broker_url=_env("WORKBENCH_BROKER_URL"),
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
            notebook_roots=tuple(r for r in (_env("WORKBENCH_NOTEBOOK_ROOTS", "") or "").split(os.pathsep)
                                 if r.strip()),
        )

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


def get_settings() -> Settings:
    """Read the environment now (not at import), so tests and notebooks can change it."""
    return Settings.from_env()
