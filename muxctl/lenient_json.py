"""Read JSON with the JSON5 conveniences OpenClaw configs use: comments, trailing commas, unquoted keys,
single-quoted strings. Not a full JSON5 parser (no hex numbers, Infinity or multi-line strings)."""

from __future__ import annotations

import json
import re
from typing import Any

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


class LenientJsonError(ValueError):
    """Unparseable input, with a line/column position."""


def _single_to_double(body: str) -> str:
    """The content of a single-quoted string as the content of a double-quoted one."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append('\'' if nxt == "'" else ch + nxt)
            i += 2
            continue
        out.append('\\"' if ch == '"' else ch)
        i += 1
    return "".join(out)


def to_strict_json(text: str) -> str:
    """Rewrite JSON5-ish text to strict JSON. Comments become spaces so line numbers stay right."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                line = text.count("\n", 0, i) + 1
                raise LenientJsonError(f"unterminated string starting on line {line}")
            body = text[i + 1 : j]
            out.append('"' + (_single_to_double(body) if ch == "'" else body) + '"')
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                line = text.count("\n", 0, i) + 1
                raise LenientJsonError(f"unterminated /* comment */ starting on line {line}")
            chunk = text[i : j + 2]
            out.append("".join("\n" if c == "\n" else " " for c in chunk))
            i = j + 2
        elif ch == ",":
            # A trailing comma: the next significant character closes the object/array.
            k = i + 1
            while k < n:
                if text[k].isspace():
                    k += 1
                elif text.startswith("//", k):
                    nl = text.find("\n", k)
                    k = n if nl < 0 else nl
                elif text.startswith("/*", k):
                    end = text.find("*/", k + 2)
                    k = n if end < 0 else end + 2
                else:
                    break
            out.append(" " if k < n and text[k] in "}]" else ",")
            i += 1
        else:
            m = _IDENT.match(text, i)
            if m and (not out or not (out[-1][-1:].isalnum())):
                word = m.group(0)
                k = m.end()
                while k < n and text[k] in " \t":
                    k += 1
                if k < n and text[k] == ":" and word not in ("true", "false", "null"):
                    out.append(f'"{word}"')
                else:
                    out.append(word)
                i = m.end()
            else:
                out.append(ch)
                i += 1
    return "".join(out)


def loads(text: str) -> Any:
    """Parse strict JSON first (exact error positions), then the JSON5-ish subset."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return json.loads(to_strict_json(text))
    except json.JSONDecodeError as exc:
        raise LenientJsonError(f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def has_json5_features(text: str) -> bool:
    """True when the text is not strict JSON (so rewriting it would lose comments or style)."""
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return True
    return False
