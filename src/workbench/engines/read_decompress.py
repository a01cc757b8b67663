"""Stream an input into a plain local UTF-8 file: decompress, transcode, copy from a bucket.

One pass, constant memory: read the original in chunks (hashing it on the way, so execute
need not read it again), inflate gzip/zstd through pyarrow's codecs (which, unlike Polars'
own reader, raise on a truncated stream), decode from the declared encoding and write UTF-8.
Decompressed bytes are capped per source (every file of a glob counts) and against the
compressed size, checked chunk by chunk while inflating, so a small bomb cannot fill the disk;
the disk's free space is checked against the reserve as the copy grows, and a full disk is a
``StorageError`` naming the folder.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from ..errors import SourceError, disk_full, is_enospc
from ..storage.disk import check_free_space
from .read_common import LIMITS, HashingReader, Input, Limits

CHUNK = 4 * 1024 * 1024


def materialize(inp: Input, out: Path, *, compression: str | None, encoding: str,
                skip_bytes: int = 0, limits: Limits = LIMITS) -> None:
    """Write ``inp`` (decompressed, transcoded to UTF-8) to ``out``; set target and sha256.

    ``encoding`` is a Python codec; ``utf-8`` copies bytes as they are. ``skip_bytes`` drops a
    byte-order mark of a transcoded encoding.
    """
    # heavy optional dependency: imported on first use
    import pyarrow as pa

    raw = HashingReader(inp.opener())
    decoder = None if encoding in ("utf-8", "utf-8-lossy") else codecs.getincrementaldecoder(encoding)()
    written = lines = 0
    stream = None
    try:
        if compression:
            stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), compression)
        else:
            stream = raw
        check_free_space(out.parent, limits.disk_reserve_bytes)
        with open(out, "wb") as sink:
            pending_skip = skip_bytes
            decoded_in = 0
            while True:
                try:
                    chunk = stream.read(CHUNK)
                except (OSError, pa.ArrowException) as exc:
                    raise _stream_error(inp, compression, exc) from None
                if not chunk:
                    break
                if compression:
                    _check_caps(inp, compression, decoded_in + len(chunk), raw.bytes, limits,
                                len(chunk))
                    limits.inflated[0] += len(chunk)
                decoded_in += len(chunk)
                if pending_skip:
                    cut = min(pending_skip, len(chunk))
                    chunk, pending_skip = chunk[cut:], pending_skip - cut
                if decoder is not None:
                    buffered = len(decoder.getstate()[0])
                    try:
                        text = decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        at = exc.start - buffered  # within this chunk
                        raise _decode_error(inp, encoding, decoded_in - len(chunk) + at,
                                            lines + chunk[:max(at, 0)].count(b"\n")) from None
                    chunk = text.encode("utf-8")
                try:
                    sink.write(chunk)
                except OSError as exc:
                    if is_enospc(exc):
                        raise disk_full(out.parent) from None
                    raise
                written += len(chunk)
                check_free_space(out.parent, limits.disk_reserve_bytes)
                lines += chunk.count(b"\n")
            if decoder is not None:
                try:
                    tail = decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise _decode_error(inp, encoding, decoded_in, lines) from None
                sink.write(tail.encode("utf-8"))
    finally:
        if stream is not None and stream is not raw:
            stream.close()
        raw.close()
    inp.target = str(out)
    inp.sha256 = raw.sha.hexdigest()


def _check_caps(inp: Input, compression: str, out_bytes: int, in_bytes: int, limits: Limits,
                chunk: int) -> None:
    """``out_bytes``: this file inflated so far, this chunk included; ``limits.inflated``: the
    source's total before this chunk."""
    if limits.inflated[0] + chunk > limits.max_decompressed_bytes:
        raise SourceError(
            f"the source decompresses to more than {limits.max_decompressed_bytes:,} bytes "
            f"(WORKBENCH_MAX_DECOMPRESSED_BYTES); refused while inflating {inp.name}",
            file=inp.path,
            hint="split the input, raise WORKBENCH_MAX_DECOMPRESSED_BYTES, or decompress it "
                 "yourself and read the plain files")
    if out_bytes > limits.ratio_floor_bytes and in_bytes and out_bytes / in_bytes > limits.max_ratio:
        raise SourceError(
            f"the {compression} stream expands more than {limits.max_ratio:g}x "
            f"({in_bytes:,} bytes read gave {out_bytes:,}), the limit "
            "(WORKBENCH_MAX_DECOMPRESSION_RATIO): it looks like a decompression bomb",
            file=inp.path,
            hint="if the file is genuine, raise WORKBENCH_MAX_DECOMPRESSION_RATIO or decompress "
                 "it yourself and read the plain file")


def _stream_error(inp: Input, compression: str | None, exc: BaseException) -> SourceError:
    text = str(exc)
    if compression and "runcated" in text:
        return SourceError(
            f"the {compression} stream is truncated: the file ends before the compressed data does",
            file=inp.path,
            hint="the file was cut short (an interrupted download or copy?); fetch it again")
    if compression:
        return SourceError(f"the {compression} stream is corrupt: {text}", file=inp.path,
                           hint="fetch the file again, or check it with `gzip -t` / `zstd -t`")
    return SourceError(f"cannot read the file: {text}", file=inp.path)


def _decode_error(inp: Input, encoding: str, offset: int, lines: int) -> SourceError:
    return SourceError(
        f"the bytes at offset {offset} (near line {lines + 1}) are not valid {encoding}",
        file=inp.path, row=None,
        hint="declare the file's real encoding (utf8, utf16, latin1, cp1252), or utf8-lossy to "
             "replace undecodable bytes (--encoding on the command line, encoding= in Python or YAML)")
