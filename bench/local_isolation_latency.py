"""Added latency of running a kernel job in its own process: a small job, thread vs process.

    python bench/local_isolation_latency.py [runs]

Prints the median wall time from ``submit`` to the end of ``wait`` in each mode and the
difference (the cost of the isolation; the fork server is started before timing).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(runs: int = 15) -> None:
    import os

    home = Path(tempfile.mkdtemp(prefix="wb-latency-"))
    os.environ["WORKBENCH_HOME"] = str(home)
    import polars as pl

    import workbench as wb
    from workbench.runners.local import LocalRunner

    src = home / "small.csv"
    pl.DataFrame({"id": range(1000), "v": [i * 0.5 for i in range(1000)]}).write_csv(src)
    cases = {"rows": wb.Pipeline(source=wb.file(str(src)), steps=[wb.filter("id > 10")]),
             "dataset": wb.Pipeline(source=wb.file(str(src)), sink=wb.dataset("small"))}
    for name, pipeline in cases.items():
        out = {}
        for mode in ("thread", "process"):
            runner = LocalRunner(isolation=mode)
            runner.submit(pipeline, wait=True)  # warm: imports, the fork server
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                job = runner.submit(pipeline, wait=True)
                times.append(time.perf_counter() - t)
                assert job.status == "succeeded", job.error
            out[mode] = statistics.median(times)
        print(f"{name:8s} thread {out['thread']:.3f}s  process {out['process']:.3f}s  "
              f"added {out['process'] - out['thread']:.3f}s (median of {runs})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
