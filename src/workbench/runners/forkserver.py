"""A fork server for the LocalRunner: job processes forked from a clean, pre-imported parent.

Why not fork the kernel itself: once Polars (or DuckDB) has run anything in the kernel its thread
pool exists, and a child forked from it deadlocks the first time it needs the pool (**checked**
with Polars 2.1: 5 of 5 forked children hung in a ``group_by``). Why not spawn a fresh Python per
job: importing Polars, pyarrow and workbench costs about a second. So a server process is
started once per kernel (a fresh interpreter, never running data work itself, so it has no thread
pools), imports the heavy modules, and forks one child per job in a few milliseconds.

Protocol, one Unix-socket connection per job, JSON lines:

- the kernel sends one request line (the job; see ``child.run``),
- the child writes ``{"pid": n}`` first, then one line per event and ``{"frame": path}`` for a
  result frame,
- after the child has exited, the server (which waited for it) writes ``{"exit": code,
  "signal": n}`` and closes the connection. So the kernel learns how its job's process ended,
  even when it was killed before it could say anything.

The server exits when its stdin closes (the kernel is gone) and kills its running children then:
a job of a dead kernel has nobody to report to, and its catalog record is settled by the next
start (``LocalRunner`` marks such jobs failed and removes their files).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .child import run

# Imported once in the server so a job's child starts with them loaded (the whole point).
PRELOAD = ("polars", "polars._utils.parquet", "pyarrow", "pyarrow.parquet", "sqlalchemy",
           "sqlalchemy.dialects.sqlite", "sqlite3", "encodings.utf_8_sig", "cloudpickle",
           "workbench.execute", "workbench.engines.readers", "workbench.engines.read_csv",
           "workbench.engines.read_csv_check", "workbench.engines.read_json",
           "workbench.engines.read_excel", "workbench.writer", "workbench.dataset_store",
           "workbench.spec.io", "workbench.runners.child",
           # table sinks and query sources (optional extras: skipped when absent)
           "psycopg", "adbc_driver_postgresql.dbapi", "workbench.sinks.tables",
           "workbench.sinks.pg_copy", "workbench.engines.db")


# ----------------------------------------------------------------------------- server side
def serve(sock_path: str) -> None:
    """The server's main loop (runs in its own interpreter; see ``ForkServer.start``)."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional module missing here is imported (and reported) by the job
            pass
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin, selectors.EVENT_READ, "parent")
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in sel.select():
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 4096):  # the kernel is gone
                    for pid, _conn in children.values():
                        _kill_group(pid)
                    return
            elif key.data == "accept":
                conn, _ = listener.accept()
                pid = _fork_job(conn, listener)
                if pid:
                    fd = os.pidfd_open(pid)
                    children[fd] = (pid, conn)
                    sel.register(fd, selectors.EVENT_READ, "child")
            else:
                fd = key.fd
                pid, conn = children.pop(fd)
                sel.unregister(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                _kill_group(pid)  # anything the job started itself goes with it
                sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
                code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
                try:
                    conn.sendall(json.dumps({"exit": code, "signal": sig}).encode() + b"\n")
                except OSError:
                    pass  # the kernel stopped listening
                conn.close()


def _fork_job(conn: socket.socket, listener: socket.socket) -> int:
    try:
        request = json.loads(_read_line(conn))
    except (OSError, ValueError):
        conn.close()
        return 0
    pid = os.fork()
    if pid == 0:  # the job's process
        code = 1
        try:
            listener.close()
            os.setpgid(0, 0)  # its own group: a kill reaches whatever the job started
            for sig in (signal.SIGPIPE, signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            code = run(conn, request)
        finally:
            os._exit(code)
    return pid


def _read_line(conn: socket.socket) -> bytes:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("the connection closed before the request ended")
        buf += chunk
    return bytes(buf)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ----------------------------------------------------------------------------- kernel side
class ForkServer:
    """The kernel's handle on its fork server: started on first use, restarted if it died."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._dir: str | None = None
        self._lock = threading.Lock()

    @property
    def socket_path(self) -> str:
        assert self._dir is not None
        return str(Path(self._dir) / "fork.sock")

    def ensure_running(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._dir = tempfile.mkdtemp(prefix="wb-forkserver-")
            env = dict(os.environ)
            # The kernel's own import path (a notebook's sys.path edits included), so the server
            # and its children import what the kernel imports.
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from workbench.runners.forkserver import serve;"
                 " serve(sys.argv[1])", self.socket_path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
                start_new_session=True)
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()
            if line.strip() != b"ready":
                raise ConfigError("the job process server did not start",
                                  hint="set WORKBENCH_LOCAL_ISOLATION=thread to run jobs in the "
                                       "kernel itself")

    def connect(self, request: dict[str, Any]) -> socket.socket:
        """Start one job process; returns the connection its lines arrive on."""
        self.ensure_running()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.socket_path)
        conn.sendall(json.dumps(request, default=str).encode() + b"\n")
        return conn

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(10)
            self._proc = None


_SERVER = ForkServer()


def fork_server() -> ForkServer:
    return _SERVER
