"""Trace memory follows the open connections: results are streamed, not collected, and read back bounded.

The engine can run without keeping its results (the command line does); ``load_run(keep=N)`` keeps the
first N failing and N other cases plus each requirement's first case of every verdict it got, and counts
all of them, so that requirement verdicts, counts and the exit code are those of the whole run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import reports_fixtures as fx
from splicecheck.conformance.results import CaseResult, requirement_verdicts
from splicecheck.conformance.runner import exit_code
from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine
from splicecheck.reports.load import Run, RunTally, load_run, run_counts
from splicecheck.reports.summary import count
from splicecheck.reports.terminal import render_listing
from trace_synth import ConnPlan, default_scenario, synth_pair

from splicecheck import cli_trace


def many(n: int) -> Run:
    """The fixture run's cases repeated ``n`` times under distinct IDs."""
    base = fx.results()
    out = [dataclasses.replace(r, case=f"{r.case}-{i}") for i in range(n) for r in base]
    return Run(fx.HEADER, out, fx.FOOTER)


@pytest.mark.parametrize("keep", [0, 1, 3])
def test_bounded_reading_grades_and_counts_like_the_whole_run(tmp_path: Path, keep: int) -> None:
    path = fx.write_jsonl(tmp_path / "results.jsonl", many(20))
    whole = load_run(path)
    bounded = load_run(path, keep=keep)
    assert whole.omitted == 0 and whole.tally is None
    assert len(bounded.results) < len(whole.results)
    assert bounded.omitted == len(whole.results) - len(bounded.results)
    assert requirement_verdicts(bounded.results) == requirement_verdicts(whole.results)
    assert run_counts(bounded) == count(whole.results)
    assert bounded.tally is not None
    assert bounded.tally.requirement_verdicts() == requirement_verdicts(whole.results)
    for strict in (False, True):
        assert bounded.tally.exit_code(strict) == exit_code(whole.results, strict)
    listing, full = render_listing(bounded), render_listing(whole)
    assert listing[-2:] == full[-2:]  # the closing counts
    assert any(f"of {len(whole.results):,} cases are listed" in line for line in listing)
    heads = [line for line in full if line.startswith("  ") and not line.startswith("      ")]
    assert [line for line in listing if line.startswith("  ") and not line.startswith("      ")] == heads


def test_bounded_reading_of_a_small_run_is_the_whole_run(tmp_path: Path) -> None:
    path = fx.write_jsonl(tmp_path / "results.jsonl", fx.run())
    whole, bounded = load_run(path), load_run(path, keep=500)
    assert bounded.results == whole.results and bounded.warnings == whole.warnings and bounded.tally is None
    assert render_listing(bounded) == render_listing(whole)


def test_tally_exit_code_matches_the_runner(tmp_path: Path) -> None:
    results = fx.results()
    for subset in (results[:1], results[:3], results[4:5], results[5:7], results):
        t = RunTally()
        for r in subset:
            t.add(r)
        assert t.requirement_verdicts() == requirement_verdicts(subset)
        assert t.exit_code() == exit_code(subset) and t.exit_code(True) == exit_code(subset, True)


def _capture(tmp_path: Path, n: int) -> tuple[Path, Path]:
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), client_port=30000 + i, segments=4) for i in range(n)], seed=3)
    return c, s


def test_engine_streams_without_keeping(tmp_path: Path) -> None:
    c, s = _capture(tmp_path, 6)
    seen: list[CaseResult] = []
    kept = TraceEngine(c, s, TraceConfig()).run()
    eng = TraceEngine(c, s, TraceConfig(), on_result=seen.append, keep_results=False)
    assert eng.run() == [] and eng.results == []
    assert [r.to_json() for r in seen] == [r.to_json() for r in kept]
    assert len(seen) == 6


def test_cli_lists_bounded_and_counts_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    c, s = _capture(tmp_path, 8)
    assert cli_trace.main([str(c), str(s), "--out", str(tmp_path / "all"), "-q"]) == 0
    full = capsys.readouterr().out
    monkeypatch.setattr(cli_trace, "LISTED", 2)
    assert cli_trace.main([str(c), str(s), "--out", str(tmp_path / "some"), "-q"]) == 0
    some = capsys.readouterr().out
    assert "8 passed, 0 failed, 0 skipped" in full and "8 passed, 0 failed, 0 skipped" in some
    assert "of 8 cases are listed" in some and "cases are listed" not in full
    assert sum("trace/198.18.0.2:" in line and " PASS " in line for line in full.splitlines()) > \
        sum("trace/198.18.0.2:" in line and " PASS " in line for line in some.splitlines())
    index = json.loads((tmp_path / "some" / "index.json").read_text())
    assert index["counts"] == json.loads((tmp_path / "all" / "index.json").read_text())["counts"]
    assert (tmp_path / "some" / "results.jsonl").read_text().count('"type":"case"') == 8


def test_case_ids_are_unique_and_number_reuses() -> None:
    from splicecheck.conformance.trace.flows import CaseIds

    ids = CaseIds()
    bases = [f"trace/198.18.{i >> 8}.{i & 255}:40000>198.19.0.2:80" for i in range(5000)]  # grows the table
    assert [ids.next(b) for b in bases] == bases
    assert ids.next(bases[7]) == bases[7] + "#2" and ids.next(bases[7]) == bases[7] + "#3"
    assert ids.next(bases[4999]) == bases[4999] + "#2" and ids.next("trace/new") == "trace/new"
    assert len(ids._slots) * 8 <= 16 * 8 * 5002  # a machine word or two per base, not a string


def test_duplicates_found_past_the_digest_table_growth(tmp_path: Path) -> None:
    """The bounded reader remembers case records as 64-bit digests in a table that grows: a repeated record
    is still found, with its first line, after thousands of others."""
    run = many(400)  # a few thousand distinct cases
    lines = [run.header.to_json()] + [r.to_json() for r in run.results]
    n_cases = len(run.results)
    assert n_cases > 2048
    lines.insert(n_cases, lines[5])  # a copy of line 6 near the end
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded = load_run(path, keep=10)
    dups = [w for w in loaded.warnings if "duplicate" in w]
    assert dups == [f"line {n_cases + 1}: duplicate of line 6 (case {run.results[4].case!r}); ignored"]
    assert run_counts(loaded).total == n_cases
