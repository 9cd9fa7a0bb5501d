"""``splicecheck trace`` on a segment whose option area cannot be walked (a Timestamps option claiming 12
bytes where the area holds 10): dropped is the model's outcome, relayed mapped with the area from the fault
on as it came is relay-unwalkable's; a relay that maps the numbers but rewrites the area, or leaves the
numbers as they came, departs from both. The captures are a synthetic splice's, one client data segment and
its copy on the server leg edited afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from splicecheck.conformance.cases_common import fresh_tcp_checksum
from splicecheck.conformance.results import CaseResult, Verdict
from splicecheck.conformance.trace.capture import PcapWriter, open_capture
from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine
from splicecheck.conformance.trace.link import LINKTYPE_RAW
from splicecheck.reference.codec import decode
from splicecheck.reference.errors import MalformedSegment
from trace_synth import ConnPlan, default_scenario, synth_pair


def _tcp_at(ip: bytes) -> int:
    return (ip[0] & 15) * 4


def _payload(ip: bytes) -> bytes:
    t = _tcp_at(ip)
    return ip[t + (ip[t + 12] >> 4) * 4:]


def _fixed(ip: bytearray) -> bytes:
    """``ip`` with its TCP checksum computed again."""
    fresh_tcp_checksum(ip, _tcp_at(ip))
    return bytes(ip)


def _edited(tmp_path: Path, box: str) -> tuple[Path, Path]:
    """A synthetic splice whose 4th client data segment's Timestamps option claims 12 bytes; the server leg's
    copy of it as ``box`` relays it: "as-it-came" (its numbers mapped, its option area the input's bytes),
    "dropped", "rewritten" (the area as the synthetic relay mapped it, the length edited alike) or
    "unmapped" (as it came, but with the input's sequence and acknowledgment numbers)."""
    c, s = tmp_path / "c.pcap", tmp_path / "s.pcap"
    synth_pair(c, s, [ConnPlan(default_scenario(), segments=12, urgent=False, sack=False, max_payload=300)], seed=3)
    with open_capture(c) as r:
        client = [(ts, ip) for ts, _lt, ip, _o in r]
    with open_capture(s) as r:
        server = [(ts, ip) for ts, _lt, ip, _o in r]
    data = [i for i, (_ts, ip) in enumerate(client) if _payload(ip) and ip[_tcp_at(ip) + 12] >> 4 == 8
            and ip[12:16] == client[0][1][12:16]]  # client data with NOP NOP TS: 32-byte headers
    pick = data[3]
    ts_in, inp = client[pick]
    out_i = next(i for i, (_ts, ip) in enumerate(server) if _payload(ip) == _payload(inp) and ip[12:16] != inp[12:16])
    t_in = _tcp_at(inp)
    bad = bytearray(inp)
    bad[t_in + 23] = 12  # NOP NOP TS(kind 8, length 12): runs 2 bytes past the area
    client[pick] = (ts_in, _fixed(bad))
    with pytest.raises(MalformedSegment):
        decode(client[pick][1])
    ts_out, out = server[out_i]
    t_out = _tcp_at(out)
    if box == "dropped":
        del server[out_i]
    elif box == "as-it-came":
        new = bytearray(out)
        new[t_out + 20:t_out + 32] = bad[t_in + 20:t_in + 32]
        server[out_i] = (ts_out, _fixed(new))
    elif box == "rewritten":
        new = bytearray(out)
        new[t_out + 23] = 12
        server[out_i] = (ts_out, _fixed(new))
    else:  # as it came, but with the input's sequence and acknowledgment numbers
        new = bytearray(out)
        new[t_out + 20:t_out + 32] = bad[t_in + 20:t_in + 32]
        new[t_out + 4:t_out + 12] = bad[t_in + 4:t_in + 12]
        server[out_i] = (ts_out, _fixed(new))
    for path, records in ((c, client), (s, server)):
        with PcapWriter(path, LINKTYPE_RAW) as w:
            for ts, ip in records:
                w.write(ts, ip)
    return c, s


def _one(c: Path, s: Path) -> CaseResult:
    results = [r for r in TraceEngine(c, s, TraceConfig()).run() if not r.case.startswith("trace/capture")]
    assert len(results) == 1, [r.case for r in results]
    return results[0]


@pytest.mark.req("OPT-PASS")
@pytest.mark.parametrize("box", ["as-it-came", "dropped"])
def test_an_unwalkable_area_dropped_or_relayed_as_it_came_passes(tmp_path: Path, box: str) -> None:
    r = _one(*_edited(tmp_path, box))
    assert r.verdict is Verdict.PASS and not r.diffs, [d.line() for d in r.diffs]
    assert "1 inputs whose option area cannot be walked (judged" in r.reason, r.reason
    assert "inputs the codec refuses" not in r.reason


@pytest.mark.req("OPT-PASS", "SEQ-MAP")
@pytest.mark.parametrize(("box", "reqs"), [("rewritten", {"OPT-PASS"}), ("unmapped", {"SEQ-MAP", "ACK-MAP"})])
def test_an_unwalkable_area_relayed_otherwise_fails(tmp_path: Path, box: str, reqs: set[str]) -> None:
    r = _one(*_edited(tmp_path, box))
    assert r.verdict in (Verdict.FAIL, Verdict.NON_STRICT), r.verdict
    assert reqs <= {d.req for d in r.diffs}, [d.line() for d in r.diffs]
