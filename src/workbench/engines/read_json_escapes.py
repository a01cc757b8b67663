"""Lone UTF-16 surrogate escapes in JSON text, found on the bytes before Polars reads them.

A character past U+FFFF is escaped in JSON as two ``\\uXXXX`` halves (``\\ud83d\\ude00``). Text
cut between the halves (truncated UTF-16, as JavaScript producers give) leaves one alone, and
Polars reads a lone high half as a NUL character without a word (a lone low half fails the read
with no place named). So every file is searched first: the error names the line, and with
``encoding='utf8-lossy'`` each lone half becomes U+FFFD in a copy of the file (the same length:
lines and byte offsets keep their numbers), with a note, as invalid UTF-8 does.

The search costs one read at memchr speed where no backslash is (most files: 0.07 s for 250 MB);
a stretch with escapes is searched once by a regular expression for a half alone (0.4 s for
60 MB holding 4 million escaped emoji). Only where an escaped backslash stands before a ``u`` (``\\\\ud83d`` is
text, not an escape) or a lone half is found does the exact scan, escape by escape, run.
"""

from __future__ import annotations

import hashlib
import re

from ..errors import SourceError
from .read_common import Input, count_lines_before

CHUNK = 16 * 1024 * 1024
# a half alone, when every \u starts an escape: a high half with no low one after it, or a low
# half with no high one before it (each alternative starts with \u: re looks for it first)
_LONE = re.compile(rb"\\u(?:[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                   rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u)[dD][c-fC-F][0-9a-fA-F]{2})")
_TEXT_U = re.compile(rb"\\\\u")  # an escaped backslash, then u (re finds it faster than `in`)
# every escape, in step from a point outside any escape; group 1: a surrogate half alone
_ESCAPE = re.compile(rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                     rb"|(u[dD][89a-fA-F][0-9a-fA-F]{2})|.)", re.DOTALL)
REPLACEMENT = b"\\ufffd"


def _cut(buf: bytes) -> int:
    """Where ``buf`` may be cut with no escape split: before 12 bytes free of backslashes (an
    escape, a pair included, is at most 12 bytes long)."""
    end = len(buf)
    while end > 0:
        i = buf.rfind(b"\\", 0, end)
        if end - i > 12:
            return end
        end = i
    return len(buf)


def _lone(buf: bytes, end: int) -> list[int]:
    """Offsets in ``buf[:end]`` (which starts outside any escape) of the surrogate halves alone."""
    if buf.find(b"\\", 0, end) < 0:  # memchr: most text has no escape at all
        return []
    if not _TEXT_U.search(buf, 0, end) and not _LONE.search(buf, 0, end):
        return []  # every \u starts an escape, and every surrogate half is in a pair
    return [m.start() for m in _ESCAPE.finditer(buf, 0, end) if m.group(1)]


def lone_surrogates(inp: Input, *, lossy: bool, row_is_line: bool,
                    notes: list[str] | None) -> None:
    """Raise on the first lone surrogate escape of ``inp``'s target; or, ``lossy``, point the
    target at a copy with each one written ``\\ufffd``, said in ``notes``."""
    assert inp.target is not None
    found: list[int] = []
    with open(inp.target, "rb") as f:
        pos, carry = 0, b""
        while True:
            data = f.read(CHUNK)
            buf = carry + data if carry else data
            cut = _cut(buf) if data else len(buf)
            found += [pos + i for i in _lone(buf, cut)]
            if found and not lossy:
                raise _error(inp, found[0], row_is_line)
            pos, carry = pos + cut, buf[cut:]
            if not data:
                break
    if found:
        _replace(inp, found)
        first = count_lines_before(inp.target, found[0]) + 1
        if notes is not None:
            notes.append(f"{len(found)} lone UTF-16 surrogate escape{'s' * (len(found) > 1)} "
                         f"(half of a character, the first on line {first}) read as U+FFFD, the "
                         "replacement character (encoding='utf8-lossy')")


def _error(inp: Input, offset: int, row_is_line: bool) -> SourceError:
    assert inp.target is not None
    line = count_lines_before(inp.target, offset) + 1
    escape = inp.read_at(offset, 6).decode("ascii", "replace")
    return SourceError(
        f"a lone UTF-16 surrogate escape {escape} on line {line} (byte {offset}): half of a "
        "character whose other half is missing", file=inp.path, row=line if row_is_line else None,
        hint="the text was cut inside a character (truncated UTF-16, as JavaScript producers "
             "give): fix the producer, or read with encoding utf8-lossy to store U+FFFD in its "
             "place (--encoding on the command line, encoding= in Python or YAML)")


def _replace(inp: Input, offsets: list[int]) -> None:
    """A copy of the target with each lone escape at ``offsets`` written ``\\ufffd`` (as long)."""
    assert inp.target is not None and inp.temp is not None
    out = inp.temp.path(f"surrogates-{hashlib.sha1(inp.path.encode()).hexdigest()[:12]}-{inp.name}")
    sha = hashlib.sha256() if inp.target == inp.path and inp.sha256 is None else None
    with open(inp.target, "rb") as src, open(out, "wb") as dst:
        while data := src.read(CHUNK):
            if sha is not None:  # the original read in place: hashed here, as copies are
                sha.update(data)
            dst.write(data)
    with open(out, "r+b") as dst:
        for offset in offsets:
            dst.seek(offset)
            dst.write(REPLACEMENT)
    if sha is not None:
        inp.sha256 = sha.hexdigest()
    inp.target = str(out)
