"""Notebook view benchmark: how fast events show in the job view, and what the view costs a job.

    python bench/notebook_bench.py                     # 5M-row CSV, 7 interleaved pairs
    python bench/notebook_bench.py --rows 2000000 --repeat 5

latency   the delay between an event's timestamp (taken where it is emitted, on the job's thread)
          and the moment the view's widgets hold it, over (a) every event of the real ingests
          below and (b) a synthetic feed of 50 events/s from another thread for 5 s. The view
          redraws at most every 0.1 s, drawing at once when it has been idle that long.
cost      wall time of the same ingest with a live JobView attached, against without,
          interleaved A B A B so drift hits both alike; the ratio of the medians is the result.

The widgets run without a front end here (their comm messages go nowhere), so serialising the
state is counted but the websocket is not. Celery jobs add the Redis Stream hop, not measured
here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def make_csv(path: Path, rows: int) -> None:
    import polars as pl

    pl.DataFrame({"id": range(rows), "region": [["north", "south", "east", "west"][i % 4] for i in range(rows)],
                  "amount": [(i * 37 % 1000) / 10 for i in range(rows)]}).write_csv(path)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def synthetic_latency(seconds: float = 5.0, rate: float = 50.0) -> list[float]:
    from workbench.events import JobStarted, Progress
    from workbench.job_handle import Job
    from workbench.notebook.view import JobView

    class FedJob(Job):
        def cancel(self) -> None:
            pass

    job = FedJob("synthetic")
    view = JobView(job)
    job._deliver(JobStarted(job_id=job.id, name="synthetic", steps=["read", "write"]))
    n = int(seconds * rate)

    def feed() -> None:
        for i in range(n):
            job._deliver(Progress(job_id=job.id, step="read", rows=i * 1000, rows_total=n * 1000))
            time.sleep(1 / rate)

    t = threading.Thread(target=feed)
    t.start()
    t.join()
    time.sleep(0.3)  # let the last redraw land
    view.close()
    return list(view.latencies)


def ingest_once(csv: Path, name: str, with_view: bool) -> tuple[float, list[float]]:
    import workbench as wb
    from workbench.notebook.view import JobView

    p = wb.Pipeline(source=wb.file(str(csv)), sink=wb.dataset(name))
    t0 = time.perf_counter()
    job = wb.submit(p, runner="local")
    view = JobView(job) if with_view else None
    job.wait()
    wall = time.perf_counter() - t0
    assert job.status == "succeeded", job.state.error
    lat: list[float] = []
    if view is not None:
        time.sleep(0.3)
        lat = list(view.latencies)
        view.close()
    return wall, lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wb-nbbench-"))
    os.environ["WORKBENCH_HOME"] = str(tmp / "home")
    csv = tmp / "data.csv"
    make_csv(csv, args.rows)
    print(f"input: {args.rows:,} rows, {csv.stat().st_size / 1e6:.0f} MB CSV")

    syn = synthetic_latency()
    print(f"latency, synthetic 50 events/s: n={len(syn)} median {statistics.median(syn) * 1000:.1f} ms "
          f"p95 {pct(syn, 0.95) * 1000:.1f} ms max {max(syn) * 1000:.1f} ms")

    ingest_once(csv, "warmup", False)
    bare, viewed, lat = [], [], []
    for i in range(args.repeat):
        for with_view in ((False, True) if i % 2 == 0 else (True, False)):
            wall, l = ingest_once(csv, f"d{i}{int(with_view)}", with_view)
            (viewed if with_view else bare).append(wall)
            lat += l
    print(f"latency, real ingest events: n={len(lat)} median {statistics.median(lat) * 1000:.1f} ms "
          f"p95 {pct(lat, 0.95) * 1000:.1f} ms max {max(lat) * 1000:.1f} ms")
    mb, mv = statistics.median(bare), statistics.median(viewed)
    print(f"ingest wall time: without view median {mb:.3f} s {sorted(round(x, 3) for x in bare)}")
    print(f"                  with live view median {mv:.3f} s {sorted(round(x, 3) for x in viewed)}")
    print(f"ratio with/without: {mv / mb:.3f} (target <= 1.02)")


if __name__ == "__main__":
    main()
