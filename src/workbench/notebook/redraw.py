"""One background thread that redraws every live view, at most ``interval`` apart per view.

A job's events arrive on the job's thread (LocalRunner) or on a stream-reading thread (Celery).
Drawing there would slow the job and, with many events, flood the front end; instead the event
only marks the view dirty. This thread draws a dirty view at once if it has not drawn in the last
``interval`` seconds, else as soon as that interval has passed: an isolated event shows within
milliseconds, a burst costs at most one redraw per interval. It is a daemon thread, so it keeps
drawing while the kernel runs other cells.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Drawable(Protocol):
    interval: float

    def draw(self) -> None: ...


class Redrawer:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[int, tuple[float, Drawable]] = {}  # id(view) -> (earliest draw time, view)
        self._last: dict[int, float] = {}
        self._thread: threading.Thread | None = None

    def request(self, view: Drawable, *, delay: float = 0.0) -> None:
        """Mark ``view`` dirty (cheap; called from any thread); ``delay`` defers the draw."""
        key = id(view)
        with self._cond:
            at = max(self._last.get(key, 0.0) + view.interval, time.monotonic() + delay)
            if key in self._due:
                if self._due[key][0] <= at:
                    return
                self._cond.notify()  # an earlier draw than the one planned
            self._due[key] = (at, view)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="workbench-redraw",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def forget(self, view: Drawable) -> None:
        with self._cond:
            self._due.pop(id(view), None)
            self._last.pop(id(view), None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    ready = [(k, v) for k, (at, v) in self._due.items() if at <= now]
                    if ready:
                        for k, _ in ready:
                            del self._due[k]
                            self._last[k] = now
                        break
                    wait = min((at for at, _ in self._due.values()), default=None)
                    self._cond.wait(None if wait is None else max(0.0, wait - now))
            for _, view in ready:
                try:
                    view.draw()
                except Exception:  # one broken view must not stop the others
                    pass


_REDRAWER = Redrawer()


def redrawer() -> Redrawer:
    return _REDRAWER
