"""The attacker's probes run against real services: redis-server, Celery worker processes, moto's
S3 server and PostgreSQL, started by the tests on free ports (tests/servers.py, wb_cluster)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))
