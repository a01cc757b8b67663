"""What every ``/workbench/api/v1/`` handler shares: authentication, JSON in and out, the CLI's
error object, and a thread pool for blocking work.

Jupyter Server's ``APIHandler`` brings its authentication (token or login cookie; an API request
without either gets 403, never a redirect) and its XSRF rule (a cookie-authenticated POST or
DELETE needs the ``_xsrf`` token). Errors leave as ``{"error": {type, message, file, row, column,
step, hint}}`` — the object ``workbench … --json`` prints — with an HTTP status chosen by the
error's type. Catalog, storage and Celery calls block, so they run on ``POOL`` and the server's
event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import yaml
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import (
    AccessDenied, AlreadyExists, Cancelled, ConfigError, InputError, InternalError, NotFound,
    SpecError, TransientError, WorkbenchError, as_workbench_error,
)
from ..names import INT64_MAX

log = logging.getLogger("workbench.server")

API_PREFIX = "/workbench/api/v1"
AUTH_RESOURCE = "workbench"

# Blocking work (catalog, storage, Celery inspect, papermill) runs here, never on the event loop.
POOL = ThreadPoolExecutor(max_workers=int(os.environ.get("WORKBENCH_HTTP_THREADS", "8")),
                          thread_name_prefix="workbench-http")

# The most specific type first: InputError subclasses before InputError itself.
_STATUS: list[tuple[type[WorkbenchError], int]] = [
    (NotFound, 404), (AccessDenied, 403), (AlreadyExists, 409), (InputError, 400),
    (TransientError, 503), (ConfigError, 409), (Cancelled, 409), (InternalError, 500),
]
_HTTP_TYPES = {400: SpecError, 403: AccessDenied, 404: NotFound, 405: SpecError, 413: SpecError,
               503: TransientError}

# A request body (a pipeline spec, an upload's or a notebook run's options) is a few KB; one
# larger than this is refused before it is parsed. WORKBENCH_HTTP_MAX_BODY: bytes or a size
# with a unit (256KiB, 4MB).
MAX_BODY_DEFAULT = 1024 * 1024
_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "kib": 2**10, "mib": 2**20}


def max_body_bytes() -> int:
    """The largest request body the API parses (``WORKBENCH_HTTP_MAX_BODY``, default 1 MiB)."""
    raw = os.environ.get("WORKBENCH_HTTP_MAX_BODY") or ""
    if not raw.strip():
        return MAX_BODY_DEFAULT
    m = re.fullmatch(r"\s*(\d+)\s*([km]i?b|b)?\s*", raw, re.IGNORECASE)
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"WORKBENCH_HTTP_MAX_BODY={raw!r} is not a size in bytes",
                          hint="write it like 1048576, 512KiB or 4MiB; unset it for 1 MiB")
    return int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()]


def _size(n: int) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


# A spec is a handful of levels deep; parameters and kwargs may add a few. Deeper data is refused
# where it is parsed, before the recursive code after it (validation, JSON encoding) meets it.
MAX_DEPTH = 64


def parse_body(raw: bytes, content_type: str, yaml_ok: bool) -> Any:
    """A request body as data (run on ``POOL``: a large YAML document takes a while)."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        return {}
    if yaml_ok and ("yaml" in content_type or not text.lstrip().startswith(("{", "["))):
        try:
            data = yaml.safe_load(text)  # the pure-Python loader: libyaml's crashes on deep nesting
        except RecursionError:
            raise SpecError(f"the request body is not valid YAML: nested more than {MAX_DEPTH} "
                            "levels deep") from None
        except yaml.YAMLError as exc:
            raise SpecError(f"the request body is not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except RecursionError:
            raise SpecError(f"the request body is not valid JSON: nested more than {MAX_DEPTH} "
                            "levels deep") from None
        except ValueError as exc:
            raise SpecError(f"the request body is not valid JSON: {exc}",
                            hint="send a JSON object" + (" or YAML" if yaml_ok else "")) from None
    _check_depth(data)
    return data


def _check_depth(data: Any) -> None:
    """Refuse data nested deeper than ``MAX_DEPTH`` (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise SpecError(f"the request body is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)



def status_for(err: WorkbenchError) -> int:
    status = getattr(err, "http_status", None)
    if isinstance(status, int):
        return status
    for cls, code in _STATUS:
        if isinstance(err, cls):
            return code
    return 500


def authenticated(method: Callable[..., Any]) -> Callable[..., Any]:
    """Jupyter Server's login check and its authorizer (resource ``workbench``), in that order."""
    return web.authenticated(authorized(method))


class WorkbenchHandler(APIHandler):
    """Base of the API handlers: ``blocking`` for slow calls, ``reply`` and ``body`` for JSON."""

    auth_resource = AUTH_RESOURCE

    async def blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(POOL, functools.partial(fn, *args, **kwargs))

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, default=str))

    # -- request bodies -------------------------------------------------------------------
    async def body(self, *, yaml_ok: bool = False) -> Any:
        """The request body as data: JSON, or YAML when allowed (by content type or when it does
        not start like JSON); an empty body is ``{}``. A body over ``max_body_bytes()`` is
        refused (413) unread; the rest is parsed on ``POOL``, never on the event loop."""
        raw = self.request.body
        limit = max_body_bytes()
        if len(raw) > limit:
            err = SpecError(f"the request body is {len(raw)} bytes, more than the limit of "
                            f"{_size(limit)}", hint="a pipeline spec is a few KB; the server's "
                            "WORKBENCH_HTTP_MAX_BODY sets the limit")
            err.http_status = 413  # type: ignore[attr-defined]
            raise err
        ctype = (self.request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        return await self.blocking(parse_body, raw, ctype, yaml_ok)

    async def body_object(self, **kwargs: Any) -> dict[str, Any]:
        data = await self.body(**kwargs)
        if not isinstance(data, dict):
            raise SpecError("the request body must be a JSON object")
        return data

    # -- query arguments ------------------------------------------------------------------
    def int_arg(self, name: str, default: int, *, low: int = 0, high: int = INT64_MAX) -> int:
        """A whole-number query parameter between ``low`` and ``high`` (at most the largest
        number the catalog stores), or ``default`` when it is absent."""
        text = self.get_argument(name, None)
        if text is None or text == "":
            return default
        shown = text if len(text) <= 40 else text[:40] + "…"
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise SpecError(f"query parameter {name!r} must be a whole number, not {shown!r}")
        # Python refuses to convert more than 4300 digits; so many are out of any range anyway
        value = int(text) if len(text) <= 4000 else None
        if value is None or value < low or value > high:
            raise SpecError(
                f"query parameter {name!r} must be between {low} and {high}, not {shown}")
        return value

    # -- errors ---------------------------------------------------------------------------
    def _handle_request_exception(self, e: BaseException) -> None:
        """A ``WorkbenchError`` (or any bug) becomes the CLI's error object, not a trace page."""
        if isinstance(e, web.HTTPError) or self._finished:
            return super()._handle_request_exception(e)
        err = as_workbench_error(e)
        if isinstance(err, InternalError):
            log.exception("workbench API: %s %s failed", self.request.method, self.request.path,
                          exc_info=e)
        self.send_error_object(err)

    def send_error_object(self, err: WorkbenchError, status: int | None = None) -> None:
        if self._headers_written:  # a stream already started (SSE): end it
            self.finish()
            return
        self.clear()
        self.set_status(status or status_for(err))
        self.finish(json.dumps({"error": err.to_dict()}, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own errors (403 from authentication or XSRF, 404, 405) in the same shape."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = self._reason or "error"
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        cls = _HTTP_TYPES.get(status_code, WorkbenchError)
        hint = None
        if status_code == 403:
            message = message if message not in ("Forbidden", "") else "not authenticated"
            hint = ("send the Jupyter Server token (`Authorization: token …`, from `jupyter server "
                    "list`); a cookie-authenticated POST or DELETE also needs the _xsrf token")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": cls(str(message), hint=hint).to_dict()}))


class NotFoundHandler(WorkbenchHandler):
    """Any other path under the API prefix: a JSON 404 naming the path (and the OpenAPI doc)."""

    @authenticated
    def get(self, *args: Any) -> None:
        raise NotFound(f"no endpoint {self.request.path}",
                       hint=f"the endpoints are listed in {API_PREFIX}/openapi.json")

    post = delete = put = patch = get
