"""``partition_by``: the partition spec of a dataset, as Iceberg defines it.

Each entry is a column (identity) or a transform of one, written the way Spark and Trino write
them::

    partition_by=["region", "day(ts)", "month(ts)", "year(ts)", "bucket(16, id)"]

``bucket(id, 16)`` (Trino's order) and the plural ``days``/``months``/``years`` (Spark's) are
accepted too; ``identity(c)`` names a column whose own name looks like a transform. Day, month
and year are days, months and years since 1970-01-01 (of the UTC instant for a zoned datetime);
bucket is Iceberg's murmur3 hash of the value modulo the number of buckets, so Spark, Trino and
workbench place a row in the same bucket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRANSFORMS = ("identity", "day", "month", "year", "bucket")
_ALIASES = {"days": "day", "months": "month", "years": "year"}
_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$", re.DOTALL)
_INT = re.compile(r"^\s*\d+\s*$")


@dataclass(frozen=True)
class PartitionField:
    """One field of the partition spec: ``transform`` of ``column`` (``buckets`` for bucket)."""

    column: str
    transform: str = "identity"
    buckets: int | None = None

    @property
    def name(self) -> str:
        """The partition field's name, as pyiceberg and Spark name it (``ts_day``,
        ``id_bucket_16``); the identity field is named as its column."""
        if self.transform == "identity":
            return self.column
        if self.transform == "bucket":
            return f"{self.column}_bucket_{self.buckets}"
        return f"{self.column}_{self.transform}"

    @property
    def iceberg(self) -> str:
        """The transform as Iceberg writes it (``identity``, ``day``, ``bucket[16]``)."""
        return f"bucket[{self.buckets}]" if self.transform == "bucket" else self.transform

    def __str__(self) -> str:
        if self.transform == "identity":
            return f"identity({self.column})" if "(" in self.column or ")" in self.column \
                else self.column
        if self.transform == "bucket":
            return f"bucket({self.buckets}, {self.column})"
        return f"{self.transform}({self.column})"


def parse_partition(item: str) -> PartitionField:
    """One ``partition_by`` entry; ValueError says what is wrong and what is accepted."""
    if not isinstance(item, str) or not item.strip():
        raise ValueError(f"partition_by entry {item!r}: give a column name or a transform such "
                         "as 'day(ts)' or 'bucket(16, id)'")
    m = _CALL.match(item)
    if m is None:
        if "(" in item or ")" in item:
            raise ValueError(f"partition_by entry {item!r}: unbalanced parentheses; write "
                             f"'transform(column)' with transform one of {', '.join(TRANSFORMS)}")
        return PartitionField(item)
    func, args = m.group(1).lower(), m.group(2)
    func = _ALIASES.get(func, func)
    if func not in TRANSFORMS:
        raise ValueError(f"partition_by entry {item!r}: unknown transform {m.group(1)!r}; "
                         f"use one of {', '.join(TRANSFORMS)} (e.g. 'day(ts)', 'bucket(16, id)')")
    if func != "bucket":
        column = args.strip()
        if not column:
            raise ValueError(f"partition_by entry {item!r}: {func}() needs a column name")
        return PartitionField(column, func)
    first, sep, rest = args.partition(",")
    last_head, last_sep, last = args.rpartition(",")
    if sep and _INT.match(first):
        n, column = int(first), rest.strip()
    elif last_sep and _INT.match(last):
        n, column = int(last), last_head.strip()
    else:
        raise ValueError(f"partition_by entry {item!r}: bucket needs a number of buckets and a "
                         "column, as in 'bucket(16, id)'")
    if not column:
        raise ValueError(f"partition_by entry {item!r}: bucket() needs a column name")
    if not 1 <= n <= 2**31 - 1:
        raise ValueError(f"partition_by entry {item!r}: the number of buckets must be between 1 "
                         "and 2147483647")
    return PartitionField(column, "bucket", n)


def parse_partitions(items: list[str]) -> list[PartitionField]:
    """Every entry, checked together: no field twice (Iceberg refuses redundant fields)."""
    fields = [parse_partition(i) for i in items]
    seen: dict[str, str] = {}
    for f in fields:
        if f.name in seen:
            raise ValueError(f"partition_by names the partition field {f.name!r} twice "
                             f"({seen[f.name]!r} and {str(f)!r})")
        seen[f.name] = str(f)
    return fields


def canonical(items: list[str]) -> list[str]:
    """The entries in one spelling: plain column names stay as they are."""
    return [str(f) for f in parse_partitions(items)]
