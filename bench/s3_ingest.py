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
                            (the job in the child's own process, as in ingest_bench.py)
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


# ----------------------------------------------------------------------------- the proxy
class RangeProxy:
    """Sits between the contenders and moto: counts requests and bytes per contender, and serves
    ranged GETs from a copy of the object.

    moto answers every ranged GET by copying the whole object (twice), so a reader that makes many
    small range requests looks far slower on moto than on S3 or R2, where a range costs its own
    size. Serving ranges here keeps the comparison about the clients. Objects are cached on their
    first GET and dropped on any write to the same path.
    """

    def __init__(self, target_port: int) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.lock = threading.Lock()
        self.cache: dict[str, bytes] = {}
        self.reset()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: the headers and the body go out in two writes, and without it a
            # client's delayed ACK held each small response ~40 ms (Nagle), a stall no S3
            # endpoint has; it cost most the contenders that make many small requests
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def _forward(self, method: str, body: bytes, headers: dict) -> tuple[int, list, bytes]:
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=600)
                conn.request(method, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                return resp.status, resp.getheaders(), data

            def _send(self, status: int, headers: list, data: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("connection", "transfer-encoding", "content-length",
                                         "server", "date"):
                        self.send_header(k, v)
                if self.command == "HEAD":  # a HEAD has no body but tells the object's size
                    size = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
                    self.send_header("Content-Length", size)
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "transfer-encoding")}
                path = self.path.split("?", 1)[0]
                rng = self.headers.get("Range")
                plain_get = self.command == "GET" and "?" not in self.path.split("/", 3)[-1]
                with proxy.lock:
                    proxy.stats["requests"] += 1
                    proxy.stats[self.command] = proxy.stats.get(self.command, 0) + 1
                    proxy.stats["bytes_up"] += len(body)
                    if self.command in ("PUT", "POST", "DELETE"):
                        proxy.cache.pop(path, None)
                if plain_get and rng and rng.startswith("bytes="):
                    with proxy.lock:
                        whole = proxy.cache.get(path)
                    if whole is None:
                        h = {k: v for k, v in headers.items() if k.lower() != "range"}
                        status, rh, whole = self._forward("GET", b"", h)
                        if status != 200:
                            self._send(status, rh, whole)
                            return
                        with proxy.lock:
                            proxy.cache[path] = whole
                    start_s, _, end_s = rng[6:].partition("-")
                    size = len(whole)
                    if start_s:
                        start, end = int(start_s), min(int(end_s) if end_s else size - 1, size - 1)
                    else:
                        start, end = max(size - int(end_s), 0), size - 1
                    part = whole[start:end + 1]
                    with proxy.lock:
                        proxy.stats["bytes_down"] += len(part)
                        proxy.stats["ranged_gets"] += 1
                    self._send(206, [("Content-Range", f"bytes {start}-{end}/{size}"),
                                     ("Content-Type", "application/octet-stream"),
                                     ("Accept-Ranges", "bytes")], part)
                    return
                status, rh, data = self._forward(self.command, body, headers)
                with proxy.lock:
                    proxy.stats["bytes_down"] += len(data)
                self._send(status, rh, data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.stats = {"requests": 0, "ranged_gets": 0, "bytes_up": 0, "bytes_down": 0}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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


def _timed(result: dict, op):
    """Run ``op`` once, or twice with ``--warm``; ``op_s`` is the last run's time, ``cold_op_s``
    the first's. Returns what the last run returned."""
    for _ in range(2 if os.environ.get("BENCH_WARM") else 1):
        t0 = time.perf_counter()
        out = op()
        result.setdefault("cold_op_s", time.perf_counter() - t0)
    result["op_s"] = time.perf_counter() - t0
    return out


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
            storage.client  # built before the clock starts, as the boto3 contenders' are
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
            # The job runs in this process, as in ingest_bench.py: by default a local job runs in
            # a process of the fork server, whose peak RSS this child's VmHWM never saw (the
            # figure was the client's, ~90 MiB) and whose cold start (~1 s, the engines'
            # imports) the bare contenders do not pay, their imports being outside op_s.
            os.environ.setdefault("WORKBENCH_LOCAL_ISOLATION", "thread")
            import workbench as wb

            ds = _timed(result, lambda: wb.ingest(src, name="bench"))
            result["rows"] = ds.rows
            result["out_bytes"] = ds.bytes
            result["files"] = [f["key"] for f in ds.files]
            result["schema"] = {f["name"]: f["type"] for f in ds.schema["fields"]}
        else:
            import polars as pl

            kw = {"null_values": ["NA"], "try_parse_dates": True} if mode == "polars_typed" else {}
            out = f"s3://{BUCKET}/bare/{mode}.parquet"
            _timed(result, lambda: pl.scan_csv(src, storage_options=opts, **kw).sink_parquet(
                out, compression="zstd", storage_options=opts))
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


def _vm_hwm_mb() -> float:
    """This process's own peak RSS. ``ru_maxrss`` from ``wait4`` is not: at exec a child inherits
    the peak of the process that spawned it, here the parent that uploaded the test file."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


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
    result.update(proc_s=proc_s, peak_rss_mb=result.pop("vm_hwm_mb", 0) or usage.ru_maxrss / 1024,
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
            if "wire" in rs[-1]:
                by[mode]["wire"] = {k: statistics.median(r["wire"][k] for r in rs)
                                    for k in rs[-1]["wire"]}
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
    ap.add_argument("--warm", action="store_true",
                    help="ingest: each contender runs twice in its process and the second run "
                         "is timed (the first pays the imports and clients a session has made "
                         "once; requests and bytes count both)")
    ap.add_argument("--no-proxy", action="store_true",
                    help="talk to moto directly (its ranged GETs then cost a whole object each)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--child-home", help=argparse.SUPPRESS)
    ap.add_argument("--child-result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        group, mode = args.child.split(":")
        result = child(group, mode, args.endpoint, args.file, args.child_home)
        result["vm_hwm_mb"] = _vm_hwm_mb()
        with open(args.child_result, "w") as f:
            json.dump(result, f)
        return

    sys.path.insert(0, HERE)
    from gen_data import ensure_file

    path, _generated = ensure_file(args.file, args.size, args.data_dir)
    size = os.path.getsize(path)
    groups = [g for g in args.only.split(",") if g]
    work = tempfile.mkdtemp(prefix="wb-s3-bench-")
    moto, direct = start_moto(work)
    proxy = None if args.no_proxy else RangeProxy(int(direct.rsplit(":", 1)[1]))
    if args.warm:
        os.environ["BENCH_WARM"] = "1"  # read by the children
    endpoint = proxy.url if proxy else direct
    runs: list[dict] = []

    def measured(group: str, mode: str, env: dict) -> dict:
        if proxy:
            proxy.reset()
            proxy.cache.clear()  # every contender pays for its first read of an object alike
        r = run_one(group, mode, endpoint, path, work, env)
        if proxy:
            r["wire"] = dict(proxy.stats)
        return r

    try:
        client = _boto3(direct, True)
        client.create_bucket(Bucket=BUCKET)
        if "ingest" in groups or "scan" in groups:
            client.upload_file(path, BUCKET, CSV_KEY)
        files_env: dict = {}
        if "scan" in groups:  # one dataset to scan, written by workbench, kept throughout
            r = measured("ingest", "workbench", {})
            files_env = {"BENCH_FILES": json.dumps(r["files"])}
        kept = set(json.loads(files_env.get("BENCH_FILES", "[]")))
        for round_ in range(args.repeat):
            for group in groups:
                for mode in GROUPS[group]:
                    r = measured(group, mode, files_env if group == "scan" else {})
                    r["round"] = round_
                    runs.append(r)
                    extra = f"  {r['mb_s']:7.1f} MB/s" if "mb_s" in r else ""
                    if "wire" in r:
                        w = r["wire"]
                        extra += (f"  {w['requests']} requests ({w['ranged_gets']} ranged GETs),"
                                  f" {w['bytes_down'] / 2**20:,.0f} MiB down,"
                                  f" {w['bytes_up'] / 2**20:,.0f} MiB up")
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
        if proxy:
            proxy.close()
        moto.terminate()
        moto.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    summary = summarize(runs)
    print(f"\n{os.path.basename(path)}: {size / 2**20:,.0f} MiB, median of {args.repeat} rounds")
    for group, by in summary.items():
        print(f"\n{group} (ratios against {BASELINE[group]})")
        for mode, s in by.items():
            extra = f"  {s['mb_s']:7.1f} MB/s" if "mb_s" in s else ""
            if "wire" in s:
                w = s["wire"]
                extra += (f"  {w['requests']:.0f} req, {w['bytes_down'] / 2**20:,.0f} MiB down,"
                          f" {w['bytes_up'] / 2**20:,.0f} MiB up")
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
