"""Compare two reports' ``metrics.json`` files value by value (a refactor's before/after check).

Usage::

    python scripts/diff_reports.py BEFORE_DIR AFTER_DIR

Every leaf value of every notebook's ``metrics.json`` is compared; a value that differs is listed
as ``changed``, ``added`` or ``removed`` with its dotted key. Wall-clock measurements (keys ending
in ``seconds``, ``_s``, ``_ms``) are machine noise, not results: they are counted apart and listed
under *timings*. The exit status is 1 when anything other than a timing differs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Key endings of wall-clock measurements.
TIMING_SUFFIXES = ("seconds", "_s", "_ms")


def leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` of every leaf; lists are indexed ``key[i]``, empty containers are
    leaves themselves."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from leaves(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


def is_timing(key: str) -> bool:
    last = key.rsplit(".", 1)[-1].split("[", 1)[0]
    return last.endswith(TIMING_SUFFIXES)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def diff_notebook(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """``(kind, key, before, after)`` for every leaf that differs; kind is changed/added/removed."""
    old, new = dict(leaves(before)), dict(leaves(after))
    out = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            out.append(("removed", key, old[key], None))
        elif key not in old:
            out.append(("added", key, None, new[key]))
        elif not _same(old[key], new[key]):
            out.append(("changed", key, old[key], new[key]))
    return out


def compare(before_dir: Path, after_dir: Path) -> tuple[list[str], int, int]:
    """The report lines, the number of non-timing differences and of leaves compared."""
    lines, differences, compared = [], 0, 0
    names = sorted({p.parent.name for p in before_dir.glob("*/metrics.json")}
                   | {p.parent.name for p in after_dir.glob("*/metrics.json")})
    for name in names:
        paths = [d / name / "metrics.json" for d in (before_dir, after_dir)]
        if not all(p.is_file() for p in paths):
            lines.append(f"== {name}: metrics.json missing in "
                         f"{'before' if not paths[0].is_file() else 'after'}")
            differences += 1
            continue
        before, after = (json.loads(p.read_text(encoding="utf-8")) for p in paths)
        compared += len(dict(leaves(after)))
        found = diff_notebook(before, after)
        timings = [d for d in found if is_timing(d[1])]
        real = [d for d in found if not is_timing(d[1])]
        differences += len(real)
        lines.append(f"== {name}: {len(real)} difference(s), {len(timings)} timing(s)")
        for kind, key, old, new in real:
            lines.append(f"  {kind:8s} {key}: {json.dumps(old)} -> {json.dumps(new)}")
        for _kind, key, old, new in timings:
            lines.append(f"  timing   {key}: {old} -> {new}")
    return lines, differences, compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    lines, differences, compared = compare(args.before, args.after)
    print("\n".join(lines))
    print(f"{compared} leaf values compared; {differences} non-timing difference(s).")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
