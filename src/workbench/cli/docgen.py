"""Reference pages written from the code: the CLI from its parser, the YAML from the JSON Schema.

``docs/gen_pages.py`` calls these when the docs site is built, so the reference cannot drift from
what the program accepts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..spec.io import json_schema
from ..spec.short import CHECK_MAIN, SINK_KEYS, SOURCE_KEYS, STEP_MAIN
from . import build_parser


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _command_page(name: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    out = [f"{'#' * level} `{name}`", "", parser.description or "", "",
           f"```\n{parser.format_usage().strip()}\n```", ""]
    rows = []
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        flag = ", ".join(f"`{o}`" for o in a.option_strings) or f"`{a.dest}`"
        default = "" if a.default in (None, False, [], argparse.SUPPRESS) or a.required else f"`{a.default}`"
        choices = f" One of: {', '.join(map(str, a.choices))}." if a.choices else ""
        rows.append(f"| {flag} | {_cell((a.help or '') + choices)} | {default} |")
    if rows:
        out += ["| argument | meaning | default |", "|---|---|---|", *rows, ""]
    for sub_name, sub in _subcommands(parser).items():
        out += _command_page(f"{name} {sub_name}", sub, level + 1)
    return out


def cli_reference() -> str:
    parser = build_parser()
    out = ["# Command line", "",
           "Every command takes `--json` and then prints one JSON object on stdout; a failure exits "
           "1 (the work failed), 2 (the command line does not parse) or 3 (a bug), and with `--json` "
           "prints `{\"error\": {\"type\", \"message\", \"file\", \"row\", \"column\", \"step\", "
           "\"hint\"}}`.", ""]
    for name, sub in _subcommands(parser).items():
        out += _command_page(f"workbench {name}", sub, 2)
    return "\n".join(out) + "\n"


def _type(prop: Any) -> str:
    if not isinstance(prop, dict):
        return "any"
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "const" in prop:
        return json.dumps(prop["const"])
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " or ".join(_type(p) for p in prop[key])
    if prop.get("type") == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if prop.get("type") == "object" and "additionalProperties" in prop:
        return f"mapping to {_type(prop['additionalProperties'])}"
    return prop.get("type", "any")


def yaml_reference() -> str:
    schema = json_schema()
    defs = schema.get("$defs", {})
    out = ["# Pipeline YAML", "",
           "A pipeline file (`.yaml`/`.yml` or `.json`) says what the Python builders say, with the "
           "same names. The short forms below are what `dump_pipeline` writes; the long form, with "
           "`kind:`/`op:`/`check:` and every field named, is accepted too.", "",
           "| place | short form | long form |", "|---|---|---|",
           "| source | `source: sales.csv` | `source: {kind: file, path: sales.csv}` |"]
    out += [f"| source | `source: {{{k}: …}}` | `kind: {kind}`, `{field}: …` |"
            for k, (kind, field) in SOURCE_KEYS.items()]
    out += [f"| step | `- {op}: …` | `op: {op}`, `{field}: …` |" for op, field in STEP_MAIN.items()]
    out += [f"| check | `- {c}: …` | `check: {c}`" + (f", `{f}: …`" if f else ", fields in the mapping")
            + " |" for c, f in CHECK_MAIN.items()]
    out += [f"| sink | `sink: {{{k}: …}}` | `kind: {kind}`, `{field}: …` |"
            for k, (kind, field) in SINK_KEYS.items()]
    out += ["", "The JSON Schema itself: `workbench schema`.", "", "## Pipeline", ""]
    out += _fields(schema, defs)
    for name in sorted(defs):
        out += [f"## {name}", "", defs[name].get("description", "").strip(), ""]
        out += _fields(defs[name], defs)
    return "\n".join(out) + "\n"


def _fields(model: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    props = model.get("properties", {})
    if not props:
        return []
    required = set(model.get("required", []))
    rows = ["| field | type | default |", "|---|---|---|"]
    for field, prop in props.items():
        default = ("required" if field in required else f"`{json.dumps(prop['default'])}`"
                   if "default" in prop else "empty")
        rows.append(f"| `{field}` | {_cell(_type(prop))} | {default} |")
    return rows + [""]
