"""``splicecheck trace`` on the command line: results.jsonl, reports, exit codes, options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from splicecheck.conformance.trace.capture import PcapWriter

from splicecheck import cli
from splicecheck.cli_trace import main

DATA = Path(__file__).parent / "data" / "trace"


def lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]


def test_passing_trace_exit_0_and_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = main([str(DATA / "reference-client.pcap"), str(DATA / "reference-server.pcapng"), "--out", str(out), "-q"])
    assert rc == 0
    recs = lines(out)
    assert recs[0]["type"] == "header" and recs[0]["adapter"] == "trace"
    details = recs[0]["details"]
    assert isinstance(details, dict) and "pcapng" in str(details["server_capture"])
    cases = [r for r in recs if r["type"] == "case"]
    assert len(cases) == 1 and cases[0]["verdict"] == "PASS" and cases[0]["kind"] == "trace"
    assert "--conn 198.18.0.2:40000" in str(cases[0]["repro"])
    assert recs[-1]["type"] == "footer" and recs[-1]["counts"] == {"PASS": 1}
    text = capsys.readouterr().out
    assert "segment(s) judged" in text and "results:" in text


def test_reports_are_rendered_when_the_renderer_exists(tmp_path: Path) -> None:
    pytest.importorskip("splicecheck.reports.render")
    out = tmp_path / "out"
    assert main([str(DATA / "seq-off-by-one-client.pcap"), str(DATA / "seq-off-by-one-server.pcap"), "--out",
                 str(out), "-q"]) == 1
    assert (out / "index.json").exists() and (out / "report.md").exists()
    assert "SEQ-MAP" in (out / "report.md").read_text()


def test_failing_trace_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main([str(DATA / "seq-off-by-one-client.pcap"), str(DATA / "seq-off-by-one-server.pcap"), "--out",
               str(out), "--no-render", "-q"])
    assert rc == 1
    (case,) = [r for r in lines(out) if r["type"] == "case"]
    assert case["verdict"] == "FAIL"
    assert {d["req"] for d in case["diffs"]} == {"SEQ-MAP"}  # type: ignore[index, union-attr]


@pytest.mark.parametrize("argv,message", [
    (["nope.pcap", "nope2.pcap"], "no such file"),
    (["NOT_A_CAPTURE", "NOT_A_CAPTURE"], "not a pcap or pcapng file"),
    (["--params", "missing.json"], "no such params file"),
    (["--proxy", "not-an-address"], "not an IP address"),
    (["--conn", "198.18.0.2"], "not addr:port"),
    (["--timeout", "0"], "must be positive"),
    (["--bogus-option"], ""),
])
def test_usage_and_input_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                       message: str) -> None:
    bad = tmp_path / "not-a-capture.pcap"
    bad.write_text("hello")
    argv = [str(bad) if a == "NOT_A_CAPTURE" else str(tmp_path / a) if a.endswith((".pcap", ".json")) else a
            for a in argv]
    if not any(a.endswith(".pcap") for a in argv):
        argv = [str(DATA / "reference-client.pcap"), str(DATA / "reference-server.pcapng"), *argv]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


def test_unknown_link_type_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "user0.pcap"
    with PcapWriter(p, 147) as w:
        w.write(0, b"\x00" * 40)
    assert main([str(p), str(DATA / "reference-server.pcapng"), "--out", str(tmp_path / "o")]) == 2
    assert "unsupported link-layer type 147" in capsys.readouterr().err


def test_truncated_capture_is_not_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main([str(DATA / "truncated-client.pcap"), str(DATA / "reference-server.pcapng"), "--out", str(out),
               "--no-render", "-q"])
    assert rc == 0
    cap = [r for r in lines(out) if r.get("case") == "trace/capture"]
    assert cap and "truncated" in str(cap[0]["reason"])


def test_dump_params_then_params_round_trip(tmp_path: Path) -> None:
    dump = tmp_path / "p.json"
    args = [str(DATA / "socks-client.pcapng"), str(DATA / "socks-server.pcap"), "--no-render", "-q"]
    assert main([*args, "--out", str(tmp_path / "a"), "--dump-params", str(dump)]) == 0
    entry = json.loads(dump.read_text())["connections"][0]
    assert entry["client_leg"]["peer"] == "198.18.0.2:40000" and entry["notes"]
    assert main([*args, "--out", str(tmp_path / "b"), "--params", str(dump)]) == 0
    a = [r for r in lines(tmp_path / "a") if r["type"] == "case"]
    b = [r for r in lines(tmp_path / "b") if r["type"] == "case"]
    assert [(r["verdict"], r["checked"]) for r in a] == [(r["verdict"], r["checked"]) for r in b]


def test_conn_filter_and_no_fast_path(tmp_path: Path) -> None:
    args = [str(DATA / "reference-client.pcap"), str(DATA / "reference-server.pcapng"), "--no-render", "-q"]
    assert main([*args, "--out", str(tmp_path / "a"), "--conn", "198.18.0.2:1"]) == 0
    assert [r for r in lines(tmp_path / "a") if r["type"] == "case"] == []  # nobody to judge: nothing to say
    assert main([*args, "--out", str(tmp_path / "b"), "--conn", "198.18.0.2:40000", "--no-fast-path"]) == 0
    (case,) = [r for r in lines(tmp_path / "b") if r["type"] == "case"]
    assert case["verdict"] == "PASS"


def test_default_out_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for f in ("reference-client.pcap", "reference-server.pcapng"):
        shutil.copy(DATA / f, tmp_path / f)
    monkeypatch.chdir(tmp_path)
    assert main(["reference-client.pcap", "reference-server.pcapng", "--no-render", "-q"]) == 0
    assert (tmp_path / "out" / "trace-reference-client" / "results.jsonl").exists()


def test_wired_into_the_splicecheck_command(tmp_path: Path) -> None:
    """``splicecheck trace`` is a subcommand of splicecheck.cli's one parser tree."""
    rc = cli.main(["trace", str(DATA / "reference-client.pcap"), str(DATA / "reference-server.pcapng"), "--out",
                   str(tmp_path / "o"), "--no-render", "-q"])
    assert rc == 0


