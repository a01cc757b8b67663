"""Every benchmark in one command, printed as one table of ratios.

    python bench/run_all.py --quick              # every bench at a small size, a few minutes
    python bench/run_all.py --quick --only ingest,wide
    python bench/run_all.py                      # the full sizes (long: run on a quiet machine)

Each bench runs as its own subprocess (as one would run it by hand) with a time bound; what it
writes (its JSON under bench/out/, or its summary line) is read back into rows of
``bench | case | ratio | peak RSS``. A ratio is always the bench's own: ours against the
baseline it names, measured in the same run (interleaved), so a loaded machine moves both
sides. A bench that fails or times out shows as such in the table, with the end of its output,
and does not stop the others.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "out")
PY = sys.executable

# name -> (quick arguments, full arguments)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "ingest": (["ingest_bench.py", "--size", "20MB", "--repeat", "1"],
               ["ingest_bench.py", "--size", "1GB", "--repeat", "3"]),
    "wide": (["wide_bench.py", "--cases", "1000x100,10000x100,1000x100-mixed", "--repeat", "1"],
             ["wide_bench.py", "--cases", "10000x1000,100000x100,10000x1000-mixed",
              "--repeat", "2"]),
    "s3": (["s3_ingest.py", "--size", "20MB", "--repeat", "1"],
           ["s3_ingest.py", "--size", "1GB", "--repeat", "3"]),
    "db": (["db_bench.py", "--rows", "200000", "--repeat", "1"],
           ["db_bench.py", "--rows", "5000000", "--repeat", "2"]),
    "celery": (["celery_bench.py", "--only", "latency,throughput,events,ingest,fanout",
                "--jobs", "30", "--throughput-jobs", "60", "--events", "5000", "--ingest-size", "20MB",
                "--ingest-file", "/tmp/wb-bench/events-20MB.csv", "--rounds", "1",
                "--fan-files", "4", "--fan-size", "4MB", "--fan-dir", "/tmp/wb-bench/fanout-quick"],
               ["celery_bench.py", "--only", "latency,throughput,events,ingest,fanout"]),
    "notebook": (["notebook_bench.py", "--rows", "200000", "--repeat", "3"],
                 ["notebook_bench.py"]),
    "iceberg": (["iceberg_bench.py", "--size", "20MB", "--repeat", "1"],
                ["iceberg_bench.py", "--size", "1GB", "--repeat", "3"]),
}


def _json_after(pattern: str, out: str) -> dict | None:
    m = re.search(pattern + r"\s+(\S+\.json)", out)
    if not m or not os.path.exists(m.group(1)):
        return None
    with open(m.group(1)) as f:
        return json.load(f)


def rows_ingest(out: str, _extra: dict) -> list[tuple]:
    data = _json_after("wrote", out)
    if not data:
        return []
    return [("ingest", f"{mode} vs polars", s.get("time_ratio"), s["peak_rss_mb"], s.get("rss_ratio"))
            for mode, s in data["summary"].items() if mode != "polars"]


def _kind_suffix(r: dict) -> str:
    kind = r.get("kind", "numeric")
    return "" if kind == "numeric" else f"-{kind}"


def rows_wide(_out: str, extra: dict) -> list[tuple]:
    with open(extra["json"]) as f:
        data = json.load(f)
    return [("wide", f"{r['cols']}x{r['rows']}{_kind_suffix(r)} wb vs polars", r["summary"]["workbench"]["time_ratio"],
             r["summary"]["workbench"]["peak_rss_mb"], r["summary"]["workbench"]["rss_ratio"])
            for r in data["results"]]


def rows_s3(out: str, _extra: dict) -> list[tuple]:
    data = _json_after("wrote", out)
    if not data:
        return []
    return [("s3", f"{group}: {mode}", s.get("time_ratio"), s.get("peak_rss_mb"), s.get("rss_ratio"))
            for group, by in data["summary"].items() for mode, s in by.items()]


def rows_db(_out: str, extra: dict) -> list[tuple]:
    path = os.path.join(OUT_DIR, f"db_bench-{extra['rows']}.json")
    if not os.path.exists(path) or os.path.getmtime(path) < extra["started"]:
        return []
    with open(path) as f:
        data = json.load(f)
    return [("db", name, s["ratio"], s["peak_rss_mb"], None) for name, s in data["summary"].items()]


def rows_celery(out: str, _extra: dict) -> list[tuple]:
    data = _json_after("written", out)
    if not data:
        return []
    rows = []
    for section, body in data.items():
        if not isinstance(body, dict):
            continue
        for key, value in _leaves(body):
            if isinstance(value, (int, float)) and re.search(r"ratio|speedup|per_s|median|share", key):
                rows.append(("celery", f"{section} {key}", value, None, None))
    return rows


def _leaves(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def rows_notebook(out: str, _extra: dict) -> list[tuple]:
    m = re.search(r"ratio with/without: ([\d.]+)", out)
    return [("notebook", "ingest with a live view vs without", float(m.group(1)), None, None)] if m else []


def rows_iceberg(out: str, _extra: dict) -> list[tuple]:
    data = _json_after("wrote", out)
    if not data:
        return []
    s = data["summary"]
    return [("iceberg", f"snapshot commit share of ingest: {s['commit_share_pct']} %",
             s.get("ingest_ratio_paired_median", s["ingest_ratio_with_vs_without"]), None, None)]


PARSERS = {"iceberg": rows_iceberg, "ingest": rows_ingest, "wide": rows_wide, "s3": rows_s3, "db": rows_db,
           "celery": rows_celery, "notebook": rows_notebook}


def run(name: str, quick: bool, timeout: float) -> tuple[list[tuple], str]:
    args = list(BENCHES[name][0 if quick else 1])
    extra: dict = {"started": time.time()}
    if name == "wide":
        extra["json"] = os.path.join(tempfile.mkdtemp(prefix="wb-runall-"), "wide.json")
        args += ["--json", extra["json"]]
    if name == "db":
        extra["rows"] = int(args[args.index("--rows") + 1]) if "--rows" in args else 5_000_000
    cmd = [PY, os.path.join(HERE, args[0]), *args[1:]]
    print(f"== {name}: {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-600:] if isinstance(exc.stdout, bytes) else (exc.stdout or "")[-600:]
        return [], f"timed out after {timeout:.0f} s {tail!s}"
    took = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return [], f"failed (exit {proc.returncode}) after {took:.0f} s: {out.strip()[-600:]}"
    try:
        rows = PARSERS[name](out, extra)
    except (OSError, KeyError, ValueError) as exc:
        return [], f"ran in {took:.0f} s but its results could not be read: {exc!r}"
    return rows, f"ok in {took:.0f} s" if rows else f"ran in {took:.0f} s, no ratios found"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="run every benchmark, print one table of ratios")
    ap.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma list of: " + ",".join(BENCHES))
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds allowed to each bench (default 300 quick, 7200 full)")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        ap.error(f"unknown bench {unknown[0]!r}; choose from {', '.join(BENCHES)}")
    timeout = args.timeout or (300 if args.quick else 7200)
    table: list[tuple] = []
    status: dict[str, str] = {}
    for name in names:
        rows, status[name] = run(name, args.quick, timeout)
        table += rows
        print(f"   {status[name][:300]}", flush=True)
    print(f"\n{'bench':9s} {'case':44s} {'ratio':>8s} {'peak RSS MiB':>12s} {'RSS ratio':>9s}")
    for bench, case, ratio, rss, rss_ratio in table:
        print(f"{bench:9s} {case[:44]:44s} {_num(ratio):>8s} {_num(rss, 0):>12s} {_num(rss_ratio):>9s}")
    for name in names:
        if not status[name].startswith("ok"):
            print(f"{name:9s} {status[name][:200]}")
    print("ratio: ours / the bench's baseline in the same run (celery: the raw figure named);"
          " the machine's load moves both sides alike")
    return 0 if all(s.startswith("ok") for s in status.values()) else 1


def _num(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
