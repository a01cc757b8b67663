"""Real Celery workers for the worker tests: subprocesses on a Redis started by the tests.

A ``Cluster`` is one workbench installation: a home folder with the SQLite catalog and the local
storage (shared by the test process and every worker process), a Redis database as broker, and
the workers started on it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ALL_QUEUES = "ingestion,transformation,persistence,pipeline,notebooks,maintenance"
KINDS = ("PIPELINE", "INGESTION", "TRANSFORMATION", "PERSISTENCE", "NOTEBOOKS", "MAINTENANCE")


def install_keys(home: Path) -> Path:
    """Signing keys in ``home/keys``: the session's key set (servers.session_keys), copied, so
    every cluster trusts the one client key this test process signs with."""
    import shutil

    from servers import session_keys

    target = home / "keys"
    if not target.exists():
        shutil.copytree(session_keys(), target)
    return target


def worker_env(home: Path, broker_url: str, *, hard_limit: float = 60.0,
               visibility_timeout: float = 90.0, **extra: str) -> dict[str, str]:
    """WORKBENCH_* settings for tests: short limits, quick retries, quick stuck detection."""
    env = {
        "WORKBENCH_HOME": str(home),
        "WORKBENCH_KEYS_DIR": str(install_keys(home)),
        "WORKBENCH_CATALOG_URL": f"sqlite:///{home / 'catalog.db'}",
        "WORKBENCH_STORAGE_URL": str(home / "storage"),
        "WORKBENCH_BROKER_URL": broker_url,
        "WORKBENCH_NAMESPACE": "default",
        "WORKBENCH_VISIBILITY_TIMEOUT": str(visibility_timeout),
        "WORKBENCH_MAX_RETRIES": "2",
        "WORKBENCH_RETRY_BACKOFF": "0.2",
        "WORKBENCH_RETRY_BACKOFF_MAX": "1",
        "WORKBENCH_HEARTBEAT_INTERVAL": "0.5",
        "WORKBENCH_STALE_AFTER": "5",
        "WORKBENCH_METRICS_PORT": "0",
        "WORKBENCH_LOG_FORMAT": "json",
    }
    for kind in KINDS:
        env[f"WORKBENCH_SOFT_TIME_LIMIT_{kind}"] = str(hard_limit - 1)
        env[f"WORKBENCH_HARD_TIME_LIMIT_{kind}"] = str(hard_limit)
    env.update(extra)
    return env


@dataclass
class Cluster:
    home: Path
    broker_url: str
    env: dict[str, str]
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    _app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            import dataclasses

            from workbench.worker.app import make_app
            from workbench.worker.config import WorkerConfig

            cfg = dataclasses.replace(WorkerConfig.from_env(), broker_url=self.broker_url,
                                      result_backend=self.broker_url,
                                      keys_dir=self.env["WORKBENCH_KEYS_DIR"], role="kernel")
            self._app = make_app(cfg)
        return self._app

    def process_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
        env.update(self.env)
        env.update(extra)
        # the project's sources and the test step modules, then any extra folders asked for
        more = extra.get("PYTHONPATH") or self.env.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(HERE)] + ([more] if more else []))
        return env

    def start_worker(self, name: str, *, queues: str = ALL_QUEUES, concurrency: int = 1,
                     wait: bool = True, cli: bool = False, **extra_env: str) -> subprocess.Popen:
        """A worker process; ``cli=True`` starts it with ``workbench worker`` instead of
        ``celery -A workbench.worker.app worker`` (both must work)."""
        log = self.home / f"worker-{name}.log"
        if cli:
            argv = [sys.executable, "-m", "workbench", "worker", "--queues", queues,
                    "--concurrency", str(concurrency), "--name", f"{name}@wb"]
        else:
            argv = [sys.executable, "-m", "celery", "-A", "workbench.worker.app", "worker",
                    "-Q", queues, "-c", str(concurrency), "-n", f"{name}@wb", "--loglevel", "INFO",
                    "--without-gossip", "--without-mingle"]
        proc = subprocess.Popen(argv, cwd=self.home, env=self.process_env(**extra_env),
                                stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.workers[name] = proc
        self.logs[name] = log
        if wait:
            self.wait_ready(name)
        return proc

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        proc = self.workers[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited: {self.logs[name].read_text()[-3000:]}")
            try:
                if self.app.control.ping(destination=[f"{name}@wb"], timeout=0.5):
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"worker {name} not ready: {self.logs[name].read_text()[-3000:]}")

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the worker's whole process group (its main process and its pool)."""
        proc = self.workers.pop(name)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(30)

    def stop_worker(self, name: str) -> None:
        proc = self.workers.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        for name in list(self.workers):
            self.stop_worker(name)

    def runner(self, **kwargs: Any) -> Any:
        from workbench.runners.celery_runner import CeleryRunner

        return CeleryRunner(self.ctx(), broker_url=self.broker_url, **kwargs)

    def ctx(self) -> Any:
        """A context on this cluster's catalog and storage, whatever this process's environment."""
        from workbench.context import Context
        from workbench.settings import Settings

        saved = {k: v for k, v in os.environ.items() if k.startswith("WORKBENCH_")}
        try:
            for k in saved:
                del os.environ[k]
            os.environ.update({k: v for k, v in self.env.items() if k.startswith("WORKBENCH_")})
            settings = Settings.from_env()
        finally:
            for k in [k for k in os.environ if k.startswith("WORKBENCH_")]:
                del os.environ[k]
            os.environ.update(saved)
        return Context.from_settings(settings)

    def redis(self) -> Any:
        from workbench.worker.stream import redis_client

        return redis_client(self.broker_url)


