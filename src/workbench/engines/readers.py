"""File sources: a ``FileSource`` spec becomes a ``SourceScan`` for ``execute``.

>>> scan = scan_file(FileSource(path="orders/*.csv.gz"))
>>> scan.frame.collect()

One entry point, ``scan_file``. What it does, in order:

1. ``expand_paths`` lists the files a path names (a file, a folder, a glob; ``s3://``/``r2://``
   through ``workbench.storage.s3_sources``).
2. Each file is sniffed (first 64 KiB): compression and format from the magic bytes and the
   name, then the text encoding (BOMs, UTF-16). ``_local_copy_or_path`` gives the local file
   Polars scans: the original when it is a plain local file (the fast path: ``pl.scan_csv``
   straight on it), else a temporary file streamed from it (decompressed with caps against
   bombs and a clear error on a truncated stream, transcoded to UTF-8, or copied from a
   bucket), removed by ``SourceScan.cleanup``.
3. The reader of the format (``READERS``) validates cheaply and builds the lazy frame.

Conventions shared by every reader:

* Null markers: ``null_values=None`` means ``"", "NA", "N/A", "NULL", "null"``; a column
  whose other values are numbers comes out numeric. ``null_values=[]`` turns them all off
  (empty text stays ``""``). They apply to CSV/TSV and to text cells of Excel; JSON has real
  nulls, so there only explicitly given markers are applied. For CSV, Polars is given only
  the default markers the sampled bytes use (each costs ~4% of the pass); one first met past
  the samples fails the pass on a typed column and ``SourceScan.rescan`` adds it. Markers the
  user lists are always all applied.
* Rows in errors: ``row`` is the 1-based data record, the header being row 0; the message adds
  the line and byte offset (text) or the worksheet row (Excel). For NDJSON ``row`` is the line.
* Types: inferred from the first 10,000 rows and widened (int → float → string, with a note)
  where a value in sampled windows further into the files does not fit; declared types
  (``schema_overrides``) never widen: a value that does not fit them is an error.
* Text that is typed: a CSV column (or NDJSON string key) whose sampled values are all ISO
  dates, times or date-times (naive, or with ``Z``/an offset: UTC instants), or booleans
  spelled ``t``/``yes``/``y``, is read typed with one known format (``read_text_types``), with
  a note; a later value that does not fit keeps the column as text, with a note.
* Encoding ``auto``: a BOM decides; else UTF-16 by its NUL bytes; else a head that is not
  UTF-8 but decodes cleanly as Latin-1 or cp1252 is read as such, and the job's notes say so.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

import polars as pl

from ..errors import ConfigError, SourceError, WorkbenchError
from ..spec.models import FileSource
from .read_common import (
    HEAD_BYTES, LIMITS, PLAN_PREFIX_BYTES, Input, Limits, TempFiles, default_nulls,
    file_fingerprint,
)
from .read_csv_blank import start_blank_search, stop_blank_search
from .read_decompress import materialize
from .read_detect import (
    detect_compression, detect_format, encoding_note, late_single_byte, resolve_encoding,
    sniff_delimiter,
    strip_compression_ext,
)
from .read_limits import check_field_sizes, check_line_lengths
from .read_types import declared_types
from .source import SourceScan
from .source_roots import source_policy

if TYPE_CHECKING:
    from ..context import Context
    from ..settings import Settings
from ..settings import get_settings
from .read_csv import CsvPlan, plan_csv
from .read_csv_check import CsvOptions
from .read_excel import read_excel
from .read_json import NdjsonPlan, plan_ndjson, read_json_array
from .read_parquet import scan_parquet
from .read_types import check_declared_columns, misfit, parse_text

_TEXT_FORMATS = ("csv", "tsv", "json", "ndjson")


def scan_file(source: FileSource, ctx: Context | None = None, *,
              limits: Limits | None = None, internal: bool = False,
              types_only: bool = False) -> SourceScan:
    """Open a file source for reading; raises ``SourceError`` (file, row, column, hint) for
    input that cannot be read as declared. Parse errors found only while the pipeline runs are
    located by the returned scan's ``diagnose``. ``limits`` default to the settings
    (``Limits.from_env``).

    ``types_only``: only the columns and their types are wanted (a fan-out's plan; each part
    reads its file again in full): the search of every byte for blank lines, which decide
    which rows are read and nothing of the types, is left out, and the field-size check and
    the head's parse stop at ``PLAN_PREFIX_BYTES`` of each file, so the frame is not to be
    collected."""
    # a copy per scan: the decompressed-bytes budget counts this source's files only
    limits = dataclasses.replace(limits) if limits is not None else Limits.from_env()
    settings = ctx.settings if ctx is not None else None
    temp = TempFiles(settings.home / "tmp" if settings is not None else None)
    fresh = dataclasses.replace(limits)  # for a second reading, with its own budget
    try:
        try:
            return _scan(source, ctx, temp, limits, internal, types_only=types_only)
        except SourceError as exc:
            codec = None
            if source.encoding == "auto" and exc.file and not _is_remote(exc.file) and \
                    not any(ch in source.path for ch in "*?["):
                codec = late_single_byte(exc.file, str(exc))
            if codec is None:
                raise
            temp.cleanup()
            temp = TempFiles(settings.home / "tmp" if settings is not None else None)
            return _scan(source, ctx, temp, fresh, internal, auto=codec, types_only=types_only)
    except BaseException:
        temp.cleanup()
        raise


# ----------------------------------------------------------------------------- files
def _is_remote(path: str) -> bool:
    return path.startswith(("s3://", "r2://"))


def _s3_sources():
    try:
        # heavy optional dependency: imported on first use
        from ..storage import s3_sources
    except ImportError:
        raise ConfigError("s3:// sources need the S3 storage module, which is not available",
                          hint="pip install 'workbench[s3]'") from None
    return s3_sources


def _settings(ctx: Context | None) -> Settings:
    if ctx is not None:
        return ctx.settings

    return get_settings()


def expand_paths(path: str, ctx: Context | None, *, internal: bool = False) -> list[dict[str, Any]]:
    """The files a source path names, sorted: ``[{"path", "size"}]``, each one allowed by the
    source roots (``engines.source_roots``) and, when local, resolved (symlinks followed)."""
    policy = source_policy(_settings(ctx))
    if _is_remote(path):
        s3 = _s3_sources()
        bucket, key, _ = s3.split(path)
        literal = re.split(r"[*?\[]", key, maxsplit=1)[0]
        policy.check_remote(path, bucket, literal, internal=internal)  # before any listing
        found = s3.expand(path, _settings(ctx))
        for e in found:
            b, k, _ = s3.split(e["path"])
            policy.check_remote(path, b, k, internal=internal)
        return found
    p = Path(path).expanduser()
    if any(ch in path for ch in "*?["):
        policy.check_glob_base(str(p))
        matches = sorted(m for m in glob.glob(str(p), recursive=True) if os.path.isfile(m))
        if not matches:
            raise SourceError(f"no files match {path!r}", file=path,
                              hint=f"check the pattern; relative paths start at {os.getcwd()}")
        # every match is judged where it leads: a symlink inside the glob cannot leave a root
        real = [policy.check_local(path, m) for m in matches]
        return [{"path": r, "size": os.path.getsize(r)} for r in real]
    real_path = policy.check_local(path, p)  # before is_dir/exists: a refusal tells nothing
    if os.path.isdir(real_path):
        files = sorted(str(f) for f in Path(real_path).iterdir()
                       if f.is_file() and not f.name.startswith("."))
        if not files:
            raise SourceError(f"the folder {path!r} holds no files", file=path,
                              hint="point at a file or a glob such as 'dir/*.csv'")
        real = [policy.check_local(path, f) for f in files]
        return [{"path": r, "size": os.path.getsize(r)} for r in real]
    if not os.path.exists(real_path):
        raise SourceError(f"no such file: {path!r}", file=path,
                          hint=f"check the path; relative paths start at {os.getcwd()}")
    return [{"path": real_path, "size": os.path.getsize(real_path)}]


def _opener(path: str, ctx: Context | None) -> Callable[[], BinaryIO]:
    if _is_remote(path):
        mod, settings = _s3_sources(), _settings(ctx)
        return lambda: mod.open_source(path, settings)
    return lambda: open(path, "rb")


def _local_copy_or_path(inp: Input, ctx: Context | None, temp: TempFiles, index: int, *,
                        compression: str | None = None, encoding: str = "utf-8",
                        bom_len: int = 0, limits: Limits = LIMITS) -> str:
    """The local file to scan: the original when nothing needs changing, else a copy."""
    plain = compression is None and encoding in ("utf-8", "utf-8-lossy")
    if plain and not _is_remote(inp.path):
        inp.target = inp.path
        return inp.path
    out = temp.path(f"{index:05d}-{strip_compression_ext(inp.name)}")
    materialize(inp, out, compression=compression, encoding=encoding,
                skip_bytes=0 if encoding in ("utf-8", "utf-8-lossy") else bom_len, limits=limits)
    return str(out)


# ----------------------------------------------------------------------------- scan
def _scan(source: FileSource, ctx: Context | None, temp: TempFiles, limits: Limits,
          internal: bool = False, auto: str | None = None, *, types_only: bool = False
          ) -> SourceScan:
    """``auto``: the encoding ``auto`` settled on past the head (``_single_byte_retry``)."""
    inputs = [Input(path=e["path"], size=int(e["size"]), opener=_opener(e["path"], ctx),
                    types_only=types_only, temp=temp)
              for e in expand_paths(source.path, ctx, internal=internal)]
    fmt: str | None = None
    detected: list[str] = []  # what encoding "auto" found, for the job's notes
    for i, inp in enumerate(inputs):
        if not _is_remote(inp.path):
            inp.fingerprint = file_fingerprint(inp.path)
        with inp.opener() as f:
            inp.head = f.read(HEAD_BYTES)
        if inp.size == 0 or not inp.head:
            raise SourceError("the file is empty", file=inp.path, row=0,
                              hint="the file has 0 bytes: check that it was written completely")
        inp.compression = detect_compression(inp.head, inp.name, source.compression)
        name = strip_compression_ext(inp.name) if inp.compression else inp.name
        if inp.compression:
            # Decompress first: the format and encoding are in the inflated bytes.
            _local_copy_or_path(inp, ctx, temp, i, compression=inp.compression, limits=limits)
            head = inp.read_at(0, HEAD_BYTES)
        else:
            head = inp.head
        this = detect_format(head, name, source.format)
        if fmt is None:
            fmt = this
        elif this != fmt and {this, fmt} != {"csv", "tsv"}:
            raise SourceError(f"this file reads as {this}, the first file as {fmt}", file=inp.path,
                              hint="a glob must name files of one format; set format= or narrow "
                                   "the pattern")
        if this in _TEXT_FORMATS:
            encoding, bom_len = resolve_encoding(head, auto or source.encoding)
            if source.encoding == "auto" and not bom_len and encoding != "utf-8":
                note = encoding_note(encoding)
                detected.append(note if len(inputs) == 1 else f"{inp.name}: {note}")
            if inp.target is not None and encoding not in ("utf-8", "utf-8-lossy"):
                raw_target = inp.target  # decompressed but not yet transcoded
                inp.opener = lambda p=raw_target: open(p, "rb")  # type: ignore[misc]
                sha = inp.sha256
                _transcode(inp, temp, i, encoding, bom_len, limits)
                os.unlink(raw_target)
                inp.sha256 = sha
            elif inp.target is None:
                _local_copy_or_path(inp, ctx, temp, i, encoding=encoding, bom_len=bom_len,
                                    limits=limits)
            inp.extra["lossy"] = encoding == "utf-8-lossy"
        elif inp.target is None and not (this == "parquet" and _is_remote(inp.path)):
            _local_copy_or_path(inp, ctx, temp, i, limits=limits)
    assert fmt is not None
    reader = READERS[fmt]
    return _finish(reader(source, inputs, ctx, limits), inputs, temp, detected)


def _finish(scan: SourceScan, inputs: list[Input], temp: TempFiles,
            notes: list[str] | None = None) -> SourceScan:
    """What every scan of these inputs shares, a rescan's included: the inputs (with the
    checksums of copies), their size, and the one cleanup of the temporary files."""
    scan.inputs = [inp.as_dict() for inp in inputs]
    scan.bytes_total = sum(inp.size for inp in inputs)
    scan.cleanup = temp.cleanup
    if notes:
        scan.notes = list(notes) + list(scan.notes)
    inner = getattr(scan, "rescan", None)
    if inner is not None:
        def rescan(exc: BaseException) -> SourceScan | None:
            new = inner(exc)
            return None if new is None else _finish(new, inputs, temp, notes)
        scan.rescan = rescan
    return scan


def _transcode(inp: Input, temp: TempFiles, index: int, encoding: str, bom_len: int,
               limits: Limits) -> None:
    out = temp.path(f"{index:05d}-utf8-{strip_compression_ext(inp.name)}")
    materialize(inp, out, compression=None, encoding=encoding, skip_bytes=bom_len, limits=limits)


def _safe(fn: Callable[[BaseException], WorkbenchError | None]) -> Callable[[BaseException], WorkbenchError | None]:
    """diagnose never raises: a failure to locate a failure leaves execute's own message."""
    def run(exc: BaseException) -> WorkbenchError | None:
        try:
            return fn(exc)
        except Exception:
            return None
    return run


