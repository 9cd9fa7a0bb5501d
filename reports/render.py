"""Render a run into a report folder: index.json, report.md, report.html, junit.xml, evidence/*.pcapng.

``render_all(run, out_dir)`` writes every format (or those named in ``formats``) and returns what it
wrote, by format name (``pcapng`` names the evidence folder). Default folder: ``out/<iut>/``.

``index.json`` is the machine-readable summary the matrix (``reports.matrix``) and other tools read:

* ``format`` (``splicecheck-report/1``), ``source`` (the results file's name, if any);
* ``iut``: name, version, description, details, adapter; ``splicecheck_version``, ``argv``;
* ``run``: started, finished (null if partial), duration, ``partial``, ``seed`` and every case seed,
  warnings of the loader;
* ``counts``: passed, failed, skipped, non_strict (as ``reports.summary`` defines them) and by verdict;
* ``findings``: the departures grouped by root cause (``conformance.findings``): ID, title, signature,
  level, verdict, requirements, legs, cases, the smallest case and its repro line; rendered with an
  expectations file (``--expect``), each also has its ``class`` and ``expectation`` (expected, unexpected);
* ``expectations`` (only with ``--expect``): the file's name, ``ok``, and the expected, unexpected and
  unexpectedly passing entries and the cases in ERROR (``conformance.expectations.Outcome``);
* ``requirements``: per catalogued requirement its level, group, source, text, verdict (the
  ``requirement_verdicts`` of the results) and the cases that bear on it;
* ``cases``: per case its ID, requirements, group, verdict, kind, description, expectation, reason,
  duration, seed, fields checked, differing fields (with packetdrill-style lines), repro command and
  evidence path (relative to the folder; null when none was written).

Everything written is a function of the run alone (no clock, no absolute paths), so re-rendering a
run gives the same bytes. Evidence files left from an earlier rendering that this one did not write
are removed, so the folder never shows evidence of cases that are no longer failing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..conformance import expectations as expect_mod
from ..conformance.findings import findings
from ..conformance.results import fmt
from . import html, junit, markdown
from .load import Run, run_counts
from .pcapng import write_evidence
from .summary import group_of, needs_evidence, requirement_rows, slugs

FORMAT_VERSION = "splicecheck-report/1"
FORMATS = ("json", "md", "html", "junit", "pcapng")
FILES = {"json": "index.json", "md": "report.md", "html": "report.html", "junit": "junit.xml"}
EVIDENCE_DIR = "evidence"


def safe_name(name: str) -> str:
    """``name`` (an IUT, an adapter spec, a capture's name) as one path component: ``mutant:x`` -> ``mutant-x``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def default_out_dir(run: Run, root: Path | str = "out") -> Path:
    """``out/<iut>/`` (git-ignored), the IUT's name made safe for a path as ``splicecheck run`` does."""
    return Path(root) / (safe_name(run.header.iut) or "iut")


def evidence_plan(run: Run) -> dict[int, str]:
    """Relative evidence path per case index, for the cases that get one (FAIL/NON-STRICT/ERROR with steps)."""
    names = slugs(run.results)
    return {i: f"{EVIDENCE_DIR}/{names[i]}.pcapng" for i, r in enumerate(run.results) if needs_evidence(r)}


def build_index(run: Run, evidence: dict[int, str] | None = None,
                outcome: tuple[str | None, expect_mod.Outcome] | None = None) -> dict[str, Any]:
    evidence = evidence or {}
    found = [f.to_dict() for f in findings(run.results)]
    extra: dict[str, Any] = {}
    if outcome is not None:
        classes = outcome[1].classes()
        for f in found:
            f["class"], f["expectation"] = classes.get(f["id"], ("unclassified", "unexpected"))
        extra["expectations"] = outcome[1].to_dict(outcome[0])
    h, results = run.header, run.results
    c = run_counts(run)
    rows = requirement_rows(results)
    ids = [r.case for r in results]
    return {
        "format": FORMAT_VERSION,
        "source": run.path.name if run.path is not None else None,
        "iut": {"name": h.iut, "version": h.iut_version, "description": h.iut_description,
                "details": dict(h.details), "adapter": h.adapter},
        "splicecheck_version": h.splicecheck_version,
        "argv": list(h.argv),
        "run": {
            "started": h.started,
            "finished": run.footer.finished if run.footer is not None else None,
            "duration": round(run.duration, 6),
            "partial": run.partial,
            "seed": h.seed,
            "case_seeds": {r.case: r.seed for r in results if r.seed is not None},
            "warnings": list(run.warnings),
        },
        "counts": {"passed": c.passed, "failed": c.failed, "skipped": c.skipped, "non_strict": c.non_strict,
                   "total": c.total, "by_verdict": c.by_verdict},
        "findings": found,
        **extra,
        "requirements": [
            {"id": row.req.id, "level": row.req.level.value, "group": row.req.group, "source": row.req.source,
             "text": row.req.text, "verdict": row.verdict.value,
             "cases": [ids[i] for i in row.cases], "collateral_cases": [ids[i] for i in row.collateral]}
            for row in rows
        ],
        "cases": [
            {"case": r.case, "reqs": list(r.reqs), "group": group_of(r), "verdict": r.verdict.value,
             "kind": r.kind, "description": r.description, "expectation": r.expectation, "reason": r.reason,
             "duration": r.duration, "seed": r.seed, "checked": r.checked,
             "diffs": [{"step": d.step, "packet": d.packet, "field": d.field, "req": d.req,
                        "expected": d.expected, "actual": d.actual, "expected_text": fmt(d.expected),
                        "actual_text": fmt(d.actual), "targeted": d.req in r.reqs, "line": d.line()}
                       for d in r.diffs],
             "steps": len(r.steps), "repro": r.repro, "evidence": evidence.get(i)}
            for i, r in enumerate(results)
        ],
    }


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) through a temporary file, so a reader never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    tmp.replace(path)
    return path