def wait_for(predicate, what: str, timeout: float = 60.0):
    """Poll until ``predicate()`` is truthy (a guard against hangs, not a timed assertion);
    exceptions count as "not yet" (a server still starting)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:
            last, value = exc, None
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"gave up waiting for {what}" + (f": {last}" if last else ""))


def make_cluster(tmp: Path, broker_url: str, **env: Any) -> Cluster:
    """A cluster whose workers run the Python steps of ``wbtest_steps``, notebooks from ``tmp``
    and file sources from the test session's temporary folders (a worker runs and reads only
    what its operator allowed: SECURITY.md)."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"WORKBENCH_PYTHON_STEPS": "wbtest_steps", "WORKBENCH_NOTEBOOK_ROOTS": str(tmp),
           "WORKBENCH_SOURCE_ROOTS": str(tmp.parent), **env}
    return Cluster(home, broker_url, worker_env(home, broker_url, **env))


def write_csv(path: Path, rows: int, *, start: int = 0, seed: int = 0) -> Path:
    """A CSV with ints, floats, text with nulls (NA) and dates as text."""
    import random

    rnd = random.Random(seed)
    regions = ["north", "south", "east", "west"]
    with open(path, "w") as f:
        f.write("id,region,amount,qty,note,day\n")
        for i in range(start, start + rows):
            note = "NA" if i % 11 == 0 else f"n{rnd.randint(0, 999)}"
            f.write(f"{i},{regions[i % 4]},{rnd.random() * 1000:.3f},{rnd.randint(1, 9)},{note},"
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}\n")
    return path


def storage_files(home: Path, dataset: str) -> list[str]:
    """Every file under a dataset's folder (relative), temporary ones included; the Iceberg
    table's ``metadata/`` files are left out only beside a committed version and only those the
    table needs, so metadata without a version, or an orphan metadata file, still shows."""
    base = home / "storage" / "default" / "datasets" / dataset
    files = sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
    if not any(f.endswith(".manifest.json") and "/" not in f for f in files) or \
            not any(f.startswith("metadata/") for f in files):
        return files
    needed = _table_files(home, dataset)
    return [f for f in files if not (f.startswith("metadata/") and f"file://{base / f}" in needed)]


def _table_files(home: Path, dataset: str) -> set[str]:
    from workbench import iceberg
    from workbench.catalog import open_catalog
    from workbench.settings import Settings
    from workbench.storage import open_storage

    settings = Settings(home=home, storage_url=str(home / "storage"),
                        catalog_url=f"sqlite:///{home / 'catalog.db'}")
    ice = iceberg.open_iceberg(settings, open_storage(settings), open_catalog(settings.catalog_url))
    return iceberg.referenced_locations(ice, "default", dataset)
