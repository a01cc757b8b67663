"""Print the per-column agreement table of our reader's inference with DuckDB's sniffer.

    PYTHONPATH=src python tests/types/inference_report.py [folder]

Writes the corpus (``inference_corpus.py``) into ``folder`` (a temporary one by default) and
prints one Markdown row per column, then the totals (the table in docs/types.md comes from here).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference_compare import compare_file  # noqa: E402
from inference_corpus import write_corpus  # noqa: E402


def main(folder: Path) -> int:
    files = write_corpus(folder)
    rows = []
    print("| file | column | DuckDB `read_*_auto` | ours | at least as specific | values equal |")
    print("|---|---|---|---|---|---|")
    for name, path in files.items():
        try:
            cols = compare_file(path)
        except Exception as exc:  # noqa: BLE001 (a report: show the failure and go on)
            print(f"| {name} | (read failed) | | {type(exc).__name__}: {str(exc)[:80]} | no | no |")
            rows.append(None)
            continue
        for c in cols:
            rows.append(c)
            mark = lambda ok: "yes" if ok else "**no**"  # noqa: E731
            extra = f" ({c.detail})" if c.detail else ""
            print(f"| {c.file} | {c.column} | {c.duckdb} | {c.ours} | {mark(c.specific)} | "
                  f"{mark(c.values)}{extra} |")
    ok = [r for r in rows if r is not None]
    failed = len(rows) - len(ok)
    more = sum(1 for r in ok if r.specific and _more(r))
    print()
    print(f"{len(files)} files, {len(ok)} columns (+{failed} files that failed to read): "
          f"type at least as specific {sum(r.specific for r in ok)}/{len(ok)} "
          f"(more specific {more}), values equal {sum(r.values for r in ok)}/{len(ok)}, "
          f"both {sum(r.specific and r.values for r in ok)}/{len(ok)}")
    return 0 if failed == 0 and all(r.specific and r.values for r in ok) else 1


def _more(r) -> bool:
    """Strictly more specific: typed where DuckDB says text, exact where it says DOUBLE."""
    d = r.duckdb.split("(")[0]
    return (d == "VARCHAR" and r.ours != "String") or (d == "DOUBLE" and "Float" not in r.ours)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(main(Path(tmp)))
