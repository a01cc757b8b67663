"""The catalog's tables (datasets, versions and their Iceberg snapshots, jobs, dead letters,
uploads, schedules, notebook runs, cursors) as SQLAlchemy Core metadata, and the job states.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()


datasets = sa.Table(
    "datasets", metadata,
    sa.Column("namespace", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("deleted_at", sa.Float),
)


versions = sa.Table(
    "versions", metadata,
    sa.Column("namespace", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.String(64), index=True),
    sa.Column("manifest_key", sa.Text, nullable=False),
    sa.Column("storage_url", sa.Text, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("schema_json", sa.Text, nullable=False),
    sa.Column("profile_json", sa.Text, nullable=False),
    sa.Column("spec_json", sa.Text),
    sa.Column("inputs_json", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("deleted_at", sa.Float),
)


# The Iceberg snapshot of each version (iceberg.py), written in the version row's transaction;
# no row (or a NULL snapshot_id with a note) for versions without one.
version_snapshots = sa.Table(
    "version_snapshots", metadata,
    sa.Column("namespace", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("snapshot_id", sa.BigInteger),
    sa.Column("timestamp_ms", sa.BigInteger),
    sa.Column("table_name", sa.Text),
    sa.Column("note", sa.Text),
)


jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace", sa.String(128), nullable=False, index=True),
    sa.Column("name", sa.String(256)),
    sa.Column("kind", sa.String(32), nullable=False, default="pipeline"),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("runner", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(128)),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("worker", sa.String(256)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("progress_json", sa.Text),
    sa.Column("error_json", sa.Text),
    sa.Column("result_json", sa.Text),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
)


dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("namespace", sa.String(128), nullable=False),
    sa.Column("task", sa.String(128), nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("error_json", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("resubmitted_as", sa.String(64)),
)


uploads = sa.Table(
    "uploads", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace", sa.String(128), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64)),
    sa.Column("multipart_id", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | confirmed | expired
)


schedules = sa.Table(
    "schedules", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace", sa.String(128), nullable=False),
    sa.Column("notebook", sa.Text, nullable=False),
    sa.Column("cron", sa.String(128), nullable=False),
    sa.Column("parameters_json", sa.Text, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_run_at", sa.Float),
    sa.Column("last_status", sa.String(16)),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
)


notebook_runs = sa.Table(
    "notebook_runs", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace", sa.String(128), nullable=False),
    sa.Column("notebook", sa.Text, nullable=False),
    sa.Column("parameters_json", sa.Text, nullable=False),
    sa.Column("output_uri", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("failed_cell", sa.Integer),
    sa.Column("error_json", sa.Text),
    sa.Column("schedule_id", sa.String(64)),
)


cursors = sa.Table(
    "cursors", metadata,
    sa.Column("namespace", sa.String(128), primary_key=True),
    sa.Column("pipeline", sa.String(256), primary_key=True),
    sa.Column("value_json", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


JOB_STATES = ("queued", "running", "retrying", "succeeded", "failed", "cancelled")


FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})


# One row, written once: the catalog's own id. A job message carries the id of the catalog its
# record was made in, so a worker on another catalog (another deployment reading the same broker
# database) refuses it instead of running it against the wrong records and storage.
catalog_info = sa.Table(
    "catalog_info", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)
