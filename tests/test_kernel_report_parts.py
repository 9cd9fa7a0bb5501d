"""The main job's parts (splicecheck.parts, report-kernel): the proofs and each adapter's run side by side in
child processes, their output shown whole and in the job's order, and signals forwarded so that nothing is
left behind on any exit path (issue 16: a main job of about a minute; issue 14: the signal contract)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from splicecheck.adapters.lab.preflight import preflight
from splicecheck.adapters.lab.topology import stale_labs

from splicecheck.parts import Part, run_parts

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _dead_labs() -> set[str]:
    """Lab namespaces whose run is gone (the lab's own liveness test: its run lock)."""
    return set(stale_labs())


def _live_lab() -> None:
    missing = preflight()
    if missing:
        pytest.skip("Linux lab unavailable: " + "; ".join(missing))


def test_parts_run_side_by_side_and_each_keeps_its_output_and_status(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    parts = [Part("spec", ["spec"]),
             Part("run", ["run", "--adapter", "reference", "--case", "TRIM-REST", "--out", str(tmp_path), "-q"]),
             Part("bad", ["run", "--adapter", "no-such-adapter"])]
    ended: list[str] = []
    run_parts(parts, 2, lambda p: ended.append(p.name))
    assert sorted(ended) == ["bad", "run", "spec"]
    spec, run, bad = parts
    assert spec.rc == 0 and "TRIM-REST" in spec.output
    assert run.rc == 0 and "passed, 0 failed" in run.output and (tmp_path / "results.jsonl").is_file()
    assert bad.rc == 2 and bad.output == ""  # its one line went to stderr, which passes through
    assert all(p.seconds > 0 for p in parts)


def test_the_job_shows_its_parts_in_order_and_a_fault_outside_the_cases_is_exit_2(tmp_path: Path) -> None:
    broken = "tests.robust_adapters:Broken:close"  # close() raises: the reports are rendered, then exit 2
    proc = subprocess.run([sys.executable, "-m", "splicecheck", "report-kernel", "--adapter", "reference",
                           "--adapter", broken, "--case", "TRIM-REST", "--out", str(tmp_path), "--jobs", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=ENV)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr and "Traceback" not in out
    proofs, ref, bro = (out.index(x) for x in ("Z3 proofs of the reference model:", "=== reference ",
                                                 f"=== {broken} "))
    assert proofs < ref < bro < out.index("Summary (cases):")
    rows = {line.split()[0]: line.split() for line in out[out.index("Summary (cases):"):].splitlines()[3:5]}
    assert rows["reference"][1] != "0" and rows["reference"][2] == "0"  # TRIM-REST's cases, all passed
    assert rows["reference"][9] == "s" and rows[broken][9] == "s"  # each part's time ("12 s")
    assert "a run stopped on a fault outside its cases" in out
    assert (tmp_path / "matrix" / "matrix.md").is_file()


def _start_job(tmp_path: Path) -> subprocess.Popen[str]:
    """The job with a live adapter, once its run has begun writing results (its lab is up)."""
    proc = subprocess.Popen([sys.executable, "-m", "splicecheck", "report-kernel", "--adapter", "synproxy",
                             "--adapter", "reference", "--out", str(tmp_path), "-q"], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results = tmp_path / "synproxy" / "results.jsonl"
    deadline = time.monotonic() + 120
    while not (results.is_file() and results.read_text().count("\n") >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, "the synproxy part never started"
        time.sleep(0.05)
    return proc


def _footer(path: Path) -> dict[str, object]:
    return json.loads(path.read_text().splitlines()[-1])


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_a_signal_to_the_job_stops_every_part_and_leaves_nothing(tmp_path: Path, signum: int, status: int) -> None:
    _live_lab()
    before = _dead_labs()
    proc = _start_job(tmp_path)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    footer = _footer(tmp_path / "synproxy" / "results.jsonl")
    assert footer["type"] == "footer" and footer["interrupted"] == signal.Signals(signum).name
    assert _dead_labs() <= before


def test_when_the_job_is_killed_its_parts_still_tear_down(tmp_path: Path) -> None:
    _live_lab()
    before = _dead_labs()
    proc = _start_job(tmp_path)
    proc.kill()  # SIGKILL: no forwarding; the kernel sends each part SIGTERM (PR_SET_PDEATHSIG)
    proc.wait()
    results = tmp_path / "synproxy" / "results.jsonl"
    deadline = time.monotonic() + 30
    while _footer(results).get("type") != "footer":
        assert time.monotonic() < deadline, "the synproxy part did not stop after its parent died"
        time.sleep(0.05)
    assert _footer(results)["interrupted"] == "SIGTERM"
    deadline = time.monotonic() + 10
    while not _dead_labs() <= before:  # the footer is written before the lab is torn down
        assert time.monotonic() < deadline, f"left behind: {_dead_labs() - before}"
        time.sleep(0.05)