@pytest.mark.parametrize("mode", ["auto", "verify", "ignore"])
def test_checksums_option_says_what_it_graded(tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str) -> None:
    """The real sample (tcpdump on the end hosts, offloads on): auto names the partial checksums it completed,
    ignore says none was graded, verify grades them as captured; the repro line keeps the mode."""
    out = tmp_path / "out"
    rc = main([str(DATA / "real-offload-client.pcap"), str(DATA / "real-offload-server.pcap"), "--out", str(out),
               "-q", "--no-render", "--checksums", mode])
    assert rc in (0, 1)
    text = capsys.readouterr().out
    assert ("TCP checksum offload:" in text) is (mode == "auto")
    assert ("--checksums ignore: no TCP checksum graded" in text) is (mode == "ignore")
    (case,) = [r for r in lines(out) if r["type"] == "case" and str(r["case"]).startswith("trace/198.18")]
    assert ("checksums completed" in str(case["reason"])) is (mode != "verify")
    assert (f"--checksums {mode}" in str(case["repro"])) is (mode != "auto")


def test_checksums_option_rejects_other_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(DATA / "real-offload-client.pcap"), str(DATA / "real-offload-server.pcap"),
                 "--checksums", "no"]) == 2
    assert "argument --checksums: invalid choice" in capsys.readouterr().err


def test_the_same_capture_twice_is_unusable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy.pcap"
    shutil.copy(DATA / "synproxy-client.pcap", copy)
    for other in (DATA / "synproxy-client.pcap", copy):
        assert main([str(DATA / "synproxy-client.pcap"), str(other), "--out", str(tmp_path / "o"), "-q"]) == 2
        err = capsys.readouterr().err
        assert "are the same capture" in err and err.count("\n") == 1


@pytest.mark.parametrize("swapped", [False, True])
def test_swapped_legs_get_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str], swapped: bool) -> None:
    legs = [str(DATA / "synproxy-client.pcap"), str(DATA / "synproxy-server.pcap")]
    main([*(legs[::-1] if swapped else legs), "--out", str(tmp_path / "o"), "-q", "--no-render"])
    captured = capsys.readouterr()
    assert ("given in the wrong order?" in captured.err) is swapped
    assert ("given in the wrong order?" in captured.out) is swapped  # the run's warnings, in every report


