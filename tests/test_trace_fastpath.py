"""The cheap per-connection path of ``splicecheck trace`` gives what the general one gave.

Two shortcuts for captures of many short connections: each result line is built by
``trace.serial.case_json`` instead of ``CaseResult.to_json`` (``dataclasses.asdict``), and the reports'
run is collected as the lines are written (``reports.load.RunCollector``) instead of reading the
results file back with ``load_run``. Both are checked against the general path on captures whose
connections vary (transparent or not, with and without FIN, urgent data, SACK, retransmissions below
the splice base, oversized segments) through a correct box and through two boxes with bugs (sequence
numbers off by one: FAIL with steps; TTL not decremented: INFO differences)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from splicecheck.conformance.results import CaseResult
from splicecheck.conformance.trace import serial
from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine
from splicecheck.conformance.trace.serial import case_json
from splicecheck.reports.load import Run, load_run
from trace_synth import ConnPlan, default_scenario, relay, seq_off_by_one, synth_pair, ttl_kept

from splicecheck import cli_trace


def _plans() -> list[ConnPlan]:
    sc = default_scenario()
    return [ConnPlan(sc, client_port=31000, segments=6),
            ConnPlan(sc, client_port=31001, segments=12, transparent=True),
            ConnPlan(sc, client_port=31002, segments=5, fin=False, urgent=True),
            ConnPlan(sc, client_port=31003, segments=8, sack=False, below_base=2),
            ConnPlan(sc, client_port=31004, segments=10, oversize=0.3),
            ConnPlan(sc, client_port=31005, segments=0),
            ConnPlan(sc, client_port=31006, segments=3, max_payload=1)]


BOXES = {"correct": relay, "seq-off-by-one": seq_off_by_one, "ttl-kept": ttl_kept}


@pytest.fixture(params=sorted(BOXES))
def capture(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, str]:
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, _plans(), relay_fn=BOXES[request.param], seed=11, concurrent=3)
    return c, s, request.param


def test_case_json_is_to_json(capture: tuple[Path, Path, str]) -> None:
    c, s, box = capture
    results = TraceEngine(c, s, TraceConfig()).run()
    assert len(results) >= len(_plans())
    if box != "correct":  # the lines compared carry differences (and, for a wrong sequence number, steps)
        assert any(r.diffs for r in results)
    if box == "seq-off-by-one":
        assert any(r.steps for r in results)
    for r in results:
        assert case_json(r) == r.to_json()
        assert serial._generic(r) == r.to_json()  # the path taken should CaseResult's fields change


def test_case_json_of_every_field_kind() -> None:
    from splicecheck.conformance.results import CaseKind, FieldDiff, Geometry, StepRecord, Verdict

    r = CaseResult(case="x", reqs=["SEQ-MAP", "ACK-MAP"], verdict=Verdict.FAIL, description="d \u21c4",
                   diffs=[FieldDiff(0, 1, "tcp.seq", (1, [2, 3]), None, "SEQ-MAP"),
                          FieldDiff(1, 0, "tcp.flags", "S", "SA", "ACK-MAP")],
                   steps=[StepRecord("client", "00ff", ["ab"], summary_actual=["x"])],
                   geometry=[Geometry(1, 2, 3, 4, "c2s")], seed=5, kind=CaseKind.TRACE, first_failure=2,
                   alternative="model", duration=0.5)
    assert case_json(r) == r.to_json()
    assert case_json(CaseResult(case="y", reqs=["DIR-ONLY"], verdict=Verdict.INFO)) == \
        CaseResult(case="y", reqs=["DIR-ONLY"], verdict=Verdict.INFO).to_json()


@pytest.mark.parametrize("fields", [
    {"description": "client 1.2.3.4:5 \u21c4 proxy \"q\" \\ \x01", "duration": 1e-7, "seed": 7, "first_failure": 3,
     "examples": 2, "checked": 249, "reason": "r\u00e9", "expectation": "e", "repro": "splicecheck trace a b"},
    {"reqs": [], "duration": 0.0},
    {"reqs": ["A", "B\u00df"], "duration": 123456.789},
    {"duration": float("nan")},  # not a finite float: the dictionary is encoded (NaN, as to_json writes)
    {"duration": float("inf")},
    {"checked": True},  # a bool where an int is due: encoded by the dictionary path
    {"description": 5},  # not a string where one is due: likewise
])
def test_case_json_of_a_result_without_lists(fields: dict[str, object]) -> None:
    """The results with nothing but scalar fields (most of a trace's) are put together field by field:
    the very text to_json writes."""
    from splicecheck.conformance.results import CaseKind, Verdict

    r = CaseResult(case="trace/1.2.3.4:5>6.7.8.9:80", reqs=fields.pop("reqs", ["DIR-ONLY"]),  # type: ignore[arg-type]
                   verdict=Verdict.PASS, kind=CaseKind.TRACE, **fields)  # type: ignore[arg-type]
    assert case_json(r) == r.to_json()
    scalar = type(r.checked) is int and math.isfinite(r.duration) and isinstance(r.description, str)
    assert (serial._scalar_json(r) is not None) == scalar  # the path that made it


def _same_run(a: Run, b: Run) -> None:
    assert [case_json(r) for r in a.results] == [case_json(r) for r in b.results]
    assert a.omitted == b.omitted and a.warnings == b.warnings and a.header == b.header and a.footer == b.footer
    assert (a.tally is None) == (b.tally is None)
    if a.tally is not None and b.tally is not None:
        assert a.tally.by_verdict == b.tally.by_verdict and a.tally.total == b.tally.total
        assert a.tally.requirement_verdicts() == b.tally.requirement_verdicts()
        assert a.tally.cases == b.tally.cases and a.tally.collateral == b.tally.collateral


@pytest.mark.parametrize("listed", [1, 500])
def test_collected_run_is_the_run_read_back(capture: tuple[Path, Path, str], tmp_path: Path, listed: int,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    c, s, box = capture
    seen: list[Run] = []
    real = cli_trace.render_all

    def spy(run: Run, out: Path, *a: Any, **kw: Any) -> Any:
        seen.append(run)
        return real(run, out, *a, **kw)

    monkeypatch.setattr(cli_trace, "render_all", spy)
    monkeypatch.setattr(cli_trace, "LISTED", listed)
    code = cli_trace.main([str(c), str(s), "--out", str(tmp_path / "out"), "-q"])
    assert code == (1 if box == "seq-off-by-one" else 0)  # TTL-DEC is a MAY: INFO
    streamed = seen[0]
    loaded = load_run(tmp_path / "out" / "results.jsonl", keep=listed)
    if listed == 1:
        assert loaded.omitted > 0  # the bounded choice is exercised
    _same_run(streamed, loaded)
    # and the reports rendered from either are the same files
    again = tmp_path / "again"
    real(loaded, again)
    files = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*")
                                     if p.is_file() and p.name != "results.jsonl")
    for f in files:
        assert (again / f).read_bytes() == (tmp_path / "out" / f).read_bytes(), f
    capsys.readouterr()
