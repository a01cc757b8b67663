"""Storage backends, chosen by URL scheme from an explicit registry."""

from __future__ import annotations

from typing import Callable

from ..errors import ConfigError
from ..settings import Settings
from .base import ObjectInfo, ObjectWriter, Storage
from .local import LocalStorage
from .s3 import S3Storage


def _local(url: str, settings: Settings) -> Storage:
    return LocalStorage(url)


def _s3(url: str, settings: Settings) -> Storage:
    return S3Storage.from_url(url, settings)


BACKENDS: dict[str, Callable[[str, Settings], Storage]] = {
    "file": _local,
    "s3": _s3,
    "r2": _s3,
}


def open_storage(settings: Settings, url: str | None = None) -> Storage:
    url = url or settings.storage_url
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    try:
        factory = BACKENDS[scheme]
    except KeyError:
        raise ConfigError(f"unknown storage scheme {scheme!r} in {url!r}",
                          hint=f"use one of: {', '.join(sorted(BACKENDS))}") from None
    return factory(url, settings)


__all__ = ["BACKENDS", "LocalStorage", "ObjectInfo", "ObjectWriter", "Storage", "open_storage"]
