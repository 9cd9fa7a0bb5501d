"""The IUT x requirement matrix across several runs (Autobahn's testsuite style): matrix.md, matrix.html.

Each input is a report folder holding ``index.json`` (``render_all``'s), a folder holding results
files (``*.jsonl``, one column each), or the path of such a file. Rows are the catalogue's
requirements by group, columns the runs, cells the requirement's verdict in that run. In the HTML a
cell links to the requirement in that run's ``report.html`` when there is one, and the column header
to the report. A run that was interrupted is marked *partial* in its header. Requirements a run's
catalogue did not have (another splicecheck version) show as ``—``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from tabulate import tabulate

from ..conformance.results import Verdict
from ..reference.errors import SpliceCheckError
from ..spec.requirements import BY_ID, GROUPS
from .html import CSS as REPORT_CSS
from .load import load_run
from .render import FORMAT_VERSION, build_index, write_text
from .summary import iut_label

ABSENT = "—"


class MatrixInputError(SpliceCheckError):
    """An input of the matrix that holds no run (no index.json, no results file) or an unreadable one."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(slots=True)
class Column:
    """One run in the matrix."""

    label: str
    iut: str
    version: str
    partial: bool
    verdicts: dict[str, str]
    counts: dict[str, Any]
    source: Path
    report: Path | None = None  # that run's report.html, when next to its index.json
    groups: dict[str, str] = field(default_factory=dict)  # requirement -> group, for IDs not in this catalogue


