"""The catalog's id: made once by whichever process opens a new catalog first, then read.

A client puts it in every job message; a worker whose catalog has another id refuses the message
(``worker/tasks.py``), because running it would record the job, and write its data, in a
deployment the submitter never sees.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from .catalog import Catalog
from .catalog_schema import catalog_info

_KEY = "catalog_id"


def catalog_id(catalog: Catalog) -> str:
    cached = getattr(catalog, "_wb_catalog_id", None)
    if cached:
        return cached
    q = sa.select(catalog_info.c.value).where(catalog_info.c.key == _KEY)
    found = list(catalog.rows(q))
    if not found:
        # two processes may race here: the first insert wins, both read it back
        catalog.execute(catalog._insert_ignore(catalog_info).values(
            key=_KEY, value=uuid.uuid4().hex).on_conflict_do_nothing())
        found = list(catalog.rows(q))
    value = found[0][0]
    catalog._wb_catalog_id = value  # type: ignore[attr-defined]
    return value
