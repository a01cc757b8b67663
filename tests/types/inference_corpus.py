"""A corpus of CSV/NDJSON files of real-world shapes, generated (never kept in git), for the
reader-inference comparison with DuckDB's sniffer (``inference_report.py``, ``test_inference.py``).

``write_corpus(folder)`` writes every file and returns ``{name: path}``. Each file is small (at
most a few thousand rows) so the whole comparison stays fast; shapes that need depth (a date or a
float first seen after row 1,000) have it.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Callable

N = 60  # rows of the short files
LATE = 1_500  # rows before a late value


def _csv(header: list[str], rows: list[list[str]], sep: str = ",") -> str:
    return sep.join(header) + "\n" + "".join(sep.join(r) + "\n" for r in rows)


def _ids(n: int = N) -> list[str]:
    return [str(i + 1) for i in range(n)]


def _ts(i: int, sep: str = "T") -> str:
    return f"2026-03-{1 + i % 28:02d}{sep}{i % 24:02d}:{(7 * i) % 60:02d}:{(13 * i) % 60:02d}"


def _text(name: str, body: str, encoding: str = "utf-8", bom: bytes = b"") -> tuple[str, bytes]:
    return name, bom + body.encode(encoding)


CASES: list[Callable[[], tuple[str, bytes]]] = []


def case(fn: Callable[[], tuple[str, bytes]]) -> Callable[[], tuple[str, bytes]]:
    CASES.append(fn)
    return fn


# --- timestamps and dates ------------------------------------------------------------------
@case
def ts_utc_z():
    return _text("ts_utc_z.csv", _csv(["id", "ts"], [[i, _ts(k) + "Z"] for k, i in enumerate(_ids())]))


@case
def ts_offset():
    offs = ["+02:00", "-05:00", "+00:00", "+05:30"]
    return _text("ts_offset.csv", _csv(["id", "ts"], [[i, _ts(k) + offs[k % 4]]
                                                      for k, i in enumerate(_ids())]))


@case
def ts_space_separator():
    return _text("ts_space.csv", _csv(["id", "ts"], [[i, _ts(k, " ")] for k, i in enumerate(_ids())]))


@case
def ts_varying_fraction():
    fr = ["", ".5", ".123", ".123456", ".25"]
    return _text("ts_fraction.csv", _csv(["id", "ts"], [[i, _ts(k, " ") + fr[k % 5]]
                                                        for k, i in enumerate(_ids())]))


@case
def ts_fraction_on_some_lines_only():
    rows = [[i, _ts(k) + (".75" if k % 17 == 5 else "")] for k, i in enumerate(_ids(300))]
    return _text("ts_fraction_some.csv", _csv(["id", "ts"], rows))


@case
def ts_z_varying_fraction():
    fr = ["", ".1", ".123456"]
    return _text("ts_z_fraction.csv", _csv(["id", "ts"], [[i, _ts(k) + fr[k % 3] + "Z"]
                                                          for k, i in enumerate(_ids())]))


@case
def ts_offset_and_fraction():
    return _text("ts_offset_fraction.csv",
                 _csv(["id", "ts"], [[i, _ts(k) + (".250" if k % 2 else "") + "+01:00"]
                                     for k, i in enumerate(_ids())]))


@case
def ts_minutes_only():
    return _text("ts_minutes.csv", _csv(["id", "ts"], [[i, _ts(k, " ")[:16]] for k, i in enumerate(_ids())]))


@case
def dates_iso():
    return _text("dates.csv", _csv(["id", "day", "amount"],
                                   [[i, f"20{10 + k % 16}-{1 + k % 12:02d}-{1 + k % 28:02d}", f"{k * 1.5}"]
                                    for k, i in enumerate(_ids())]))


@case
def late_dates():
    rows = [[str(k), "" if k < LATE else f"2025-{1 + k % 12:02d}-{1 + k % 28:02d}"] for k in range(LATE + 200)]
    return _text("late_dates.csv", _csv(["id", "day"], rows))


@case
def late_timestamps():
    rows = [[str(k), "" if k < LATE else _ts(k, " ")] for k in range(LATE + 200)]
    return _text("late_ts.csv", _csv(["id", "ts"], rows))


@case
def late_float():
    rows = [[str(k), str(k) if k < LATE else f"{k}.5"] for k in range(LATE + 200)]
    return _text("late_float.csv", _csv(["id", "x"], rows))


@case
def times_of_day():
    return _text("times.csv", _csv(["id", "at"], [[i, f"{k % 24:02d}:{k % 60:02d}:{(3 * k) % 60:02d}"]
                                                   for k, i in enumerate(_ids())]))


@case
def dates_month_first():
    rows = [[i, f"{1 + k % 12}/{1 + (5 * k) % 31 if k % 12 != 1 else 1 + k % 28}/20{10 + k % 16}"]
            for k, i in enumerate(_ids())]
    return _text("dates_us.csv", _csv(["id", "day"], rows))


@case
def dates_day_first_dots():
    rows = [[i, f"{1 + (3 * k) % 28:02d}.{1 + k % 12:02d}.20{10 + k % 16}"] for k, i in enumerate(_ids())]
    return _text("dates_dots.csv", _csv(["id", "day"], rows))


@case
def dates_day_first_slashes():
    rows = [[i, f"{1 + (3 * k) % 28:02d}/{1 + k % 12:02d}/2025"] for k, i in enumerate(_ids())]
    return _text("dates_eu.csv", _csv(["id", "day"], rows, ";"))


# --- booleans ------------------------------------------------------------------------------
def _bools(name: str, t: str, f: str) -> tuple[str, bytes]:
    return _text(name, _csv(["id", "flag"], [[i, t if k % 3 else f] for k, i in enumerate(_ids())]))


@case
def bool_lower():
    return _bools("bool_lower.csv", "true", "false")


@case
def bool_upper():
    return _bools("bool_upper.csv", "TRUE", "FALSE")


@case
def bool_title():
    return _bools("bool_title.csv", "True", "False")


@case
def bool_mixed_case():
    rows = [[i, ["true", "False", "TRUE", "false"][k % 4]] for k, i in enumerate(_ids())]
    return _text("bool_mixed.csv", _csv(["id", "flag"], rows))


@case
def bool_t_f():
    return _bools("bool_tf.csv", "t", "f")


@case
def bool_yes_no():
    return _bools("bool_yes_no.csv", "yes", "no")


@case
def bool_with_nulls():
    rows = [[i, ["true", "", "false", "NA"][k % 4]] for k, i in enumerate(_ids())]
    return _text("bool_nulls.csv", _csv(["id", "flag"], rows))


# --- numbers -------------------------------------------------------------------------------
@case
def int_overflow():
    rows = [[i, str(2 ** 63 + 7 * k), str(-(2 ** 63) - k)] for k, i in enumerate(_ids())]
    return _text("int_overflow.csv", _csv(["id", "big", "neg"], rows))


@case
def int_overflow_late():
    rows = [[str(k), str(k * 1000) if k < LATE else str(2 ** 64 + k)] for k in range(LATE + 100)]
    return _text("int_overflow_late.csv", _csv(["id", "n"], rows))


@case
def decimals_money():
    rows = [[i, f"{(k * 37) % 1000}.{k % 100:02d}", f"-{k}.5"] for k, i in enumerate(_ids())]
    return _text("decimals.csv", _csv(["id", "price", "delta"], rows))


@case
def decimals_long():
    rows = [[i, f"0.{(k * 7919) % 10 ** 9:09d}", f"12345678.{k:06d}"] for k, i in enumerate(_ids())]
    return _text("decimals_long.csv", _csv(["id", "ratio", "amount"], rows))


@case
def floats_sci():
    rows = [[i, f"{k}e{k % 20 - 10}", f"{-k * 1.25:.3e}"] for k, i in enumerate(_ids())]
    return _text("floats_sci.csv", _csv(["id", "x", "y"], rows))


@case
def ints_signed():
    rows = [[i, f"+{k}" if k % 2 else f"-{k}"] for k, i in enumerate(_ids())]
    return _text("ints_signed.csv", _csv(["id", "n"], rows))


@case
def mixed_int_float():
    rows = [[i, str(k) if k % 3 else f"{k}.25"] for k, i in enumerate(_ids())]
    return _text("mixed_int_float.csv", _csv(["id", "x"], rows))


@case
def zip_codes():
    rows = [[i, f"{(k * 4111) % 99999:05d}", f"0{k % 10}"] for k, i in enumerate(_ids())]
    return _text("zip_codes.csv", _csv(["id", "zip", "state_fips"], rows))


# --- nulls ---------------------------------------------------------------------------------
def _nulls(name: str, marker: str) -> tuple[str, bytes]:
    rows = [[i, marker if k % 4 == 1 else str(k), marker if k % 5 == 2 else f"{k}.5",
             marker if k % 3 == 0 else f"w{k}"] for k, i in enumerate(_ids())]
    return _text(name, _csv(["id", "n", "x", "s"], rows))


@case
def nulls_na():
    return _nulls("nulls_na.csv", "NA")


@case
def nulls_null():
    return _nulls("nulls_null.csv", "NULL")


@case
def nulls_empty():
    return _nulls("nulls_empty.csv", "")


@case
def nulls_mixed():
    marks = ["NA", "NULL", "", "null"]
    rows = [[i, marks[k % 4] if k % 2 else str(k), marks[(k + 1) % 4] if k % 3 == 0 else f"{k}.5"]
            for k, i in enumerate(_ids())]
    return _text("nulls_mixed.csv", _csv(["id", "n", "x"], rows))


@case
def null_records():
    rows = [[i, str(k), f"c{k}"] if k % 7 else ["", "", ""] for k, i in enumerate(_ids())]
    rows[3] = ["NA", "NULL", "NA"]
    return _text("null_records.csv", _csv(["id", "n", "s"], rows))


# --- encodings -----------------------------------------------------------------------------
_WORDS = ["Zürich", "São Paulo", "Besançon", "Málaga", "Ørsted", "Øre", "Köln", "naïve"]


def _city_rows() -> list[list[str]]:
    return [[i, _WORDS[k % len(_WORDS)], f"{k}.5"] for k, i in enumerate(_ids())]


@case
def latin1():
    return _text("latin1.csv", _csv(["id", "city", "x"], _city_rows()), "latin-1")


@case
def cp1252():
    rows = [[i, f"“{_WORDS[k % 8]}” – {k} €", str(k)] for k, i in enumerate(_ids())]
    return _text("cp1252.csv", _csv(["id", "label", "n"], rows), "cp1252")


@case
def utf16le_bom():
    return _text("utf16le_bom.csv", _csv(["id", "city", "x"], _city_rows()), "utf-16-le",
                 codecs.BOM_UTF16_LE)


@case
def utf16le_no_bom():
    return _text("utf16le.csv", _csv(["id", "city", "x"], _city_rows()), "utf-16-le")


@case
def utf16be_bom():
    return _text("utf16be_bom.csv", _csv(["id", "city", "x"], _city_rows()), "utf-16-be",
                 codecs.BOM_UTF16_BE)


@case
def utf8_bom():
    return _text("utf8_bom.csv", _csv(["id", "city", "x"], _city_rows()), "utf-8", codecs.BOM_UTF8)


# --- dialects ------------------------------------------------------------------------------
@case
def quoted_newlines():
    rows = [[i, f'"line one\nline two {k}"', str(k)] for k, i in enumerate(_ids())]
    return _text("quoted_newlines.csv", _csv(["id", "note", "n"], rows))


@case
def quoted_delimiters():
    rows = [[i, f'"Smith, J. {k}"', f'"say ""hi"" {k}"', f"{k}.5"] for k, i in enumerate(_ids())]
    return _text("quoted_delims.csv", _csv(["id", "name", "quote", "x"], rows))


@case
def semicolons():
    rows = [[i, f"2026-01-{1 + k % 28:02d}", f"{k}.5", f"w{k}"] for k, i in enumerate(_ids())]
    return _text("semicolons.csv", _csv(["id", "day", "x", "s"], rows, ";"))


@case
def tabs_tsv():
    rows = [[i, _ts(k, " "), str(k), "true" if k % 2 else "false"] for k, i in enumerate(_ids())]
    return _text("tabs.tsv", _csv(["id", "ts", "n", "flag"], rows, "\t"))


@case
def tabs_in_txt():
    rows = [[i, f"w {k}", f"{k}.25"] for k, i in enumerate(_ids())]
    return _text("tabs.txt", _csv(["id", "words", "x"], rows, "\t"))


@case
def pipes():
    rows = [[i, f"a{k}", str(k * 10)] for k, i in enumerate(_ids())]
    return _text("pipes.csv", _csv(["id", "code", "n"], rows, "|"))


@case
def crlf_lines():
    body = _csv(["id", "day", "x"], [[i, f"2026-02-{1 + k % 28:02d}", f"{k}.5"] for k, i in enumerate(_ids())])
    return _text("crlf.csv", body.replace("\n", "\r\n"))


@case
def wide_mixed():
    header = ["id", "ts", "day", "flag", "n", "x", "big", "zip", "s"]
    rows = [[i, _ts(k) + "Z", f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}", "TRUE" if k % 2 else "FALSE",
             str(k) if k % 5 else "NA", f"{k}.125", str(2 ** 63 + k), f"{k:05d}", f"s{k}"]
            for k, i in enumerate(_ids())]
    return _text("wide_mixed.csv", _csv(header, rows))


# --- NDJSON --------------------------------------------------------------------------------
def _ndjson(name: str, records: list[dict]) -> tuple[str, bytes]:
    return _text(name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


@case
def nd_ts_z():
    return _ndjson("nd_ts_z.ndjson", [{"id": k, "ts": _ts(k) + "Z"} for k in range(N)])


@case
def nd_ts_offset():
    return _ndjson("nd_ts_offset.ndjson", [{"id": k, "ts": _ts(k) + "+02:00"} for k in range(N)])


@case
def nd_ts_naive():
    return _ndjson("nd_ts_naive.ndjson", [{"id": k, "ts": _ts(k, " ") + (".5" if k % 2 else "")}
                                           for k in range(N)])


@case
def nd_dates():
    return _ndjson("nd_dates.ndjson", [{"id": k, "day": f"2026-01-{1 + k % 28:02d}"} for k in range(N)])


@case
def nd_types():
    return _ndjson("nd_types.ndjson", [{"id": k, "flag": k % 2 == 0, "x": k + 0.5, "s": f"s{k}",
                                        "n": None if k % 4 == 0 else k} for k in range(N)])


@case
def nd_int_overflow():
    return _ndjson("nd_int_overflow.ndjson", [{"id": k, "big": 2 ** 63 + k} for k in range(N)])


@case
def nd_nested():
    return _ndjson("nd_nested.ndjson", [{"id": k, "user": {"name": f"u{k}", "age": k},
                                         "tags": [f"t{k}", "x"]} for k in range(N)])


@case
def nd_late_field():
    return _ndjson("nd_late_field.ndjson", [{"id": k, **({"extra": k * 2} if k >= LATE else {})}
                                             for k in range(LATE + 50)])


@case
def nd_mixed_numbers():
    return _ndjson("nd_mixed_numbers.ndjson", [{"id": k, "x": k if k % 3 else k + 0.25} for k in range(N)])


@case
def nd_late_dates():
    return _ndjson("nd_late_dates.ndjson", [{"id": k, "day": None if k < LATE else "2025-05-05"}
                                             for k in range(LATE + 50)])


@case
def json_array():
    records = [{"id": k, "day": f"2026-02-{1 + k % 28:02d}", "ts": _ts(k) + "Z", "x": k / 4,
                "ok": k % 2 == 0, "tags": [f"t{k}"]} for k in range(N)]
    return _text("array.json", json.dumps(records))


def write_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for make in CASES:
        name, data = make()
        path = folder / name
        path.write_bytes(data)
        out[name] = path
    return out


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "inference-corpus")
    for name in write_corpus(target):
        print(target / name)
