"""Findings are behaviours, not fields: what follows from one departure folds into it, and departures that are
distinct (an option at an odd offset breaking the checksum, a doubly adjusted TSecr, a RST re-based) stay apart.
Synthetic results built packet by packet, then the recorded runs of reports/published/."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from reports_fixtures import _hex, _out, _step
from splice_fixtures import CLIENT, PROXY_C, PROXY_D, SERVER, seg, state
from splicecheck.conformance import expectations as ex
from splicecheck.conformance.findings import findings, rewritten_options
from splicecheck.conformance.results import CaseResult, FieldDiff, StepRecord, Verdict, case_verdict
from splicecheck.reference.segment import (
    ACK,
    FIN,
    PSH,
    SYN,
    URG,
    NoOperation,
    Sack,
    Segment,
    Timestamps,
    WindowScale,
    flags_text,
)

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "reports" / "published" / "linux-6.18.44"
ST = state()


def _case(name: str, reqs: list[str], diffs: list[FieldDiff], steps: list[StepRecord]) -> CaseResult:
    return CaseResult(name, reqs, case_verdict(reqs, diffs), diffs=diffs, steps=steps, repro=f"run --case {name}")


def _untrimmed_c2s(k: int) -> CaseResult:
    """Data straddling the base relayed whole: seq, payload and the urgent pointer all differ."""
    inp = seg(ST, seq=1000 - 4 - k, ack=70000, payload=b"0123456789", flags=ACK | URG | PSH, urgent=3)
    exp = _out(PROXY_D, SERVER, 90000, 5000, b"456789"[k:], flags=ACK | PSH)
    act = _out(PROXY_D, SERVER, 90000 - 4 - k, 5000, b"0123456789", flags=ACK | PSH | URG)
    diffs = [FieldDiff(0, 0, "to_server[0].tcp.seq", 90000, 90000 - 4 - k, "TRIM-REST"),
             FieldDiff(0, 0, "to_server[0].tcp.flags", "PA", "UPA", "URG-CLEAR"),
             FieldDiff(0, 0, "to_server[0].tcp.urgent", 0, 3, "URG-CLEAR"),
             FieldDiff(0, 0, "to_server[0].payload", f"{6 - k} bytes", "10 bytes", "TRIM-SOUND")]
    return _case(f"TRIM/c2s-{k}", ["TRIM-REST"], diffs, [_step(inp, exp, act)])


def _untrimmed_fin_s2c() -> CaseResult:
    """A FIN wholly below the base relayed with its FIN (the model relays a pure ACK at the base)."""
    inp = seg(ST, from_client=False, seq=100, ack=2000, flags=FIN | ACK)
    exp = _out(PROXY_C, CLIENT, 7000, 3000)
    act = _out(PROXY_C, CLIENT, 6990, 3000, flags=FIN | ACK)
    diffs = [FieldDiff(0, 0, "to_client[0].tcp.seq", 7000, 6990, "TRIM-BELOW"),
             FieldDiff(0, 0, "to_client[0].tcp.flags", "A", "FA", "TRIM-BELOW")]
    return _case("TRIM/fin-below", ["TRIM-BELOW"], diffs, [_step(inp, exp, act, leg_in="server")])


def test_a_trim_not_made_is_one_finding_whatever_moved_with_it() -> None:
    found = findings([_untrimmed_c2s(0), _untrimmed_c2s(1), _untrimmed_fin_s2c()])
    assert [f.signature for f in found] == [{"kind": "untrimmed"}]
    f = found[0]
    assert f.legs == ["to_client", "to_server"] and len(f.cases) == 3
    assert {"TRIM-REST", "TRIM-SOUND", "URG-CLEAR", "TRIM-BELOW"} <= set(f.reqs)
    assert "not trimmed" in f.title and "both directions" in f.title


def test_a_step_the_iut_answers_otherwise_is_one_finding() -> None:
    """A SYN answered with a SYN-ACK to the client and not relayed to the server: one reaction, led by the
    packet the IUT made up."""
    inp = seg(ST, seq=1000, ack=70000, flags=SYN | ACK)
    exp = _out(PROXY_D, SERVER, 90000, 5000, flags=SYN | ACK)
    synack = _out(PROXY_C, CLIENT, 5, 1001, flags=SYN | ACK)
    rec = StepRecord("client", _hex(inp), expected_to_server=[_hex(exp)], actual_to_client=[_hex(synack)])
    diffs = [FieldDiff(0, -1, "to_server.count", 1, 0, "SEQ-CTL"), FieldDiff(0, -1, "to_client.count", 0, 1, "SEQ-CTL")]
    found = findings([_case("SEQ-CTL/syn", ["SEQ-CTL"], diffs, [rec])])
    assert [f.signature for f in found] == [{"kind": "own SYN", "flags": "SA"}]
    assert found[0].legs == ["to_client"]


def test_a_syn_of_the_box_own_is_one_finding_whatever_the_model_does_with_the_input() -> None:
    """SYNPROXY's cookie-ACK bug: a client segment with ACK close to the cookie is taken for a cookie ACK and a
    SYN goes to the server. Whether the model relays that segment as an ACK or a FIN+ACK (the IUT's SYN in its
    place) or answers it with an ICMP error (too big: the SYN is extra), it is one behaviour."""
    def case(name: str, flags: int, icmp: bool) -> CaseResult:
        inp = seg(ST, seq=1000, ack=70000, flags=flags)
        exp = _out(PROXY_D, SERVER, 90000, 5000, flags=flags)
        syn = _out(PROXY_D, SERVER, 89999, 0, flags=SYN)
        if icmp:
            rec = StepRecord("client", _hex(inp), actual_to_server=[_hex(syn)])
            diffs = [FieldDiff(0, -1, "to_server.count", 0, 1, "MSS-ICMP")]
        else:
            rec = StepRecord("client", _hex(inp), expected_to_server=[_hex(exp)], actual_to_server=[_hex(syn)])
            diffs = [FieldDiff(0, 0, "to_server[0].tcp.flags", flags_text(flags), "S", "FLAGS-KEEP")]
        return _case(name, ["SEQ-MAP"], diffs, [rec])

    found = findings([case("A", ACK, False), case("FA", FIN | ACK, False), case("ICMP", ACK, True)])
    assert [(f.signature, f.cases) for f in found] == [({"kind": "own SYN", "flags": "S"}, ["A", "FA", "ICMP"])]
    assert found[0].title.startswith("SYN segment of the box's own sent to the server")


def _dropped(name: str, flags: int) -> CaseResult:
    """A segment with ``flags`` (and data) not relayed to the server, where the model relays it."""
    inp = seg(ST, seq=1000, ack=70000, payload=b"xy", flags=flags)
    exp = _out(PROXY_D, SERVER, 90000, 5000, b"xy", flags=flags)
    rec = StepRecord("client", _hex(inp), expected_to_server=[_hex(exp)])
    return _case(name, ["ACK-NOACK"], [FieldDiff(0, -1, "to_server.count", 1, 0, "ACK-NOACK")], [rec])


def test_segments_without_syn_fin_rst_or_ack_dropped_are_one_finding_whatever_else_they_carry() -> None:
    """conntrack holds every flag combination without SYN, FIN, RST and ACK invalid and drops it: one
    behaviour (a stack drops such a segment in every state, RFC 9293 3.10.7), one finding; a dropped ACK
    segment is another."""
    found = findings([_dropped("NOACK/psh", PSH), _dropped("NOACK/urg-psh", URG | PSH), _dropped("NOACK/none", 0),
                      _dropped("NOACK/ece", 0x40), _dropped("DROP/ack", ACK), _dropped("DROP/psh-ack", PSH | ACK)])
    by_case = {c: f for f in found for c in f.cases}
    assert len(found) == 2
    assert len({id(by_case[c]) for c in ("NOACK/psh", "NOACK/urg-psh", "NOACK/none", "NOACK/ece")}) == 1
    assert by_case["DROP/ack"] is by_case["DROP/psh-ack"] is not by_case["NOACK/psh"]
    assert by_case["NOACK/psh"].title.startswith("SYN/FIN/RST/ACK-less segment not relayed to the server")


def _csum_case(name: str, options: list[object], ts_field: str = "tsecr") -> CaseResult:
    """The IUT rewrites the last option of ``options`` (a TS or SACK) and leaves the checksum wrong."""
    inp = seg(ST, seq=1000, ack=70000, options=options)  # type: ignore[arg-type]
    last = options[-1]
    new = (Timestamps(last.tsval, last.tsecr + 7) if isinstance(last, Timestamps)
           else Sack(tuple((a + 7, b + 7) for a, b in last.blocks)))  # type: ignore[attr-defined]
    opts = tuple([*options[:-1], new])
    exp = Segment(_out(PROXY_D, SERVER, 90000, 5000).ip,
                  dataclasses.replace(_out(PROXY_D, SERVER, 90000, 5000).tcp, options=inp.tcp.options), b"")
    act = Segment(exp.ip, dataclasses.replace(exp.tcp, options=seg(ST, options=opts).tcp.options, checksum=0x1234),
                  b"")  # type: ignore[arg-type]
    diffs = [FieldDiff(0, 0, "to_server[0].tcp.checksum valid", True, False, "TCPCSUM-VALID")]
    return _case(name, ["TCPCSUM-VALID"], diffs, [_step(inp, exp, act)])


def test_checksum_defects_are_told_apart_by_the_rewritten_option_and_its_offset_parity() -> None:
    odd_ts = _csum_case("CS/ts-after-ws", [WindowScale(7), Timestamps(1, 2)])  # TS at TCP offset 23
    even_ts = _csum_case("CS/nop-nop-ts", [NoOperation(), NoOperation(), Timestamps(1, 2)])  # at 22
    odd_sack = _csum_case("CS/sack-after-ws", [WindowScale(7), Sack(((100, 200),))])
    for r, want in ((odd_ts, ["kind 8 at an odd offset"]), (even_ts, ["kind 8 at an even offset"]),
                    (odd_sack, ["kind 5 at an odd offset"])):
        assert rewritten_options(r.steps[0].input, r.steps[0].actual_to_server[0]) == want
    found = findings([odd_ts, even_ts, odd_sack, _csum_case("CS/ts-after-ws-2", [WindowScale(2), Timestamps(5, 6)])])
    assert len(found) == 3
    by_case = {c: f for f in found for c in f.cases}
    assert by_case["CS/ts-after-ws"] is by_case["CS/ts-after-ws-2"]
    assert "Timestamps option at an odd offset" in by_case["CS/ts-after-ws"].title
    assert "SACK option at an odd offset" in by_case["CS/sack-after-ws"].title


def test_two_options_rewritten_at_odd_offsets_are_the_two_findings_each_makes_alone() -> None:
    """Timestamps at offset 23 and SACK at 33, both rewritten, the checksum wrong: each rewrite breaks the sum
    on its own, so the packet shows the Timestamps finding and the SACK finding, not a third one."""
    both_opts = [WindowScale(7), Timestamps(1, 2), Sack(((100, 200),))]
    inp = seg(ST, seq=1000, ack=70000, options=both_opts)  # type: ignore[arg-type]
    exp = Segment(_out(PROXY_D, SERVER, 90000, 5000).ip,
                  dataclasses.replace(_out(PROXY_D, SERVER, 90000, 5000).tcp, options=inp.tcp.options), b"")
    rewritten = seg(ST, options=[WindowScale(7), Timestamps(1, 9), Sack(((107, 207),))]).tcp.options
    act = Segment(exp.ip, dataclasses.replace(exp.tcp, options=rewritten, checksum=0x1234), b"")
    diffs = [FieldDiff(0, 0, "to_server[0].tcp.checksum valid", True, False, "TCPCSUM-VALID")]
    both = _case("CS/both", ["TCPCSUM-VALID"], diffs, [_step(inp, exp, act)])
    assert rewritten_options(both.steps[0].input, both.steps[0].actual_to_server[0]) == [
        "kind 5 at an odd offset", "kind 8 at an odd offset"]
    alone = [_csum_case("CS/ts-after-ws", [WindowScale(7), Timestamps(1, 2)]),
             _csum_case("CS/sack-after-ws", [WindowScale(7), Sack(((100, 200),))])]
    found = findings([*alone, both])
    assert len(found) == 2 and all("CS/both" in f.cases for f in found)


def test_a_doubly_adjusted_tsecr_is_its_own_finding_beside_unstripped_timestamps() -> None:
    inp = seg(ST, seq=1000, ack=70000, options=[NoOperation(), NoOperation(), Timestamps(10, 20)])
    exp = _out(PROXY_D, SERVER, 90000, 5000)
    offset = [FieldDiff(0, 0, "to_server[0].tcp.options.TS.tsecr", 20, 20 + 3000, "TS-ECR")]
    added = [FieldDiff(0, 0, "to_server[0].tcp.options.TS", None, [10, 20], "TS-STRIP")]
    found = findings([_case("HS/ack-tsecr", ["TS-ECR"], offset, [_step(inp, exp, exp)]),
                      _case("HS/ack-tsecr-2", ["TS-ECR"], offset, [_step(inp, exp, exp)]),
                      _case("TS-STRIP/x", ["TS-STRIP"], added, [_step(inp, exp, exp)])])
    sigs = sorted((f.signature.get("field", ""), f.signature["relation"]) for f in found)
    assert sigs == [("", "added"), ("tsecr", "offset")]
    tsecr = next(f for f in found if f.signature.get("field") == "tsecr")
    assert tsecr.constant == 3000 and len(tsecr.cases) == 2
    assert "TSecr of the Timestamps option towards the server off by +3000" in tsecr.title


@pytest.mark.parametrize("iut", ["synproxy", "seqadj-ftp"])
def test_published_runs_every_finding_classified(iut: str) -> None:
    from splicecheck.reports.load import load_run
    run = load_run(PUBLISHED / iut / "results.jsonl")
    found = findings(run.results)
    out = ex.judge(found, run.results, ex.load(ROOT / "expectations" / f"{iut}.toml"))
    assert out.ok, out.lines()
    sigs = [f.signature for f in found]
    assert len(sigs) == len({str(s) for s in sigs})
    if iut == "synproxy":
        titles = [f.title for f in found]
        assert any(s.get("relation") == "at splice_iss" and s.get("control") == "R" for s in sigs)
        assert any(s.get("rewritten") == ["kind 8 at an odd offset"] for s in sigs), titles
        assert sum(1 for s in sigs if s.get("kind") == "untrimmed") == 1


def test_passing_run_has_no_findings() -> None:
    assert findings([CaseResult("P/1", ["SEQ-MAP"], Verdict.PASS)]) == []


def test_counts_without_packets_are_one_finding_per_behaviour() -> None:
    """A passing search keeps its evidence's checks but not its packets: an oversized segment relayed instead
    of answered with the ICMP error shows as two count differences per step (one leg gets one more packet,
    the other one fewer), in either direction. That is one behaviour, one finding — not four field findings."""
    def search(name: str, more: str, fewer: str) -> CaseResult:
        diffs = [FieldDiff(0, -1, f"{fewer}.count", 1, 0, "MSS-ICMP"),
                 FieldDiff(0, -1, f"{more}.count", 0, 1, "MSS-ICMP")]
        return CaseResult(name, ["TRIM-REST"], Verdict.PASS, diffs=diffs, steps=[], repro=f"run --case {name}")

    found = findings([search("prop/trim", "to_server", "to_client"), search("prop/seq-ack", "to_client", "to_server")])
    assert len(found) == 1
    (f,) = found
    assert f.signature["kind"] == "recounted" and f.signature["change"] == "moved"
    assert sorted(f.cases) == ["prop/seq-ack", "prop/trim"] and f.legs == ["to_client", "to_server"]
    assert "another leg" in f.title and "MSS-ICMP" in f.title
    fewer = findings([CaseResult("prop/x", ["SEQ-MAP"], Verdict.FAIL, steps=[],
                                 diffs=[FieldDiff(0, -1, "to_server.count", 1, 0, "SEQ-MAP")])])
    assert [g.signature["change"] for g in fewer] == ["fewer"]


def test_the_window_of_a_syn_not_trimmed_off_belongs_to_the_untrimmed_finding() -> None:
    """A SYN below the base relayed with its data (not trimmed): the model's packet lost the SYN and rescales
    the window, the box's kept it and passes the window through — which is right for a SYN (RFC 7323 §2.2).
    The window difference follows from the SYN kept: one 'untrimmed' finding, no window finding."""
    inp = seg(ST, seq=999, ack=70000, payload=b"x", flags=SYN | ACK)
    exp = _out(PROXY_D, SERVER, 90000, 5000, b"x", flags=ACK)
    act = _out(PROXY_D, SERVER, 89999, 5000, b"x", flags=SYN | ACK)
    rec = StepRecord("client", _hex(inp), expected_to_server=[_hex(exp)], actual_to_server=[_hex(act)])
    diffs = [FieldDiff(0, 0, "to_server[0].tcp.flags", "A", "SA", "TRIM-REST"),
             FieldDiff(0, 0, "to_server[0].tcp.seq", 90000, 89999, "TRIM-REST"),
             FieldDiff(0, 0, "to_server[0].tcp.window", 125, 1000, "WS-EXACT")]
    found = findings([_case("TRIM-REST/syn", ["TRIM-REST"], diffs, [rec])])
    assert [f.signature for f in found] == [{"kind": "untrimmed"}]


def test_a_syn_bearing_input_relayed_on_its_out_leg_is_no_syn_of_the_box_own() -> None:
    """A server SYN+ACK too big for the client's MSS: the model answers it with an ICMP error, a NAT router
    forwards it whole. That SYN is the server's, relayed (the no-MSS finding), not one the box made up."""
    inp = seg(ST, from_client=False, seq=90000, ack=5000, payload=b"x" * 600, flags=SYN | ACK)
    relayed = _out(PROXY_C, CLIENT, 5000, 1000, b"x" * 600, flags=SYN | ACK)
    rec = StepRecord("server", _hex(inp), actual_to_client=[_hex(relayed)])
    diffs = [FieldDiff(0, -1, "to_client.count", 0, 1, "MSS-ICMP")]
    found = findings([_case("MSS-ICMP/syn", ["MSS-ICMP"], diffs, [rec])])
    assert [f.signature for f in found] == [{"kind": "extra", "flags": "*", "input": "MSS-ICMP"}]


def test_relaying_a_segment_the_model_drops_as_wholly_below_the_base_is_untrimmed() -> None:
    """A retransmitted client SYN just below the base: the model trims all of it and relays nothing, a box
    that never trims relays it — the same 'untrimmed' behaviour as data below the base relayed."""
    inp = seg(ST, seq=999, ack=0, flags=SYN)
    act = _out(PROXY_D, SERVER, 89999, 0, flags=SYN)
    rec = StepRecord("client", _hex(inp), actual_to_server=[_hex(act)])
    diffs = [FieldDiff(0, -1, "to_server.count", 0, 1, "TRIM-BELOW")]
    found = findings([_case("TRIM-BELOW/syn", ["TRIM-BELOW"], diffs, [rec])])
    assert [f.signature for f in found] == [{"kind": "untrimmed"}]
