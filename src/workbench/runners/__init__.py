"""Runners decide where ``execute`` runs: in this process, or on Celery workers."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError
from ..options import check_options
from ..settings import get_settings
from .local import LocalJob, LocalRunner


def _celery(**kwargs: Any):
    # the Celery side (the worker's task modules, the stream hub) loads with the first job sent
    # to the workers: a kernel that runs everything here never pays for it
    from .celery_runner import CeleryRunner

    return CeleryRunner(**kwargs)


RUNNERS: dict[str, Callable[..., Any]] = {
    "local": lambda **kw: LocalRunner(),
    "celery": _celery,
}


# The options each runner takes from ``wb.submit(p, runner=…, **options)``.
RUNNER_OPTIONS: dict[str, frozenset[str]] = {
    "local": frozenset(),
    "celery": frozenset({"fallback", "stages", "broker_url"}),
}


def get_runner(name: str | None = None, **kwargs: Any):
    """``None`` picks Celery when ``WORKBENCH_BROKER_URL`` is set, else the LocalRunner.

    An option the runner does not take is refused by name. When the runner is picked from the
    settings, Celery's options are accepted (and unused) by the LocalRunner, so one notebook
    runs with and without a broker.
    """
    auto = name is None
    if name is None:
        name = "celery" if get_settings().broker_url else "local"
    try:
        factory = RUNNERS[name]
    except KeyError:
        raise ConfigError(f"unknown runner {name!r}", hint=f"use one of: {', '.join(RUNNERS)}") from None
    allowed = set(RUNNER_OPTIONS.get(name, ())) | (set().union(*RUNNER_OPTIONS.values()) if auto else set())
    check_options(f"the {name} runner", kwargs, allowed)
    return factory(**kwargs)


__all__ = ["LocalJob", "LocalRunner", "RUNNERS", "RUNNER_OPTIONS", "get_runner"]
