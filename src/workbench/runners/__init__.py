"""Runners decide where ``execute`` runs: in this process, or on Celery workers."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError
from ..settings import get_settings
from .celery_runner import CeleryRunner
from .local import LocalJob, LocalRunner


def _celery(**kwargs: Any):
    return CeleryRunner(**kwargs)


RUNNERS: dict[str, Callable[..., Any]] = {
    "local": lambda **kw: LocalRunner(),
    "celery": _celery,
}


def get_runner(name: str | None = None, **kwargs: Any):
    """``None`` picks Celery when ``WORKBENCH_BROKER_URL`` is set, else the LocalRunner."""
    if name is None:
        name = "celery" if get_settings().broker_url else "local"
    try:
        factory = RUNNERS[name]
    except KeyError:
        raise ConfigError(f"unknown runner {name!r}", hint=f"use one of: {', '.join(RUNNERS)}") from None
    return factory(**kwargs)


__all__ = ["LocalJob", "LocalRunner", "RUNNERS", "get_runner"]
