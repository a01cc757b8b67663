"""JSON arrays (read whole: a JSON document has no record boundaries to stream on) and NDJSON
(scanned lazily; types from the first rows plus windows sampled across the files).

Keys of NDJSON. Given a schema, Polars silently drops a key the schema does not have, at the top
level or inside an object, so every line's keys are found before the pass: each file is cut into
stretches of whole lines and Polars infers the schema of every line of each, the stretches on
threads (one inference of a whole file runs on one thread: 2.2 s for 260 MB, where the stretches
on two cores took 1.1 s). A key found there is read, with a note."""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from ..errors import SourceError
from .read_common import (
    INFER_ROWS, SAMPLE_WINDOWS, WINDOW_BYTES, Input, count_lines_before,
)
from .read_csv_check import whole_lines
from .read_json_escapes import lone_surrogates
from .read_limits import depth_error, dtype_depth, json_depth_exceeded
from .read_text_types import (
    describe, general_formats, kind_dtype, misfit_column, parse_expr, text_kind,
)
from .read_types import apply_declared_eager, py_fits, type_name

_CHAR_AT = re.compile(r"at character (\d+)")
NUL = b"\x00"
KEY_SCAN_BYTES = 16 * 1024 * 1024  # one stretch of an NDJSON file whose keys are inferred at once


def _empty(inp: Input) -> None:
    if inp.target_size == 0:
        raise SourceError("the file is empty", file=inp.path, row=0,
                          hint="the file has 0 bytes: check that it was written completely")


# ----------------------------------------------------------------------------- JSON array
def read_json_array(inputs: list[Input], declared: dict[str, pl.DataType], *,
                    depth: int = 64, notes: list[str] | None = None) -> pl.DataFrame:
    """Every file read whole; string keys holding dates, times or spelled booleans typed
    (``read_text_types``), each said in ``notes``."""
    frames = []
    for inp in inputs:
        _empty(inp)
        lone_surrogates(inp, lossy=bool(inp.extra.get("lossy")), row_is_line=False, notes=notes)
        try:
            df = pl.read_json(inp.target, infer_schema_length=None)
        except pl.exceptions.PolarsError as exc:
            raise json_error(inp, exc, depth) from None
        if frames and set(df.columns) != set(frames[0].columns):
            raise SourceError(
                f"the keys differ from the first file's ({sorted(set(df.columns) ^ set(frames[0].columns))[:10]} "
                "are not in both)", file=inp.path,
                hint="every file of a glob needs the same keys; read the odd file on its own")
        _check_depth([inp], dict(df.schema), depth, line_by_line=False)
        df = empty_objects_as_text(df, df.schema)
        frames.append(apply_declared_eager(df, declared, inp.path, row_offset=0))
    df = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    return _typed_text(df, declared, notes)


def _typed_text(df: pl.DataFrame, declared: dict[str, pl.DataType],
                notes: list[str] | None) -> pl.DataFrame:
    typed: dict[str, tuple[str, str]] = {}
    for c, t in df.schema.items():
        if t != pl.String or c in declared:
            continue
        found = text_kind(df[c])
        if found is None:
            continue
        try:  # every value is read here: one that matches the pattern but is no date stays text
            df = df.with_columns(parse_expr(c, *found))
        except pl.exceptions.PolarsError:
            continue
        typed[c] = found
    if typed and notes is not None:
        notes.append(f"typed values read from text: {describe(typed)} "
                     "(schema_overrides={key: 'string'} keeps a key as text)")
    return df


def json_error(inp: Input, exc: BaseException, depth: int = 64) -> SourceError:
    """Where a JSON document breaks: Polars gives a byte offset; lines are counted from it."""
    if "DepthLimit" in str(exc) or "recursion" in str(exc).lower():
        return depth_error(inp, None, depth)
    m = _CHAR_AT.search(str(exc))
    if m:
        offset = int(m.group(1))
        line = count_lines_before(inp.target or inp.path, offset) + 1
        before = inp.read_at(max(offset - 4096, 0), min(offset, 4096))
        col = offset - (before.rfind(b"\n") + 1 + max(offset - 4096, 0)) + 1
        near = inp.read_at(offset, 20).decode("utf-8", "replace")
        return SourceError(f"malformed JSON at line {line}, column {col} (byte {offset}), near "
                           f"{near!r}", file=inp.path,
                           hint="fix the JSON (a missing value, comma or bracket); for one record "
                                "per line use format='ndjson'")
    if inp.target_size <= 256 * 1024 * 1024:
        try:
            with open(inp.target, "rb") as f:  # type: ignore[arg-type]
                raw = f.read()
            if json_depth_exceeded(raw, depth):
                return depth_error(inp, None, depth)
            json.loads(raw)
        except RecursionError:
            return depth_error(inp, None, depth)
        except json.JSONDecodeError as jexc:
            return SourceError(f"malformed JSON at line {jexc.lineno}, column {jexc.colno}: "
                               f"{jexc.msg}", file=inp.path,
                               hint="fix the JSON, or set format= if it is not JSON")
        except UnicodeDecodeError as uexc:
            return SourceError(f"the JSON is not UTF-8 (byte {uexc.start})", file=inp.path,
                               hint="set encoding= to the file's encoding")
    return SourceError(f"cannot read the JSON: {str(exc).splitlines()[0]}", file=inp.path,
                       hint="check that the file is one JSON array or object")


