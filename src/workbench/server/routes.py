"""Every route of the API, as OpenAPI path templates, turned into Tornado URL patterns."""

from __future__ import annotations

import re
from typing import Any

from tornado.web import RequestHandler

from . import datasets_api, jobs_api, openapi, ops_api, uploads_api
from .base import API_PREFIX, NotFoundHandler

ROUTES: list[tuple[str, Any]] = [
    *ops_api.ROUTES, *jobs_api.ROUTES, *datasets_api.ROUTES, *uploads_api.ROUTES, *openapi.ROUTES,
]
METHODS = ("get", "post", "put", "patch", "delete")


def pattern(template: str) -> str:
    """``/jobs/{job_id}/events`` -> ``/jobs/(?P<job_id>[^/]+)/events`` (anchored by Tornado)."""
    return re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)


def methods(handler: type) -> set[str]:
    """The HTTP methods a handler class itself implements (not the base's defaults)."""
    return {m for m in METHODS
            if getattr(handler, m, None) is not getattr(RequestHandler, m, None)
            and getattr(handler, m, None) is not getattr(NotFoundHandler, m)}


def handlers(base_url: str) -> list[tuple[str, Any]]:
    root = base_url.rstrip("/") + API_PREFIX
    out: list[tuple[str, Any]] = [(root + pattern(t), h) for t, h in ROUTES]
    out.append((root + r"(/.*)?", NotFoundHandler))
    return out
