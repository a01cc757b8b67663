"""The longest time a job's view stood still, measured on its events (local or from a worker's
stream): every moment something shown changes counts, a step starting or ending or a progress
figure moving (rows, bytes, bytes written, a SQL step's share, the named phase)."""

from __future__ import annotations

import os
from typing import Any

MAX_STILL = 2.0  # seconds a bar may stand still while work goes on


def allowed_still() -> float:
    """``MAX_STILL`` while the machine's runnable threads fit its cores. Past that a thread that
    wakes to report (the opening's ticker, the monitor) waits its turn: at a load average of L
    on N cores each runnable thread gets about N/L of a core, so the bound grows with L/(2N)
    once the load passes twice the cores (seen: a 2.4 s gap at a load of 16 on 2 cores, with
    stress-ng and two test runs beside the job). On a machine that is not overloaded the bound
    is the promise itself."""
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    return MAX_STILL * max(1.0, load / (2 * cores))


def still_gaps(events: list[Any]) -> list[tuple[float, float, str]]:
    """(seconds standing still, since the start, what was shown), longest first."""
    started = next(e.ts for e in events if e.kind == "job_started")
    finished = next(e.ts for e in events if e.terminal)
    changes, last = [(started, "start")], None
    for e in events:
        if e.kind in ("step_started", "step_finished"):
            changes.append((e.ts, f"{e.kind} {e.step}"))
        elif e.kind == "progress":
            key = (e.step, e.rows, e.bytes, e.bytes_out, e.percent, e.phase)
            if key != last:
                changes.append((e.ts, f"{e.step} {e.rows} rows {e.phase}".strip()))
                last = key
    changes.append((finished, "end"))
    changes.sort(key=lambda c: c[0])
    return sorted(((b[0] - a[0], a[0] - started, a[1]) for a, b in zip(changes, changes[1:])),
                  reverse=True)


def assert_never_still(events: list[Any]) -> None:
    gap, at, shown = still_gaps(events)[0]
    bound = allowed_still()
    assert gap <= bound, (f"progress stood still {gap:.1f} s from {at:.1f} s (showing {shown!r}); "
                          f"allowed {bound:.1f} s at a load average of {os.getloadavg()[0]:.1f}")
