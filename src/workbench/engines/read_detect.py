"""Sniffing: compression, format, encoding and delimiter from a file's name and first bytes."""

from __future__ import annotations

import codecs
import csv
import io
import re

from ..errors import SourceError
from .read_common import HEAD_BYTES

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
PARQUET_MAGIC = b"PAR1"

MAGIC: list[tuple[bytes, str]] = [
    (GZIP_MAGIC, "a gzip stream"), (ZSTD_MAGIC, "a zstd stream"), (ZIP_MAGIC, "a zip archive"),
    (OLE_MAGIC, "a legacy Office (OLE) file"), (PARQUET_MAGIC, "a Parquet file"),
    (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"BZh", "a bzip2 stream"),
    (b"\xfd7zXZ", "an xz stream"),
]

_COMPRESSION_EXT = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_FORMAT_EXT = {
    ".csv": "csv", ".txt": "csv", ".dat": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".ldjson": "ndjson",
    ".xlsx": "excel", ".xlsm": "excel", ".xlsb": "excel", ".xls": "excel", ".ods": "excel",
    ".parquet": "parquet", ".pq": "parquet",
}
_BOMS = [
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),  # before UTF-16 LE
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
]


def describe_bytes(head: bytes) -> str:
    """A short human description of what a file starts with, for 'this is not X' errors."""
    for magic, what in MAGIC:
        if head.startswith(magic):
            return f"it starts like {what}"
    if not head:
        return "it is empty"
    try:
        text = head[:200].decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with bytes {head[:8].hex(' ')}"
    first = text.splitlines()[0][:60] if text.splitlines() else ""
    return f"it starts with text {first!r}"


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def strip_compression_ext(name: str) -> str:
    suffix = _suffix(name)
    return name[: -len(suffix)] if suffix in _COMPRESSION_EXT else name


def detect_compression(head: bytes, name: str, declared: str) -> str | None:
    """``"gzip"``, ``"zstd"`` or ``None``. Magic bytes win over the name, which can lie."""
    if declared == "none":
        return None
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if declared in ("gzip", "zstd"):
        raise SourceError(
            f"the file is not {declared}-compressed ({_what(head)})", file=name,
            hint="set compression='auto' or 'none' if the file is not compressed")
    ext = _COMPRESSION_EXT.get(_suffix(name))
    if ext and head:
        raise SourceError(f"the name says {ext} but the content is not ({_what(head)})", file=name,
                          hint="rename the file, or set compression='none'")
    return None


def _what(head: bytes) -> str:
    return describe_bytes(head)


def detect_format(head: bytes, name: str, declared: str) -> str:
    """The reader to use: csv, tsv, json, ndjson, excel or parquet."""
    if declared != "auto":
        return declared
    by_name = _FORMAT_EXT.get(_suffix(strip_compression_ext(name)))
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith((ZIP_MAGIC, OLE_MAGIC)):
        if by_name in (None, "excel"):
            return "excel"
    text = _bom_stripped(head).lstrip()
    markup = _markup(text)
    if markup and by_name in (None, "csv", "tsv"):
        raise SourceError(
            f"this file looks like {markup}, not a table of delimited text", file=name,
            hint="a saved web page or an error page is a common cause: download the data file "
                 "itself (or export it as CSV)")
    loose = _suffix(strip_compression_ext(name)) in (".txt", ".dat")  # says "text", not which
    if by_name is not None and not (loose and text[:1] in (b"[", b"{")):
        if by_name == "json":
            return _json_kind(head)
        return by_name
    if text[:1] in (b"[", b"{"):
        return _json_kind(head)
    for magic, what in MAGIC:
        if head.startswith(magic):
            raise SourceError(f"cannot tell how to read this file: {what}", file=name,
                              hint="set format= to one of csv, tsv, json, ndjson, excel, parquet")
    return "csv"


_MARKUP = [(b"<!doctype html", "an HTML page"), (b"<html", "an HTML page"),
           (b"<?xml", "an XML document"), (b"<svg", "an SVG image"), (b"<rss", "an RSS feed")]


def _markup(text: bytes) -> str | None:
    """What a file that starts with markup is, or None. Comments and a doctype may come first."""
    low = text[:2048].lower()
    for start, what in _MARKUP:
        if low.startswith(start):
            return what
    if low.startswith(b"<") and (b"<html" in low or b"<body" in low or b"<head" in low):
        return "an HTML page"
    return None


def _bom_stripped(head: bytes) -> bytes:
    return head[3:] if head.startswith(codecs.BOM_UTF8) else head


def _json_kind(head: bytes) -> str:
    """``[`` opens a JSON array; ``{`` is NDJSON when a second record starts on its own line."""
    text = _bom_stripped(head).lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        lines = [ln for ln in text.split(b"\n") if ln.strip()]
        if len(lines) >= 2 and lines[1].lstrip().startswith(b"{") and lines[0].rstrip().endswith(b"}"):
            return "ndjson"
        if len(lines) == 1 and lines[0].rstrip().endswith(b"}"):
            return "ndjson"  # one record per line, of which there is one
        return "json"
    return "ndjson"


