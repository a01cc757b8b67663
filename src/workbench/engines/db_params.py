"""SQL text for a query source: named :params bound the driver's way (never string-formatted),
and one statement with its trailing semicolon stripped.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ..errors import SpecError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ----------------------------------------------------------------------------- parameters
def translate_params(sql: str, names: set[str] | dict[str, Any],
                     placeholder: Callable[[int, str], str]) -> tuple[str, list[str]]:
    """Replace ``:name`` outside strings, quoted names, comments and ``::`` casts.

    Returns the new text and the parameter names in position order (a name used twice keeps
    one position). ``placeholder(position, name)`` gives the text to put in (1-based position).
    """
    out: list[str] = []
    order: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            j = i + 1
            while j < n:
                if escapes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1])
            i = j + 1
        elif ch == '"':
            j = sql.find('"', i + 1)
            while j != -1 and j + 1 < n and sql[j + 1] == '"':
                j = sql.find('"', j + 2)
            j = n - 1 if j == -1 else j
            out.append(sql[i:j + 1])
            i = j + 1
        elif ch == "-" and nxt == "-":
            j = sql.find("\n", i)
            j = n if j == -1 else j
            out.append(sql[i:j])
            i = j
        elif ch == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(sql[i:j])
            i = j
        elif ch == "$" and (m := re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])) and \
                not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            tag = m.group(0)
            j = sql.find(tag, i + len(tag))
            j = n if j == -1 else j + len(tag)
            out.append(sql[i:j])
            i = j
        elif ch == ":" and nxt == ":":
            out.append("::")
            i += 2
        elif ch == ":" and (m := _IDENT.match(sql, i + 1)) and not (i > 0 and sql[i - 1] == ":"):
            name = m.group(0)
            if name not in names:
                known = ", ".join(f":{k}" for k in sorted(names)) or "none"
                raise SpecError(f"the query uses the parameter :{name}, which params does not give",
                                hint=f"parameters given: {known}; a literal colon goes in quotes")
            if name not in order:
                order.append(name)
            out.append(placeholder(order.index(name) + 1, name))
            i = m.end()
        else:
            out.append(ch)
            i += 1
    unused = [k for k in names if k not in order]
    if unused:
        raise SpecError(f"params gives {', '.join(sorted(unused))}, which the query does not use",
                        hint="write :name in the query where each value goes")
    return "".join(out), order


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (list, dict, tuple, set)):
        raise SpecError(f"a query parameter must be a single value, not {type(value).__name__}",
                        hint="pass one value per :name (an IN list can use = ANY(:values) with "
                             "a PostgreSQL array literal such as '{1,2,3}')")
    return str(value)


def quote_type(typname: str) -> str:
    return '"' + typname.replace('"', '""') + '"'


def strip_statement(sql: str) -> str:
    """The query without trailing whitespace and semicolons (so it can be wrapped)."""
    return re.sub(r"[\s;]+$", "", sql)
