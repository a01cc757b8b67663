"""What making each version an Iceberg snapshot costs: the commit against the whole ingest.

    python bench/iceberg_bench.py --size 1GB --repeat 3     # the issue's target: commit <= 2 %
    python bench/iceberg_bench.py --size 20MB --repeat 1    # run_all --quick
    python bench/iceberg_bench.py --size 100MB --partition-by "day(event_time)"

Each run is a fresh subprocess with a fresh ``WORKBENCH_HOME`` (local storage, SQLite catalog),
interleaved in alternating order, the file read once before each: ``iceberg`` (the default,
``WORKBENCH_ICEBERG_CATALOG=sql``) and ``none`` (tables off: manifest and catalog row only). Inside the ``iceberg`` child the job runs in-process
(``WORKBENCH_LOCAL_ISOLATION=thread``) and ``dataset_store.commit_snapshot`` is timed: that is
the whole Iceberg cost of a version (open the catalog, create the table the first time, read
the footers, write manifest, manifest list and metadata, the catalog update). Two versions are
committed per run: the first creates the table, the second (an overwrite) replaces its files.
``read_s``: ``wb.read(name).collect()`` of the latest version, which must not change (reads go
through the manifest's file list, the same files the snapshot lists). ``--partition-by`` (any
``partition_by`` entry, repeated) writes both sides partitioned: the commit then places one file
per partition (a footer read each, on 8 threads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_data import ensure_file  # noqa: E402


def child(mode: str, path: str, result_file: str, partition_by: list[str]) -> None:
    import workbench as wb
    from workbench import dataset_store

    spent: list[float] = []
    real = dataset_store.commit_snapshot

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - t0)

    dataset_store.commit_snapshot = timed
    ingest = []
    for mode_ in ("create", "overwrite"):
        t0 = time.perf_counter()
        ds = wb.ingest(path, name="events", mode=mode_, partition_by=partition_by)
        ingest.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    rows = wb.read("events").collect().height
    read_s = time.perf_counter() - t0
    assert rows == ds.rows
    assert (ds.snapshot_id is not None) == (mode == "iceberg"), ds.snapshot_id
    with open(result_file, "w") as f:
        json.dump({"mode": mode, "ingest_s": ingest, "commit_s": spent, "read_s": read_s,
                   "rows": rows, "bytes": ds.bytes, "files": len(ds.files)}, f)


def run_one(mode: str, path: str, partition_by: list[str]) -> dict:
    home = tempfile.mkdtemp(prefix=f"wb-ice-{mode}-")
    result = os.path.join(home, "result.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_HOME=home, WORKBENCH_LOCAL_ISOLATION="thread",
               WORKBENCH_ICEBERG_CATALOG="sql" if mode == "iceberg" else "none")
    proc = subprocess.run([sys.executable, __file__, "--child", mode, "--file", path,
                           "--child-result", result,
                           *[f"--partition-by={p}" for p in partition_by]], env=env, capture_output=True, text=True)
    try:
        if proc.returncode != 0:
            raise RuntimeError(f"{mode} failed:\n{proc.stderr[-4000:]}")
        with open(result) as f:
            return json.load(f)
    finally:
        subprocess.run(["rm", "-rf", home], check=False)


def warm(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(16 * 1024 * 1024):
            pass


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="100MB")
    ap.add_argument("--file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data-dir", default="/tmp/wb-bench")
    ap.add_argument("--child")
    ap.add_argument("--child-result")
    ap.add_argument("--partition-by", action="append", default=[])
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.file, args.child_result, args.partition_by)
        return
    os.makedirs(args.data_dir, exist_ok=True)
    path, _ = ensure_file(args.file, args.size, args.data_dir)
    runs: dict[str, list[dict]] = {"iceberg": [], "none": []}
    for i in range(args.repeat):
        # the order alternates and the file is read just before each run, so neither side
        # alone pays for a cold page cache
        for mode in (["iceberg", "none"] if i % 2 == 0 else ["none", "iceberg"]):
            warm(path)
            runs[mode].append(run_one(mode, path, args.partition_by))
    ice, off = runs["iceberg"], runs["none"]
    commit_create = statistics.median(r["commit_s"][0] for r in ice)
    commit_replace = statistics.median(r["commit_s"][1] for r in ice)
    ingest_ice = statistics.median(r["ingest_s"][1] for r in ice)
    ingest_off = statistics.median(r["ingest_s"][1] for r in off)
    summary = {
        "file": path, "file_bytes": os.path.getsize(path), "rows": ice[0]["rows"],
        "parquet_bytes": ice[0]["bytes"], "repeat": args.repeat,
        "partition_by": args.partition_by, "files": ice[0]["files"],
        "commit_create_s": round(commit_create, 4), "commit_overwrite_s": round(commit_replace, 4),
        "ingest_with_tables_s": round(ingest_ice, 3), "ingest_without_tables_s": round(ingest_off, 3),
        # the measure: the snapshot commit's share of the whole (overwrite) ingest
        "commit_share_pct": round(100 * commit_replace / ingest_ice, 2),
        "commit_share_first_pct": round(100 * commit_create / statistics.median(
            r["ingest_s"][0] for r in ice), 2),
        "ingest_ratio_with_vs_without": round(ingest_ice / ingest_off, 3),
        # the same, per round (the two runs of a round are neighbours in time): steadier on a
        # loaded machine than the ratio of medians
        "ingest_ratio_paired_median": round(statistics.median(
            a["ingest_s"][1] / b["ingest_s"][1] for a, b in zip(ice, off)), 3),
        "read_with_tables_s": round(statistics.median(r["read_s"] for r in ice), 3),
        "read_without_tables_s": round(statistics.median(r["read_s"] for r in off), 3),
    }
    out_dir = os.path.join(HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    tag = "-partitioned" if args.partition_by else ""
    out = os.path.join(out_dir, f"iceberg_bench-{args.size}{tag}.json")
    with open(out, "w") as f:
        json.dump({"summary": summary, "runs": runs}, f, indent=1)
    print(json.dumps(summary, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
