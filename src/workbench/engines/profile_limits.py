"""Bounds on profiles: which statistic is computed for which type (with the reason when not),
and how long a value kept in metadata may be.

A profile lives in the manifest and the catalog row, so its size must not grow with the data:
one 300 MB text field once made a 600 MB manifest and a 1.2 GB catalog. Like Parquet's column
statistics, a min, max or top value longer than ``MAX_VALUE_CHARS`` is cut and marked
(``min_cut``/``max_cut`` true, or ``cut`` on a top value): a cut min is still a lower bound, and
a cut max is no longer an upper bound, which the mark says.
"""

from __future__ import annotations

import functools
from typing import Any

import polars as pl

MAX_VALUE_CHARS = 200
STATS = ("distinct", "min", "max", "mean")

_NESTED = "not computed for nested values (List, Array, Struct, Map); each row is many values"


def skipped_stats(dtype: pl.DataType) -> dict[str, str]:
    """The statistics left out for ``dtype``, each with the reason (empty when all apply)."""
    return dict(_skipped_items(dtype))


def _skipped_items(dtype: pl.DataType) -> tuple[tuple[str, str], ...]:
    try:  # asked of every column: a file of 10,000 columns asked it 20,000 times (0.1 s)
        return _skipped_by_type(dtype)
    except TypeError:  # a type that cannot be a key of the cache
        return tuple(_skipped(dtype).items())


@functools.lru_cache(maxsize=256)
def _skipped_by_type(dtype: pl.DataType) -> tuple[tuple[str, str], ...]:
    return tuple(_skipped(dtype).items())


def _skipped(dtype: pl.DataType) -> dict[str, str]:
    if dtype == pl.Null:
        return {s: "the column holds only nulls" for s in STATS}
    if dtype.is_nested() or isinstance(dtype, (pl.Object, pl.Map)) or _is_extension(dtype):
        return {s: _NESTED if not _is_extension(dtype) else
                f"not computed for the extension type {dtype}" for s in STATS}
    out: dict[str, str] = {}
    if dtype == pl.Binary:
        out["min"] = out["max"] = "bytes have no order worth reporting"
    if dtype == pl.Boolean:
        out["min"] = out["max"] = "true/false: the mean is the share of true"
    if not (dtype.is_numeric() or dtype == pl.Boolean):
        out["mean"] = "not a number"
    return out


def _is_extension(dtype: pl.DataType) -> bool:
    ext = getattr(pl, "Extension", None)
    return ext is not None and isinstance(dtype, ext)


def supported(stat: str, dtype: pl.DataType) -> bool:
    return all(stat != s for s, _ in _skipped_items(dtype))


def cut(value: Any) -> tuple[Any, bool]:
    """A value as metadata keeps it: text over ``MAX_VALUE_CHARS`` cut (and said so)."""
    if isinstance(value, (bytes, bytearray)):
        value = value.hex()
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS], True
    return value, False


def bound_profile(profile: dict[str, Any], schema: pl.Schema | None = None) -> dict[str, Any]:
    """Cut long values in place and mark them; name the statistics left out and why."""
    for name, entry in (profile.get("columns") or {}).items():
        for stat in ("min", "max"):
            if stat in entry:
                entry[stat], was_cut = cut(entry[stat])
                if was_cut:
                    entry[f"{stat}_cut"] = True
        for top in entry.get("top_values") or []:
            top["value"], was_cut = cut(top.get("value"))
            if was_cut:
                top["cut"] = True
        if schema is not None and name in schema:
            skipped = skipped_stats(schema[name])
            if skipped:
                entry["not_computed"] = skipped
    return profile


__all__ = ["MAX_VALUE_CHARS", "bound_profile", "cut", "skipped_stats", "supported"]
