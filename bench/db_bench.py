"""Database benchmark: PostgreSQL -> Parquet dataset and dataset -> PostgreSQL, beside COPY.

    python bench/db_bench.py                      # 5M rows, a throwaway PostgreSQL cluster
    python bench/db_bench.py --rows 1000000 --repeat 3
    python bench/db_bench.py --dsn postgresql://user@host/db   # an existing server (no password
                                                               # in the DSN: PGPASSWORD)

The table has 5 columns: id bigint, name text, amount double precision, qty integer,
at timestamp. Every contender is a fresh subprocess (reporting its own peak RSS from
``getrusage`` at its end), interleaved A B A B so drift hits all alike.

    read    the table out of PostgreSQL
            copy_to      psycopg ``COPY … TO STDOUT (FORMAT binary)``, bytes only: the floor
            adbc         ADBC ``fetch_record_batch``, Arrow batches only, nothing written
            connectorx   ``cx.read_sql(..., return_type="arrow")`` (the whole table in memory)
            workbench    ``wb.query(...)`` into a Parquet dataset: batches, profile, Parquet,
                         manifest, catalog
    write   the same rows into a new PostgreSQL table
            copy_from    psycopg ``COPY … FROM STDIN (FORMAT binary)`` of the bytes copy_to
                         produced (read from a local file): the floor
            adbc_ingest  ``adbc_ingest`` of the dataset's Parquet, streamed as Arrow batches
            workbench    ``wb.from_dataset(...)`` into ``wb.table(..., mode="create")``: batches,
                         casts, profile, binary COPY encoded from Arrow, one transaction

The workbench cases run the job as a kernel does (``WORKBENCH_LOCAL_ISOLATION=process`` unless
set: a child forked from the job-process server); that server is started before the clock, as a
kernel starts it once at its first job. The job's process, the catalog records, reading the
dataset and the profile are all on the clock. The child's peak RSS does not include the job's
process (another process); ``WORKBENCH_LOCAL_ISOLATION=thread`` runs the job in the child and
counts it.

Ratios against the floor of the same run are the result; rows/s depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GROUPS = {
    "read": ("copy_to", "adbc", "connectorx", "workbench"),
    "write": ("copy_from", "adbc_ingest", "workbench"),
}
FLOOR = {"read": "copy_to", "write": "copy_from"}


# ----------------------------------------------------------------------------- contenders
def _case(group: str, name: str, dsn: str, rows: int, work: str) -> dict:
    sys.path.insert(0, os.path.join(ROOT, "src"))
    dump = os.path.join(work, "copy.bin")
    # imports are not what is measured: load them all before the clock starts
    import adbc_driver_postgresql.dbapi  # noqa: F401
    import polars  # noqa: F401
    import psycopg  # noqa: F401
    import pyarrow.dataset  # noqa: F401

    import workbench  # noqa: F401
    import workbench.execute  # noqa: F401
    import workbench.sinks.tables  # noqa: F401
    from workbench.engines import db  # noqa: F401
    if name == "connectorx":
        import connectorx  # noqa: F401
    if name == "workbench":
        from workbench.settings import Settings

        if Settings.from_env().local_isolation == "process":
            # A kernel starts its job-process server once, at its first job; the bench measures
            # a job, not the kernel's start (the job's own process still starts on the clock).
            from workbench.runners.forkserver import fork_server

            fork_server().ensure_running()
    t0 = time.perf_counter()
    if group == "read" and name == "copy_to":
        import psycopg

        n = 0
        with psycopg.connect(dsn) as conn, conn.cursor() as cur, open(dump, "wb") as out:
            with cur.copy("COPY big TO STDOUT (FORMAT binary)") as copy:
                for chunk in copy:
                    n += len(chunk)
                    out.write(chunk)  # kept for copy_from; a local write is cheap beside the read
        extra = {"bytes": n}
    elif group == "read" and name == "adbc":
        import adbc_driver_postgresql.dbapi as pgd

        got = 0
        with pgd.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM big")
            for batch in cur.fetch_record_batch():
                got += batch.num_rows
        extra = {"rows_read": got}
    elif group == "read" and name == "connectorx":
        import connectorx as cx

        table = cx.read_sql(dsn, "SELECT * FROM big", return_type="arrow")
        extra = {"rows_read": table.num_rows}
    elif group == "read" and name == "workbench":
        import workbench as wb

        ds = wb.run(wb.Pipeline(source=wb.query("SELECT * FROM big", db=dsn),
                                sink=wb.dataset("big")), runner="local")
        extra = {"rows_read": ds.rows}
    elif group == "write" and name == "copy_from":
        import psycopg

        with psycopg.connect(dsn) as conn:
            conn.execute("DROP TABLE IF EXISTS big_copy")
            conn.execute("CREATE TABLE big_copy (LIKE big)")
            with conn.cursor() as cur, cur.copy("COPY big_copy FROM STDIN (FORMAT binary)") as copy, \
                    open(dump, "rb") as src:
                while chunk := src.read(1 << 20):
                    copy.write(chunk)
        extra = {}
    elif group == "write" and name == "adbc_ingest":
        import adbc_driver_postgresql.dbapi as pgd
        import pyarrow.dataset as pads

        import workbench as wb

        files = [f["key"] for f in wb.info("big").files] if wb.info("big").files else []
        from workbench.context import Context

        ctx = Context.from_settings()
        paths = [ctx.storage.uri(k) for k in files]
        reader = pads.dataset(paths, format="parquet").scanner(batch_size=100_000).to_reader()
        with pgd.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS big_copy")
            cur.adbc_ingest("big_copy", reader, mode="create")
            conn.commit()
        extra = {}
    elif group == "write" and name == "workbench":
        import psycopg

        import workbench as wb

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS big_copy")
        result = wb.run(wb.Pipeline(source=wb.from_dataset("big"),
                                    sink=wb.table("big_copy", db=dsn, mode="create")),
                        runner="local")
        extra = {"rows_written": result["rows"]}
    else:
        raise SystemExit(f"unknown case {group}/{name}")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows_per_s": rows / seconds, **extra}


# ----------------------------------------------------------------------------- driver
def _run_child(group: str, name: str, args: argparse.Namespace, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", group, name, "--dsn", args.dsn,
           "--rows", str(args.rows), "--work", args.work]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{group}/{name} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return result


def _make_table(dsn: str, rows: int) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS big")
        conn.execute(
            "CREATE TABLE big AS SELECT g::bigint AS id, 'customer ' || (g % 50000) AS name, "
            "(g % 100000) / 100.0::float8 AS amount, (g % 17)::int AS qty, "
            "timestamp '2026-01-01' + g * interval '1 second' AS at "
            f"FROM generate_series(1, {rows}) g")
        conn.execute("VACUUM ANALYZE big")
        return conn.execute("SELECT pg_total_relation_size('big')").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dsn")
    ap.add_argument("--work")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        result = _case(args.child[0], args.child[1], args.dsn, args.rows, args.work)
        import resource

        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    try:
        import connectorx  # noqa: F401  (optional: pip install connectorx)
    except ImportError:
        GROUPS["read"] = tuple(n for n in GROUPS["read"] if n != "connectorx")
        print("connectorx is not installed: its read is left out", flush=True)
    server = None
    if not args.dsn:
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from servers import start_postgres

        server = start_postgres()
        args.dsn = server.url
    args.work = args.work or tempfile.mkdtemp(prefix="wb-dbbench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env["WORKBENCH_HOME"] = os.path.join(args.work, "home")
    env["PYTHONPATH"] = os.path.join(ROOT, "src")
    try:
        t0 = time.perf_counter()
        table_bytes = _make_table(args.dsn, args.rows)
        print(f"table: {args.rows:,} rows x 5 columns, {table_bytes / 1e6:.0f} MB on disk "
              f"(made in {time.perf_counter() - t0:.1f}s); {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores", flush=True)
        results: dict[str, dict[str, list[dict]]] = {g: {n: [] for n in names} for g, names in GROUPS.items()}
        for group, names in GROUPS.items():
            for _ in range(args.repeat):
                for name in names:
                    r = _run_child(group, name, args, env)
                    results[group][name].append(r)
                    print(f"  {group:5} {name:12} {r['seconds']:7.2f}s {r['rows_per_s'] / 1e6:6.2f} M rows/s "
                          f"peak RSS {r['peak_rss_mb']:7.0f} MB", flush=True)
        print()
        summary = {}
        for group, names in GROUPS.items():
            floor = statistics.median(r["seconds"] for r in results[group][FLOOR[group]])
            print(f"{group}: median of {args.repeat}, ratio = seconds / {FLOOR[group]}'s")
            for name in names:
                secs = statistics.median(r["seconds"] for r in results[group][name])
                rss = max(r["peak_rss_mb"] for r in results[group][name])
                summary[f"{group}/{name}"] = {"seconds": secs, "rows_per_s": args.rows / secs,
                                              "ratio": secs / floor, "peak_rss_mb": rss}
                print(f"  {name:12} {args.rows / secs / 1e6:6.2f} M rows/s  x{secs / floor:4.2f}  "
                      f"peak RSS {rss:6.0f} MB")
        out = os.path.join(HERE, "out")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, f"db_bench-{args.rows}.json"), "w") as f:
            json.dump({"rows": args.rows, "table_bytes": table_bytes, "summary": summary,
                       "runs": results}, f, indent=1)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
