"""S3 benchmark against a local S3 server (moto), as ratios against bare tools in the same run.

    python bench/s3_ingest.py --size 1GB                 # generates bench/out/events-1GB.csv if missing
    python bench/s3_ingest.py --file my.csv --repeat 3 --only ingest

Three groups, each contender a fresh subprocess, interleaved A B A B … so drift hits all alike;
the parent takes each child's peak RSS from ``os.wait4``:

    upload   the CSV from local disk into the bucket
             boto3          s3.upload_file (boto3's defaults: 8 MiB parts, 10 threads, CRC32)
             boto3_nocrc    the same with checksums "when_required" (as our clients)
             workbench      S3Storage.open_write streamed in 8 MiB writes (our multipart writer)
    ingest   the CSV object in the bucket into Parquet in the bucket
             workbench      wb.ingest("s3://…/events.csv") with WORKBENCH_STORAGE_URL=s3://…:
                            parse, Parquet parts streamed up, profile, SHA-256, manifest, catalog
             polars         pl.scan_csv(s3 url).sink_parquet(s3 url), zstd (the baseline)
             polars_typed   the same with null_values=["NA"], try_parse_dates=True
    scan     read the workbench dataset's Parquet back from the bucket into a DataFrame
             polars         pl.scan_parquet(s3 urls, storage_options).collect()
             pyarrow        pyarrow.dataset over pyarrow.fs.S3FileSystem, then pl.from_arrow

moto is a single Python process: it caps absolute throughput (a real endpoint is faster), and it
shares this machine's cores with the contenders. Read the ratios, not the MB/s, as the result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "out")
SRC = os.path.join(os.path.dirname(HERE), "src")
GROUPS = {
    "upload": ("boto3", "boto3_nocrc", "workbench"),
    "ingest": ("workbench", "polars", "polars_typed"),
    "scan": ("polars", "pyarrow"),
}
BASELINE = {"upload": "boto3", "ingest": "polars", "scan": "polars"}
BUCKET = "bench"
CSV_KEY = "landing/events.csv"
KEYS = ("testing", "testing")


# ----------------------------------------------------------------------------- child side
def _settings(endpoint: str, home: str):
    sys.path.insert(0, SRC)
    from workbench.settings import Settings

    # One catalog for every run: the dataset's versions follow each other as in real use.
    return Settings(home=__import__("pathlib").Path(home), storage_url=f"s3://{BUCKET}/wb",
                    catalog_url=os.environ["BENCH_CATALOG"], s3_endpoint_url=endpoint,
                    s3_access_key_id=KEYS[0], s3_secret_access_key=KEYS[1])


def _boto3(endpoint: str, nocrc: bool):
    import boto3
    from botocore.config import Config

    cfg = Config(request_checksum_calculation="when_required",
                 response_checksum_validation="when_required") if nocrc else None
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=KEYS[0], aws_secret_access_key=KEYS[1], config=cfg)


def child(group: str, mode: str, endpoint: str, path: str, home: str) -> dict:
    result: dict = {"group": group, "mode": mode}
    if group == "upload":
        size = os.path.getsize(path)
        if mode in ("boto3", "boto3_nocrc"):
            client = _boto3(endpoint, mode == "boto3_nocrc")
            t0 = time.perf_counter()
            client.upload_file(path, BUCKET, "upload/events.csv")
        else:
            from workbench.storage.s3 import S3Storage

            settings = _settings(endpoint, home)
            storage = S3Storage.from_url(f"s3://{BUCKET}", settings)
            t0 = time.perf_counter()
            with open(path, "rb") as f, storage.open_write("upload/events.csv") as w:
                while chunk := f.read(8 * 1024 * 1024):
                    w.write(chunk)
        result["op_s"] = time.perf_counter() - t0
        result["mb_s"] = size / 1e6 / result["op_s"]
        return result

    settings = _settings(endpoint, home)
    from workbench.storage.s3_sources import polars_storage_options, pyarrow_filesystem

    opts = polars_storage_options(settings)
    if group == "ingest":
        src = f"s3://{BUCKET}/{CSV_KEY}"
        if mode == "workbench":
            os.environ.update(
                WORKBENCH_HOME=home, WORKBENCH_STORAGE_URL=settings.storage_url,
                WORKBENCH_CATALOG_URL=settings.catalog_url, WORKBENCH_S3_ENDPOINT_URL=endpoint,
                AWS_ACCESS_KEY_ID=KEYS[0], AWS_SECRET_ACCESS_KEY=KEYS[1])
            os.environ.pop("WORKBENCH_BROKER_URL", None)
            import workbench as wb

            t0 = time.perf_counter()
            ds = wb.ingest(src, name="bench")
            result["op_s"] = time.perf_counter() - t0
            result["rows"] = ds.rows
            result["out_bytes"] = ds.bytes
            result["files"] = [f["key"] for f in ds.files]
            result["schema"] = {f["name"]: f["type"] for f in ds.schema["fields"]}
        else:
            import polars as pl

            kw = {"null_values": ["NA"], "try_parse_dates": True} if mode == "polars_typed" else {}
            out = f"s3://{BUCKET}/bare/{mode}.parquet"
            t0 = time.perf_counter()
            pl.scan_csv(src, storage_options=opts, **kw).sink_parquet(
                out, compression="zstd", storage_options=opts)
            result["op_s"] = time.perf_counter() - t0
            lf = pl.scan_parquet(out, storage_options=opts)
            result["rows"] = lf.select(pl.len()).collect().item()
            result["schema"] = {k: str(v) for k, v in lf.collect_schema().items()}
        return result

    # scan
    import polars as pl

    files = json.loads(os.environ["BENCH_FILES"])
    t0 = time.perf_counter()
    if mode == "polars":
        df = pl.scan_parquet([f"s3://{BUCKET}/wb/{k}" for k in files], storage_options=opts).collect()
    else:
        import pyarrow.dataset as pads

        fs = pyarrow_filesystem(settings)
        df = pl.from_arrow(pads.dataset([f"{BUCKET}/wb/{k}" for k in files], filesystem=fs,
                                        format="parquet").to_table())
    result["op_s"] = time.perf_counter() - t0
    result["rows"] = df.height
    return result


# ----------------------------------------------------------------------------- parent side
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(work: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(os.path.join(work, "moto.log"), "ab"),
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto did not start")


def run_one(group: str, mode: str, endpoint: str, path: str, work: str, env: dict) -> dict:
    home = tempfile.mkdtemp(prefix=f"{group}-{mode}-", dir=work)
    result_file = home + ".json"
    cmd = [sys.executable, os.path.abspath(__file__), "--child", f"{group}:{mode}",
           "--endpoint", endpoint, "--file", path, "--child-home", home,
           "--child-result", result_file]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **env, "PYTHONPATH": SRC,
                                 "BENCH_CATALOG": f"sqlite:///{work}/catalog.db"})
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc_s = time.perf_counter() - t0
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    try:
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{group}:{mode} failed:\n{stderr[-4000:]}")
        with open(result_file) as f:
            result = json.load(f)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if os.path.exists(result_file):
            os.unlink(result_file)
    result.update(proc_s=proc_s, peak_rss_mb=usage.ru_maxrss / 1024,
                  cpu_s=usage.ru_utime + usage.ru_stime)
    return result


def clear(client, prefix: str) -> None:
    """Delete what a contender wrote, so the server's memory does not grow round after round."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])


