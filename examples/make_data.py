"""Write the small input files the example pipelines read, under ./data (run from this folder).

    python make_data.py && workbench run 01-checks.yaml
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from pathlib import Path

REGIONS = ["north", "south", "east", "west"]


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def make(folder: Path) -> Path:
    data = folder / "data"
    # sales.csv: one row per order, with an R-style NA in quantity now and then
    write_csv(data / "sales.csv", ["order_id", "customer_id", "region", "amount", "quantity"],
              [[i, 100 + i % 7, REGIONS[i % 4], round(5 + (i * 37 % 400) / 4, 2),
                "NA" if i % 50 == 0 else 1 + i % 9] for i in range(1, 1001)])
    # orders/2026-MM.csv: one file a month, read as one glob
    for month in (1, 2, 3):
        write_csv(data / "orders" / f"2026-{month:02d}.csv", ["order_id", "day", "region", "amount"],
                  [[month * 1000 + i, f"2026-{month:02d}-{1 + i % 28:02d}", REGIONS[i % 4], 10 + i % 90]
                   for i in range(200)])
    # customers.csv: looked up by a SQL join once it is a dataset
    write_csv(data / "customers.csv", ["customer_id", "name", "segment"],
              [[100 + i, f"customer {i}", "retail" if i % 2 else "wholesale"] for i in range(7)])
    # price_changes.csv: new prices for some products, merged into a dataset by key
    write_csv(data / "products.csv", ["sku", "name", "price"],
              [[f"SKU-{i:03d}", f"product {i}", 10 + i] for i in range(20)])
    write_csv(data / "price_changes.csv", ["sku", "name", "price"],
              [[f"SKU-{i:03d}", f"product {i}", 99 + i] for i in range(15, 25)])
    # shop.sqlite: an application database with an updated_at column for incremental loads
    db = data / "shop.sqlite"
    db.unlink(missing_ok=True)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE payments (id INTEGER PRIMARY KEY, order_id INTEGER, amount REAL, "
                "method TEXT, updated_at TEXT)")
    con.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?)",
                    [(i, i, 5 + i % 100, "card" if i % 3 else "cash", f"2026-01-{1 + i % 28:02d} 12:00:00")
                     for i in range(1, 301)])
    con.commit()
    con.close()
    return data


if __name__ == "__main__":
    print(make(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent))
