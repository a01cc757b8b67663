"""A gate for the catalog tests: one PostgreSQL session ended by the server at the exact
statement a job is waiting on (the table it needs locked, the waiting session found in
``pg_locks``, then ``pg_terminate_backend``), so a lost connection lands where the test wants."""

from __future__ import annotations

import time
from pathlib import Path

WAIT = 120  # seconds, an upper bound for a loaded machine

# What the driver reports when the server ends a session (pg_terminate_backend, a server stop):
# the server's FATAL message, or, when the socket closed before that message was read, libpq's own
SESSION_ENDED = ("terminating connection due to administrator command",
                 "consuming input failed: server closed the connection unexpectedly")


def ended_by_the_server(message: str) -> bool:
    """Whether an error message carries one of ``SESSION_ENDED``."""
    return any(why in message for why in SESSION_ENDED)


def end_the_session_waiting_on(postgres_url: str, table: str, release: Path, what: str) -> None:
    """Lock ``table``, touch ``release`` (the held job goes on, and its next statement on
    ``table`` waits for the lock), then end that waiting session from the server side."""
    import psycopg

    with psycopg.connect(postgres_url) as lock:
        lock.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        release.touch()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            waiting: list = []
            end = time.monotonic() + WAIT
            while not waiting:
                assert time.monotonic() < end, f"{what} within {WAIT} s"
                waiting = [r[0] for r in conn.execute(
                    "SELECT pid FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                    (table,))]
                time.sleep(0.05)
            [pid] = waiting
            assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        lock.rollback()