def test_nothing_judged_is_said_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Opening SYNs only: no verdict. Exit 2, the reason on stderr and as a warning of the reports; no
    finding is made of the notes (they are not departures)."""
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    syn = bytes.fromhex("450000280001400040060000c6120002c613000a9c4000500000006400000000500220000000000000")[:40]
    psyn = bytes.fromhex("450000280001400040060000c6130001c613000a9c4000500000006400000000500220000000000000")[:40]
    for path, pkt in ((c, syn), (s, psyn)):
        with PcapWriter(path, 101) as w:
            w.write(1_700_000_000 * 10**9, pkt)
    out = tmp_path / "o"
    assert main([str(c), str(s), "--out", str(out), "-q"]) == 2
    captured = capsys.readouterr()
    assert "nothing was judged" in captured.err and "notes, not of judged connections" in captured.out
    assert "F-" not in captured.out  # no finding ID
    assert "nothing was judged" in (out / "report.md").read_text()
    (case,) = [r for r in lines(out) if r["type"] == "case" and str(r["case"]).startswith("trace/198.18")]
    assert case["verdict"] == "INFO" and "opening SYN(s)" in str(case["reason"])


def test_bounded_reports_count_every_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With fewer connections listed than traced, report.md and report.html count them all (as the footer)."""
    pytest.importorskip("splicecheck.reports.render")
    from splicecheck import cli_trace

    monkeypatch.setattr(cli_trace, "LISTED", 1)
    out = tmp_path / "o"
    main([str(DATA / "synproxy-client.pcap"), str(DATA / "synproxy-server.pcap"), "--out", str(out), "-q"])
    footer = lines(out)[-1]
    counts = footer["counts"]
    assert isinstance(counts, dict) and sum(counts.values()) > 3
    passed = counts.get("PASS", 0) + counts.get("INFO", 0)
    failed = counts.get("FAIL", 0) + counts.get("ERROR", 0)
    line = f"{passed} passed, {failed} failed, 0 skipped"
    assert line in (out / "report.md").read_text()
    assert line in (out / "report.html").read_text()


def test_sink_lines_reach_the_file_in_batches(tmp_path: Path) -> None:
    """Lines wait in a batch until ``BATCH_BYTES`` are waiting, the oldest is ``BATCH_AGE`` seconds old,
    or ``flush``/``close``; then every waiting line is in the file (the operating system's hands), in
    order, non-ASCII text as UTF-8."""
    from splicecheck.cli_trace import TraceSink

    path = tmp_path / "results.jsonl"
    sink = TraceSink(path)
    sink.BATCH_AGE = 3600.0
    lines = [json.dumps({"n": i, "d": "client ⇄ proxy"}, ensure_ascii=i % 2 == 0) for i in range(3)]
    for line in lines:
        sink.write(line)
    assert path.read_text(encoding="utf-8") == ""  # a batch of three short lines: still waiting
    sink.flush()
    assert path.read_text(encoding="utf-8").splitlines() == lines
    sink.BATCH_BYTES = 2 * len(lines[0]) + 2  # the second line fills the batch: both are written
    more = [json.dumps({"n": i}) + " " * (len(lines[0]) - len(json.dumps({"n": i}))) for i in range(3, 6)]
    for i, line in enumerate(more):
        sink.write(line)
        assert path.read_text(encoding="utf-8").splitlines() == lines + more[:2 * ((i + 1) // 2)]
    sink.BATCH_AGE = 0.0  # each line is as old as allowed once written: written at once
    last = [json.dumps({"n": 9})]
    sink.write(last[0])
    assert path.read_text(encoding="utf-8").splitlines() == lines + more + last
    sink.BATCH_AGE = 3600.0
    sink.write("waiting")
    sink.close()  # writes what waits
    assert path.read_text(encoding="utf-8").splitlines() == lines + more + last + ["waiting"]
    sink.write("after close")  # ignored, as JsonlSink does
    assert path.read_text(encoding="utf-8").splitlines() == lines + more + last + ["waiting"]
