"""report.html: one self-contained page (inline CSS, inline SVG, no script, no external asset).

Top: the IUT, the run, a partial-run banner, the counts. Then requirements per group (verdict,
level, statement, links to the cases). Then every case as a ``<details>`` block — open when it needs
attention (FAIL, ERROR, NON-STRICT) — holding the requirement sentences, the expected-vs-actual
field table (collateral differences marked), for failing cases the picture of each segment's
position relative to ``splice_irs`` (``reports.geometry``), the packets of each step (one-line
summaries; hex dumps folded), the reproducing command and a link to the pcapng evidence.
Anchors: ``#req-<ID>`` and ``#case-<slug>``, so other pages (the matrix) can link into it.
"""

from __future__ import annotations

from html import escape

from ..conformance.expectations import Outcome
from ..conformance.findings import findings
from ..conformance.results import CaseResult, StepRecord, Verdict, fmt
from ..spec.requirements import BY_ID
from .geometry import geometry_svg
from .load import Run, run_counts
from .summary import (
    ATTENTION,
    by_group,
    coverage_rows,
    hits_text,
    iut_label,
    one_line,
    requirement_rows,
    seconds,
    slugs,
    unsupported_reasons,
    verdict_for,
)

CSS = """
:root { --ink: #222; --muted: #666; --line: #ddd; --bg: #fff; --soft: #f6f7f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: var(--bg); margin: 0 auto; padding: 1.5rem; max-width: 76rem; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; } h2 { margin-top: 2rem; border-bottom: 1px solid var(--line); }
h3 { margin: 1.2rem 0 .4rem; text-transform: uppercase; font-size: .85rem; color: var(--muted); }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--soft); padding: .5rem .7rem; overflow-x: auto; margin: .3rem 0; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 .8rem; }
th, td { border: 1px solid var(--line); padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .6rem 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
.desc { color: var(--muted); margin: 0 0 .5rem; }
.badge { display: inline-block; white-space: nowrap; min-width: 6.5rem; text-align: center; border-radius: 3px;
         padding: 0 .4rem; font-weight: 600; font-size: 12px; color: #fff; }
.v-PASS { background: #2e7d32; } .v-INFO { background: #5c8f3a; } .v-NON-STRICT { background: #c77700; }
.v-FAIL { background: #c62828; } .v-ERROR { background: #6a1b9a; } .v-SKIPPED { background: #78909c; }
.v-UNSUPPORTED { background: #90a4ae; } .v-NOT-COVERED { background: #cfd8dc; color: #333; }
.counts span { margin-right: .4rem; }
.banner { padding: .6rem .8rem; border-radius: 4px; margin: .6rem 0; }
.banner.partial { background: #fff4e5; border: 1px solid #f0b35a; }
.banner.warn { background: #fdecea; border: 1px solid #e57373; }
details.case { border: 1px solid var(--line); border-radius: 4px; margin: .35rem 0; background: var(--bg); }
details.case > summary { cursor: pointer; padding: .35rem .6rem; list-style-position: inside; }
details.case[open] > summary { border-bottom: 1px solid var(--line); background: var(--soft); }
details.case .body { padding: .4rem .8rem .6rem; }
details.hex > summary { cursor: pointer; color: var(--muted); }
table.reqs { table-layout: fixed; }
table.reqs th:nth-child(1) { width: 8.5rem; } table.reqs th:nth-child(2) { width: 10rem; }
table.reqs th:nth-child(3) { width: 4.5rem; } table.reqs th:nth-child(5) { width: 17rem; }
tr.collateral td { color: var(--muted); font-style: italic; }
td.exp { background: #eef7ee; } td.act { background: #fbeeee; }
.geometry { display: block; margin: .4rem 0; max-width: 100%; height: auto; }
.small { font-size: 12px; color: var(--muted); }
a { color: #1f4e9c; }
"""


def e(text: object) -> str:
    return escape(str(text), quote=True)


def badge(v: Verdict | str) -> str:
    value = v.value if isinstance(v, Verdict) else v
    return f'<span class="badge v-{e(value)}">{e(value)}</span>'


HEXDUMP_LIMIT = 256  # bytes shown per packet: every header and the start of the payload


