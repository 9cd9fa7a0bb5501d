"""reports.load, reports.summary and reports.terminal: reading results files and the terminal report."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest
import reports_fixtures as fx
from splicecheck.conformance.results import CaseResult, Verdict, grade
from splicecheck.reference.errors import SpliceCheckError
from splicecheck.reports import html, junit, markdown
from splicecheck.reports.load import (
    ResultsEmpty,
    ResultsError,
    ResultsFormatError,
    ResultsNotFound,
    Run,
    load_run,
)
from splicecheck.reports.summary import count, first_failure, requirement_rows, slugs
from splicecheck.reports.terminal import TerminalReporter, render_listing

# -- loading ---------------------------------------------------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    run = fx.run()
    loaded = load_run(fx.write_jsonl(tmp_path / "results.jsonl", run))
    assert loaded.header == run.header
    assert loaded.footer == run.footer
    assert loaded.results == run.results
    assert not loaded.partial and loaded.warnings == []
    assert loaded.path == tmp_path / "results.jsonl"


def test_partial_run_with_truncated_last_line(tmp_path: Path) -> None:
    path = fx.write_jsonl(tmp_path / "r.jsonl", fx.run(partial=True), cut_last='{"type":"case","case":"SEQ-M')
    run = load_run(path)
    assert run.partial and run.footer is None
    assert len(run.results) == len(fx.results())
    assert len(run.warnings) == 1 and "truncated" in run.warnings[0] and "line 12" in run.warnings[0]


def test_corrupt_middle_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    run = fx.run()
    lines = [run.header.to_json(), run.results[0].to_json(), "{not json", run.results[1].to_json(),
             json.dumps({"type": "case", "case": "X", "reqs": ["NO-SUCH-REQ"], "verdict": "PASS"}),
             json.dumps({"type": "case", "case": "Y", "reqs": ["SEQ-MAP"], "verdict": "MAYBE"}),
             json.dumps({"type": "mystery"}), run.header.to_json(), run.footer.to_json() if run.footer else "",
             run.results[2].to_json()]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded = load_run(path)
    assert [r.case for r in loaded.results] == ["SEQ-MAP-basic", "SEQ-MAP-wrap-1"]
    assert not loaded.partial
    text = "\n".join(loaded.warnings)
    assert "line 3: not JSON" in text
    assert "line 5" in text and "NO-SUCH-REQ" in text
    assert "line 6" in text and "MAYBE" in text
    assert "line 7: unknown record type 'mystery'" in text
    assert "line 8: a second run header" in text
    assert "line 10: found after the run's footer" in text


def test_crlf_blank_lines_and_unknown_fields_are_tolerated(tmp_path: Path) -> None:
    run = fx.run()
    head = json.loads(run.header.to_json()) | {"future_field": 1}
    case = json.loads(run.results[0].to_json()) | {"another": [1, 2]}
    path = tmp_path / "r.jsonl"
    path.write_bytes(("\r\n".join([json.dumps(head), "", json.dumps(case), run.footer.to_json()]) + "\r\n").encode())
    loaded = load_run(path)
    assert loaded.warnings == [] and len(loaded.results) == 1 and not loaded.partial


@pytest.mark.parametrize(("content", "error", "words"), [
    (None, ResultsNotFound, "no such results file"),
    (b"", ResultsEmpty, "empty"),
    (b"  \n\n", ResultsEmpty, "empty"),
    (b"hello world\n", ResultsFormatError, "not JSON Lines"),
    (b"\xff\xfe\x00binary", ResultsFormatError, "not JSON Lines"),
    (b'[1, 2, 3]\n', ResultsFormatError, "not a run header"),
    (b'{"type": "case", "case": "A"}\n', ResultsFormatError, "not a run header"),
    (b'{"type": "header", "iut": "x"}\n', ResultsFormatError, "incomplete run header"),
    (b'{"type": "header", "iut": "x", "iut_ver', ResultsFormatError, "truncated"),
])
def test_unreadable_files_raise_named_errors(tmp_path: Path, content: bytes | None, error: type[ResultsError],
                                             words: str) -> None:
    path = tmp_path / "results.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error) as info:
        load_run(path)
    assert isinstance(info.value, SpliceCheckError)
    assert words in str(info.value) and str(path) in str(info.value)


def test_a_directory_is_not_a_results_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsNotFound, match="directory"):
        load_run(tmp_path)


def test_header_only_file_is_a_partial_run_with_no_case(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(fx.HEADER.to_json() + "\n")
    run = load_run(path)
    assert run.partial and run.results == [] and run.warnings == []


# -- summary ---------------------------------------------------------------------------------------------


def test_counts_follow_the_documented_definition() -> None:
    c = count(fx.results())
    # PASS x3 + INFO; FAIL x2 + ERROR; SKIPPED + UNSUPPORTED; NON-STRICT apart
    assert (c.passed, c.failed, c.skipped, c.non_strict) == (4, 3, 2, 1)
    assert c.total == 10 and c.line() == "4 passed, 3 failed, 2 skipped"


def test_requirement_rows_use_the_requirement_verdicts() -> None:
    rows = {r.req.id: r for r in requirement_rows(fx.results())}
    assert rows["SEQ-MAP"].verdict is Verdict.FAIL and len(rows["SEQ-MAP"].cases) == 5
    assert rows["CSUM-FAILSAFE"].verdict is grade("CSUM-FAILSAFE") and rows["CSUM-FAILSAFE"].collateral == [1]
    assert rows["TRIM-SOUND"].verdict is Verdict.PASS
    assert rows["LIFE-DONTACK"].verdict is Verdict.SKIPPED
    assert rows["ADDR-REWRITE"].verdict is Verdict.NOT_COVERED


def test_first_failure_prefers_the_asked_requirement_then_targeted_fields() -> None:
    wrap = fx.results()[1]
    first = first_failure(wrap)
    assert first is not None and first.field == "tcp.seq"
    collateral = first_failure(wrap, "CSUM-FAILSAFE")
    assert collateral is not None and collateral.field == "tcp.checksum"
    assert first_failure(fx.results()[0]) is None


def test_slugs_are_unique_and_safe() -> None:
    results = [CaseResult(case=c, reqs=["SEQ-MAP"], verdict=Verdict.PASS)
               for c in ("a/b", "a b", "A_B", "x", "x", "../..")]
    assert slugs(results) == ["a_b", "a_b__2", "A_B__3", "x", "x__2", "case"]


# -- terminal --------------------------------------------------------------------------------------------


def _terminal(run: Run, total: int | None, **kw: object) -> str:
    out = io.StringIO()
    rep = TerminalReporter(out, **kw)  # type: ignore[arg-type]
    rep.start(run.header, total=total)
    for r in run.results:
        rep.case(r)
    rep.finish(run)
    return out.getvalue()


def test_terminal_golden_and_closing_lines() -> None:
    text = _terminal(fx.run(), total=10)
    fx.check_golden("terminal.txt", text)
    lines = text.splitlines()
    assert lines[-1] == "4 passed, 3 failed, 2 skipped"
    assert lines[-2].startswith("1 non-strict")


def test_terminal_failure_shows_requirement_sentence_expected_and_actual() -> None:
    text = _terminal(fx.run(), total=None)
    block = text[text.index("×  SEQ-MAP-wrap-1"):]
    assert "-> SEQ-MAP (MUST): The sequence number is mapped as" in block
    assert "Expected: tcp.seq = 2147483644 (0x7ffffffc)" in block
    assert "Actual: tcp.seq = 2147483643 (0x7ffffffb)" in block
    assert "-> harness error: HarnessError: namespace sc-d vanished" in text


def test_terminal_progress_is_compact_when_many() -> None:
    results = [CaseResult(case=f"c{i}", reqs=["SEQ-MAP"], verdict=Verdict.FAIL if i == 70 else Verdict.PASS)
               for i in range(130)]
    run = Run(fx.HEADER, results, fx.FOOTER)
    text = _terminal(run, total=130)
    assert "." * 60 + "  [60/130]" in text and "[130/130]" in text
    assert "F" in text.splitlines()[4] and "[1/130]" not in text
    assert text.splitlines()[-1] == "129 passed, 1 failed, 0 skipped"
    # told nothing of the total: lines first, then characters
    auto = _terminal(run, total=None, compact_above=10)
    assert "[10] ✔ PASS" in auto and "[11]" not in auto and "further cases one character each" in auto


def test_terminal_quiet_and_ascii_fallback() -> None:
    run = fx.run(partial=True)
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    rep = TerminalReporter(stream, progress="off")
    rep.start(run.header)
    for r in run.results:
        rep.case(r)
    rep.finish(run)
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "[1]" not in text
    assert "x  SEQ-MAP-wrap-1" in text and "+  SEQ-MAP-basic" in text
    assert "PARTIAL RUN" in text
    assert text.splitlines()[-1] == "4 passed, 3 failed, 2 skipped"


def test_listing_of_an_empty_run() -> None:
    lines = render_listing(Run(fx.HEADER))
    assert lines[-1] == "0 passed, 0 failed, 0 skipped" and "PARTIAL RUN" in lines[-3]


def test_reporter_rejects_unknown_progress_style() -> None:
    with pytest.raises(ValueError, match="progress"):
        TerminalReporter(progress="fancy")


def test_an_interrupted_run_says_what_stopped_it(tmp_path: Path) -> None:
    """A footer naming a signal marks the run partial, and each report names the signal instead of a
    missing footer (the no-footer wording stays for files that really end without one)."""
    stopped = dataclasses.replace(fx.run(), footer=dataclasses.replace(fx.FOOTER, interrupted="SIGTERM"))
    run = load_run(fx.write_jsonl(tmp_path / "results.jsonl", stopped))
    assert run.partial and run.stopped == "The run was interrupted (SIGTERM)"
    assert "PARTIAL RUN: interrupted (SIGTERM)" in "\n".join(render_listing(run))
    for text in (markdown.render(run), html.render(run), junit.render(run)):
        assert "SIGTERM" in text and "has no footer" not in text
    silent = load_run(fx.write_jsonl(tmp_path / "cut.jsonl", fx.run(partial=True)))
    assert silent.partial and "has no footer" in silent.stopped
