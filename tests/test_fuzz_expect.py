"""``splicecheck fuzz --expect``: a campaign goes on past the findings an expectations file masks, counts them,
and still finds, shrinks and saves a failure with a finding the file does not mask."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis.database import DirectoryBasedExampleDatabase
from splicecheck.adapters.mutants import MutantAdapter
from splicecheck.adapters.mutants.base import Mutant, _swapped
from splicecheck.conformance import expectations as expect_mod
from splicecheck.conformance.campaign import KeepFound, Progress, work
from splicecheck.conformance.expectations import Expectation, Known, masking
from splicecheck.conformance.findings import Finding, finding_id, findings
from splicecheck.conformance.properties import BY_SLUG, Budget, conclude, database_key, search
from splicecheck.reference.relay import RelayResult, SpliceState, relay
from splicecheck.reference.segment import Segment

from splicecheck.cli import main

# The bug of mutant:tsval-unmapped as findings.py signs it (its module docstring: a field family, how the
# actual value relates to the expected one, an option's rule and field, a SYN or RST's control flag), one
# finding per control flag a segment carrying the option may have: derived from the bug, not from a run.
TSVAL_UNMAPPED = [{"kind": "field", "family": "options kind 8", "relation": "unchanged", "req": "TS-VAL",
                   "field": "tsval", **({"control": c} if c else {})} for c in ("", "S", "R", "SR")]
WINDOW_UNSCALED = [{"kind": "field", "family": "window", "relation": "unchanged", **({"control": c} if c else {})}
                   for c in ("", "S", "R", "SR")]  # mutant:window-not-unscaled
TS_IDS = {finding_id(s) for s in TSVAL_UNMAPPED}
WINDOW_IDS = {finding_id(s) for s in WINDOW_UNSCALED}


def toml_file(path: Path, signatures: list[dict[str, Any]]) -> Path:
    entries = []
    for sig in signatures:
        table = ", ".join(f'{k} = "{v}"' for k, v in sig.items())
        entries.append(f'[[expect]]\nsignature = {{{table}}}\nstatus = "fail"\nclass = "bug"\n')
    path.write_text('iut = "test"\n' + "\n".join(entries))
    return path


def fuzz(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splicecheck", "fuzz", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


def test_a_campaign_goes_on_past_masked_findings_for_its_whole_time(tmp_path: Path) -> None:
    known = toml_file(tmp_path / "known.toml", TSVAL_UNMAPPED)
    started = time.monotonic()
    r = fuzz("--adapter", "mutant:tsval-unmapped", "--case", "prop/timestamps", "--time", "6s", "--seed", "3",
             "--db", str(tmp_path / "db"), "--expect", str(known))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert time.monotonic() - started >= 6  # it ran its time: the known bug did not end it
    assert "no failure in" in r.stdout and "FAILURE" not in r.stdout
    # the masked finding is shown, classified, with its count: nothing is silently hidden
    plain = finding_id(TSVAL_UNMAPPED[0])
    lines = r.stdout.splitlines()
    head = next(k for k, line in enumerate(lines) if line.startswith(f"  {plain} FAIL expected (bug):"))
    count = int(lines[head + 1].split()[0])
    assert count >= 1 and "first: prop/timestamps seed " in lines[head + 1]
    assert "known findings seen (" in r.stdout
    assert "expected (" in r.stderr and "known finding" in r.stderr  # the progress line counts them


def test_a_finding_the_file_does_not_mask_fails_the_campaign_as_without_it(tmp_path: Path) -> None:
    other = toml_file(tmp_path / "other.toml", WINDOW_UNSCALED)  # the file knows another bug only
    r = fuzz("--adapter", "mutant:tsval-unmapped", "--case", "prop/timestamps", "--time", "3m", "--seed", "3",
             "--db", str(tmp_path / "db"), "--expect", str(other))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "FAILURE prop/timestamps: FAIL" in r.stdout and "minimal example:" in r.stdout
    shown = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("  finding ")]
    assert shown and set(shown) <= TS_IDS
    assert all(" unexpected (no entry names it): " in line for line in r.stdout.splitlines()
               if line.startswith("  finding "))
    assert "known findings seen: none" in r.stdout


def _two_bugs(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """TSval relayed unmapped and windows relayed unscaled: mutant:tsval-unmapped and mutant:window-not-unscaled
    in one IUT."""
    with _swapped(map_tsval=lambda tsval, in_lastrecv, out_lastsent: tsval,
                  relay_window=lambda window, in_shift, out_shift: window):
        return relay(state, seg, now)


class TwoBugs(MutantAdapter):
    def __init__(self) -> None:
        super().__init__("tsval-unmapped")
        self.mutant = Mutant("tsval-unmapped+window-not-unscaled", _two_bugs, ("TS-VAL", "WS-EXACT"))
        self.name = "mutant:tsval-unmapped+window-not-unscaled"


def _known(signatures: list[dict[str, Any]]) -> Known:
    return Known("test", [Expectation("fail", "bug", signature=s) for s in signatures])


def test_with_two_bugs_one_known_the_campaign_finds_shrinks_and_saves_the_other(tmp_path: Path) -> None:
    adapter = TwoBugs()
    db = DirectoryBasedExampleDatabase(str(tmp_path / "db"))
    reports: list[Progress] = []
    # seed 2: its search meets an example with the known bug alone before one with both (most seeds meet
    # both bugs in their first failing example, as the window bug shows whenever the legs' scales differ)
    found = work(adapter, 0, time.monotonic() + 120, db, reports.append, 2, 200, ["prop/timestamps"],
                 _known(TSVAL_UNMAPPED))
    assert found is not None and found.case == "prop/timestamps"
    # the minimal example shows the unknown bug; whatever known finding it also shows is classified expected
    assert any(fid in WINDOW_IDS and c == "unexpected (no entry names it)" for fid, _v, _t, c in found.findings)
    assert all(c == "expected (bug)" for fid, _v, _t, c in found.findings if fid not in WINDOW_IDS)
    masked = [m for p in reports for m in p.masked]
    assert masked and {m.finding for m in masked} <= TS_IDS  # the known bug was seen and gone on past
    assert sum(p.expected for p in reports) >= 1
    # what was saved is the unexpected failure: a search without expectations replays it first
    prop = BY_SLUG["timestamps"]
    case = prop.case()
    tally = search(adapter, case, prop.strategy(), 99, Budget(examples=50, shrink_runs=50), db)
    assert tally.first_failure == 1
    result = conclude(case, adapter, tally, 99, 50, time.perf_counter())
    assert WINDOW_IDS & {f.id for f in findings([result])}


def test_a_masked_replay_does_not_delete_the_saved_failure(tmp_path: Path) -> None:
    """Hypothesis forgets a saved example that no longer fails; one a campaign goes on past still fails the
    IUT, and ``splicecheck run`` must still replay it first."""
    adapter = MutantAdapter("tsval-unmapped")
    prop = BY_SLUG["timestamps"]
    case = prop.case()
    db = DirectoryBasedExampleDatabase(str(tmp_path / "db"))
    budget = Budget(examples=100, shrink_runs=100)
    first = search(adapter, case, prop.strategy(), 5, budget, db)
    assert first.failure is not None
    key = database_key(adapter, case)
    saved = set(db.fetch(key))
    assert saved
    masked = search(adapter, case, prop.strategy(), 6, Budget(examples=5, shrink_runs=5), KeepFound(db),
                    known=_known(TSVAL_UNMAPPED))
    assert masked.failure is None and masked.masked_examples >= 1  # the replayed failure is masked now
    assert set(db.fetch(key)) == saved
    again = search(adapter, case, prop.strategy(), 7, budget, db)
    assert again.first_failure == 1  # still saved: replayed first


def test_without_keepfound_hypothesis_would_forget_it(tmp_path: Path) -> None:
    """The reason for KeepFound: the same masked replay on the bare database deletes the saved example."""
    adapter = MutantAdapter("tsval-unmapped")
    prop = BY_SLUG["timestamps"]
    case = prop.case()
    db = DirectoryBasedExampleDatabase(str(tmp_path / "db"))
    budget = Budget(examples=100, shrink_runs=100)
    assert search(adapter, case, prop.strategy(), 5, budget, db).failure is not None
    key = database_key(adapter, case)
    assert set(db.fetch(key))
    search(adapter, case, prop.strategy(), 6, Budget(examples=5, shrink_runs=5), db, known=_known(TSVAL_UNMAPPED))
    assert not set(db.fetch(key))


def _finding(verdict: str, reqs: list[str], cases: list[str], sig: dict[str, Any] | None = None) -> Finding:
    sig = sig or {"kind": "field", "family": "window", "relation": "unchanged"}
    return Finding(finding_id(sig), sig, "t", reqs=reqs, verdict=verdict, cases=cases)


def test_masking_rules() -> None:
    f = _finding("FAIL", ["WS-EXACT"], ["prop/window"])
    by_id = Expectation("fail", "by-design", finding=f.id)
    assert masking(f, [by_id]) == (by_id, "")
    assert masking(f, [Expectation("flaky", "bug", signature=f.signature)])[0] is not None
    assert masking(f, [Expectation("fail", "bug", req="WS-EXACT")])[0] is not None
    # a case entry masks nothing in a campaign, though judge() takes it for a run
    by_case = Expectation("flaky", "unclassified", case="prop/window")
    assert masking(f, [by_case]) == (None, "no entry names it")
    assert expect_mod.judge([f], [], [by_case]).expected
    # an example may grade below the file's status (it carries some of the run's occurrences), not above
    weaker = _finding("NON-STRICT", ["WS-SAFE"], ["prop/window"])
    assert masking(weaker, [Expectation("fail", "bug", finding=weaker.id)])[0] is not None
    assert masking(f, [Expectation("non-strict", "bug", finding=f.id)]) == (
        None, "the file expects non-strict, this example fail")
    assert masking(f, [Expectation("info", "bug", finding=f.id)])[0] is None
    # the most specific entry decides, as in judge(): an ID entry expecting less is not overruled by a req one
    assert masking(f, [Expectation("fail", "bug", req="WS-EXACT"), Expectation("info", "bug", finding=f.id)])[0] is None
    assert masking(f, [Expectation("fail", "bug", finding="F-0000000000")])[0] is None


def test_known_screens_only_when_every_finding_is_masked() -> None:
    adapter = TwoBugs()
    prop = BY_SLUG["timestamps"]
    case = prop.case()
    both = _known([*TSVAL_UNMAPPED, *WINDOW_UNSCALED])
    tally = search(adapter, case, prop.strategy(), 1, Budget(examples=30, shrink_runs=0), known=both)
    assert tally.failure is None and tally.masked_examples >= 1
    assert set(tally.masked) <= TS_IDS | WINDOW_IDS
    assert sum(s.examples for s in tally.masked.values()) >= tally.masked_examples


@pytest.mark.parametrize("content", [None, "[[expect]\nstatus=", '[[expect]]\nfinding = "F-1"\nstatus = "maybe"\n',
                                     '[[expect]]\nstatus = "fail"\n'])
def test_a_bad_expectations_file_is_one_line_and_exit_2(content: str | None, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "known.toml"
    if content is not None:
        path.write_text(content)
    assert main(["fuzz", "--adapter", "reference", "--time", "1s", "--db", str(tmp_path / "db"),
                 "--expect", str(path)]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith("splicecheck fuzz: --expect: ")
    assert not (tmp_path / "db").exists()  # refused before anything ran


def test_the_live_adapters_committed_files_load_and_mask_nothing_by_case() -> None:
    """Their generated-case entries (status flaky, matched by case) would mask every campaign example; they
    do not, and the findings named by ID still do."""
    from splicecheck.cli_fuzz import load_known
    from splicecheck.cli_options import committed_expectations as committed

    for spec in ("synproxy", "seqadj-ftp"):
        path = committed(spec)
        assert path is not None
        known = load_known(path)
        assert known is not None
        anything = _finding("FAIL", ["SEQ-MAP"], ["prop/seq-ack"], {"kind": "field", "family": "x", "relation": "y"})
        assert masking(anything, known.expectations)[0] is None
    window = _finding("FAIL", ["WS-EXACT"], ["prop/window"])  # synproxy's windows, by design
    assert window.id == "F-36a96b29e8"
    assert masking(window, load_known(Path("expectations/synproxy.toml")).expectations)[0] is not None  # type: ignore[union-attr]
    assert committed("reference") is None
