"""Small, safe text-to-HTML helpers for the report's ``index.html``.

The notebooks write their findings as short Markdown sentences (``**supported**``, ```name```)
and sometimes quote a Python mapping (``{'radius': 5, 'beta': 16.0}``). The page must show
neither the markup nor the dict syntax, and must never pass a notebook's text through as HTML:
:func:`markdown_inline` escapes everything first and only then turns ``**x**`` into ``<strong>``
and ```x``` into ``<code>``; :func:`readable_mappings` rewrites quoted mappings as
``key: value`` lists. No Markdown library is needed for that much.
"""

from __future__ import annotations

import ast
import html
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "escape_html",
    "format_mapping",
    "format_plain",
    "markdown_inline",
    "readable_mappings",
]

_CODE = re.compile(r"`([^`\n]+)`")
_STRONG = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)


def escape_html(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attribute values (quotes too)."""
    return html.escape(str(value), quote=True)


def format_plain(value: Any) -> str:
    """``value`` as plain text for a reader: mappings as ``key: value`` lists, sequences joined
    by commas, ``None`` as ``none``, booleans as ``true`` / ``false``, floats with up to 4
    significant digits, NaN as ``n/a``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, Mapping):
        return format_mapping(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return "[" + ", ".join(format_plain(item) for item in items) + "]"
    return str(value)


def format_mapping(mapping: Mapping[Any, Any]) -> str:
    """``{'a': 1, 'b': {'c': None}}`` as ``a: 1, b: (c: none)``: a ``key: value`` list."""
    parts = []
    for key, value in mapping.items():
        text = format_plain(value)
        if isinstance(value, Mapping):
            text = f"({text})"
        parts.append(f"{key}: {text}")
    return ", ".join(parts)


def _closing_brace(text: str, start: int) -> int | None:
    """Index of the ``}`` matching the ``{`` at ``start`` (quotes respected), or None."""
    depth, quote, k = 0, "", start
    while k < len(text):
        char = text[k]
        if quote:
            if char == "\\":
                k += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    return None


def readable_mappings(text: str) -> str:
    """Replace every Python / JSON mapping literal quoted in ``text`` by a ``key: value`` list
    in parentheses: ``pairs {'a': 1, 'b': 2}`` -> ``pairs (a: 1, b: 2)``.

    Only literals that :func:`ast.literal_eval` reads as a dict are replaced (``nan`` and
    ``inf`` values too); other braces, e.g. a set of LaTeX, stay as they are.
    """
    out, k = [], 0
    while True:
        start = text.find("{", k)
        if start < 0:
            out.append(text[k:])
            return "".join(out)
        end = _closing_brace(text, start)
        if end is None:
            out.append(text[k:])
            return "".join(out)
        literal = text[start:end + 1]
        value = _literal_mapping(literal)
        out.append(text[k:start])
        out.append(literal if value is None else f"({format_mapping(value)})")
        k = end + 1


def _literal_mapping(literal: str) -> Mapping[Any, Any] | None:
    # repr() of float NaN / inf, and JSON's NaN / Infinity, as text
    source = re.sub(r"(?<![\w'\"])(-?)(nan|inf|NaN|Infinity)\b", r"'\1\2'", literal)
    source = re.sub(r"\bnull\b", "None", re.sub(r"\btrue\b", "True", source))
    source = re.sub(r"\bfalse\b", "False", source)
    try:
        value = ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def markdown_inline(text: str) -> str:
    """Escape ``text`` for HTML, then render its inline Markdown: ``**x**`` → ``<strong>x</strong>``
    and ```x``` → ``<code>x</code>`` (code spans are not formatted inside). Quoted mappings become
    ``key: value`` lists first (:func:`readable_mappings`); an unpaired ``**`` is dropped, so
    the page never shows Markdown syntax."""
    text = readable_mappings(str(text))
    pieces = []
    for index, piece in enumerate(_CODE.split(text)):
        if index % 2:  # inside backticks
            pieces.append(f"<code>{html.escape(piece, quote=True)}</code>")
        else:
            escaped = html.escape(piece, quote=True)
            escaped = _STRONG.sub(r"<strong>\1</strong>", escaped)
            pieces.append(escaped.replace("**", ""))
    return "".join(pieces)