def _check_depth(inputs: list[Input], schema: dict[str, Any], depth: int, *,
                 line_by_line: bool) -> None:
    """Enforce WORKBENCH_MAX_JSON_DEPTH on what Polars read without complaint (it accepts about
    a thousand levels, so its own error covers only the deeper cases): the record is one level,
    each list or struct inside it one more. NDJSON names the first line too deep."""
    deepest = 1 + max((dtype_depth(t) for t in schema.values()), default=0)
    if deepest <= depth:
        return
    if line_by_line:
        for inp in inputs:
            err = _locate_line(inp, {}, {}, depth=depth)
            if err is not None:
                raise err
    raise depth_error(inputs[0], None, depth)


# ----------------------------------------------------------------------------- NDJSON
@dataclass
class NdjsonPlan:
    inputs: list[Input]
    schema: dict[str, pl.DataType]
    declared: dict[str, pl.DataType]
    notes: list[str] = field(default_factory=list)
    depth: int = 64
    # string keys whose sampled values are all ISO dates/times or spelled booleans:
    # key -> (kind, format), see read_text_types
    parse: dict[str, tuple[str, str]] = field(default_factory=dict)

    def frame(self) -> pl.LazyFrame:
        targets = [i.target for i in self.inputs]
        lf = pl.scan_ndjson(targets if len(targets) > 1 else targets[0], schema=self.schema)
        if self.parse:
            lf = lf.with_columns([parse_expr(c, k, f) for c, (k, f) in self.parse.items()])
        return empty_objects_as_text(lf, self.schema)

    def diagnose(self, exc: BaseException) -> SourceError | None:
        for inp in self.inputs:
            err = _locate_line(inp, self.schema, self.declared, depth=self.depth)
            if err is not None:
                return err
        return None

    def widened(self, exc: BaseException) -> NdjsonPlan | None:
        """Infer from every row (Polars, multi-threaded) and widen where it differs."""
        c = misfit_column(exc, list(self.parse))
        general = general_formats(self.parse, c, "key") if c is not None else None
        if general is not None:  # the sample's exact date-time format missed (read_csv_plan)
            parse, note = general
            return replace(self, parse=parse, notes=self.notes + [note])
        if c is not None:
            note = (f"key {c!r}: a value further into the file is not "
                    f"{kind_dtype(self.parse[c][0])}; read as text")
            return replace(self, parse={k: v for k, v in self.parse.items() if k != c},
                           notes=self.notes + [note])
        schema = dict(self.schema)
        for inp in self.inputs:
            try:
                full = pl.scan_ndjson(inp.target, infer_schema_length=None).collect_schema()
            except pl.exceptions.PolarsError:
                return None
            schema = merge_schemas(schema, dict(full))
        for c, t in self.declared.items():
            schema[c] = t
        if schema == self.schema:
            return None
        notes = [f"key {c!r}: values further into the file do not fit "
                 f"{type_name(self.schema[c]) if c in self.schema else 'the first rows'}; read as "
                 f"{type_name(t)}" for c, t in schema.items() if self.schema.get(c) != t]
        return replace(self, schema=schema, notes=self.notes + notes)