# ----------------------------------------------------------------------------- formats
def _read_csv(source: FileSource, inputs: list[Input], ctx: Context | None, limits: Limits,
              *, tsv: bool = False) -> SourceScan:
    delimiter = source.delimiter or ("\t" if tsv else None)
    if delimiter is None:
        head = inputs[0].read_at(0, HEAD_BYTES).decode("utf-8", errors="replace")
        delimiter = "\t" if inputs[0].name.lower().endswith((".tsv", ".tab", ".tsv.gz")) else \
            sniff_delimiter(head, source.quote_char or None)
    opts = CsvOptions(delimiter=delimiter, quote_char=source.quote_char or None,
                      has_header=source.has_header, skip_rows=source.skip_rows,
                      nulls=tuple(default_nulls(source.null_values)),
                      lossy=bool(inputs[0].extra.get("lossy")))
    declared = declared_types(source.schema_overrides, inputs[0].path)
    delim = delimiter.encode()
    for inp in inputs:
        # a file of several columns drops its blank lines: the search for them (and the count
        # of every record's fields) reads every byte, on threads from now on, beside the field
        # sizes and the sampling
        if not inp.types_only and delim in inp.read_at(0, HEAD_BYTES).split(b"\n", 1)[0]:
            start_blank_search(inp, opts)
    try:
        for inp in inputs:  # before Polars sees a field that would take all memory
            check_field_sizes(inp, limits, separators=delim if len(delim) == 1 else b"",
                              quote=opts.quote_char.encode() if opts.quote_char else None,
                              upto=PLAN_PREFIX_BYTES if inp.types_only else None)
        plan = plan_csv(inputs, opts, declared, sample_markers=source.null_values is None,
                        limits=limits)
    except BaseException:
        stop_blank_search(inputs)  # a refused file's pieces are not counted on
        raise

    def to_scan(p: CsvPlan) -> SourceScan:
        def rescan(exc: BaseException) -> SourceScan | None:
            wider = p.widened(exc)
            return None if wider is None else to_scan(wider)
        scan = SourceScan(frame=p.frame(), diagnose=_safe(p.diagnose), notes=list(p.notes))
        scan.rescan = _safe_rescan(rescan)  # set, not passed: works with or without the field
        return scan

    return to_scan(plan)


