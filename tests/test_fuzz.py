"""``splicecheck fuzz`` (splicecheck/cli_fuzz.py, conformance/campaign.py): campaigns that find and save
a wrap bug, replay it first in the next run, share it through Redis, and refuse bad usage."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from splicecheck.cli import main
from splicecheck.cli_fuzz import duration

MUTANT = "mutant:wrap-seq-base"  # wrong only when a base lies within 64 KiB above 0
TARGET = "prop/seq-ack"


def fuzz(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splicecheck", "fuzz", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_durations() -> None:
    assert duration("90") == 90 and duration("90s") == 90 and duration("2m") == 120
    assert duration("1h30m") == 5400 and duration("1.5h") == 5400
    for bad in ("", "0", "-3", "2 minutes", "5x", "m"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"duration|more than 0"):
            duration(bad)


@pytest.mark.parametrize("args", [
    ["--adapter", "reference", "--time", "soon"],
    ["--adapter", "reference", "--workers", "0"],
    ["--adapter", "reference", "--case", "prop/nothing", "--db", "dir:{tmp}/db"],
    ["--adapter", "reference", "--db", "{tmp}/a-file"],
    ["--adapter", "no-such-adapter", "--db", "dir:{tmp}/db"],
    ["--adapter", "reference", "--db", "redis://127.0.0.1:1/0"],
])
def test_bad_usage_is_one_line_and_exit_2(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("x")
    assert main(["fuzz", *(a.replace("{tmp}", str(tmp_path)) for a in args)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()


def test_a_campaign_that_runs_its_time_exits_0(tmp_path: Path) -> None:
    r = fuzz("--adapter", "reference", "--time", "4s", "--case", "prop/trim", "--seed", "1",
             "--db", str(tmp_path / "db"))
    assert r.returncode == 0, r.stderr
    assert "no failure in" in r.stdout and "wrap regions reached:" in r.stdout
    assert "examples (" in r.stderr and "wrap regions hit" in r.stderr  # the progress line


def test_a_campaign_finds_a_wrap_mutant_and_the_next_run_replays_it_first(tmp_path: Path) -> None:
    db = f"dir:{tmp_path / 'db'}"
    r = fuzz("--adapter", MUTANT, "--time", "3m", "--case", TARGET, "--seed", "3", "--db", db)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"FAILURE {TARGET}: FAIL" in r.stdout and "minimal example:" in r.stdout
    assert any((tmp_path / "db").iterdir())  # saved
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "splicecheck", "run", "--adapter", MUTANT, "--case", TARGET,
                          "--out", str(out), "-q"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "SPLICECHECK_DB": db})
    assert run.returncode == 1, run.stderr
    (case,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()
               if json.loads(line).get("type") == "case"]
    assert case["verdict"] == "FAIL" and case["first_failure"] == 1  # the saved failure, replayed first
    # a second campaign with another seed replays the saved failure before generating anything
    again = fuzz("--adapter", MUTANT, "--time", "3m", "--case", TARGET, "--seed", "99", "--db", db)
    assert again.returncode == 1 and "at example 1 (replayed from the database)" in again.stdout, again.stdout


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (scripts/install-system-deps.sh installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_two_workers_sharing_redis_exchange_a_failure(redis_url: str) -> None:
    first = fuzz("--adapter", MUTANT, "--time", "3m", "--case", TARGET, "--seed", "3", "--db", redis_url)
    assert first.returncode == 1, (first.stdout, first.stderr)
    assert "(replayed from the database)" not in first.stdout  # found by generating
    # another process (another machine would do the same) with another seed: replays it at once
    second = fuzz("--adapter", MUTANT, "--time", "3m", "--case", TARGET, "--seed", "77", "--db", redis_url)
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert "at example 1 (replayed from the database)" in second.stdout, second.stdout


def test_fuzz_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: splicecheck fuzz" in out and "--workers" in out and "redis://" in out


def test_stateful_failures_are_saved_and_replayed_first(tmp_path: Path) -> None:
    from hypothesis.database import DirectoryBasedExampleDatabase
    from splicecheck.adapters.mutants import MutantAdapter
    from splicecheck.adapters.reference import ReferenceAdapter
    from splicecheck.conformance.properties import Budget
    from splicecheck.conformance.stateful import CASES, RelayAgreement, search_machine

    db = DirectoryBasedExampleDatabase(str(tmp_path / "db"))
    case = next(c for c in CASES if c.id == "state/relay")
    budget = Budget(programs=40, steps=20, shrink_runs=100)
    mutant = MutantAdapter("no-trim")
    first, _ = search_machine(mutant, case, RelayAgreement, 11, budget, db)
    assert first.failure is not None
    assert first.first_failure is not None and first.first_failure > 1  # found by generating
    ok, _ = search_machine(ReferenceAdapter(), case, RelayAgreement, 12, budget, db)  # the model passes regardless
    assert ok.failure is None
    again, _ = search_machine(mutant, case, RelayAgreement, 13, budget, db)
    assert again.first_failure == 1  # the saved program, replayed before anything is generated


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_campaign_and_its_workers_quietly(signum: int, status: int, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "splicecheck", "fuzz", "--adapter", "reference", "--time", "5m",
                             "--workers", "2", "--db", str(tmp_path / "db")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith("fuzz: reference")  # running
    time.sleep(8)  # the workers are searching
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert "Traceback" not in err and f"interrupted ({signal.Signals(signum).name})" in err


def test_a_target_the_adapter_cannot_set_up_leaves_the_rotation() -> None:
    """A mutant has no session before the splice: its lifecycle machine raises UnsupportedError on the
    first program. The campaign drops that target and goes on with the rest, without a traceback."""
    from splicecheck.adapters.mutants import MutantAdapter
    from splicecheck.conformance.campaign import Progress, work

    reports: list[Progress] = []
    adapter = MutantAdapter("wrap-urg-end")
    try:
        found = work(adapter, 0, time.monotonic() + 5, None, reports.append, 1, 5,
                     ["state/lifecycle", "prop/window"])
        assert found is None or found.case == "prop/window"
        assert reports[-1].done
        assert any(p.examples for p in reports)  # prop/window searched on
        # with the lifecycle machine alone, nothing is left to run: done at once
        reports.clear()
        started = time.monotonic()
        assert work(adapter, 0, started + 60, None, reports.append, 1, 5, ["state/lifecycle"]) is None
        assert time.monotonic() - started < 30 and reports[-1].done and not any(p.examples for p in reports)
    finally:
        adapter.close()


def test_a_campaign_draws_what_a_run_draws_avoiding_features_the_adapter_supports_only_in_part(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SYNPROXY places a proxy ISN only for some scenarios (its ``partial``): a run's properties never draw
    that feature, and a campaign must not either, or nearly every example is refused at ``open`` and the
    target leaves the rotation (found against SYNPROXY: "no drawn example could be set up")."""
    from splicecheck.adapters.reference import ReferenceAdapter
    from splicecheck.conformance import campaign
    from splicecheck.conformance.contract import Feature, drawable_avoid
    from splicecheck.conformance.properties import Property

    class Partial(ReferenceAdapter):
        partial = frozenset({Feature.CHOOSE_PROXY_ISN})

    seen: list[frozenset[Feature]] = []
    original = Property.strategy

    def spy(self: Property, avoid: frozenset[Feature] = frozenset(), *args: object) -> object:
        seen.append(avoid)
        return original(self, avoid, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Property, "strategy", spy)
    adapter = Partial()
    target = next(t for t in campaign.targets(adapter) if t.case.id == "prop/seq-ack")
    target.run(adapter, 1, campaign.Budget(examples=2, programs=1), None, time.monotonic() + 30)
    assert seen == [drawable_avoid(adapter)] and Feature.CHOOSE_PROXY_ISN in seen[0]
