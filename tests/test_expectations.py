"""Expectations (conformance/expectations.py, ``splicecheck run --expect``): known findings, and what is new."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from splicecheck.conformance import expectations as ex
from splicecheck.conformance.findings import findings
from splicecheck.conformance.results import CaseResult, Verdict
from test_findings import _dropped_rst_case, _ttl_case, _window_case

ROOT = Path(__file__).resolve().parent.parent
RST_BUG = "F-9cd29203d1"  # synproxy: a server RST relayed at C.splice_iss (expectations/synproxy.toml)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "x.toml"
    p.write_text(body)
    return p


def _results() -> list[CaseResult]:
    return [_window_case(1), _window_case(2), _ttl_case(1), _dropped_rst_case(1)]


def test_expected_unexpected_and_unexpectedly_passing(tmp_path: Path) -> None:
    results = _results()
    window, rst, ttl = findings(results)
    known = ex.load(_write(tmp_path, f"""
[[expect]]
finding = "{window.id}"
status = "fail"
class = "by-design"
note = "windows relayed unscaled"
[[expect]]
req = "TTL-DEC"
status = "non-strict"   # it is a MAY: INFO, so this entry is wrong
class = "bug"
[[expect]]
case = "GONE/case"
status = "fail"
class = "unclassified"
[[expect]]
case = "WS/case-1"
status = "fail"
class = "bug"
note = "never used for the window finding: its ID entry is more specific"
"""))
    out = ex.judge([window, rst, ttl], results, known)
    assert [(f.id, e.klass) for f, e in out.expected] == [(window.id, "by-design")]
    assert [(f.id, why) for f, _e, why in out.unexpected] == [(rst.id, "no expectation names it"),
                                                             (ttl.id, "expected non-strict, got info")]
    assert [e.case for e in out.unexpectedly_passing] == ["WS/case-1"]  # ran, showed nothing of its own
    assert not out.ok
    assert any(rst.id in line and "UNEXPECTED" in line for line in out.lines())


def test_everything_known_is_ok_and_flaky_may_be_absent(tmp_path: Path) -> None:
    results = _results()
    body = "".join(f'[[expect]]\nfinding = "{f.id}"\nstatus = "{ex._STATUS_OF[f.verdict]}"\nclass = "bug"\n'
                   for f in findings(results))
    body += '[[expect]]\ncase = "prop/never-ran"\nstatus = "fail"\nclass = "bug"\n'  # out of scope: did not run
    body += '[[expect]]\nreq = "SEQ-MAP"\nstatus = "flaky"\nclass = "unclassified"\n'
    out = ex.judge(findings(results), results, ex.load(_write(tmp_path, body)))
    assert out.ok and len(out.expected) == 3 and out.lines()[0].startswith("expectations: 3 expected, 0 unexpected")
    erring = [*results, CaseResult("E/1", ["SEQ-MAP"], Verdict.ERROR, reason="adapter broke")]
    assert ex.judge(findings(erring), erring, ex.load(_write(tmp_path, body))).errors == ["E/1"]


@pytest.mark.parametrize("body", ['[[expect]]\nfinding = "F-1"\nstatus = "sometimes"\n',
                                  '[[expect]]\nfinding = "F-1"\nstatus = "fail"\nclass = "feature"\n',
                                  '[[expect]]\nstatus = "fail"\n', "expect = 3\n", "[[expect]\n"])
def test_bad_files_are_usage_errors(tmp_path: Path, body: str) -> None:
    with pytest.raises(ex.ExpectationsError):
        ex.load(_write(tmp_path, body))


def test_committed_files_load_and_classify_every_entry() -> None:
    for name in ("synproxy.toml", "seqadj-ftp.toml"):
        known = ex.load(ROOT / "expectations" / name)
        assert known and all(e.klass in ex.CLASSES for e in known)
    assert any(e.finding == RST_BUG and e.klass == "bug" for e in ex.load(ROOT / "expectations" / "synproxy.toml"))


def test_cli_rejects_an_unusable_file(tmp_path: Path) -> None:
    bad = _write(tmp_path, "[[expect]]\nstatus = 1\n")
    p = subprocess.run([sys.executable, "-m", "splicecheck", "run", "--adapter", "reference", "--case", "SEQ-MAP",
                        "--out", str(tmp_path / "o"), "--expect", str(bad)], capture_output=True, text=True)
    assert p.returncode == 2 and "--expect" in p.stderr


def _synproxy(tmp_path: Path, expect: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splicecheck", "run", "--adapter", "synproxy", "-q",
                           "--out", str(tmp_path / "out"), "--expect", str(expect), *extra],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.live
@pytest.mark.slow
def test_synproxy_run_meets_its_committed_expectations(tmp_path: Path) -> None:
    from splicecheck.adapters.lab.preflight import preflight
    missing = preflight("root", "ip", "netns", "veth", "packet", "nft", "synproxy") if os.geteuid() == 0 else ["root"]
    if missing:
        pytest.skip("Linux lab unavailable: " + "; ".join(missing))
    committed = ROOT / "expectations" / "synproxy.toml"
    full = _synproxy(tmp_path, committed)
    assert full.returncode == 0, full.stdout[-3000:]
    assert "0 unexpected, 0 unexpectedly passing" in full.stdout
    # drop the RST bug's entry: that finding is now unexpected, named, and the run fails
    text = committed.read_text()
    start = text.index(f'finding = "{RST_BUG}"')
    block_start = text.rindex("[[expect]]", 0, start)
    block_end = text.find("[[expect]]", start)
    trimmed = _write(tmp_path, text[:block_start] + text[block_end:])
    one = _synproxy(tmp_path, trimmed, "--case", "SEQ-MAP/server-rst-after-data")
    assert one.returncode == 1, one.stdout[-3000:]
    assert f"UNEXPECTED {RST_BUG}" in one.stdout
