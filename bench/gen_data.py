"""Write a seeded synthetic CSV with mixed column types, for the ingest benchmark.

    python bench/gen_data.py --size 1GB --out /tmp/wb-bench/events-1GB.csv

Columns (one of each kind an analyst's export carries):

    id            int, increasing
    event_time    timestamp ``YYYY-MM-DD HH:MM:SS``
    region        category, 12 values
    sku           category, 5,000 values
    amount        float, 2 decimals, ~1% empty
    ratio         float, full precision
    quantity      nullable int with R-style ``NA`` markers (~5%)
    user_id       int, wide range
    is_member     boolean ``true``/``false``
    comment       free text of 0-9 words, some with commas and quotes (so quoted), ~10% empty

The file is written in chunks of ``--chunk-rows`` rows, each from its own seeded generator, so
the same seed and size give the same bytes and a 10 GB file takes as little memory as a 1 MB one.
The first ``NA`` appears in row 0, so a reader cannot type ``quantity`` as text by accident of
inference and still succeed only by luck.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

import numpy as np
import polars as pl

REGIONS = ["north", "south", "east", "west", "central", "north-east", "north-west", "south-east",
           "south-west", "islands", "overseas", "online"]
WORDS = ("the order arrived late and the box was damaged but support replaced it quickly "
         "great price would buy again colour differs from the photo size runs small "
         "delivered to the wrong address, refund requested \"fragile\" item, handle with care "
         "excellent quality poor packaging ok fine n/a thanks").split(" ")
START = 1_704_067_200  # 2024-01-01 00:00:00 UTC, in seconds


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 100MB, 1GB, 10GB)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2) or " "))


def make_chunk(seed: int, index: int, first_id: int, rows: int) -> pl.DataFrame:
    # One generator per chunk, seeded by (seed, chunk index): chunks are independent and repeatable.
    rng = np.random.default_rng([seed, index])
    ids = np.arange(first_id, first_id + rows, dtype=np.int64)
    seconds = START + ids * 3 + rng.integers(0, 3, rows)

    amount = np.round(rng.gamma(2.0, 40.0, rows), 2)
    quantity = rng.integers(1, 50, rows).astype(str).astype(object)
    quantity[rng.random(rows) < 0.05] = "NA"
    if index == 0:
        quantity[0] = "NA"

    words = np.array(WORDS, dtype=object)
    word_cols = {}
    lengths = rng.integers(0, 10, rows)
    lengths[rng.random(rows) < 0.10] = 0
    for w in range(9):
        picked = words[rng.integers(0, len(WORDS), rows)]
        word_cols[f"w{w}"] = pl.Series(picked, dtype=pl.String).set(
            pl.Series(lengths <= w), None)  # type: ignore[arg-type]

    df = pl.DataFrame({
        "id": ids,
        "event_time": pl.Series(seconds * 1_000_000).cast(pl.Datetime("us")),
        "region": np.array(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), rows)],
        "sku": pl.Series(rng.integers(0, 5000, rows)).cast(pl.String).str.zfill(5),
        "amount": pl.Series(amount).set(pl.Series(rng.random(rows) < 0.01), None),  # type: ignore[arg-type]
        "ratio": rng.random(rows),
        "quantity": pl.Series(quantity, dtype=pl.String),
        "user_id": rng.integers(1, 2_000_000_000, rows),
        "is_member": rng.random(rows) < 0.3,
        **word_cols,
    })
    return df.select(
        "id", "event_time", "region", ("SKU-" + pl.col("sku")).alias("sku"), "amount", "ratio",
        "quantity", "user_id", "is_member",
        pl.concat_str([pl.col(f"w{w}") for w in range(9)], separator=" ", ignore_nulls=True)
        .alias("comment"),
    )


def generate(out: str, size: int, *, seed: int = 42, chunk_rows: int = 200_000,
             quiet: bool = False) -> dict:
    """Write at least ``size`` bytes of whole rows to ``out``; returns rows and bytes written."""
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    tmp = out + ".part"
    rows = 0
    index = 0
    t0 = time.time()
    with open(tmp, "wb") as f:
        while f.tell() < size:
            # The last chunk is cut so the file ends close to the requested size.
            left = size - f.tell()
            per_row = f.tell() / rows if rows else 120.0
            n = int(max(1000, min(chunk_rows, left / per_row + 1)))
            df = make_chunk(seed, index, rows, n)
            df.write_csv(f, include_header=index == 0, datetime_format="%Y-%m-%d %H:%M:%S",
                         null_value="")
            rows += n
            index += 1
            if not quiet and index % 25 == 0:
                print(f"  {f.tell() / 2**20:,.0f} MiB, {rows:,} rows", file=sys.stderr)
        written = f.tell()
    os.replace(tmp, out)
    return {"path": out, "rows": rows, "bytes": written, "seed": seed,
            "seconds": round(time.time() - t0, 2)}


WIDE_KINDS = ("numeric", "mixed")


def generate_wide(out: str, cols: int, rows: int, *, kind: str = "numeric", seed: int = 42) -> None:
    """A wide CSV (surveys, sensors, one-hot features) of ``cols`` columns and ``rows`` rows.

    ``numeric`` (the fair case against bare Polars): columns cycling through int and float with
    ~5 % empty fields, both of which bare Polars types as numbers. ``mixed``: int, float with
    empty fields, a 12-value category and a boolean. Empty fields are written unquoted (a null,
    not ``""``): Polars reads a quoted empty field as an empty string, which made every float
    column text in both contenders. (Empty, not ``NA``: bare Polars reads an empty field as
    null without options.)"""
    if kind not in WIDE_KINDS:
        raise ValueError(f"kind must be one of {WIDE_KINDS}, not {kind!r}")
    rng = np.random.default_rng(seed)
    cycle = 2 if kind == "numeric" else 4
    data: dict[str, object] = {}
    for i in range(cols):
        k = i % cycle
        if k == 0:
            data[f"i{i}"] = rng.integers(0, 1000, rows)
        elif k == 1:
            v = np.round(rng.random(rows) * 100, 2)
            data[f"f{i}"] = pl.Series(v).set(pl.Series(rng.random(rows) < 0.05), None)
        elif k == 2:
            data[f"s{i}"] = np.array(REGIONS)[rng.integers(0, len(REGIONS), rows)]
        else:
            data[f"b{i}"] = rng.random(rows) < 0.5
    tmp = out + ".part"
    pl.DataFrame(data).write_csv(tmp)
    os.replace(tmp, out)


def ensure_wide(cols: int, rows: int, data_dir: str, kind: str = "numeric") -> str:
    """``wide-<cols>x<rows>.csv`` (numeric) or ``wide-<cols>x<rows>-mixed.csv`` in ``data_dir``,
    generated if missing."""
    suffix = "" if kind == "numeric" else f"-{kind}"
    path = os.path.join(os.path.abspath(data_dir), f"wide-{cols}x{rows}{suffix}.csv")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        print(f"generating {path} …", file=sys.stderr)
        generate_wide(path, cols, rows, kind=kind)
    return path


def ensure_file(file: str | None, size: str, data_dir: str) -> tuple[str, bool]:
    """The benchmark's CSV: ``file`` when given, else ``events-<size>.csv`` in ``data_dir``,
    generated if missing. Returns the path and whether it was generated now."""
    if file:
        return os.path.abspath(file), False
    path = os.path.join(os.path.abspath(data_dir), f"events-{size}.csv")
    if os.path.exists(path):
        return path, False
    print(f"generating {path} …", file=sys.stderr)
    generate(path, parse_size(size), quiet=False)
    return path, True


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=parse_size("100MB"),
                    help="target size: 100MB, 1GB, 10GB (default 100MB)")
    ap.add_argument("--out", help="output path (default bench/out/events-<size>.csv)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--chunk-rows", type=int, default=200_000)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(os.path.dirname(__file__), "out", f"events-{args.size}.csv")
    info = generate(out, args.size, seed=args.seed, chunk_rows=args.chunk_rows)
    print(f"wrote {info['path']}: {info['rows']:,} rows, {info['bytes'] / 2**20:,.1f} MiB "
          f"in {info['seconds']} s")


if __name__ == "__main__":
    main()
