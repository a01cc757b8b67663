"""The fault suite: real processes killed, stopped and starved; each test's docstring is the promise.

Every test asserts: no job lost, no version doubled, no partial version visible, every job in a
final state with a reason, and the next job fine. Waits are bounded polls on gates the test
controls (a marker file a step writes, a catalog state), never sleeps.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The worker tests' cluster helper and steps (real Celery workers on a real Redis), and the
# storage tests' S3 helpers (a bucket on moto, a fault-injecting proxy in front of it).
sys.path.insert(0, str(HERE.parent / "worker"))
sys.path.insert(0, str(HERE.parent / "storage"))
