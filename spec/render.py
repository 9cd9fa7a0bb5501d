"""Render the requirement catalogue to ``spec/SPEC.md`` (``python -m splicecheck.spec.render``)."""

from __future__ import annotations

import sys
from pathlib import Path

from .requirements import GROUPS, REQUIREMENTS

SPEC_PATH = Path(__file__).with_name("SPEC.md")


def render() -> str:
    lines = [
        "# TCP Splice requirements",
        "",
        "Generated from `spec/requirements.py` by `python -m splicecheck.spec.render`; do not edit by hand.",
        "Levels follow RFC 2119. Sources are sections of Maltz & Bhagwat, *TCP Splicing for Application Layer",
        "Proxy Performance* (\"paper\"), RFCs, or \"splicecheck\" where the paper is silent and this project decided.",
        "",
    ]
    for group in GROUPS:
        lines += [f"## {group}", "", "| ID | level | source | requirement |", "|---|---|---|---|"]
        for r in REQUIREMENTS:
            if r.group == group:
                lines.append(f"| `{r.id}` | {r.level.value} | {r.source} | {r.text} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    SPEC_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {SPEC_PATH} ({len(REQUIREMENTS)} requirements)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