def _read_tsv(source: FileSource, inputs: list[Input], ctx: Context | None, limits: Limits) -> SourceScan:
    return _read_csv(source, inputs, ctx, limits, tsv=True)


def _read_ndjson(source: FileSource, inputs: list[Input], ctx: Context | None, limits: Limits) -> SourceScan:
    for inp in inputs:
        check_line_lengths(inp, limits, what="a record")
    plan = plan_ndjson(inputs, declared_types(source.schema_overrides, inputs[0].path),
                       depth=limits.max_json_depth)

    def to_scan(p: NdjsonPlan) -> SourceScan:
        frame = _json_nulls(p.frame(), source.null_values, p.schema)

        def rescan(exc: BaseException) -> SourceScan | None:
            wider = p.widened(exc)
            return None if wider is None else to_scan(wider)
        scan = SourceScan(frame=frame, diagnose=_safe(p.diagnose), notes=list(p.notes))
        scan.rescan = _safe_rescan(rescan)  # set, not passed: works with or without the field
        return scan

    return to_scan(plan)


def _read_json(source: FileSource, inputs: list[Input], ctx: Context | None, limits: Limits) -> SourceScan:
    notes: list[str] = []
    df = read_json_array(inputs, declared_types(source.schema_overrides, inputs[0].path),
                         depth=limits.max_json_depth, notes=notes)
    if df.width == 0:  # `[]` or records of no keys: as an empty CSV, no dataset of no columns
        raise SourceError("the JSON document holds no records with keys", file=inputs[0].path,
                          row=0, hint="check that the file was written completely")
    frame = _json_nulls(df.lazy(), source.null_values, dict(df.schema))
    return SourceScan(frame=frame, rows_total=df.height, notes=notes)


