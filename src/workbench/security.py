"""The trust boundary's small rules, below everything else (SECURITY.md has the whole picture).

Each rule takes the settings of the process that applies it: in the analyst's own kernel
(``role="kernel"``) it allows what the user's account allows; on a shared worker
(``settings.on_worker``) only what the operator configured. Masking secrets is ``masking``'s.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from .errors import AccessDenied
from .masking import mask_url

if TYPE_CHECKING:
    from .settings import Settings

STEPS_GROUP = "workbench.steps"  # entry points of installed packages: registered Python steps


# ----------------------------------------------------------------------------- Python steps
def registered_steps() -> dict[str, str]:
    """``workbench.steps`` entry points: name -> ``module:function`` (read from metadata; nothing
    is imported)."""
    return {ep.name: ep.value.replace(" ", "") for ep in entry_points(group=STEPS_GROUP)}


def _in_allowlist(module: str, allowlist: tuple[str, ...]) -> bool:
    return any(module == m or module.startswith(m + ".") for m in allowlist)


def check_python_step(ref: str, settings: Settings, *, step: str | None = None) -> None:
    """Refuse, before anything is imported, a Python step a worker was not told to run.

    On a worker a step runs only if ``module:function`` is a ``workbench.steps`` entry point or
    its module is in ``WORKBENCH_PYTHON_STEPS``. In the kernel any importable function runs.
    """
    if not settings.on_worker:
        return
    module = ref.partition(":")[0]
    if _in_allowlist(module, settings.python_steps) or ref in registered_steps().values():
        return
    raise AccessDenied(
        f"Python step {ref!r} is not registered on this worker, so it was not loaded", step=step,
        hint=f"register it as a '{STEPS_GROUP}' entry point of an installed package, or add its "
             f"module {module!r} to WORKBENCH_PYTHON_STEPS on the workers; in your own kernel "
             "(runner='local') any importable function runs")


def check_loaded_step(ref: str, fn: Any, settings: Settings, *, step: str | None = None) -> None:
    """On a worker, an allowlisted module's step must be a function defined in that module: a
    name it merely imported (``from os import system``) is not registered."""
    defined_in = getattr(fn, "__module__", None) or ""
    if not settings.on_worker or _in_allowlist(defined_in, settings.python_steps) \
            or ref in registered_steps().values():
        return
    raise AccessDenied(
        f"Python step {ref!r} is {defined_in or 'an object'}'s, imported into "
        f"{ref.partition(':')[0]!r}, not a function of an allowed module", step=step,
        hint="point the step at a function defined in a module of WORKBENCH_PYTHON_STEPS")


# ----------------------------------------------------------------------------- databases
def check_db_ref(db: str, settings: Settings, *, step: str | None = None) -> None:
    """On a worker, ``db=`` must name a connection; a raw DSN is for the analyst's kernel."""
    if not settings.on_worker or "://" not in db and "=" not in db:
        return
    raise AccessDenied(
        f"db={mask_url(db)!r} is a DSN; on the workers a database is reached only through a "
        "connection the operator configured", step=step,
        hint="use db='<name>' with WORKBENCH_CONN_<NAME>=postgresql://... set on the workers; a "
             "DSN works in your own kernel (runner='local')")


# ----------------------------------------------------------------------------- notebooks
def inside(path: str, root: str) -> bool:
    """Is ``path`` inside ``root`` once both are resolved (``..`` and symlinks followed)?"""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def check_notebook_path(path: str, settings: Settings) -> None:
    """On a worker, a notebook runs only from ``WORKBENCH_NOTEBOOK_ROOTS``."""
    if not settings.on_worker:
        return
    if any(inside(path, root) for root in settings.notebook_roots):
        return
    raise AccessDenied(
        f"notebook {os.path.basename(path)!r} is outside the folders workers run notebooks from",
        hint="put it under a folder of WORKBENCH_NOTEBOOK_ROOTS on the workers, or in the "
             "workbench storage; in your own kernel any notebook runs")


__all__ = ["STEPS_GROUP", "check_db_ref", "check_loaded_step", "check_notebook_path",
           "check_python_step", "inside", "registered_steps"]
