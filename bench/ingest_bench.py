"""Ingest benchmark: the full ``workbench`` ingest against bare Polars and DuckDB.

    python bench/ingest_bench.py --size 1GB            # generates bench/out/events-1GB.csv if missing
    python bench/ingest_bench.py --file my.csv --repeat 3

Contenders (all write zstd Parquet from the same CSV):

    workbench     wb.ingest(f, name=...): parse, Parquet, schema, profile, SHA-256 of the input and
                  of every Parquet file, manifest, catalog row (WORKBENCH_HOME in a fresh temp folder)
    polars        pl.scan_csv(f).sink_parquet(out, compression="zstd")      (the target's baseline)
    polars_typed  the same with null_values=["NA"], try_parse_dates=True, so the output has the
                  types workbench gives (bare Polars reads NA-marked ints and timestamps as text)
    duckdb        COPY (SELECT * FROM read_csv(f)) TO out (FORMAT parquet, COMPRESSION zstd)

Each run is a fresh subprocess, in the interleaved order A B C D A B C D …, so drift on the machine
hits every contender alike; the parent takes the child's peak RSS from ``os.wait4`` (the kernel's
``ru_maxrss`` of that one child). Times are measured in the child around the operation only
(``op_s``, imports excluded) and by the parent around the whole process (``proc_s``); ``op_cpu_s``
is the CPU time of all the child's threads during the operation, which other work on a shared
machine disturbs less than wall time. Results are
printed and written as JSON under bench/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "out")
CONTENDERS = ("workbench", "polars", "polars_typed", "duckdb")
BASELINE = "polars"


# ----------------------------------------------------------------------------- child side
def _parquet_rows(paths: list[str]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def _parquet_files(root: str) -> list[str]:
    found = []
    for dirpath, _dirs, files in os.walk(root):
        found += [os.path.join(dirpath, f) for f in files if f.endswith(".parquet")]
    return sorted(found)


def _cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def child(mode: str, path: str, out_dir: str) -> dict:
    """Run one contender in this process; returns what the parent records."""
    result: dict = {"mode": mode}
    if mode == "workbench":
        os.environ["WORKBENCH_HOME"] = out_dir
        # The job runs in this process, so that its CPU time and peak RSS are the ones counted:
        # by default a local job runs in a process of the fork server, which neither
        # RUSAGE_SELF nor the parent's wait4 sees (they counted the imports only).
        os.environ.setdefault("WORKBENCH_LOCAL_ISOLATION", "thread")
        for var in ("WORKBENCH_STORAGE_URL", "WORKBENCH_CATALOG_URL", "WORKBENCH_BROKER_URL"):
            os.environ.pop(var, None)
        import workbench as wb

        cpu0, t0 = _cpu(), time.perf_counter()
        ds = wb.ingest(path, name="bench")
        result["op_s"] = time.perf_counter() - t0
        result["op_cpu_s"] = _cpu() - cpu0
        result["rows"] = ds.rows
        result["schema"] = {f["name"]: f["type"] for f in ds.schema["fields"]}
        result["checksum"] = ds.checksum
        result["input_sha256"] = (ds.inputs or [{}])[0].get("sha256")
    elif mode in ("polars", "polars_typed"):
        import polars as pl

        out = os.path.join(out_dir, "out.parquet")
        opts = {"null_values": ["NA"], "try_parse_dates": True} if mode == "polars_typed" else {}
        cpu0, t0 = _cpu(), time.perf_counter()
        pl.scan_csv(path, **opts).sink_parquet(out, compression="zstd")
        result["op_s"] = time.perf_counter() - t0
        result["op_cpu_s"] = _cpu() - cpu0
        result["schema"] = {k: str(v) for k, v in pl.scan_parquet(out).collect_schema().items()}
    elif mode == "duckdb":
        import duckdb

        out = os.path.join(out_dir, "out.parquet")
        con = duckdb.connect()
        cpu0, t0 = _cpu(), time.perf_counter()
        con.execute(f"COPY (SELECT * FROM read_csv('{path}')) TO '{out}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
        result["op_s"] = time.perf_counter() - t0
        result["op_cpu_s"] = _cpu() - cpu0
        result["schema"] = {c[0]: str(c[1]) for c in con.sql(
            f"DESCRIBE SELECT * FROM read_parquet('{out}')").fetchall()}
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    files = _parquet_files(out_dir)
    result["out_bytes"] = sum(os.path.getsize(f) for f in files)
    result["out_files"] = len(files)
    result.setdefault("rows", _parquet_rows(files))
    return result


# ----------------------------------------------------------------------------- parent side
def run_one(mode: str, path: str, work: str) -> dict:
    out_dir = tempfile.mkdtemp(prefix=f"{mode}-", dir=work)
    result_file = os.path.join(out_dir, "..", f"{os.path.basename(out_dir)}.json")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--file", path,
           "--child-out", out_dir, "--child-result", result_file]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4 gives this one child's rusage: its own peak RSS, not the max over all children.
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc_s = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    try:
        if proc.returncode != 0:
            raise RuntimeError(f"{mode} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
        with open(result_file) as f:
            result = json.load(f)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        if os.path.exists(result_file):
            os.unlink(result_file)
    result.update(proc_s=proc_s, peak_rss_mb=usage.ru_maxrss / 1024,
                  user_s=usage.ru_utime, sys_s=usage.ru_stime)
    return result


def warm(path: str) -> None:
    """Read the file once so the first contender does not pay for a cold page cache alone."""
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


def summarize(runs: list[dict], contenders: list[str]) -> dict:
    by: dict[str, dict] = {}
    for mode in contenders:
        mine = [r for r in runs if r["mode"] == mode]
        by[mode] = {
            "op_s": statistics.median(r["op_s"] for r in mine),
            "op_s_min": min(r["op_s"] for r in mine),
            "proc_s": statistics.median(r["proc_s"] for r in mine),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
            "op_cpu_s": statistics.median(r["op_cpu_s"] for r in mine),
            "cpu_s": statistics.median(r["user_s"] + r["sys_s"] for r in mine),
            "out_bytes": mine[-1]["out_bytes"],
            "rows": mine[-1]["rows"],
            "schema": mine[-1].get("schema"),
        }
    if BASELINE in by:
        base = by[BASELINE]
        for mode, s in by.items():
            s["time_ratio"] = s["op_s"] / base["op_s"]
            s["time_ratio_best"] = s["op_s_min"] / base["op_s_min"]
            s["cpu_ratio"] = s["op_cpu_s"] / base["op_cpu_s"]
            s["proc_ratio"] = s["proc_s"] / base["proc_s"]
            s["rss_ratio"] = s["peak_rss_mb"] / base["peak_rss_mb"]
    return by


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="ingest benchmark (see the module docstring)")
    ap.add_argument("--size", default="100MB", help="generate a file of this size (100MB, 1GB, 10GB)")
    ap.add_argument("--file", help="benchmark this CSV instead of a generated one")
    ap.add_argument("--repeat", type=int, default=2, help="rounds of A B C D (default 2)")
    ap.add_argument("--only", default=",".join(CONTENDERS), help="comma list of contenders")
    ap.add_argument("--data-dir", default=OUT_DIR, help="where generated files go")
    ap.add_argument("--work-dir", default=None, help="where outputs go (default: a temp folder)")
    ap.add_argument("--keep-data", action="store_true", help="keep a generated file afterwards")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--child-result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        result = child(args.child, args.file, args.child_out)
        with open(args.child_result, "w") as f:
            json.dump(result, f)
        return

    contenders = [c for c in args.only.split(",") if c]
    sys.path.insert(0, HERE)
    from gen_data import ensure_file

    path, generated = ensure_file(args.file, args.size, args.data_dir)
    size = os.path.getsize(path)
    work = tempfile.mkdtemp(prefix="wb-bench-", dir=args.work_dir)
    runs: list[dict] = []
    try:
        warm(path)
        for round_ in range(args.repeat):
            for mode in contenders:
                r = run_one(mode, path, work)
                r["round"] = round_
                runs.append(r)
                print(f"round {round_} {mode:13s} op {r['op_s']:7.2f} s  cpu {r['op_cpu_s']:6.2f} s"
                      f"  process {r['proc_s']:7.2f} s  peak RSS {r['peak_rss_mb']:7.1f} MiB"
                      f"  rows {r['rows']:,}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if generated and not args.keep_data:
            os.unlink(path)
    summary = summarize(runs, contenders)
    print(f"\n{os.path.basename(path)}: {size / 2**20:,.0f} MiB, median of {args.repeat} runs,"
          f" ratios against bare {BASELINE}")
    print(f"{'':13s} {'op s':>7s} {'ratio':>6s} {'best s':>7s} {'ratio':>6s} {'cpu s':>7s} {'ratio':>6s}"
          f" {'proc s':>7s} {'ratio':>6s} {'RSS MiB':>8s} {'ratio':>6s} {'out MiB':>8s}")
    for mode, s in summary.items():
        print(f"{mode:13s} {s['op_s']:7.2f} {s.get('time_ratio', 0):6.2f} {s['op_s_min']:7.2f}"
              f" {s.get('time_ratio_best', 0):6.2f} {s['op_cpu_s']:7.2f} {s.get('cpu_ratio', 0):6.2f}"
              f" {s['proc_s']:7.2f} {s.get('proc_ratio', 0):6.2f} {s['peak_rss_mb']:8.1f}"
              f" {s.get('rss_ratio', 0):6.2f} {s['out_bytes'] / 2**20:8.1f}")
    print("op: median wall time of the operation; best: fastest run; cpu: median CPU time of the"
          " operation; proc: median wall time of the whole process; RSS: highest peak of any run")
    os.makedirs(OUT_DIR, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_json = os.path.join(OUT_DIR, f"ingest-{size // 2**20}MiB-{stamp}.json")
    with open(out_json, "w") as f:
        json.dump({
            "file": path, "bytes": size, "repeat": args.repeat, "order": contenders,
            "baseline": BASELINE, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                              "platform": platform.platform()},
            "versions": _versions(), "summary": summary, "runs": runs,
        }, f, indent=2, default=str)
    print(f"\nwrote {out_json}")


def _versions() -> dict:
    out = {}
    for mod in ("polars", "duckdb", "pyarrow"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            out[mod] = None
    return out


if __name__ == "__main__":
    main()
