"""The OpenAPI 3.1 document of ``/workbench/api/v1/`` (served at ``openapi.json``).

Written by hand, next to the routes it describes; a test checks that every route and method in
``routes.ROUTES`` is here and nothing else is.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..names import INT64_MAX
from .base import API_PREFIX, WorkbenchHandler, authenticated


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


_ERRORS = {code: {"$ref": f"#/components/responses/{name}"} for code, name in (
    ("400", "BadInput"), ("403", "Forbidden"), ("404", "NotFound"), ("409", "Conflict"),
    ("503", "Unavailable"))}
_OBJ = {"type": "object"}
_INT = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}
_JOB_ID = _path("job_id", "the job's id")
_NAME = _path("name", "the dataset's name")
_VERSION = _query("version", "a version number (default: the latest)", _INT)


def _op(summary: str, responses: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, tag: str) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {**responses, **_ERRORS}}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
        op["responses"]["413"] = {"$ref": "#/components/responses/TooLarge"}
    return op


def _body(schema: dict[str, Any], *, yaml: bool = False) -> dict[str, Any]:
    content = {"application/json": {"schema": schema}}
    if yaml:
        content["application/yaml"] = {"schema": schema}
    return {"required": True, "content": content}


PATHS: dict[str, dict[str, Any]] = {
    "/health": {"get": _op("The state of the broker, catalog, storage, keys and workers",
                           {"200": _json(_ref("Health"))}, tag="service",
                           params=[_query("timeout", "seconds to wait for workers", _INT)])},
    "/workers": {"get": _op("Workers that are up: queues, active tasks, counters, registered tasks",
                            {"200": _json({"type": "object", "properties": {
                                "workers": {"type": "array", "items": _ref("Worker")}}})},
                            tag="service",
                            params=[_query("timeout", "seconds to wait for replies", _INT)])},
    "/workers/test": {"post": _op("Send a test task (the workers' health check) and return its "
                                  "answer", {"200": _json(_OBJ)}, tag="service",
                                  params=[_query("timeout", "seconds to wait", _INT)])},
    "/jobs": {
        "get": _op("This namespace's jobs, newest first", {"200": _json(_ref("JobList"))},
                   tag="jobs", params=[
                       _query("status", "queued, running, retrying, succeeded, failed or cancelled"),
                       _query("dataset", "jobs that write or read this dataset"),
                       _query("who", "jobs submitted by this user"),
                       _query("limit", "page size (1-500, default 50)", _INT),
                       _query("offset", "rows to skip (next_offset of the previous page)", _INT)]),
        "post": _op("Submit a pipeline spec (JSON or YAML)", {"202": _json(_ref("Submitted"))},
                    tag="jobs", body=_body(_ref("PipelineSpec"), yaml=True),
                    params=[_query("runner", "local or celery (default: celery when a broker is "
                                             "configured)")]),
    },
    "/jobs/{job_id}": {
        "get": _op("One job: status, progress, error, result and spec",
                   {"200": _json(_ref("Job"))}, tag="jobs", params=[_JOB_ID]),
        "delete": _op("Cancel the job (revoked if queued; stopped between batches if running)",
                      {"200": _json(_OBJ)}, tag="jobs", params=[_JOB_ID]),
    },
    "/jobs/{job_id}/rerun": {"post": _op("Submit the job's spec again as a new job",
                                         {"202": _json(_ref("Submitted"))}, tag="jobs",
                                         params=[_JOB_ID])},
    "/jobs/{job_id}/events": {"get": _op(
        "The job's events as Server-Sent Events: replayed from the first, then live until the job "
        "ends. Each event's id is its number; reconnect with Last-Event-ID to resume.",
        {"200": {"description": "text/event-stream of events (event: <kind>, data: <event JSON>)",
                 "content": {"text/event-stream": {"schema": {"type": "string"}}}},
         "204": {"description": "the job ended and the client has all its events"}},
        tag="jobs", params=[_JOB_ID, {"name": "Last-Event-ID", "in": "header", "required": False,
                                      "schema": {"type": "string"},
                                      "description": "the last event number received"},
                            _query("last_event_id", "the same, for clients that cannot set "
                                                    "headers", _INT)])},
    "/datasets": {"get": _op("Datasets: latest version, rows, size, columns",
                             {"200": _json(_OBJ)}, tag="datasets")},
    "/datasets/{name}": {"get": _op("A dataset: schema, profile, versions, files and lineage",
                                    {"200": _json(_ref("Dataset"))}, tag="datasets",
                                    params=[_NAME, _VERSION])},
    "/datasets/{name}/preview": {"get": _op(
        "The first rows", {"200": _json(_ref("Preview"))}, tag="datasets",
        params=[_NAME, _VERSION, _query("rows", "how many rows (1-1000, default 20)", _INT)])},
    "/uploads": {"post": _op(
        "Reserve an upload: a presigned PUT URL, or one per part for a multipart upload",
        {"201": _json(_ref("UploadPlan"))}, tag="uploads", body=_body({
            "type": "object", "required": ["filename", "size"], "properties": {
                "filename": {"type": "string"}, "size": {"type": "integer", "minimum": 1},
                "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                "expires": {"type": "integer", "minimum": 1, "maximum": 604800}}}))},
    "/uploads/{upload_id}/confirm": {"post": _op(
        "Check the upload arrived whole; with a dataset name, also start the ingest job",
        {"200": _json(_OBJ), "202": _json(_OBJ, "the ingest job was submitted")}, tag="uploads",
        params=[_path("upload_id", "the upload's id")], body=_body({
            "type": "object", "properties": {
                "name": {"type": "string"}, "sha256": {"type": "string"},
                "format": {"enum": ["auto", "csv", "tsv", "json", "ndjson", "excel", "parquet"]},
                "mode": {"enum": ["create", "overwrite", "append"]}}}))},
    "/notebook-runs": {
        "get": _op("Recent notebook runs", {"200": _json(_OBJ)}, tag="notebooks", params=[
            _query("limit", "how many (1-500)", _INT), _query("schedule", "a schedule's id")]),
        "post": _op("Run a notebook with parameters (papermill); 202 once it is recorded",
                    {"200": _json(_OBJ, "the run ended"), "202": _json(_OBJ, "the run started")},
                    tag="notebooks", body=_body(_ref("NotebookRun"))),
    },
    "/schedules": {
        "get": _op("Notebook schedules with their last and next run", {"200": _json(_OBJ)},
                   tag="notebooks"),
        "post": _op("Run a notebook on a cron schedule", {"201": _json(_OBJ)}, tag="notebooks",
                    body=_body({"type": "object", "required": ["notebook", "cron"], "properties": {
                        "notebook": {"type": "string"}, "cron": {"type": "string"},
                        "parameters": _OBJ, "output": {"type": "string"}}})),
    },
    "/openapi.json": {"get": {"summary": "This document", "tags": ["service"],
                              "responses": {"200": _json(_OBJ)}}},
}

_ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["type", "message"], "properties": {
        "type": {"type": "string", "description": "the WorkbenchError class, e.g. SpecError"},
        "message": {"type": "string"},
        **{k: {"type": ["string", "null"]} for k in ("file", "column", "step", "hint")},
        "row": {"type": ["integer", "null"]}}}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


SCHEMAS: dict[str, Any] = {
    "Error": _ERROR_SCHEMA,
    "Health": {"type": "object", "properties": {
        "ok": {"type": "boolean"}, "namespace": {"type": "string"},
        **{k: _ref("Part") for k in ("broker", "catalog", "storage", "keys", "workers")}}},
    "Part": {"type": "object", "required": ["state"], "properties": {
        "state": {"enum": ["ok", "down", "not used", "missing", "none", "unknown"]}}},
    "Worker": {"type": "object", "properties": {
        "name": {"type": "string"}, "queues": {"type": "array", "items": {"type": "string"}},
        "active": {"type": "array", "items": _OBJ}, "processed": _OBJ,
        "registered_tasks": {"type": "array", "items": {"type": "string"}}}},
    "Job": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": ["string", "null"]},
        "status": {"enum": ["queued", "running", "retrying", "succeeded", "failed", "cancelled"]},
        "runner": {"type": "string"}, "who": {"type": ["string", "null"]},
        "dataset": {"type": ["string", "null"]}, "duration": {"type": ["number", "null"]},
        "progress": {"type": ["object", "null"]}, "error": {"type": ["object", "null"]},
        "result": {"type": ["object", "null"]}}},
    "JobList": {"type": "object", "properties": {
        "jobs": {"type": "array", "items": _ref("Job")}, "limit": {"type": "integer"},
        "offset": {"type": "integer"}, "next_offset": {"type": ["integer", "null"]}}},
    "Submitted": {"type": "object", "properties": {
        "job_id": {"type": "string"}, "status": {"type": "string"}, "links": _OBJ}},
    "PipelineSpec": {"type": "object", "description": "a pipeline spec, as `workbench schema` "
                                                      "prints its JSON Schema"},
    "Dataset": {"type": "object", "properties": {
        "name": {"type": "string"}, "version": {"type": "integer"}, "rows": {"type": "integer"},
        "schema": _OBJ, "profile": _OBJ, "versions": {"type": "array", "items": _OBJ},
        "lineage": _OBJ}},
    "Preview": {"type": "object", "properties": {
        "columns": {"type": "array", "items": _OBJ}, "rows": {"type": "array", "items": _OBJ}}},
    "UploadPlan": {"type": "object", "properties": {
        "upload_id": {"type": "string"}, "multipart": {"type": "boolean"},
        "url": {"type": "string"}, "headers": _OBJ, "part_size": {"type": "integer"},
        "parts": {"type": "array", "items": _OBJ}}},
    "NotebookRun": {"type": "object", "required": ["notebook"], "properties": {
        "notebook": {"type": "string", "description": "a path under the server's root folder"},
        "parameters": _OBJ, "output": {"type": "string"}, "kernel": {"type": "string"},
        "cell_timeout": {"type": "number"}, "on_worker": {"type": "boolean"}}},
}

RESPONSES = {
    "BadInput": _error("bad input: the error names what and where"),
    "TooLarge": _error("the request body is over the server's limit (WORKBENCH_HTTP_MAX_BODY, "
                       "default 1 MiB)"),
    "Forbidden": _error("no token or login cookie, a failed XSRF check, or access denied"),
    "NotFound": _error("no such job, dataset, upload or endpoint"),
    "Conflict": _error("the dataset exists, or the server is not configured for this"),
    "Unavailable": _error("a service (broker, storage, catalog) is unreachable; retry later"),
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "workbench", "version": __version__,
                 "description": "The workbench REST API inside Jupyter Server. Authenticate as for "
                                "Jupyter Server: `Authorization: token <token>` (see `jupyter "
                                "server list`), or the login cookie plus the _xsrf token."},
        "servers": [{"url": API_PREFIX}],
        "security": [{"token": []}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "responses": RESPONSES, "securitySchemes": {
            "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "token <the Jupyter Server token>"}}},
    }


class OpenAPIHandler(WorkbenchHandler):
    @authenticated
    def get(self) -> None:
        self.reply(document())


ROUTES = [("/openapi.json", OpenAPIHandler)]
