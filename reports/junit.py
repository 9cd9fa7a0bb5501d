"""junit.xml: the run in the Jenkins/Ant JUnit XML format, for CI dashboards.

First, when anything departed, a ``findings`` suite: one ``<testcase>`` per finding
(``conformance.findings``), a ``<failure>`` for a FAIL finding, a ``<system-out>`` note otherwise; then one
``<testsuite>`` per requirement group (a case belongs to the group of its primary requirement),
in catalogue order, each with the run's properties (IUT, version, adapter, seed, partial); one
``<testcase>`` per case, ``classname`` ``splicecheck.<group>.<primary requirement>``. Verdicts map as:

* FAIL -> ``<failure type="FAIL">``, ERROR -> ``<error type="ERROR">``: message = the first difference
  (or the harness's reason), text = every differing field, the requirement sentences, the reproducer;
* UNSUPPORTED, SKIPPED -> ``<skipped>`` with the reason;
* NON-STRICT, INFO -> a pass, with a ``<system-out>`` note of what was missed (a SHOULD or a MAY);
* PASS -> an empty ``<testcase>``.

Repeated case IDs (property cases) get their seed, or ``#n``, appended to stay distinct. Characters
XML 1.0 forbids are dropped. ``tests/golden/junit.xsd`` is the schema the tests validate against.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

from ..conformance.findings import Finding, findings
from ..conformance.results import CaseResult, Verdict
from ..spec.requirements import BY_ID, GROUPS
from .load import Run
from .summary import first_failure, group_of, iut_label, one_line

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: object) -> str:
    return _XML_ILLEGAL.sub("", str(text))


def _time(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}"


def _names(results: list[CaseResult]) -> list[str]:
    totals = Counter(r.case for r in results)
    seen: Counter[str] = Counter()
    out = []
    for r in results:
        seen[r.case] += 1
        if totals[r.case] == 1:
            out.append(r.case)
        elif r.seed is not None:
            out.append(f"{r.case} [seed {r.seed}]")
        else:
            out.append(f"{r.case} #{seen[r.case]}")
    return out


def detail_text(r: CaseResult) -> str:
    lines = []
    if r.reason:
        lines.append(f"reason: {r.reason}")
    for d in r.diffs:
        if not d.ok:
            tag = "" if d.req in r.reqs else " (collateral)"
            lines.append(f"step {d.step} packet {d.packet}: {d.line()}{tag}")
    for rid in r.reqs:
        req = BY_ID.get(rid)
        if req is not None:
            lines.append(f"{rid} ({req.level.value}): {req.text}")
    if r.expectation:
        lines.append(f"expected behaviour: {r.expectation}")
    if r.repro:
        lines.append(f"reproduce: {r.repro}")
    return "\n".join(lines)


def _message(r: CaseResult) -> str:
    d = first_failure(r)
    if r.verdict is Verdict.ERROR or d is None:
        return one_line(r.reason or r.verdict.value, 300)
    return one_line(d.line(), 300)


def _testcase(suite: ET.Element, r: CaseResult, name: str, group: str) -> None:
    primary = r.reqs[0] if r.reqs else "none"
    tc = ET.SubElement(suite, "testcase", {"name": clean(name), "classname": clean(f"splicecheck.{group}.{primary}"),
                                           "time": _time(r.duration)})
    if r.verdict is Verdict.FAIL:
        el = ET.SubElement(tc, "failure", {"message": clean(_message(r)), "type": r.verdict.value})
        el.text = clean(detail_text(r))
    elif r.verdict is Verdict.ERROR:
        el = ET.SubElement(tc, "error", {"message": clean(_message(r)), "type": r.verdict.value})
        el.text = clean(detail_text(r))
    elif r.verdict in (Verdict.SKIPPED, Verdict.UNSUPPORTED):
        ET.SubElement(tc, "skipped", {"message": clean(f"{r.verdict.value}: {one_line(r.reason or '-', 300)}")})
    elif r.verdict in (Verdict.NON_STRICT, Verdict.INFO):
        missed = "a SHOULD missed" if r.verdict is Verdict.NON_STRICT else "a MAY departed from"
        out = ET.SubElement(tc, "system-out")
        out.text = clean(f"{r.verdict.value} ({missed}; counted as a pass)\n{detail_text(r)}")


def _findings_suite(root: ET.Element, found: list[Finding], started: str) -> None:
    """The first suite: one test per finding (a FAIL finding fails; NON-STRICT and INFO pass with a note)."""
    suite = ET.SubElement(root, "testsuite", {
        "name": "findings", "tests": str(len(found)), "failures": str(sum(f.verdict == "FAIL" for f in found)),
        "errors": "0", "skipped": "0", "time": _time(0.0), "timestamp": clean(started),
        "hostname": "splicecheck", "id": "findings", "package": "splicecheck.findings"})
    for f in found:
        tc = ET.SubElement(suite, "testcase", {"name": clean(f"{f.id} {f.title}"),
                                                "classname": "splicecheck.findings", "time": _time(0.0)})
        text = clean(f"{f.verdict}: {f.title}\nrequirements: {', '.join(f.reqs)}\ncases ({len(f.cases)}): "
                     f"{', '.join(f.cases)}\nsmallest: {f.smallest}\nreproduce: {f.repro}")
        if f.verdict == "FAIL":
            ET.SubElement(tc, "failure", {"message": clean(f.title), "type": "FAIL"}).text = text
        else:
            ET.SubElement(tc, "system-out").text = text


def render(run: Run) -> str:
    h = run.header
    results = run.results
    names = _names(results)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(results):
        groups.setdefault(group_of(r), []).append(i)
    order = [g for g in GROUPS if g in groups] + sorted(g for g in groups if g not in GROUPS)

    def n(idx: list[int], *verdicts: Verdict) -> int:
        return sum(1 for i in idx if results[i].verdict in verdicts)

    everything = list(range(len(results)))
    found = findings(results)
    failing_findings = sum(f.verdict == "FAIL" for f in found)
    root = ET.Element("testsuites", {
        "name": clean(f"splicecheck: {iut_label(h.iut, h.iut_version)}"), "tests": str(len(results) + len(found)),
        "failures": str(n(everything, Verdict.FAIL) + failing_findings), "errors": str(n(everything, Verdict.ERROR)),
        "skipped": str(n(everything, Verdict.SKIPPED, Verdict.UNSUPPORTED)),
        "time": _time(sum(r.duration for r in results))})
    props = [("iut", h.iut), ("iut_version", h.iut_version), ("adapter", h.adapter),
             ("splicecheck_version", h.splicecheck_version), ("seed", "" if h.seed is None else str(h.seed)),
             ("partial", str(run.partial).lower())]
    if found:
        _findings_suite(root, found, h.started)
    for k, (group, idx) in enumerate((g, groups[g]) for g in order):
        suite = ET.SubElement(root, "testsuite", {
            "name": clean(f"{group}"), "tests": str(len(idx)), "failures": str(n(idx, Verdict.FAIL)),
            "errors": str(n(idx, Verdict.ERROR)), "skipped": str(n(idx, Verdict.SKIPPED, Verdict.UNSUPPORTED)),
            "time": _time(sum(results[i].duration for i in idx)), "timestamp": clean(h.started),
            "hostname": "splicecheck", "id": str(k), "package": clean(f"splicecheck.{group}")})
        properties = ET.SubElement(suite, "properties")
        for pname, value in props:
            ET.SubElement(properties, "property", {"name": pname, "value": clean(value)})
        for i in idx:
            _testcase(suite, results[i], names[i], group)
        if run.partial:
            ET.SubElement(suite, "system-err").text = ("partial run: the results file has no footer (interrupted)"
                                                       if run.footer is None else f"partial run: {run.stopped}")
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