def index_json(run: Run, evidence: dict[int, str] | None = None,
               outcome: tuple[str | None, expect_mod.Outcome] | None = None) -> str:
    return json.dumps(build_index(run, evidence, outcome), indent=2, ensure_ascii=False) + "\n"


def judge_run(run: Run, known: list[expect_mod.Expectation]) -> expect_mod.Outcome:
    """The run's findings against the known ones (``conformance.expectations``)."""
    return expect_mod.judge(findings(run.results), run.results, known)


def _parse_formats(formats: Iterable[str] | None) -> list[str]:
    if formats is None:
        return list(FORMATS)
    chosen = [f.strip().lower() for item in formats for f in item.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    return [f for f in FORMATS if f in chosen]


def write_all_evidence(run: Run, out_dir: Path, plan: dict[int, str]) -> dict[int, str]:
    """Write the planned captures; returns those written (a case whose packets were all unreadable has none)."""
    written: dict[int, str] = {}
    for i, rel in plan.items():
        if write_evidence(run.results[i], out_dir / rel, started=run.header.started,
                          application=f"splicecheck {run.header.splicecheck_version}"):
            written[i] = rel
    folder = out_dir / EVIDENCE_DIR
    if folder.is_dir():
        keep = {Path(rel).name for rel in written.values()}
        for stale in folder.glob("*.pcapng"):
            if stale.name not in keep:
                stale.unlink()
    return written


def render_all(run: Run, out_dir: Path | str | None = None, formats: Iterable[str] | None = None,
               outcome: tuple[str | None, expect_mod.Outcome] | None = None) -> dict[str, Path]:
    """Write the chosen formats (default: all) of ``run`` into ``out_dir``; returns format -> path written.
    ``outcome``: the run judged against an expectations file (its name and the outcome): index.json then
    records it (``expectations``, and each finding's ``class`` and ``expectation``) and report.md and
    report.html show it.

    Raises ValueError for an unknown format name."""
    chosen = _parse_formats(formats)
    out = Path(out_dir) if out_dir is not None else default_out_dir(run)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    evidence: dict[int, str] = {}
    if "pcapng" in chosen:
        evidence = write_all_evidence(run, out, evidence_plan(run))
        if evidence:
            written["pcapng"] = out / EVIDENCE_DIR
    renderers = {
        "json": lambda: index_json(run, evidence, outcome),
        "md": lambda: markdown.render(run, evidence, outcome[1] if outcome is not None else None),
        "html": lambda: html.render(run, evidence, outcome[1] if outcome is not None else None),
        "junit": lambda: junit.render(run),
    }
    for fmt_name in chosen:
        if fmt_name in renderers:
            written[fmt_name] = write_text(out / FILES[fmt_name], renderers[fmt_name]())
    return written
