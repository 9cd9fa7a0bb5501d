"""Issue 14: robustness under signals, hostile input and broken adapters.

The contract: unusable input or usage is one line on stderr and exit 2 (no traceback); an adapter's
fault inside a case is that case's ERROR and the run goes on; outside a case one line and exit 2, with
the results there are rendered; SIGINT/SIGTERM/SIGHUP stop the run with 130/143/129 and a results file
whose footer says so (lab signals and clean: tests/test_lab.py)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from splicecheck.conformance import interrupts
from splicecheck.conformance.properties import SearchTally, run_search
from splicecheck.reports.load import load_run

from splicecheck import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "trace"
CLIENT, SERVER = str(DATA / "reference-client.pcap"), str(DATA / "reference-server.pcapng")
BROKEN = "tests.robust_adapters:Broken"


@pytest.fixture(autouse=True)
def _root_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # tests.robust_adapters importable as an adapter spec


def _records(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def _one_line(err: str) -> None:
    assert "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err


# --- signals inside Hypothesis ------------------------------------------------------------------


def test_a_signal_inside_a_hypothesis_search_stops_it_instead_of_failing_an_example() -> None:
    seen: list[int] = []

    @settings(max_examples=50, database=None, deadline=None)
    @given(st.integers())
    def check(x: int) -> None:
        seen.append(x)
        if len(seen) == 3:
            interrupts.deliver(signal.SIGTERM)  # what the handler does

    try:
        with pytest.raises(interrupts.SignalExit) as info:
            run_search(check, SearchTally(10))
    finally:
        interrupts.clear()
    assert info.value.code == 143 and len(seen) == 3  # not replayed, not shrunk, not "flaky"


def test_a_signal_swallowed_in_a_gc_callback_stops_the_search_at_the_next_example() -> None:
    tally = SearchTally(10)
    seen: list[int] = []

    @settings(max_examples=50, database=None, deadline=None)
    @given(st.integers())
    def check(x: int) -> None:
        tally.begin()
        seen.append(x)
        if len(seen) == 2:
            with pytest.raises(interrupts.SignalInterrupt):
                interrupts.deliver(signal.SIGHUP)  # raised where Python drops it: only the flag remains

    try:
        with pytest.raises(interrupts.SignalExit) as info:
            run_search(check, tally)
    finally:
        interrupts.clear()
    assert info.value.code == 129 and len(seen) == 2


@pytest.mark.parametrize("mode", ["sigterm", "gc-sigterm"])
def test_sigterm_during_a_property_case_exits_143_with_an_interrupted_footer(tmp_path: Path, mode: str) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "splicecheck", "run", "--adapter", f"{BROKEN}:{mode}",
                           "--case", "prop/seq-ack", "--case", "ADDR-REWRITE", "--out", str(out), "-q",
                           "--no-render"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 143, proc.stderr
    assert "Traceback" not in proc.stderr and "interrupted (SIGTERM)" in proc.stderr
    recs = _records(out)
    assert recs[-1]["type"] == "footer" and recs[-1]["interrupted"] == "SIGTERM"
    assert not any(r.get("verdict") == "FAIL" for r in recs)  # the signal is no counterexample
    assert load_run(out / "results.jsonl").partial


# --- adapter faults -------------------------------------------------------------------------------


def test_inject_raising_systemexit_is_that_cases_error_and_the_run_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = cli.main(["run", "--adapter", f"{BROKEN}:exit", "--case", "ADDR-REWRITE", "--out", str(out), "-q",
                   "--no-render"])
    recs = _records(out)
    cases = [r for r in recs if r["type"] == "case"]
    assert rc == 1 and len(cases) == 4 and {c["verdict"] for c in cases} == {"ERROR"}
    assert "SystemExit: 3" in str(cases[0]["reason"])
    assert recs[-1]["type"] == "footer" and "interrupted" not in recs[-1]


def test_a_campaign_goes_on_past_searches_a_harness_fault_ends_and_lists_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A set-up that fails now and then (a live box's handshake, say) ends that search, graded ERROR as a run
    grades the case: the campaign lists it and goes on; a target whose every search fails leaves the rotation."""
    log = tmp_path / "faults.log"
    rc = cli.main(["fuzz", "--adapter", f"{BROKEN}:setup-flaky", "--time", "6", "--db", f"dir:{tmp_path / 'db'}",
                   "--case", "prop/seq-ack", "--case", "prop/trim", "--seed", "1", "--chunk", "10",
                   "--fault-log", str(log)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Traceback" not in err and "harness or adapter faults (" in out
    assert "HarnessError: set-up" in out and "no failure in" in out
    assert "harness fault" in err  # the progress line counts them
    # the summary shows each fault's first line; the log keeps the whole message (a box's exchange log, say)
    assert "client SYN: sent" not in out and f"whole messages in {log}" in out
    text = log.read_text()
    assert text.count("HarnessError: set-up") == out.count("HarnessError: set-up") > 0
    assert text.count("client SYN: sent ...") == text.count("HarnessError: set-up")


def test_a_campaign_whose_every_search_faults_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["fuzz", "--adapter", f"{BROKEN}:setup", "--time", "30", "--db", f"dir:{tmp_path / 'db'}",
                   "--case", "prop/seq-ack", "--seed", "1", "--fault-log", str(tmp_path / "faults.log")])
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in err
    assert "leaves the rotation" in out and "no search ran" in err

def test_the_examples_a_search_judged_before_a_fault_ended_it_are_counted() -> None:
    """A set-up that fails at its 25th open ends the third search of ten examples midway: the examples it had
    judged are in the campaign's totals, with the fault."""
    import time

    from splicecheck.conformance import campaign

    from tests.robust_adapters import Broken

    reports: list[campaign.Progress] = []
    campaign.work(Broken("setup-flaky"), 0, time.monotonic() + 10, None, reports.append, seed_=1, chunk=10,
                  only=["prop/seq-ack"])
    faulted = [p for p in reports if p.faults]
    assert faulted and all(p.examples > 0 for p in faulted), [(p.examples, p.faults) for p in faulted]


def test_an_adapter_calling_sys_exit_in_a_campaign_is_a_fault_not_the_campaigns_end(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``inject()`` raising SystemExit(3) is that search's fault, as a run grades it that case's ERROR: the
    campaign lists it and takes the target out of the rotation after three in a row; it does not exit 3."""
    rc = cli.main(["fuzz", "--adapter", f"{BROKEN}:exit", "--time", "30", "--db", f"dir:{tmp_path / 'db'}",
                   "--case", "prop/seq-ack", "--seed", "1", "--fault-log", str(tmp_path / "faults.log")])
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in err
    assert "SystemExit: 3" in out and "leaves the rotation" in out and "no search ran" in err



@pytest.mark.parametrize(("spec", "message"), [
    (f"{BROKEN}:init", "could not be loaded: RuntimeError: cannot start the box"),
    (f"{BROKEN}:info", "the adapter's info() failed: RuntimeError: no info today"),
    (f"{BROKEN}:missing", "the adapter's missing() failed"),
    ("tests.no_such_module:X", "cannot import"),
    ("seqadj-ftp:zzz", "seqadj-ftp:zzz"),
])
def test_adapter_faults_outside_a_case_are_one_line_and_exit_2(tmp_path: Path, spec: str, message: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["run", "--adapter", spec, "--case", "ADDR-REWRITE", "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err
    _one_line(err)


def test_an_adapter_module_with_a_syntax_error_is_one_line_and_exit_2(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pkg = tmp_path / "badpkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text("def broken(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rc = cli.main(["run", "--adapter", "badpkg.mod:X", "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "SyntaxError" in err
    _one_line(err)


def test_close_raising_still_renders_the_reports_then_exits_2(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = cli.main(["run", "--adapter", f"{BROKEN}:close", "--case", "ADDR-REWRITE", "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "the adapter's close() failed: RuntimeError: teardown failed" in err
    _one_line(err)
    assert (out / "report.md").exists() and _records(out)[-1]["type"] == "footer"


# --- hostile input and usage ----------------------------------------------------------------------


def _damaged(tmp_path: Path, how: str) -> Path:
    data = gzip.compress(Path(CLIENT).read_bytes())
    if how == "truncated":
        data = data[:-30]
    elif how == "bad-crc":
        data = data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]
    else:
        data += b"trailing junk"
    path = tmp_path / f"{how}.pcap.gz"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("how", "rc", "message"), [
    ("truncated", 0, "the gzip stream ends before its end marker"),  # judged up to the cut, noted
    ("bad-crc", 2, "damaged gzip stream"),
    ("junk", 2, "damaged gzip stream"),
])
def test_a_gzip_capture_damaged_past_its_header_is_named(tmp_path: Path, how: str, rc: int, message: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    got = cli.main(["trace", str(_damaged(tmp_path, how)), SERVER, "--out", str(tmp_path / "o"), "-q",
                    "--no-render"])
    out, err = capsys.readouterr()
    assert got in (rc, 2 if rc == 0 else rc)  # a cut before the first segment leaves nothing judged
    assert message in out + err and "Traceback" not in err


@pytest.mark.parametrize("option", [["--timeout", "nan"], ["--skew", "inf"], ["--idle", "inf"],
                                    ["--timeout=-inf"]])
def test_non_finite_numbers_are_usage_errors(option: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["trace", CLIENT, SERVER, *option]) == 2
    assert "must be a finite number" in capsys.readouterr().err


def test_unusable_output_paths_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    cases = [
        (["run", "--adapter", "reference", "--case", "ADDR-REWRITE", "--out", str(afile)], "not a folder"),
        (["trace", CLIENT, SERVER, "--out", str(afile)], "not a folder"),
        (["trace", CLIENT, SERVER, "--out", str(afile / "sub")], "is not a folder"),
        (["trace", CLIENT, SERVER, "--out", str(tmp_path / "o"), "--dump-params", str(tmp_path)], "is a folder"),
        (["trace", CLIENT, SERVER, "--out", str(tmp_path / "o"), "--dump-params", str(tmp_path / "x" / "y.json")],
         "no such folder"),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        _one_line(err)
    assert not (tmp_path / "x").exists()  # --dump-params never creates folders


def test_a_full_disk_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    rc = cli.main(["trace", CLIENT, SERVER, "--out", str(tmp_path / "o"), "--dump-params", "/dev/full", "-q",
                   "--no-render"])
    err = capsys.readouterr().err
    assert rc == 2 and "No space left on device" in err
    _one_line(err)


def test_a_trace_with_nothing_judged_does_not_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from splicecheck.conformance.trace.capture import PcapWriter

    syn = bytes.fromhex("4500002800010000400600000a0000010a000002"
                        "0014005000000000000000005002200000000000")
    path, other = tmp_path / "syn.pcap", tmp_path / "syn2.pcap"
    with PcapWriter(path, 101) as w:  # LINKTYPE_RAW
        w.write(1_000_000_000, syn)
    with PcapWriter(other, 101) as w:  # the same SYN a microsecond later: not the same capture twice
        w.write(1_000_001_000, syn)
    rc = cli.main(["trace", str(path), str(other), "--out", str(tmp_path / "o"), "-q", "--no-render"])
    assert rc == 2 and "nothing was judged" in capsys.readouterr().err
    rc = cli.main(["trace", str(path), str(path), "--out", str(tmp_path / "o"), "-q", "--no-render"])
    assert rc == 2 and "are the same capture" in capsys.readouterr().err


# --- results files --------------------------------------------------------------------------------


def test_duplicate_records_and_a_newer_writer_are_warned_about(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli.main(["run", "--adapter", "reference", "--case", "ADDR-REWRITE/c2s-data", "--out", str(out),
                     "-q", "--no-render"]) == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    head = json.loads(lines[0])
    head["splicecheck_version"] = "99.0.0"
    doctored = [json.dumps(head), lines[1], lines[1], *lines[2:]]
    path = tmp_path / "doctored.jsonl"
    path.write_text("\n".join(doctored) + "\n")
    run = load_run(path)
    assert len(run.results) == 1
    assert any("duplicate of line 2" in w for w in run.warnings)
    assert any("newer than this" in w for w in run.warnings)


def test_a_syn_announcing_mss_0_is_a_connection_not_judged_not_a_crash(tmp_path: Path) -> None:
    """An MSS option of 0 in the client's SYN gives splice parameters no splice can have (the model's legs
    refuse an MSS of 0): the connection is reported as not judged with the reason, never a traceback."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap, wrpcap

    packets = rdpcap(CLIENT)
    changed = 0
    for p in packets:
        if TCP in p and p[TCP].flags.S:
            p[TCP].options = [(k, 0 if k == "MSS" else v) for k, v in p[TCP].options]
            del p[TCP].chksum, p[IP].chksum, p[IP].len
            changed += 1
    assert changed
    client = tmp_path / "mss0-client.pcap"
    wrpcap(str(client), packets)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "splicecheck", "trace", str(client), SERVER, "--out", str(out),
                           "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 2  # nothing judged
    assert "not judged: their handshakes give splice parameters the model cannot hold" in proc.stdout
    reasons = [r.get("reason", "") for r in _records(out)]
    assert any("peer_mss must be 1..65535: 0" in str(r) for r in reasons)


def test_ctrl_c_on_mutants_with_workers_is_one_line_and_130() -> None:
    """A terminal's Ctrl-C reaches the worker processes of ``mutants --jobs`` too: they ignore it and the
    parent stops them, so the user sees one line, not a traceback per worker."""
    import time

    proc = subprocess.Popen([sys.executable, "-m", "splicecheck", "mutants", "--jobs", "2"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(4)  # the workers are hunting
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines() == ["splicecheck: interrupted (SIGINT)"]
