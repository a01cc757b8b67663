"""Wide-file benchmark: CSVs of many columns and few rows, workbench against bare Polars.

    python bench/wide_bench.py                                  # 10,000 x 1,000 and 100,000 x 100
    python bench/wide_bench.py --cases 1000x100,10000x100 --repeat 1

Targets (issue 15): 10,000 columns x 1,000 rows within 3x bare Polars, 100,000 columns x 100
rows within 10x, with bounded memory. The files come from ``gen_data.generate_wide`` (numeric:
columns cycling through int and float with empty fields; ``-mixed``: int, float, a 12-value
category and a boolean) and are kept under bench/out/. Contenders and measurement are ingest_bench's: ``wb.ingest`` (profile, checks,
manifest, catalog) against ``pl.scan_csv(f).sink_parquet(out, compression="zstd")``, each run a
fresh subprocess, interleaved A B A B, peak RSS of each child from ``os.wait4``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from gen_data import ensure_wide  # noqa: E402
from ingest_bench import OUT_DIR, _versions, run_one, summarize, warm  # noqa: E402

CONTENDERS = ["workbench", "polars"]
TARGETS = {(10_000, 1_000): 3.0, (100_000, 100): 10.0}


def parse_case(text: str) -> tuple[int, int, str]:
    """``10000x1000`` (numeric columns) or ``10000x1000-mixed``."""
    shape, _, kind = text.lower().partition("-")
    cols, rows = shape.split("x")
    return int(cols), int(rows), kind or "numeric"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="wide-file benchmark (see the module docstring)")
    ap.add_argument("--cases", default="10000x1000,100000x100,10000x1000-mixed",
                    help="comma list of COLSxROWS (numeric columns) or COLSxROWS-mixed")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of A B (default 2)")
    ap.add_argument("--data-dir", default=OUT_DIR)
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args(argv)
    # 100,000 columns is past the reader's default guard (16,384): this bench is about them
    os.environ.setdefault("WORKBENCH_MAX_COLUMNS", "1000000")
    results = []
    for case in args.cases.split(","):
        cols, rows, kind = parse_case(case)
        path = ensure_wide(cols, rows, args.data_dir, kind)
        work = tempfile.mkdtemp(prefix="wb-wide-")
        runs = []
        try:
            warm(path)
            for round_ in range(args.repeat):
                for mode in CONTENDERS:
                    r = run_one(mode, path, work)
                    r["round"] = round_
                    runs.append(r)
                    print(f"{cols}x{rows} {kind} round {round_} {mode:9s} op {r['op_s']:7.2f} s"
                          f"  process {r['proc_s']:7.2f} s  peak RSS {r['peak_rss_mb']:7.1f} MiB",
                          flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        s = summarize(runs, CONTENDERS)
        results.append({"cols": cols, "rows": rows, "kind": kind, "bytes": os.path.getsize(path),
                        "target": TARGETS.get((cols, rows)) if kind == "numeric" else None,
                        "summary": s})
    print(f"\nwide files, median of {args.repeat}, ratios against bare polars in the same run")
    print(f"{'case':>14s} {'kind':7s} {'wb s':>7s} {'polars s':>8s} {'ratio':>6s} {'proc ratio':>10s}"
          f" {'wb RSS MiB':>10s} {'RSS ratio':>9s} {'target':>6s}")
    for r in results:
        w, p = r["summary"]["workbench"], r["summary"]["polars"]
        target = f"{r['target']:.0f}x" if r["target"] else "-"
        print(f"{r['cols']:>7,}x{r['rows']:<6,} {r['kind']:7s} {w['op_s']:7.2f} {p['op_s']:8.2f} {w['time_ratio']:6.2f}"
              f" {w['proc_ratio']:10.2f} {w['peak_rss_mb']:10.1f} {w['rss_ratio']:9.2f} {target:>6s}")
    out = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "versions": _versions(),
           "cpus": os.cpu_count(), "results": results}
    os.makedirs(OUT_DIR, exist_ok=True)
    for dest in filter(None, [args.json, os.path.join(OUT_DIR, f"wide-{time.strftime('%Y%m%d-%H%M%S')}.json")]):
        with open(dest, "w") as f:
            json.dump(out, f, indent=2, default=str)


if __name__ == "__main__":
    main()