def bom_encoding(head: bytes) -> tuple[str | None, int]:
    """The encoding a byte-order mark announces, and the mark's length."""
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc, len(bom)
    return None, 0


def looks_utf16(head: bytes) -> str | None:
    """UTF-16 without a BOM: every other byte NUL in ASCII-heavy text."""
    sample = head[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def resolve_encoding(head: bytes, declared: str) -> tuple[str, int]:
    """``(python codec, BOM length)``. ``utf-8``/``utf-8-lossy`` need no transcoding."""
    bom, length = bom_encoding(head)
    if declared == "utf8-lossy":
        return "utf-8-lossy", length if bom == "utf-8" else 0
    if declared in ("latin1", "cp1252"):
        return ("latin-1" if declared == "latin1" else "cp1252"), 0
    if declared in ("utf16le", "utf16be"):
        codec = "utf-16-le" if declared == "utf16le" else "utf-16-be"
        return codec, length if bom == codec else 0
    if declared == "utf16":
        if bom in ("utf-16-le", "utf-16-be"):
            return bom, length
        return looks_utf16(head) or "utf-16-le", 0
    if bom is not None:
        return bom, length  # auto and utf8 follow the mark: a file that says UTF-16 is UTF-16
    if declared == "auto":
        guess = looks_utf16(head) or single_byte_encoding(head)
        if guess:
            return guess, 0
    return "utf-8", 0


def single_byte_encoding(head: bytes) -> str | None:
    """``latin-1`` or ``cp1252`` for text that is not UTF-8 but decodes cleanly as one of them
    (Windows and Excel exports), else None.

    The two differ only in bytes 0x80-0x9F: control codes in Latin-1, which real text does not
    hold, and printable characters (€, curly quotes, dashes) in cp1252. So: none of those bytes
    → Latin-1; some, all defined in cp1252 → cp1252; else neither. Decided on the sniffed head:
    an invalid byte first met further into the file fails the read with a hint to declare the
    encoding."""
    if b"\x00" in head or first_invalid_utf8(head, final=False) is None:
        return None
    if not any(0x80 <= b < 0xA0 for b in head):
        return "latin-1"
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return None
    return "cp1252"


def late_single_byte(path: str, error: str) -> str | None:
    """Encoding ``auto`` decides on a file's head; when the first byte that is not UTF-8 comes
    later (``error`` is the invalid-UTF-8 error met in a sampled window), a plain local file
    whose head is ASCII is read again as the single-byte encoding (spec name ``latin1`` or
    ``cp1252``) the bytes there decode as. A head with UTF-8 letters means a file of mixed
    encodings: None, and the error stands."""
    if not error.startswith("invalid UTF-8"):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            if not head.isascii() or detect_compression(head, path, "auto") is not None:
                return None
            m = re.search(r"at byte offset (\d+)", error)
            f.seek(max(int(m[1]) - 4096, 0) if m else 0)
            window = f.read(HEAD_BYTES)
    except (OSError, SourceError):
        return None
    codec = single_byte_encoding(window[window.find(b"\n") + 1:] if m else window)
    return None if codec is None else ("latin1" if codec == "latin-1" else "cp1252")


def encoding_note(codec: str) -> str:
    """What the notes of a job say about an encoding ``auto`` chose from the bytes."""
    name = {"cp1252": "cp1252 (Windows-1252)", "latin-1": "Latin-1 (ISO-8859-1)"}.get(codec, codec)
    return (f"the file is not UTF-8: read as {name}, detected from its bytes (declare "
            f"encoding= to choose another)")


def first_invalid_utf8(data: bytes, final: bool) -> int | None:
    """Offset of the first byte that is not UTF-8, or None. A sequence cut at the end is fine
    unless ``final``."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def sniff_delimiter(text: str, quote_char: str | None) -> str:
    """The one of , TAB ; | that splits the first lines into the same number (>1) of fields."""
    lines = text.splitlines()[:30]
    if not lines:
        return ","
    sample = "\n".join(lines[:-1] if len(lines) > 1 else lines)
    best, best_fields = ",", 1
    for cand in (",", "\t", ";", "|"):
        if cand not in lines[0]:
            continue
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), **csv_dialect(cand, quote_char)) if r]
        except csv.Error:
            continue
        counts = {len(r) for r in rows}
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = cand, n
    if best_fields == 1:  # nothing consistent: the most frequent candidate in the header
        freq = {c: lines[0].count(c) for c in (",", "\t", ";", "|")}
        top = max(freq, key=lambda c: freq[c])
        return top if freq[top] else ","
    return best


def csv_dialect(delimiter: str, quote_char: str | None) -> dict:
    if quote_char:
        return {"delimiter": delimiter, "quotechar": quote_char, "doublequote": True,
                "strict": False}
    return {"delimiter": delimiter, "quoting": csv.QUOTE_NONE, "strict": False}
