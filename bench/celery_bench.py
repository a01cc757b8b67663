"""Celery runner benchmark: latency, event throughput, worker overhead, fan-out speed-up.

    python bench/celery_bench.py                       # everything, 1 GB ingest
    python bench/celery_bench.py --only latency,events --jobs 200

Starts its own redis-server and ``celery worker`` processes on free ports (like the tests) and
measures, as ratios where it can:

latency   submit -> first event and submit -> done for a trivial pipeline (sequential jobs;
          median and p99), after a warm-up
events    events per second one client receives: a worker-side ``StreamPublisher`` writes N
          progress events to a job's stream while a ``CeleryJob`` reads them live
ingest    the same 1 GB CSV -> dataset job on a worker vs the LocalRunner (interleaved rounds;
          the ratio of medians; the worker time is the client's submit -> done)
throughput  trivial jobs per second one worker process (``-c 1``) runs, with catalog records and
          events: N jobs submitted at once, the time from the first submit to the last done;
          then the worker alone ("drained"): N jobs queued while it does not consume, timed
          from letting it go to the last one finished ("steady": from the first one finished,
          leaving out the worker's ~0.5 s to start consuming), and Celery's own trivial task
          the same way (opt-in: ``--only throughput``; the target is 150 jobs/s per worker process)
fanout    16 files with ``parallel=True`` on 1, 2 and 4 worker processes, each pinned to one core
          with one Polars thread (the stand-in for one machine each), the planning and commit
          shares of each job, and, for reference, the same files read in one task with Polars'
          own threads

Results go to bench/out/celery-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

QUEUES = "ingestion,transformation,persistence,pipeline,notebooks,maintenance"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.home = work / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--maxmemory-policy", "noeviction", "--dir", str(work)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_port(port)
        self.broker = f"redis://127.0.0.1:{port}/0"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
        self.env.update({
            "WORKBENCH_HOME": str(self.home), "WORKBENCH_BROKER_URL": self.broker,
            "WORKBENCH_CATALOG_URL": f"sqlite:///{self.home / 'catalog.db'}",
            "WORKBENCH_STORAGE_URL": str(self.home / "storage"), "WORKBENCH_METRICS_PORT": "0",
            "WORKBENCH_LOG_FORMAT": "json", "PYTHONPATH": str(ROOT / "src"),
            # workers read files only under the roots their operator names
            "WORKBENCH_SOURCE_ROOTS": f"{work},/tmp/wb-bench",
        })
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("WORKBENCH_")})
        self.worker: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        from workbench.context import Context
        from workbench.runners.celery_runner import CeleryRunner

        self.ctx = Context.from_settings()
        self.runner = CeleryRunner(self.ctx)

    def start_worker(self, concurrency: int, **env: str) -> None:
        self.stop_worker()
        log = open(self.work / f"worker-{concurrency}.log", "ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workbench.worker.app", "worker", "-Q", QUEUES,
             "-c", str(concurrency), "-n", "bench@wb", "--loglevel", os.environ.get("BENCH_LOGLEVEL", "WARNING"),
             "--without-gossip", "--without-mingle"],
            env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=self.home,
            start_new_session=True)
        from workbench.worker.app import get_app

        deadline = time.time() + 60
        while time.time() < deadline:
            if get_app().control.ping(destination=["bench@wb"], timeout=0.5):
                return
        raise TimeoutError("worker did not start")

    def start_pinned_workers(self, n: int) -> list[int]:
        """``n`` worker processes of one pool process each, each limited to one Polars thread
        and pinned to one core (round robin over the cores there are): the stand-in for ``n``
        one-core machines. Returns the core each worker got."""
        self.stop_worker()
        cpus = sorted(os.sched_getaffinity(0))
        cores = [cpus[i % len(cpus)] for i in range(n)]
        for i, core in enumerate(cores):
            log = open(self.work / f"worker-pinned-{i}.log", "ab")
            self.workers.append(subprocess.Popen(
                ["taskset", "-c", str(core), sys.executable, "-m", "celery", "-A",
                 "workbench.worker.app", "worker", "-Q", QUEUES, "-c", "1", "-n", f"pin{i}@wb",
                 "--loglevel", os.environ.get("BENCH_LOGLEVEL", "WARNING"), "--without-gossip",
                 "--without-mingle"],
                env={**self.env, "POLARS_MAX_THREADS": "1"}, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.home, start_new_session=True))
        from workbench.worker.app import get_app

        names = [f"pin{i}@wb" for i in range(n)]
        deadline = time.time() + 120
        while time.time() < deadline:
            if len(get_app().control.ping(destination=names, timeout=1.0)) == n:
                return cores
        raise TimeoutError("pinned workers did not start")

    def stop_worker(self) -> None:
        for proc in [self.worker, *self.workers]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        self.worker = None
        self.workers = []

    def close(self) -> None:
        self.stop_worker()
        self.redis.terminate()
        self.redis.wait(10)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


# ----------------------------------------------------------------------------- latency
def bench_latency(b: Bench, jobs: int) -> dict:
    import workbench as wb

    b.start_worker(2)
    src = b.work / "tiny.csv"
    src.write_text("a,b\n1,x\n2,y\n")
    p = wb.Pipeline(source=wb.file(str(src)), steps=[wb.filter("a > 0")])
    first, done = [], []
    for i in range(jobs + 5):
        t0 = time.perf_counter()
        seen: dict[str, float] = {}

        def on_event(ev, seen=seen) -> None:
            seen.setdefault("first", time.perf_counter())
            if ev.terminal:
                seen["done"] = time.perf_counter()

        job = b.runner.submit(p)
        job.subscribe(on_event)
        job.wait(60)
        assert job.status == "succeeded", job.error
        if i >= 5:  # the first jobs pay the pool's imports
            first.append((seen["first"] - t0) * 1000)
            done.append((seen["done"] - t0) * 1000)
    return {"jobs": jobs,
            "first_event_ms": {"median": statistics.median(first), "p99": pct(first, 0.99)},
            "done_ms": {"median": statistics.median(done), "p99": pct(done, 0.99)}}


def bench_throughput(b: Bench, jobs: int) -> dict:
    import workbench as wb

    b.start_worker(1)
    src = b.work / "tiny.csv"
    src.write_text("a,b\n1,x\n2,y\n")
    p = wb.Pipeline(source=wb.file(str(src)), steps=[wb.filter("a > 0")])
    for _ in range(5):  # the pool's imports
        job = b.runner.submit(p)
        job.wait(60)
    t0 = time.perf_counter()
    handles = [b.runner.submit(p) for _ in range(jobs)]
    submitted = time.perf_counter() - t0
    for job in handles:
        job.wait(600)
        assert job.status == "succeeded", job.error
    elapsed = time.perf_counter() - t0
    bare = _bare_celery_per_s(b, jobs)
    drained = _drain(b, p, jobs)
    return {"jobs": jobs, "worker_processes": 1, "seconds": elapsed, "submit_seconds": submitted,
            "jobs_per_s": jobs / elapsed, "bare_celery_tasks_per_s": bare,
            "jobs_per_s_ratio_to_bare_celery": round((jobs / elapsed) / bare, 3), **drained}


def _drain(b: Bench, pipeline, n: int) -> dict:
    """The worker alone: ``n`` jobs (and then ``n`` bare tasks) queued while the worker does not
    consume, then let go. The end-to-end figure above also pays the submitting client, which
    on this machine shares the worker's two cores (a submit is a catalog write, a signed
    message and a Redis round trip or three); here the client has finished before the clock
    starts. Ours: from the moment consuming starts to the last job's ``finished_at`` in the
    catalog; bare: to the last result."""
    from workbench.worker.app import get_app
    from workbench.worker.task_result import wait_for_result

    app, dest = get_app(), ["bench@wb"]

    def paused(queue_them) -> tuple[float, list]:
        app.control.cancel_consumer("pipeline", destination=dest, reply=True)
        last = queue_them()
        t0 = time.time()
        app.control.add_consumer("pipeline", destination=dest, reply=True)
        return t0, last

    def ours() -> list[str]:
        # submitted by a process that exits before the clock starts: a handle here would
        # follow each job's events while the worker runs, on the same two cores
        ids = b.work / "drain-ids.json"
        code = ("import json, sys, workbench as wb\n"
                "from workbench.runners.celery_runner import CeleryRunner\n"
                "p = wb.Pipeline.model_validate_json(sys.argv[1])\n"
                "r = CeleryRunner()\n"
                f"json.dump([r.submit(p).id for _ in range({n})], open(sys.argv[2], 'w'))\n"
                "import os; os._exit(0)\n")
        subprocess.run([sys.executable, "-c", code, pipeline.model_dump_json(), str(ids)],
                       env=b.env, check=True, cwd=b.home)
        return json.loads(ids.read_text())

    t0, ids = paused(ours)
    deadline = time.time() + 600

    def finished() -> list[dict] | None:
        # the last one first (the queue runs in order), so the catalog is not read 300 times
        # every 50 ms while the worker writes to it; then all of them
        if not b.ctx.catalog.get_job(ids[-1])["finished_at"]:
            return None
        recs = [b.ctx.catalog.get_job(i) for i in ids]
        return recs if all(r["finished_at"] for r in recs) else None

    while (recs := finished()) is None:
        assert time.time() < deadline, "the queued jobs did not finish"
        time.sleep(0.05)
    assert all(r["status"] == "succeeded" for r in recs), [r["error"] for r in recs][:3]
    done = sorted(r["finished_at"] for r in recs)
    ours_per_s = n / (done[-1] - t0)
    ours_steady = (n - 1) / (done[-1] - done[0])

    def bare():
        return [app.send_task("celery.accumulate", args=[i], kwargs={"index": 0}, queue="pipeline")
                for i in range(n)]

    t0, results = paused(bare)
    for i, r in enumerate(results):
        assert wait_for_result(r, 600) == i
    bare_per_s = n / (time.time() - t0)
    # from the first one done to the last: the time the worker takes to start consuming again
    # (~0.5 s, the same for both) left out
    bare_done = sorted(r.date_done.timestamp() for r in results)
    bare_steady = (n - 1) / (bare_done[-1] - bare_done[0])
    return {"drained_jobs_per_s": round(ours_per_s, 1),
            "drained_bare_celery_tasks_per_s": round(bare_per_s, 1),
            "drained_ratio_to_bare_celery": round(ours_per_s / bare_per_s, 3),
            "steady_jobs_per_s": round(ours_steady, 1),
            "steady_bare_celery_tasks_per_s": round(bare_steady, 1),
            "steady_ratio_to_bare_celery": round(ours_steady / bare_steady, 3)}


def _bare_celery_per_s(b: Bench, n: int) -> float:
    """The same worker and queue running Celery's own trivial task (``celery.accumulate``
    returns its argument; signed and its result stored, as ours are): the floor of the path."""
    from workbench.worker.app import get_app
    from workbench.worker.task_result import wait_for_result

    app = get_app()
    for _ in range(5):
        wait_for_result(app.send_task("celery.accumulate", args=[1], kwargs={"index": 0},
                                      queue="pipeline"), 60)
    t0 = time.perf_counter()
    results = [app.send_task("celery.accumulate", args=[i], kwargs={"index": 0}, queue="pipeline")
               for i in range(n)]
    for i, r in enumerate(results):
        assert wait_for_result(r, 600) == i
    return n / (time.perf_counter() - t0)


# ----------------------------------------------------------------------------- events
def bench_events(b: Bench, n: int) -> dict:
    from workbench.events import JobFinished, Progress
    from workbench.worker import keys
    from workbench.worker.stream import StreamPublisher, redis_client

    job_id = uuid.uuid4().hex
    b.ctx.catalog.create_job(job_id=job_id, namespace="default", spec={}, runner="celery",
                             status="running")
    job = b.runner.attach(job_id)
    got: list[float] = []
    job.subscribe(lambda ev: got.append(time.perf_counter()), replay=False)
    pub = StreamPublisher(redis_client(b.broker), keys.events("default", job_id),
                          maxlen=n + 100, ttl=3600)
    t0 = time.perf_counter()
    for i in range(n):
        pub(Progress(job_id=job_id, step="read", rows=i))
        if i % 5000 == 0:
            while pub.pending > 20_000:  # stay under the publisher's bound: no progress coalesced
                time.sleep(0.001)
    pub(JobFinished(job_id=job_id, result={}))
    t_written = time.perf_counter()
    job.wait(300)
    pub.close()
    return {"events": n + 1, "received": len(got),
            "client_events_per_s": round(len(got) / (got[-1] - got[0])),
            "coalesced_by_publisher": pub.dropped,
            "writer_events_per_s": round((n + 1) / (t_written - t0)),
            "end_to_end_seconds": round(got[-1] - t0, 3)}


# ----------------------------------------------------------------------------- ingest
def ensure_csv(path: Path, size: str) -> Path:
    if path.exists():
        return path
    sys.path.insert(0, str(HERE))
    from gen_data import generate, parse_size

    path.parent.mkdir(parents=True, exist_ok=True)
    generate(str(path), parse_size(size))
    return path


def bench_ingest(b: Bench, csv: Path, rounds: int) -> dict:
    import workbench as wb
    from workbench.runners.local import LocalRunner

    b.start_worker(1)
    times: dict[str, list[float]] = {"local": [], "worker": []}
    rows = None
    for r in range(rounds):
        for mode in ("local", "worker"):
            p = wb.Pipeline(source=wb.file(str(csv)), sink=wb.dataset(f"ingest_{mode}"))
            t0 = time.perf_counter()
            job = (LocalRunner(b.ctx) if mode == "local" else b.runner).submit(p).wait(3600)
            times[mode].append(time.perf_counter() - t0)
            assert job.status == "succeeded", job.error
            rows = job.state.result["rows"]
    ml, mw = statistics.median(times["local"]), statistics.median(times["worker"])
    return {"file": str(csv), "bytes": csv.stat().st_size, "rows": rows, "seconds": times,
            "median_local": ml, "median_worker": mw, "worker_over_local": round(mw / ml, 3)}


# ----------------------------------------------------------------------------- fan-out
def bench_fanout(b: Bench, folder: Path, files: int, size: str, rounds: int,
                 workers: tuple[int, ...] = (1, 2, 4)) -> dict:
    """Scale-out as machines would give it: 1, 2 and 4 worker processes, each pinned to one
    core with one Polars thread (``start_pinned_workers``). On a machine with fewer cores than
    workers, several share a core: the figure past the core count shows the cost of the split,
    not a speed-up. Each run also reports the fan-out's own costs as shares of the job: planning
    (job start to the parts sent) and the commit (checks, profile and commit over the parts)."""
    import workbench as wb

    sys.path.insert(0, str(HERE))
    from gen_data import generate, parse_size

    folder = folder / f"{files}x{size}"  # files of another count or size are not reused
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        f = folder / f"part-{i:02d}.csv"
        if not f.exists():
            generate(str(f), parse_size(size), seed=100 + i)
    total = sum(f.stat().st_size for f in folder.glob("*.csv"))

    phases: dict[str, list[dict]] = {}

    def run(parallel: bool, name: str, label: str = "") -> float:
        p = wb.Pipeline(source=wb.file(str(folder / "*.csv"), parallel=parallel),
                        steps=[wb.filter("amount IS NULL OR amount >= 0")],
                        sink=wb.dataset(name))
        t0 = time.perf_counter()
        job = b.runner.submit(p).wait(3600)
        assert job.status == "succeeded", job.error
        took = time.perf_counter() - t0
        ev: dict[str, float] = {}
        for e in job.events:
            key = e.kind + ":" + (getattr(e, "step", "") or "")
            if e.kind == "message" and "split into" in (getattr(e, "text", "") or ""):
                key = "split"
            ev.setdefault(key, e.ts)
        if label and "step_started:write" in ev:
            span = ev["job_finished:"] - ev["job_started:"]
            planning = ev.get("split", ev["job_started:"]) - ev["job_started:"]
            commit = ev["job_finished:"] - ev["step_started:write"]
            phases.setdefault(label, []).append({
                "planning_s": round(planning, 3), "commit_s": round(commit, 3),
                "planning_share": round(planning / span, 4) if span else None,
                "commit_share": round(commit / span, 4) if span else None})
        return took

    out: dict = {"files": files, "bytes": total, "cores": len(os.sched_getaffinity(0))}
    for n in workers:
        label = f"fanout_{n}_pinned"
        out[f"{label}_cores"] = b.start_pinned_workers(n)
        run(True, f"warm_{label}")
        out[label] = [run(True, f"fan_{label}_{r}", label) for r in range(rounds)]
    b.start_worker(1)
    run(False, "warm_one_task")
    out["one_task_default_threads"] = [run(False, f"one_task_{r}") for r in range(rounds)]
    m = {k: statistics.median(v) for k, v in out.items()
         if isinstance(v, list) and v and isinstance(v[0], float)}
    out["medians"] = m
    out["phases"] = phases
    for label, runs in phases.items():  # one figure per worker count for run_all's table
        for part in ("planning", "commit"):
            out[f"{label}_{part}_share_median"] = statistics.median(r[f"{part}_share"] for r in runs)
    base = m[f"fanout_{workers[0]}_pinned"]
    for n in workers[1:]:
        out[f"speedup_{n}_vs_{workers[0]}"] = round(base / m[f"fanout_{n}_pinned"], 3)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="latency,events,ingest,fanout")
    ap.add_argument("--jobs", type=int, default=200, help="latency: jobs measured")
    ap.add_argument("--throughput-jobs", type=int, default=300, help="throughput: jobs submitted")
    ap.add_argument("--events", type=int, default=100_000, help="events: how many")
    ap.add_argument("--ingest-size", default="1GB")
    ap.add_argument("--ingest-file", default="/tmp/wb-bench/events-1GB.csv")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fan-files", type=int, default=16)
    ap.add_argument("--fan-size", default="64MB", help="size of each fan-out file (16 x 64 MB: 1 GB)")
    ap.add_argument("--fan-dir", default="/tmp/wb-bench/fanout")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="wb-celery-bench-"))
    b = Bench(work)
    results: dict = {"machine": {"cpus": os.cpu_count()}, "started": time.time()}
    try:
        if "latency" in only:
            results["latency"] = bench_latency(b, args.jobs)
            print("latency", json.dumps(results["latency"]), flush=True)
        if "throughput" in only:
            results["throughput"] = bench_throughput(b, args.throughput_jobs)
            print("throughput", json.dumps(results["throughput"]), flush=True)
        if "events" in only:
            results["events"] = bench_events(b, args.events)
            print("events", json.dumps(results["events"]), flush=True)
        if "ingest" in only:
            csv = ensure_csv(Path(args.ingest_file), args.ingest_size)
            results["ingest"] = bench_ingest(b, csv, args.rounds)
            print("ingest", json.dumps(results["ingest"]), flush=True)
        if "fanout" in only:
            results["fanout"] = bench_fanout(b, Path(args.fan_dir), args.fan_files, args.fan_size,
                                             args.rounds)
            print("fanout", json.dumps(results["fanout"]), flush=True)
    finally:
        b.close()
        shutil.rmtree(work, ignore_errors=True)
    out = HERE / "out" / f"celery-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
