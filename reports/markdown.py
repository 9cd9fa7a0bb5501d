"""report.md: the run as GitHub-flavoured Markdown, for a pull request, an issue or a committed report.

Sections: the IUT and the run; a partial-run warning; the counts; the findings (departures grouped by
root cause, ``conformance.findings``: ID, verdict, title, requirements, cases, the smallest case's
reproducing command); requirements per group (verdict,
level, statement, cases); the cases that need attention (FAIL, ERROR, NON-STRICT) with the
requirement sentence, every differing field, the reproducing command and the evidence file; a table
of all cases; the requirements no case covers. Tables are tabulate's ``github`` format.
"""

from __future__ import annotations

from tabulate import tabulate

from ..conformance.expectations import Outcome
from ..conformance.findings import findings
from ..conformance.results import CaseResult, Verdict
from ..spec.requirements import BY_ID
from .load import Run, run_counts
from .summary import (
    ATTENTION,
    by_group,
    coverage_rows,
    first_failure,
    hits_text,
    iut_label,
    one_line,
    requirement_rows,
    seconds,
    unsupported_reasons,
)


def cell(text: object) -> str:
    """A table cell: one line, pipes escaped."""
    return one_line(str(text)).replace("|", "\\|")


def code(text: str) -> str:
    """Inline code that survives backticks inside."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _header(run: Run) -> list[str]:
    h = run.header
    out = [f"# splicecheck report: {iut_label(h.iut, h.iut_version)}", ""]
    if h.iut_description:
        out += [h.iut_description, ""]
    meta = [["IUT", code(h.iut)], ["version", cell(h.iut_version)], ["adapter", code(h.adapter)],
            ["splicecheck", cell(h.splicecheck_version)], ["started", cell(h.started)],
            ["finished", cell(run.footer.finished) if run.footer else "— (interrupted)"],
            ["duration", seconds(run.duration)], ["seed", cell(h.seed) if h.seed is not None else "—"]]
    if h.argv:
        meta.append(["command", code(" ".join(h.argv))])
    meta += [[cell(k), cell(v)] for k, v in h.details.items()]
    out += [_table(meta, ["run", ""]), ""]
    if run.partial:
        out += [f"> **Partial run.** {run.stopped} after "
                f"{run_counts(run).total} case(s). Requirements of the cases that did not run show as NOT-COVERED.", ""]
    for w in run.warnings:
        out.append(f"> warning: {cell(w)}")
    if run.warnings:
        out.append("")
    return out


def _requirements(run: Run) -> list[str]:
    results = run.results
    out = ["## Requirements", ""]
    for group, rows in by_group(requirement_rows(results)):
        out += [f"### {group}", ""]
        table = []
        for row in rows:
            cases = ", ".join(results[i].case for i in row.cases)
            if row.collateral:
                cases += (", " if cases else "") + "collateral: " + ", ".join(results[i].case for i in row.collateral)
            table.append([f"**{row.verdict.value}**" if row.verdict in ATTENTION else row.verdict.value,
                          code(row.req.id), row.req.level.value, cell(row.req.text), cell(cases or "—")])
        out += [_table(table, ["verdict", "requirement", "level", "statement", "cases"]), ""]
    return out


def _attention(run: Run, evidence: dict[int, str]) -> list[str]:
    cases = [(i, r) for i, r in enumerate(run.results) if r.verdict in ATTENTION]
    if not cases:
        return ["## Cases needing attention", "", "None.", ""]
    out = ["## Cases needing attention", ""]
    for i, r in cases:
        out += [f"### {r.verdict.value}: {code(r.case)}", ""]
        if r.description:
            out += [r.description, ""]
        for rid in r.reqs:
            req = BY_ID.get(rid)
            if req is not None:
                out.append(f"- {code(rid)} ({req.level.value}): {req.text}")
        out.append("")
        if r.expectation:
            out += [f"Expected behaviour: {r.expectation}", ""]
        if r.reason:
            out += [f"Reason: {r.reason}", ""]
        out += _diff_block(r)
        extra = [f"- reproduce: {code(r.repro)}"] if r.repro else []
        if i in evidence:
            extra.append(f"- evidence: [{evidence[i]}]({evidence[i]})")
        if r.seed is not None:
            extra.append(f"- seed: {r.seed}")
        out += [*extra, ""] if extra else []
    return out


def _diff_block(r: CaseResult) -> list[str]:
    bad = [d for d in r.diffs if not d.ok]
    if not bad:
        return []
    first = first_failure(r)
    lines = []
    for d in bad:
        tag = "" if d.req in r.reqs else "  (collateral)"
        lines.append(f"step {d.step} packet {d.packet}: {d.line()}{tag}")
    out = ["```", *lines, "```", ""]
    if first is not None and len(bad) > 1:
        out = [f"First difference: `{first.field}` ({first.req}).", "", *out]
    return out


def _all_cases(run: Run) -> list[str]:
    rows = [[c.verdict.value if c.verdict not in ATTENTION else f"**{c.verdict.value}**", code(c.case),
             ", ".join(c.reqs), c.kind, seconds(c.duration), cell(c.reason or c.description)]
            for c in run.results]
    return ["## All cases", "", _table(rows, ["verdict", "case", "requirements", "kind", "time", "description"]), ""]


def _coverage(run: Run) -> list[str]:
    rows = coverage_rows(run.results)
    if not rows:
        return []
    table = [[code(c.case), c.line, cell(hits_text(c.reached) or "—"), cell(", ".join(c.missed) or "—")] for c in rows]
    return ["## Wrap coverage", "",
            "The regions near a wrap boundary (0, 2^31, 2^32 - 1, the splice's bases, 2^31 past the furthest "
            "point) that each search's segments reached, with how many segments reached each.", "",
            _table(table, ["case", "reached", "hits", "not reached"]), ""]


def _findings(run: Run, outcome: Outcome | None = None) -> list[str]:
    found = findings(run.results)
    if not found and outcome is None:
        return []
    out = ["## Findings", "",
           f"{len(found)} departure(s) grouped by root cause; the case detail follows below.", ""]
    head = ["finding", "verdict", "title", "requirements", "cases", "smallest case, reproduced by"]
    rows = [[code(f.id), f.verdict, cell(f.title), ", ".join(f.reqs), str(len(f.cases)), code(f.repro or f.smallest)]
            for f in found]
    if outcome is not None:
        classes = outcome.classes()
        head.insert(2, "class (expectation)")
        for f, row in zip(found, rows, strict=True):
            klass, how = classes.get(f.id, ("unclassified", "unexpected"))
            row.insert(2, f"{klass} ({'**unexpected**' if how == 'unexpected' else how})")
    if rows:
        out += [_table(rows, head), ""]
    if outcome is not None:
        out += ["Against the expectations file: " + cell(outcome.lines()[0].removeprefix("expectations: ")) + ".", ""]
        out += [f"- {cell(line.strip())}" for line in outcome.lines()[1:]]
        out += [""] if len(outcome.lines()) > 1 else []
    return out


def render(run: Run, evidence: dict[int, str] | None = None, outcome: Outcome | None = None) -> str:
    evidence = evidence or {}
    c = run_counts(run)  # of every case, those a bounded reading did not keep too
    out = _header(run)
    out += ["## Summary", "", f"{c.line()}; {c.non_strict} non-strict (a SHOULD missed, counted apart).", ""]
    by = [[v, str(n)] for v, n in c.by_verdict.items() if n]
    if by:
        out += [_table(by, ["verdict", "cases"]), ""]
    out += _findings(run, outcome)
    unsupported = unsupported_reasons(run.results) if run.tally is None else run.tally.unsupported_reasons()
    if unsupported:
        out += ["## Unsupported", "", "What the adapter could not give these cases (UNSUPPORTED: a precondition, never "
                "the IUT's behaviour).", "",
                _table([[cell(why), str(n), code(first)] for why, n, first in unsupported],
                       ["reason", "cases", "first"]), ""]
    out += _requirements(run)
    out += _attention(run, evidence)
    out += _coverage(run)
    out += _all_cases(run)
    missing = [row.req.id for row in requirement_rows(run.results) if row.verdict is Verdict.NOT_COVERED]
    if missing:
        out += ["## Not covered", "", ", ".join(code(m) for m in missing), ""]
    return "\n".join(out).rstrip("\n") + "\n"
