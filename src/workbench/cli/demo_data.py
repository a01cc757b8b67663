"""A seeded sample sales file for ``workbench demo``: mixed types and R-style NA nulls."""

from __future__ import annotations

from pathlib import Path

import polars as pl


def write_sample(path: Path, *, rows: int = 200_000, seed: int = 7) -> Path:
    # heavy optional dependency: imported on first use
    import numpy as np

    rng = np.random.default_rng(seed)
    regions = np.array(["north", "south", "east", "west"])
    quantity = rng.integers(1, 20, rows).astype(object)
    quantity[rng.random(rows) < 0.02] = None
    df = pl.DataFrame({
        "order_id": np.arange(1, rows + 1),
        "ordered_at": (np.datetime64("2026-01-01T00:00:00") +
                       rng.integers(0, 300 * 86400, rows).astype("timedelta64[s]")).astype("datetime64[ms]"),
        "region": regions[rng.integers(0, 4, rows)],
        "amount": np.round(rng.gamma(2.0, 40.0, rows), 2),
        "quantity": pl.Series(quantity.tolist(), dtype=pl.Int64),
        "paid": rng.random(rows) < 0.9,
    })
    df.write_csv(path, null_value="NA")
    return path
