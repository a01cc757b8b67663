"""Real servers for tests, each started on a free port and stopped afterwards.

Nothing here relies on a service already running on the machine.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Server:
    port: int
    proc: subprocess.Popen | None
    url: str
    workdir: Path
    argv: list[str] = field(default_factory=list)
    env: dict | None = None
    start_timeout: float = 30.0  # an upper bound for a loaded machine, not a speed requirement

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def start(self) -> None:
        """(Re)start with the same port and data folder."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env,
                                     stdout=open(self.workdir / "server.log", "ab"),
                                     stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=self.start_timeout, proc=self.proc)

    def restart(self) -> None:
        self.stop()
        self.start()


# Every cluster of a run gets a Redis database of its own (``redis_db``): a worker left running by
# one module (a session-scoped cluster lives through the whole run) must never take the messages
# of another module's jobs. It did: a retried job was run by the wrong worker and recorded in the
# wrong catalog.
REDIS_DATABASES = 256
_next_db = itertools.count(1)  # 0 is the server's own URL


def redis_db(server: Server) -> str:
    """The URL of a database on ``server`` that no other caller of this run has been given."""
    n = next(_next_db)
    if n >= REDIS_DATABASES:
        raise RuntimeError(f"more than {REDIS_DATABASES - 1} Redis databases asked for in one run")
    return server.url.rsplit("/", 1)[0] + f"/{n}"


def start_redis(password: str | None = None, *, persistent: bool = False) -> Server:
    """redis-server on a free port; with ``password`` it requires it (``--requirepass``) and
    ``url`` carries it, as a production broker URL does. ``persistent``: an append-only file
    keeps its data across a stop, as production does (an outage is then the server being away,
    not the data being lost)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="wb-redis-"))
    aof = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *aof,
            "--maxmemory-policy", "noeviction", "--dir", str(workdir),
            "--databases", str(REDIS_DATABASES)]
    if password:
        argv += ["--requirepass", password]
    auth = f":{password}@" if password else ""
    srv = Server(port, None, f"redis://{auth}127.0.0.1:{port}/0", workdir, argv)
    srv.start()
    return srv


def start_moto() -> Server:
    """moto's S3 server on a free port, its conditional writes atomic as S3's (moto_atomic.py)."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="wb-moto-"))
    argv = [sys.executable, str(Path(__file__).with_name("moto_atomic.py")), "-H", "127.0.0.1",
            "-p", str(port)]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    srv = Server(port, None, f"http://127.0.0.1:{port}", workdir, argv, env)
    srv.start()
    return srv


def _pg_bin() -> Path:
    base = Path("/usr/lib/postgresql")
    versions = sorted((p for p in base.glob("*/bin/initdb")), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries are missing (apt-get install -y postgresql)")
    return versions[-1].parent


class PostgresServer(Server):
    def stop(self) -> None:
        if self.proc is not None:
            _as_postgres([str(_pg_bin() / "pg_ctl"), "-D", str(self.workdir / "data"), "-m", "fast",
                          "-w", "stop"], check=False)
        self.proc = None

    def start(self) -> None:
        data = self.workdir / "data"
        _as_postgres([str(_pg_bin() / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-o",
                      f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                      "-l", str(self.workdir / "log"), "start"])
        self.proc = True  # type: ignore[assignment]  # pg_ctl daemonises; the flag marks it up
        wait_for_port(self.port)


def _as_postgres(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def start_postgres() -> PostgresServer:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="wb-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    os.chmod(workdir, 0o777)
    _as_postgres([str(_pg_bin() / "initdb"), "-D", str(workdir / "data"), "-A", "trust",
                  "-U", "postgres", "--no-sync"])
    srv = PostgresServer(port, None, f"postgresql://postgres@127.0.0.1:{port}/postgres", workdir)
    srv.start()
    return srv


def create_database(server: Server, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass


def start_moto_with_auth(unauthenticated_actions: int) -> Server:
    """A moto server that checks signatures and IAM policies after the first
    ``unauthenticated_actions`` requests (which set up users, keys and buckets)."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="wb-moto-auth-"))
    argv = [sys.executable, str(Path(__file__).with_name("moto_atomic.py")), "-H", "127.0.0.1",
            "-p", str(port)]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "INITIAL_NO_AUTH_ACTION_COUNT": str(unauthenticated_actions)}
    srv = Server(port, None, f"http://127.0.0.1:{port}", workdir, argv, env)
    srv.start()
    return srv


def start_jupyterlab(root_dir: Path, env: dict[str, str] | None = None) -> Server:
    """JupyterLab on a free port serving ``root_dir``, with a token, no browser, no news popups.

    Its config, runtime, settings and workspace folders live in a temporary folder, so nothing
    from a developer's own JupyterLab leaks in. ``server.url`` includes the token.
    """
    import json as _json
    import secrets

    port = free_port()
    token = secrets.token_hex(16)
    workdir = Path(tempfile.mkdtemp(prefix="wb-jupyterlab-"))
    settings = workdir / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        _json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    notebook = workdir / "settings" / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True)
    # open notebooks with their kernel, without asking; attach every cell to the page, so what a
    # test reads or clicks is laid out wherever it sits (with windowing, cells out of view are
    # skipped by layout: their text reads empty and they cannot be scrolled to or clicked)
    (notebook / "tracker.jupyterlab-settings").write_text(
        _json.dumps({"autoStartDefaultKernel": True, "windowingMode": "none"}))
    argv = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
            f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root_dir}", f"--LabApp.user_settings_dir={workdir / 'settings'}",
            f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    full_env = {**os.environ, **(env or {}), "JUPYTER_CONFIG_DIR": str(workdir / "config"),
                "JUPYTER_RUNTIME_DIR": str(workdir / "runtime")}
    srv = Server(port, None, f"http://127.0.0.1:{port}/lab?token={token}", workdir, argv, full_env,
                 start_timeout=120.0)
    srv.start()
    return srv


_SESSION_KEYS: Path | None = None


def session_keys() -> Path:
    """One set of task-signing keys for the whole test session (``workbench keys init``).

    Celery registers the signing key for a whole process, so every app this test process makes,
    whatever its workbench home, must sign with the same client key its workers trust.
    """
    global _SESSION_KEYS
    if _SESSION_KEYS is None:
        from workbench.worker.signing import init_keys

        _SESSION_KEYS = Path(tempfile.mkdtemp(prefix="wb-keys-")) / "keys"
        init_keys(_SESSION_KEYS)
    return _SESSION_KEYS