def _from_index(path: Path) -> Column:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MatrixInputError(path, f"unreadable index.json ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise MatrixInputError(path, f"not a splicecheck report index (format {FORMAT_VERSION!r} expected)")
    try:
        iut = data["iut"]
        reqs = data["requirements"]
        verdicts = {str(r["id"]): str(r["verdict"]) for r in reqs}
        groups = {str(r["id"]): str(r.get("group", "other")) for r in reqs}
        partial = bool(data["run"]["partial"])
        report = path.with_name("report.html")
        return Column(iut_label(str(iut["name"]), str(iut["version"])), str(iut["name"]), str(iut["version"]),
                      partial, verdicts, dict(data.get("counts", {})), path,
                      report if report.is_file() else None, groups)
    except (KeyError, TypeError) as e:
        raise MatrixInputError(path, f"incomplete report index (missing {e})") from None


def _from_results(path: Path) -> Column:
    run = load_run(path)
    data = build_index(run)
    return Column(iut_label(run.header.iut, run.header.iut_version), run.header.iut, run.header.iut_version,
                  run.partial, {r["id"]: r["verdict"] for r in data["requirements"]}, data["counts"], path)


def load_columns(paths: Sequence[Path | str]) -> list[Column]:
    """One column per run found at ``paths``, in order (a folder of results files gives one per file)."""
    columns: list[Column] = []
    for p in map(Path, paths):
        if p.is_dir():
            if (p / "index.json").is_file():
                columns.append(_from_index(p / "index.json"))
                continue
            files = sorted(p.glob("*.jsonl"))
            if not files:
                raise MatrixInputError(p, "holds neither an index.json nor a results file (*.jsonl)")
            columns += [_from_results(f) for f in files]
        elif p.is_file():
            columns.append(_from_index(p) if p.suffix == ".json" else _from_results(p))
        else:
            raise MatrixInputError(p, "no such file or folder")
    seen: dict[str, int] = {}
    for c in columns:  # the same IUT twice (two runs): number the repeats
        seen[c.label] = seen.get(c.label, 0) + 1
        if seen[c.label] > 1:
            c.label = f"{c.label} ({seen[c.label]})"
    return columns


def rows(columns: Sequence[Column]) -> list[tuple[str, list[str]]]:
    """(group, requirement IDs) in catalogue order, then IDs only some runs know, under their own group."""
    out = [(g, [rid for rid, r in BY_ID.items() if r.group == g]) for g in GROUPS]
    extra: dict[str, list[str]] = {}
    for c in columns:
        for rid in c.verdicts:
            if rid not in BY_ID and rid not in extra.get(c.groups.get(rid, "other"), []):
                extra.setdefault(c.groups.get(rid, "other"), []).append(rid)
    return out + [(f"{g} (not in this catalogue)", ids) for g, ids in extra.items()]


def _counts_text(c: Column) -> str:
    k = c.counts
    return f"{k.get('passed', 0)}/{k.get('failed', 0)}/{k.get('skipped', 0)}/{k.get('non_strict', 0)}"


def render_markdown(columns: Sequence[Column], out_dir: Path) -> str:
    heads = ["requirement", "level"] + [c.label + (" (partial)" if c.partial else "") for c in columns]
    table: list[list[str]] = []
    for group, ids in rows(columns):
        table.append([f"**{group}**", ""] + [""] * len(columns))
        for rid in ids:
            level = BY_ID[rid].level.value if rid in BY_ID else ""
            cells = [c.verdicts.get(rid, ABSENT) for c in columns]
            table.append([f"`{rid}`", level] + [f"**{v}**" if v in ("FAIL", "ERROR") else v for v in cells])
    table.append(["passed/failed/skipped/non-strict", ""] + [_counts_text(c) for c in columns])
    out = ["# splicecheck conformance matrix", "",
           f"{len(columns)} run(s); a cell is the requirement's verdict in that run (`{ABSENT}`: not in that "
           "run's catalogue).", "",
           tabulate(table, headers=heads, tablefmt="github", disable_numparse=True), "", "## Runs", ""]
    for c in columns:
        link = _rel(c.report, out_dir) if c.report is not None else ""
        where = f"[{link}]({link})" if link else f"`{_rel(c.source, out_dir)}`"
        out.append(f"- {c.label}: {where}" + (" (partial run)" if c.partial else ""))
    return "\n".join(out) + "\n"


MATRIX_CSS = """
table.matrix { width: auto; }
table.matrix td.v { text-align: center; padding: 0; }
table.matrix td.v a, table.matrix td.v span { display: block; padding: .2rem .5rem; color: inherit;
  text-decoration: none; white-space: nowrap; font-size: 12px; font-weight: 600; }
table.matrix td.v-PASS, table.matrix td.v-INFO { color: #fff; }
table.matrix td.v-FAIL, table.matrix td.v-ERROR, table.matrix td.v-NON-STRICT { color: #fff; }
table.matrix td.v-SKIPPED, table.matrix td.v-UNSUPPORTED { color: #fff; }
table.matrix tr.group th { background: #eceff1; text-transform: uppercase; font-size: 12px; }
table.matrix th.iut { writing-mode: horizontal-tb; max-width: 12rem; }
"""


def _rel(target: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(target.resolve(), out_dir.resolve())).as_posix()


def render_html(columns: Sequence[Column], out_dir: Path) -> str:
    def e(x: object) -> str:
        return escape(str(x), quote=True)

    heads = []
    for c in columns:
        name = e(c.label) + (' <span class="small">(partial)</span>' if c.partial else "")
        link = f'<a href="{e(_rel(c.report, out_dir))}">{name}</a>' if c.report is not None else name
        heads.append(f'<th class="iut">{link}</th>')
    body = []
    for group, ids in rows(columns):
        body.append(f'<tr class="group"><th colspan="{len(columns) + 2}">{e(group)}</th></tr>')
        for rid in ids:
            req = BY_ID.get(rid)
            title = f' title="{e(req.text)}"' if req is not None else ""
            cells = []
            for c in columns:
                v = c.verdicts.get(rid, ABSENT)
                css = f"v v-{e(v)}" if v in {x.value for x in Verdict} else "v"
                inner = (f'<a href="{e(_rel(c.report, out_dir))}#req-{e(rid)}">{e(v)}</a>' if c.report is not None
                         and v != ABSENT else f"<span>{e(v)}</span>")
                cells.append(f'<td class="{css}">{inner}</td>')
            body.append(f'<tr><th{title}><code>{e(rid)}</code></th><td>{e(req.level.value if req else "")}</td>'
                        + "".join(cells) + "</tr>")
    body.append('<tr><th colspan="2">passed/failed/skipped/non-strict</th>'
                + "".join(f'<td class="mono">{e(_counts_text(c))}</td>' for c in columns) + "</tr>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>splicecheck conformance matrix</title>", f"<style>{REPORT_CSS}{MATRIX_CSS}</style>", "</head>",
        "<body>", "<h1>splicecheck conformance matrix</h1>",
        f'<p class="desc">{len(columns)} run(s); a cell is the requirement\'s verdict in that run '
        f"({ABSENT}: not in that run's catalogue). Hover a requirement for its statement.</p>",
        '<table class="matrix"><thead><tr><th>requirement</th><th>level</th>' + "".join(heads) + "</tr></thead>",
        "<tbody>", *body, "</tbody></table>", "</body>", "</html>",
    ]) + "\n"


def write_matrix(paths: Sequence[Path | str], out_dir: Path | str) -> dict[str, Path]:
    """Write matrix.md and matrix.html for the runs at ``paths`` into ``out_dir``."""
    columns = load_columns(paths)
    if not columns:
        raise MatrixInputError(Path("."), "no run given")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {"md": write_text(out / "matrix.md", render_markdown(columns, out)),
            "html": write_text(out / "matrix.html", render_html(columns, out))}