def summarize(runs: list[dict]) -> dict:
    out: dict = {}
    for group in GROUPS:
        mine = [r for r in runs if r["group"] == group]
        if not mine:
            continue
        by: dict = {}
        for mode in dict.fromkeys(r["mode"] for r in mine):
            rs = [r for r in mine if r["mode"] == mode]
            by[mode] = {"op_s": statistics.median(r["op_s"] for r in rs),
                        "op_s_min": min(r["op_s"] for r in rs),
                        "proc_s": statistics.median(r["proc_s"] for r in rs),
                        "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                        "cpu_s": statistics.median(r["cpu_s"] for r in rs)}
            if "mb_s" in rs[0]:
                by[mode]["mb_s"] = statistics.median(r["mb_s"] for r in rs)
            for k in ("rows", "schema", "out_bytes"):
                if k in rs[-1]:
                    by[mode][k] = rs[-1][k]
        base = by.get(BASELINE[group])
        if base:
            for s in by.values():
                s["time_ratio"] = s["op_s"] / base["op_s"]
                s["rss_ratio"] = s["peak_rss_mb"] / base["peak_rss_mb"]
        out[group] = by
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="S3 benchmark (see the module docstring)")
    ap.add_argument("--size", default="1GB")
    ap.add_argument("--file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default=",".join(GROUPS), help="comma list of groups")
    ap.add_argument("--data-dir", default=OUT_DIR)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--child-home", help=argparse.SUPPRESS)
    ap.add_argument("--child-result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        group, mode = args.child.split(":")
        result = child(group, mode, args.endpoint, args.file, args.child_home)
        with open(args.child_result, "w") as f:
            json.dump(result, f)
        return

    if args.file:
        path = os.path.abspath(args.file)
    else:
        sys.path.insert(0, HERE)
        from gen_data import generate, parse_size

        path = os.path.join(os.path.abspath(args.data_dir), f"events-{args.size}.csv")
        if not os.path.exists(path):
            print(f"generating {path} …", file=sys.stderr)
            generate(path, parse_size(args.size), quiet=False)
    size = os.path.getsize(path)
    groups = [g for g in args.only.split(",") if g]
    work = tempfile.mkdtemp(prefix="wb-s3-bench-")
    moto, endpoint = start_moto(work)
    runs: list[dict] = []
    try:
        client = _boto3(endpoint, True)
        client.create_bucket(Bucket=BUCKET)
        if "ingest" in groups or "scan" in groups:
            client.upload_file(path, BUCKET, CSV_KEY)
        files_env: dict = {}
        if "scan" in groups:  # one dataset to scan, written by workbench, kept throughout
            r = run_one("ingest", "workbench", endpoint, path, work, {})
            files_env = {"BENCH_FILES": json.dumps(r["files"])}
        kept = set(json.loads(files_env.get("BENCH_FILES", "[]")))
        for round_ in range(args.repeat):
            for group in groups:
                for mode in GROUPS[group]:
                    r = run_one(group, mode, endpoint, path, work,
                                files_env if group == "scan" else {})
                    r["round"] = round_
                    runs.append(r)
                    extra = f"  {r['mb_s']:7.1f} MB/s" if "mb_s" in r else ""
                    print(f"round {round_} {group:6s} {mode:13s} op {r['op_s']:7.2f} s"
                          f"  peak RSS {r['peak_rss_mb']:8.1f} MiB  cpu {r['cpu_s']:7.2f} s{extra}",
                          flush=True)
                    if group == "upload":
                        clear(client, "upload/")
                    elif group == "ingest" and mode != "workbench":
                        clear(client, "bare/")
                    elif group == "ingest":
                        for k in r.get("files", []):
                            if k not in kept:
                                client.delete_object(Bucket=BUCKET, Key=f"wb/{k}")
    finally:
        moto.terminate()
        moto.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    summary = summarize(runs)
    print(f"\n{os.path.basename(path)}: {size / 2**20:,.0f} MiB, median of {args.repeat} rounds")
    for group, by in summary.items():
        print(f"\n{group} (ratios against {BASELINE[group]})")
        for mode, s in by.items():
            extra = f"  {s['mb_s']:7.1f} MB/s" if "mb_s" in s else ""
            print(f"  {mode:13s} {s['op_s']:8.2f} s  x{s.get('time_ratio', 0):5.2f}   "
                  f"RSS {s['peak_rss_mb']:8.1f} MiB  x{s.get('rss_ratio', 0):5.2f}{extra}")
    os.makedirs(OUT_DIR, exist_ok=True)
    out_json = os.path.join(OUT_DIR, f"s3-{size // 2**20}MiB-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(out_json, "w") as f:
        json.dump({"file": path, "bytes": size, "repeat": args.repeat,
                   "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                   "summary": summary, "runs": runs}, f, indent=2, default=str)
    print(f"\nwrote {out_json}")


if __name__ == "__main__":
    main()