def hexdump(hex_text: str, limit: int = HEXDUMP_LIMIT) -> str:
    """Offset, 16 bytes a line, in hex, up to ``limit`` bytes (the whole packet is in the pcapng
    evidence and the results file); the hex string itself when it does not decode."""
    try:
        data = bytes.fromhex(hex_text)
    except (ValueError, TypeError):
        return str(hex_text)
    shown = data[:limit]
    lines = [f"{i:04x}  " + " ".join(f"{b:02x}" for b in shown[i:i + 16]) for i in range(0, len(shown), 16)]
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes (the whole packet is in the pcapng evidence)")
    return "\n".join(lines)


def _head(run: Run) -> list[str]:
    h = run.header
    c = run_counts(run)  # of every case, those a bounded reading did not keep too
    out = [f"<h1>splicecheck report: {e(iut_label(h.iut, h.iut_version))}</h1>"]
    if h.iut_description:
        out.append(f'<p class="desc">{e(h.iut_description)}</p>')
    meta = [("IUT", f"<code>{e(h.iut)}</code>"), ("version", e(h.iut_version)),
            ("adapter", f"<code>{e(h.adapter)}</code>"), ("splicecheck", e(h.splicecheck_version)),
            ("started", e(h.started)),
            ("finished", e(run.footer.finished) if run.footer else "— (interrupted)"),
            ("duration", seconds(run.duration)), ("seed", e(h.seed) if h.seed is not None else "—")]
    if h.argv:
        meta.append(("command", f"<code>{e(' '.join(h.argv))}</code>"))
    meta += [(e(k), e(v)) for k, v in h.details.items()]
    out.append('<dl class="meta">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta) + "</dl>")
    if run.partial:
        out.append(f'<div class="banner partial"><strong>Partial run.</strong> {escape(run.stopped)} '
                   f"after {c.total} case(s). Requirements of the cases that did "
                   f"not run show as NOT-COVERED.</div>")
    if run.warnings:
        out.append('<div class="banner warn"><strong>Results file warnings</strong><ul>'
                   + "".join(f"<li>{e(w)}</li>" for w in run.warnings) + "</ul></div>")
    out.append(f'<p class="counts"><strong>{e(c.line())}</strong>; {c.non_strict} non-strict '
               f'<span class="small">(a SHOULD missed, counted apart)</span></p>')
    out.append('<p class="counts">' + "".join(f"<span>{badge(v)} {n}</span>"
                                             for v, n in c.by_verdict.items() if n) + "</p>")
    return out


def _findings(run: Run, names: list[str], outcome: Outcome | None = None) -> list[str]:
    """The departures grouped by root cause, before the requirement and case detail (with an expectations
    outcome: each finding's class and whether it was expected, and the outcome's lines)."""
    found = findings(run.results)
    if not found and outcome is None:
        return []
    classes = outcome.classes() if outcome is not None else {}
    first: dict[str, int] = {}
    for i, r in enumerate(run.results):
        first.setdefault(r.case, i)
    out = ['<section id="findings"><h2>Findings</h2>',
           f"<p>{len(found)} departure(s) grouped by root cause; the case detail follows below.</p>",
           '<table class="reqs"><thead><tr><th>verdict</th><th>finding</th>'
           + ("<th>class (expectation)</th>" if outcome is not None else "")
           + "<th>title</th><th>requirements</th><th>cases</th><th>smallest case, reproduced by</th>"
           "</tr></thead><tbody>"]
    for f in found:
        link = (f'<a href="#case-{e(names[first[f.smallest]])}">{e(f.smallest)}</a>'
                if f.smallest in first else e(f.smallest))
        klass, how = classes.get(f.id, ("unclassified", "unexpected"))
        cls = (f"<td>{e(klass)} ({'<strong>unexpected</strong>' if how == 'unexpected' else e(how)})</td>"
               if outcome is not None else "")
        out.append(f'<tr id="finding-{e(f.id)}"><td>{badge(f.verdict or "INFO")}</td><td><code>{e(f.id)}</code></td>'
                   f"{cls}<td>{e(f.title)}</td><td>{e(', '.join(f.reqs))}</td><td>{len(f.cases)}</td>"
                   f"<td>{link}<br><code>{e(f.repro)}</code></td></tr>")
    out.append("</tbody></table>")
    if outcome is not None:
        out.append("<ul>" + "".join(f"<li>{e(line.strip())}</li>" for line in outcome.lines()) + "</ul>")
    out.append("</section>")
    return out


def _requirements(run: Run, names: list[str]) -> list[str]:
    results = run.results
    out = ['<section id="requirements"><h2>Requirements</h2>']
    for group, rows in by_group(requirement_rows(results)):
        out.append(f'<h3>{e(group)}</h3><table class="reqs"><thead>'
                   f"<tr><th>verdict</th><th>requirement</th><th>level</th>"
                   "<th>statement</th><th>cases</th></tr></thead><tbody>")
        for row in rows:
            links = [f'<a href="#case-{e(names[i])}" title="{e(verdict_for(results[i], row.req.id).value)}">'
                     f"{e(results[i].case)}</a>" for i in row.cases]
            links += [f'<a href="#case-{e(names[i])}">{e(results[i].case)}</a> <span class="small">(collateral)'
                      f"</span>" for i in row.collateral]
            out.append(f'<tr id="req-{e(row.req.id)}"><td>{badge(row.verdict)}</td><td><code>{e(row.req.id)}'
                       f"</code></td><td>{e(row.req.level.value)}</td><td>{e(row.req.text)}<br>"
                       f'<span class="small">{e(row.req.source)}</span></td><td>{", ".join(links) or "—"}</td></tr>')
        out.append("</tbody></table>")
    out.append("</section>")
    return out


def _diff_table(r: CaseResult) -> str:
    bad = [d for d in r.diffs if not d.ok]
    if not bad:
        if r.verdict in (Verdict.PASS, Verdict.INFO):
            return f'<p class="small">{r.checked} field(s) compared, all as expected.</p>'
        return ""
    rows = []
    for d in bad:
        collateral = d.req not in r.reqs
        rows.append(f'<tr class="{"collateral" if collateral else "targeted"}"><td>{d.step}</td><td>{d.packet}</td>'
                    f"<td><code>{e(d.field)}</code></td><td><a href=\"#req-{e(d.req)}\">{e(d.req)}</a>"
                    f"{' (collateral)' if collateral else ''}</td><td>{badge(d.verdict)}</td>"
                    f'<td class="mono exp">{e(fmt(d.expected))}</td><td class="mono act">{e(fmt(d.actual))}</td></tr>')
    return ("<table><thead><tr><th>step</th><th>packet</th><th>field</th><th>requirement</th><th>grade</th>"
            "<th>expected</th><th>actual</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            f'<p class="small">{r.checked} field(s) compared, {len(bad)} differ.</p>')


def _packets(label: str, summaries: list[str], to_client: list[str], to_server: list[str]) -> str:
    hexes = [("to client", h) for h in to_client] + [("to server", h) for h in to_server]
    if not hexes:
        return f"<td><em>{e(label)}: none</em></td>"
    lines = "<br>".join(f"<code>{e(s)}</code>" for s in summaries) or f"{len(hexes)} packet(s)"
    dumps = "".join(f"<p class=\"small\">{e(leg)} #{k}</p><pre>{e(hexdump(h))}</pre>"
                    for k, (leg, h) in enumerate(hexes))
    return f'<td>{lines}<details class="hex"><summary>hex</summary>{dumps}</details></td>'


def _steps(steps: list[StepRecord]) -> str:
    rows = []
    for i, s in enumerate(steps):
        inp = (f"<td>from {e(s.leg_in)}: <code>{e(s.summary_input)}</code>"
               f'<details class="hex"><summary>hex</summary><pre>{e(hexdump(s.input))}</pre></details></td>')
        rows.append(f"<tr><td>{i}</td>{inp}"
                    + _packets("expected", s.summary_expected, s.expected_to_client, s.expected_to_server)
                    + _packets("observed", s.summary_actual, s.actual_to_client, s.actual_to_server) + "</tr>")
    return ("<table><thead><tr><th>step</th><th>input</th><th>expected</th><th>actual</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _case(i: int, r: CaseResult, name: str, evidence: dict[int, str]) -> str:
    attention = r.verdict in ATTENTION
    summary = (f"{badge(r.verdict)} <code>{e(r.case)}</code> {e(one_line(r.description, 110))} "
               f'<span class="small">[{e(", ".join(r.reqs))}] {seconds(r.duration)}</span>')
    body = ["<ul>"]
    for rid in r.reqs:
        req = BY_ID.get(rid)
        text = f" ({e(req.level.value)}): {e(req.text)}" if req is not None else ""
        body.append(f'<li><a href="#req-{e(rid)}"><code>{e(rid)}</code></a>{text}</li>')
    body.append("</ul>")
    if r.expectation:
        body.append(f"<p>Expected behaviour: {e(r.expectation)}</p>")
    if r.reason:
        body.append(f"<p>Reason: {e(r.reason)}</p>")
    body.append(_diff_table(r))
    if r.verdict in (Verdict.FAIL, Verdict.NON_STRICT) and r.geometry:
        body += [geometry_svg(g) for g in r.geometry]
    if r.steps:
        body.append(f'<details class="hex"{" open" if attention else ""}><summary>packets ({len(r.steps)} '
                    f"step{'s' * (len(r.steps) != 1)})</summary>{_steps(r.steps)}</details>")
    facts = [f"kind: {e(r.kind)}"]
    if r.seed is not None:
        facts.append(f"seed: {e(r.seed)}")
    if i in evidence:
        facts.append(f'evidence: <a href="{e(evidence[i])}">{e(evidence[i])}</a>')
    body.append(f'<p class="small">{" · ".join(facts)}</p>')
    if r.repro:
        body.append(f"<p>Reproduce: <code>{e(r.repro)}</code></p>")
    return (f'<details class="case" id="case-{e(name)}"{" open" if attention else ""}><summary>{summary}</summary>'
            f'<div class="body">{"".join(body)}</div></details>')


def _unsupported(run: Run, names: list[str]) -> list[str]:
    """What the adapter could not give the cases (every UNSUPPORTED reason, with how many cases)."""
    rows = unsupported_reasons(run.results) if run.tally is None else run.tally.unsupported_reasons()
    if not rows:
        return []
    index = {r.case: i for i, r in enumerate(run.results)}
    out = ['<section id="unsupported"><h2>Unsupported</h2>',
           "<p>What the adapter could not give these cases (UNSUPPORTED: a precondition, never the IUT's "
           "behaviour).</p>", "<table><tr><th>reason</th><th>cases</th><th>first</th></tr>"]
    def first_cell(case: str) -> str:  # a link when the case is among those listed (a bounded reading keeps few)
        code = f"<code>{e(case)}</code>"
        return f'<a href="#case-{e(names[index[case]])}">{code}</a>' if case in index else code

    out += [f"<tr><td>{e(why)}</td><td>{n}</td><td>{first_cell(first)}</td></tr>" for why, n, first in rows]
    return [*out, "</table></section>"]


def _coverage(run: Run) -> list[str]:
    """Each property or stateful case's wrap regions reached (with hits) and not reached."""
    rows = coverage_rows(run.results)
    if not rows:
        return []
    out = ['<section id="wrap-coverage"><h2>Wrap coverage</h2>',
           "<p>The regions near a wrap boundary (0, 2^31, 2^32 - 1, the splice's bases, 2^31 past the furthest "
           "point) that each search's segments reached, with how many segments reached each.</p>",
           "<table><tr><th>case</th><th>reached</th><th>hits</th><th>not reached</th></tr>"]
    out += [f"<tr><td><code>{e(c.case)}</code></td><td>{e(c.line)}</td><td>{e(hits_text(c.reached) or '—')}</td>"
            f"<td>{e(', '.join(c.missed) or '—')}</td></tr>" for c in rows]
    return [*out, "</table></section>"]


def render(run: Run, evidence: dict[int, str] | None = None, outcome: Outcome | None = None) -> str:
    evidence = evidence or {}
    names = slugs(run.results)
    h = run.header
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>splicecheck: {e(iut_label(h.iut, h.iut_version))}</title>", f"<style>{CSS}</style>", "</head>",
             "<body>", "<header>", *_head(run), "</header>", "<main>",
             *_findings(run, names, outcome), *_unsupported(run, names), *_requirements(run, names)]
    parts.append('<section id="cases"><h2>Cases</h2>')
    attention = [i for i, r in enumerate(run.results) if r.verdict in ATTENTION]
    others = [i for i, r in enumerate(run.results) if r.verdict not in ATTENTION]
    if attention:
        parts.append("<h3>needing attention</h3>")
        parts += [_case(i, run.results[i], names[i], evidence) for i in attention]
    if others:
        parts.append("<h3>others</h3>")
        parts += [_case(i, run.results[i], names[i], evidence) for i in others]
    if not run.results:
        parts.append("<p>No case results.</p>")
    parts.append("</section>")
    parts += _coverage(run)
    missing = [row.req.id for row in requirement_rows(run.results) if row.verdict is Verdict.NOT_COVERED]
    if missing:
        parts.append('<section id="not-covered"><h2>Not covered</h2><p>'
                     + ", ".join(f'<a href="#req-{e(m)}"><code>{e(m)}</code></a>' for m in missing) + "</p></section>")
    parts += ["</main>", '<footer class="small"><p>splicecheck conformance report'
              + (f" · from <code>{e(run.path.name)}</code>" if run.path is not None else "")
              + "</p></footer>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