def _json_nulls(frame: pl.LazyFrame, null_values: list[str] | None,
                schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """JSON has real nulls: text markers apply only when given explicitly."""
    if not null_values:
        return frame
    text = [c for c, t in schema.items() if t == pl.String]
    if not text:
        return frame
    return frame.with_columns(pl.when(pl.col(c).is_in(null_values)).then(None)
                              .otherwise(pl.col(c)).alias(c) for c in text)


def _read_excel(source: FileSource, inputs: list[Input], ctx: Context | None, limits: Limits) -> SourceScan:
    notes: list[str] = []
    df = read_excel(inputs, source.sheet, source.has_header, source.skip_rows,
                    default_nulls(source.null_values),
                    declared_types(source.schema_overrides, inputs[0].path), notes, limits)
    if df.width == 0:  # as an empty CSV: no dataset of no columns
        raise SourceError("the sheet is empty", file=inputs[0].path, row=0,
                          hint="choose the sheet that holds the data with sheet=")
    return SourceScan(frame=df.lazy(), rows_total=df.height, notes=notes)


def _read_parquet(source: FileSource, inputs: list[Input], ctx: Context | None, limits: Limits) -> SourceScan:
    options = None
    targets = []
    for inp in inputs:
        if inp.target is None:  # in a bucket: scanned where it lies, no copy
            mod = _s3_sources()
            targets.append(mod.scan_url(inp.path))
            options = mod.polars_storage_options(_settings(ctx), inp.path)
            inp.target = inp.path
        else:
            targets.append(inp.target)
    frame, rows = scan_parquet(inputs, targets, options)
    declared = declared_types(source.schema_overrides, inputs[0].path)
    diagnose = None
    if declared:
        frame, diagnose = _declared_lazy(frame, declared, inputs)
    return SourceScan(frame=frame, rows_total=rows,
                      **({"diagnose": _safe(diagnose)} if diagnose else {}))


def _declared_lazy(frame: pl.LazyFrame, declared: dict[str, pl.DataType], inputs: list[Input]):
    """Casts to declared types on a lazy frame, and how to find the first value that fails."""

    schema = frame.collect_schema()
    check_declared_columns(declared, list(schema.names()), inputs[0].path)

    def conv(c: str, t: pl.DataType) -> pl.Expr:
        return parse_text(pl.col(c), t, strict=True) if schema[c] == pl.String else pl.col(c).cast(t)

    out = frame.with_columns(conv(c, t).alias(c) for c, t in declared.items() if schema[c] != t)

    def diagnose(exc: BaseException) -> SourceError | None:
        for c, t in declared.items():
            if schema[c] == t:
                continue
            bad = (misfit(pl.col(c), t) if schema[c] == pl.String
                   else pl.col(c).is_not_null() & pl.col(c).cast(t, strict=False).is_null())
            hit = frame.with_row_index("__wb_row", offset=1).filter(bad).select(
                "__wb_row", c).head(1).collect()
            if hit.height:
                row, value = hit.row(0)
                return SourceError(f"value {value!r} does not fit the declared type {t}",
                                   file=inputs[0].path if len(inputs) == 1 else None, row=row,
                                   column=c, hint="declare a wider type, or fix the value")
        return None

    return out, diagnose


def _safe_rescan(fn: Callable[[BaseException], SourceScan | None]) -> Callable[[BaseException], SourceScan | None]:
    def run(exc: BaseException) -> SourceScan | None:
        try:
            return fn(exc)
        except Exception:
            return None
    return run


READERS: dict[str, Callable[[FileSource, list[Input], Any, Limits], SourceScan]] = {
    "csv": _read_csv,
    "tsv": _read_tsv,
    "json": _read_json,
    "ndjson": _read_ndjson,
    "excel": _read_excel,
    "parquet": _read_parquet,
}

__all__ = ["READERS", "scan_file"]

