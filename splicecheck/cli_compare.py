"""``splicecheck compare OLD NEW``: what changed between two runs — new findings, fixed findings, findings whose
verdict moved, and per case the verdict changes.

    splicecheck compare OLD NEW [--format text|md] [--out FILE]

OLD and NEW are results files (``results.jsonl``) or report folders (holding ``results.jsonl``, else the
``index.json`` a run or ``splicecheck report`` wrote). The two runs may come from different kernels, rulesets
or IUTs: findings are matched by ID, a hash of the behaviour's signature (``conformance.findings``), which no
run, machine or IUT enters; cases by ID.

A **regression** is a finding in NEW that OLD does not have, a finding whose verdict got worse, or a case
whose verdict got worse. Verdicts are ordered PASS < INFO < NON-STRICT < FAIL < ERROR; a case that was or
became UNSUPPORTED or SKIPPED (the harness could not run it) is listed as changed, never as worse or better,
and a case in one run only is listed as added or removed. A case ID that appears twice in a run (a property
case may) counts with its worst verdict.

Exit status: 1 on any regression, 0 otherwise, 2 when an input cannot be read or on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conformance.findings import findings
from .reference.errors import SpliceCheckError
from .reports.load import load_run

PROG = "splicecheck compare"

#: the order in which a graded verdict is worse (UNSUPPORTED, SKIPPED and NOT-COVERED are not graded)
ORDER = {"PASS": 0, "INFO": 1, "NON-STRICT": 2, "FAIL": 3, "ERROR": 4}


class CompareInputError(SpliceCheckError):
    """An input that is neither a results file nor a report folder with one."""


@dataclass(slots=True)
class Side:
    """What compare needs of one run."""

    label: str  # the IUT and its version
    source: str
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)  # ID -> id, title, verdict, cases
    cases: dict[str, str] = field(default_factory=dict)  # case ID -> verdict (the worst of its records)


def _worst(a: str | None, b: str) -> str:
    if a is None:
        return b
    rank = {**ORDER, "UNSUPPORTED": -1, "SKIPPED": -2, "NOT-COVERED": -3}
    return a if rank.get(a, -3) >= rank.get(b, -3) else b


def load_side(path: Path) -> Side:
    """Read a results file, or a report folder (its results.jsonl, else its index.json)."""
    if path.is_dir():
        if (path / "results.jsonl").is_file():
            path = path / "results.jsonl"
        elif (path / "index.json").is_file():
            return _from_index(path / "index.json")
        else:
            raise CompareInputError(f"{path}: a folder without results.jsonl or index.json")
    elif not path.exists():
        raise CompareInputError(f"{path}: no such file or folder")
    elif path.name.endswith(".json"):
        return _from_index(path)
    run = load_run(path)
    side = Side(f"{run.header.iut} {run.header.iut_version}".strip(), str(path))
    for f in findings(run.results):
        side.findings[f.id] = {"id": f.id, "title": f.title, "verdict": f.verdict, "cases": list(f.cases)}
    for r in run.results:
        side.cases[r.case] = _worst(side.cases.get(r.case), r.verdict.value)
    return side


def _from_index(path: Path) -> Side:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        iut = data["iut"]
        side = Side(f"{iut.get('name', '?')} {iut.get('version', '')}".strip(), str(path))
        for f in data["findings"]:
            side.findings[f["id"]] = {"id": f["id"], "title": f["title"], "verdict": f["verdict"],
                                      "cases": list(f["cases"])}
        for c in data["cases"]:
            side.cases[c["case"]] = _worst(side.cases.get(c["case"]), c["verdict"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise CompareInputError(f"{path}: not a splicecheck report index ({exc.__class__.__name__}: {exc})") from exc
    return side


@dataclass(slots=True)
class Comparison:
    old: Side
    new: Side
    new_findings: list[dict[str, Any]] = field(default_factory=list)
    fixed_findings: list[dict[str, Any]] = field(default_factory=list)
    moved_findings: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (old, new)
    worse: list[tuple[str, str, str]] = field(default_factory=list)  # case, old verdict, new verdict
    better: list[tuple[str, str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # to or from UNSUPPORTED / SKIPPED
    added: list[tuple[str, str]] = field(default_factory=list)  # case in NEW only, its verdict
    removed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def regressions(self) -> int:
        worse_findings = sum(1 for o, n in self.moved_findings
                             if ORDER.get(n["verdict"], 0) > ORDER.get(o["verdict"], 0))
        return len(self.new_findings) + worse_findings + len(self.worse)


def compare(old: Side, new: Side) -> Comparison:
    c = Comparison(old, new)
    c.new_findings = [f for fid, f in sorted(new.findings.items()) if fid not in old.findings]
    c.fixed_findings = [f for fid, f in sorted(old.findings.items()) if fid not in new.findings]
    c.moved_findings = [(old.findings[fid], f) for fid, f in sorted(new.findings.items())
                        if fid in old.findings and old.findings[fid]["verdict"] != f["verdict"]]
    for case in sorted(set(old.cases) | set(new.cases)):
        a, b = old.cases.get(case), new.cases.get(case)
        if a is None and b is not None:
            c.added.append((case, b))
        elif b is None and a is not None:
            c.removed.append((case, a))
        elif a is not None and b is not None and a != b:
            if a in ORDER and b in ORDER:
                (c.worse if ORDER[b] > ORDER[a] else c.better).append((case, a, b))
            else:
                c.changed.append((case, a, b))
    return c


def _finding_line(f: dict[str, Any]) -> str:
    n = len(f["cases"])
    return f"{f['id']} {f['verdict'] or '-'}: {f['title']} [{n} case{'s' * (n != 1)}]"


def render_text(c: Comparison) -> str:
    out = [f"old: {c.old.label} ({c.old.source})", f"new: {c.new.label} ({c.new.source})", ""]
    sections = [
        ("new findings", [_finding_line(f) for f in c.new_findings]),
        ("fixed findings", [_finding_line(f) for f in c.fixed_findings]),
        ("findings whose verdict moved", [f"{n['id']} {o['verdict']} -> {n['verdict']}: {n['title']}"
                                          for o, n in c.moved_findings]),
        ("cases that got worse", [f"{case}: {a} -> {b}" for case, a, b in c.worse]),
        ("cases that got better", [f"{case}: {a} -> {b}" for case, a, b in c.better]),
        ("cases run or not run (UNSUPPORTED / SKIPPED)", [f"{case}: {a} -> {b}" for case, a, b in c.changed]),
        ("cases only in new", [f"{case}: {v}" for case, v in c.added]),
        ("cases only in old", [f"{case}: {v}" for case, v in c.removed]),
    ]
    for name, lines in sections:
        if lines:
            out += [f"{name} ({len(lines)}):", *[f"  {line}" for line in lines], ""]
    out.append(closing(c))
    return "\n".join(out) + "\n"


def closing(c: Comparison) -> str:
    same = len(set(c.old.findings) & set(c.new.findings))
    head = (f"{len(c.new_findings)} new, {len(c.fixed_findings)} fixed, {same} unchanged finding(s); "
            f"{len(c.worse)} case(s) worse, {len(c.better)} better")
    return f"{head}: {'REGRESSION' if c.regressions else 'no regression'}"


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_md(c: Comparison) -> str:
    out = ["# splicecheck compare", "", f"- old: {_md(c.old.label)} (`{_md(c.old.source)}`)",
           f"- new: {_md(c.new.label)} (`{_md(c.new.source)}`)", "", f"**{_md(closing(c))}**", ""]

    def findings_table(title: str, rows: list[dict[str, Any]]) -> None:
        nonlocal out
        if rows:
            out += [f"## {title} ({len(rows)})", "", "| finding | verdict | title | cases |", "|---|---|---|---|"]
            out += [f"| `{f['id']}` | {f['verdict']} | {_md(f['title'])} | {len(f['cases'])} |" for f in rows]
            out.append("")

    findings_table("New findings", c.new_findings)
    findings_table("Fixed findings", c.fixed_findings)
    if c.moved_findings:
        out += [f"## Findings whose verdict moved ({len(c.moved_findings)})", "", "| finding | old | new | title |",
                "|---|---|---|---|"]
        out += [f"| `{n['id']}` | {o['verdict']} | {n['verdict']} | {_md(n['title'])} |" for o, n in c.moved_findings]
        out.append("")
    for title, rows3 in (("Cases that got worse", c.worse), ("Cases that got better", c.better),
                         ("Cases run or not run (UNSUPPORTED / SKIPPED)", c.changed)):
        if rows3:
            out += [f"## {title} ({len(rows3)})", "", "| case | old | new |", "|---|---|---|"]
            out += [f"| `{case}` | {a} | {b} |" for case, a, b in rows3]
            out.append("")
    for title, rows2 in (("Cases only in new", c.added), ("Cases only in old", c.removed)):
        if rows2:
            out += [f"## {title} ({len(rows2)})", "", "| case | verdict |", "|---|---|"]
            out += [f"| `{case}` | {v} |" for case, v in rows2]
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        c = compare(load_side(args.old), load_side(args.new))
    except SpliceCheckError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    text = render_md(c) if args.format == "md" else render_text(c)
    if args.out_file is not None:
        try:
            args.out_file.parent.mkdir(parents=True, exist_ok=True)
            args.out_file.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"{PROG}: error: cannot write {args.out_file}: {exc}", file=sys.stderr)
            return 2
        print(closing(c))
        print(f"  {args.format:6} {args.out_file}")
    else:
        sys.stdout.write(text)
    return 1 if c.regressions else 0