def plan_ndjson(inputs: list[Input], declared: dict[str, pl.DataType], *,
                depth: int = 64) -> NdjsonPlan:
    schema: dict[str, pl.DataType] = {}
    notes: list[str] = []
    texts: dict[str, list[pl.Series]] = {}  # sampled string values, for typed text
    for n, inp in enumerate(inputs):
        _empty(inp)
        lone_surrogates(inp, lossy=bool(inp.extra.get("lossy")), row_is_line=True, notes=notes)
        head = inp.read_at(0, WINDOW_BYTES)
        if not head.strip():
            raise SourceError("the file is empty (only blank lines)", file=inp.path, row=0)
        if b"\x00" in head:
            raise SourceError(f"the file contains a NUL byte at byte offset {head.find(NUL)}",
                              file=inp.path, hint="this does not look like a text file; set format=")
        if n == 0:
            try:
                schema = dict(pl.scan_ndjson(inp.target, infer_schema_length=INFER_ROWS)
                              .collect_schema())
            except pl.exceptions.PolarsError:
                raise _locate_line(inp, {}, {}, depth=depth) or SourceError(
                    "cannot read the file as NDJSON", file=inp.path,
                    hint="each line must be one JSON object; for one JSON document use "
                         "format='json'") from None
            _check_depth([inp], schema, depth, line_by_line=True)  # before types are compared
    per_file = max(1, SAMPLE_WINDOWS // len(inputs))
    for inp in inputs:
        size = inp.target_size
        offsets = sorted({int(size * k / (per_file + 1)) for k in range(1, per_file + 1)}
                         | {0, max(size - WINDOW_BYTES, 0)})
        for off in offsets:
            raw = inp.read_at(off, WINDOW_BYTES)
            at_end = off + len(raw) >= size
            data, dropped = whole_lines(raw, at_start=off == 0, at_end=at_end)
            if not data.strip():
                continue
            try:
                window = pl.read_ndjson(data, infer_schema_length=None)
                got = dict(window.schema)
            except pl.exceptions.PolarsError:
                raise _locate_line(inp, {}, {}, start=off + dropped, depth=depth) or SourceError(
                    f"cannot read the file as NDJSON near byte {off + dropped}",
                    file=inp.path, hint="each line must be one JSON object") from None
            _check_depth([inp], got, depth, line_by_line=True)
            for c, t in got.items():
                if t == pl.String:
                    texts.setdefault(c, []).append(window[c])
            schema = _merge_noting(schema, got, inp.name, notes)
    for inp in inputs:  # every key of every line, the windows' types kept where they suffice
        schema = _merge_noting(schema, _every_key(inp, depth), inp.name, notes)
    schema = {c: (pl.String if t == pl.Null else t) for c, t in schema.items()}
    missing = [c for c in declared if c not in schema]
    if missing:
        raise SourceError(f"schema_overrides names keys the file does not have: {missing}",
                          file=inputs[0].path, column=missing[0],
                          hint=f"the keys seen are: {list(schema)[:50]}")
    schema.update(declared)
    parse = {}
    for c, t in schema.items():
        if t == pl.String and c not in declared and c in texts:
            found = text_kind(pl.concat(texts[c]))
            if found is not None:
                parse[c] = found
    if parse:
        notes.append(f"typed values read from text: {describe(parse)} "
                     "(schema_overrides={key: 'string'} keeps a key as text)")
    notes += [f"key {c!r} is always an empty object: kept as the JSON text '{{}}' (a struct with "
              "no fields cannot be stored in Parquet)" for c in _empty_objects(schema)]
    return NdjsonPlan(inputs, schema, declared, notes, depth=depth, parse=parse)


def _merge_noting(schema: dict[str, pl.DataType], got: dict[str, pl.DataType], name: str,
                  notes: list[str]) -> dict[str, pl.DataType]:
    """``merge_schemas``, each key it adds (inside objects too) and each type it widens said."""
    merged = merge_schemas(schema, got)
    for c, t in merged.items():
        if c not in schema:
            notes.append(f"key {c!r} first appears further into {name}; included")
        elif schema[c] != t and schema[c] != pl.Null:
            added = _added_fields(schema[c], t, c)
            notes += [f"key {k!r} first appears further into {name}; included" for k in added]
            if not added:
                notes.append(f"key {c!r}: values further into {name} are not "
                             f"{type_name(schema[c])}; read as {type_name(t)}")
    return merged


def _added_fields(old: Any, new: Any, path: str) -> list[str]:
    """Dotted paths of the object keys ``new`` has and ``old`` has not (lists looked into)."""
    while isinstance(old, (pl.List, pl.Array)) and isinstance(new, (pl.List, pl.Array)):
        old, new = old.inner, new.inner
    if not (isinstance(old, pl.Struct) and isinstance(new, pl.Struct)):
        return []
    before = {f.name: f.dtype for f in old.fields}
    out = []
    for f in new.fields:
        if f.name not in before:
            out.append(f"{path}.{f.name}")
        else:
            out += _added_fields(before[f.name], f.dtype, f"{path}.{f.name}")
    return out


def _line_stretches(inp: Input, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` byte ranges of whole lines, about ``KEY_SCAN_BYTES`` each."""
    starts = [0]
    with open(inp.target, "rb") as f:  # type: ignore[arg-type]
        while starts[-1] + KEY_SCAN_BYTES < size:
            f.seek(starts[-1] + KEY_SCAN_BYTES)
            f.readline()  # no longer than the record limit: check_line_lengths ran first
            if f.tell() >= size:
                break
            starts.append(f.tell())
    return list(zip(starts, starts[1:] + [size]))


def _every_key(inp: Input, depth: int) -> dict[str, pl.DataType]:
    """The schema Polars infers from every line of the file (keys nested in objects included),
    stretch by stretch on threads (``collect`` lets go of the GIL, ``collect_schema`` does not).
    A line Polars cannot read is located here, before the pass."""
    stretches = _line_stretches(inp, inp.target_size)

    def infer(span: tuple[int, int]) -> dict[str, pl.DataType] | None:
        data = inp.read_at(span[0], span[1] - span[0])
        if not data.strip():
            return {}
        try:
            return dict(pl.scan_ndjson(data, infer_schema_length=None).head(0).collect().schema)
        except pl.exceptions.PolarsError:
            return None

    workers = max(1, min(len(stretches), os.cpu_count() or 1))
    if workers == 1:
        found = [infer(s) for s in stretches]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="wb-ndjson-keys") as pool:
            found = list(pool.map(infer, stretches))
    schema: dict[str, pl.DataType] = {}
    for (start, _), got in zip(stretches, found):
        if got is None:
            raise _locate_line(inp, {}, {}, start=start, depth=depth) or SourceError(
                f"cannot read the file as NDJSON after byte {start}", file=inp.path,
                hint="each line must be one JSON object")
        _check_depth([inp], got, depth, line_by_line=True)
        schema = merge_schemas(schema, got)
    return schema


def _empty_objects(schema: Any) -> list[str]:
    return [c for c, t in schema.items() if isinstance(t, pl.Struct) and not t.fields]


def empty_objects_as_text(lf: Any, schema: Any) -> Any:
    """A key whose objects never have a field (``{}``) as the JSON text ``"{}"``, nulls kept."""
    cols = _empty_objects(schema)
    if not cols:
        return lf
    return lf.with_columns([pl.when(pl.col(c).is_null()).then(pl.lit(None, pl.String))
                            .otherwise(pl.lit("{}")).alias(c) for c in cols])


def merge_schemas(a: dict[str, pl.DataType], b: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    """Union of keys; a type both sides disagree on becomes their supertype (else text)."""
    out = dict(a)
    for c, t in b.items():
        if c not in out or out[c] == pl.Null:
            out[c] = t
        elif out[c] != t and t != pl.Null:
            try:
                out[c] = pl.concat([pl.DataFrame(schema={c: out[c]}), pl.DataFrame(schema={c: t})],
                                   how="vertical_relaxed").schema[c]
            except Exception:
                out[c] = pl.String
    return out


def _locate_line(inp: Input, schema: dict[str, pl.DataType], declared: dict[str, pl.DataType],
                 start: int = 0, *, depth: int = 64) -> SourceError | None:
    """The first line that is not a JSON object, or whose value does not fit its type."""
    assert inp.target is not None
    line_no = count_lines_before(inp.target, start) if start else 0  # ``start`` begins a line
    typed = {c: t for c, t in schema.items() if t != pl.String}
    with open(inp.target, "rb") as f:
        f.seek(start)
        for raw in f:
            line_no += 1
            if not raw.strip():
                continue
            if json_depth_exceeded(raw, depth):  # json.loads would recurse past Python's limit
                return depth_error(inp, line_no, depth)
            try:
                rec = json.loads(raw)
            except RecursionError:
                return depth_error(inp, line_no, depth)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                pos = getattr(exc, "colno", None) or getattr(exc, "start", 0)
                return SourceError(f"malformed JSON on line {line_no}, column {pos}: "
                                   f"{getattr(exc, 'msg', exc)}", file=inp.path, row=line_no,
                                   hint="each line must be one complete JSON object")
            if not isinstance(rec, dict):
                return SourceError(f"line {line_no} is not a JSON object", file=inp.path,
                                   row=line_no, hint="each line must be one JSON object {...}")
            for c, t in typed.items():
                if c in rec and not py_fits(rec[c], t):
                    kind = "declared" if c in declared else "inferred"
                    return SourceError(
                        f"value {rec[c]!r} does not fit the {kind} type {type_name(t)}",
                        file=inp.path, row=line_no, column=c,
                        hint=f"declare the key's type, e.g. schema_overrides={{{c!r}: 'string'}}")
    return None
