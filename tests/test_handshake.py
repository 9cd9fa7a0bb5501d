"""The proxy's own handshake packets (conformance/handshake.py, cases_handshake.py): HS-* requirements.

The model's handshakes satisfy every rule for every option combination (and the checks are made, not
skipped); each rule is broken once by hand and caught with the numbers the rule names; the mutant
``hs-echo-twice`` is killed by its case and the reference passes every HS case; and the trace checker,
fed the recorded Linux SYNPROXY capture, grades the proxy's ACK echo from the pcaps alone.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import replace
from pathlib import Path

import pytest
from splicecheck.adapters.mutants import MutantAdapter
from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance import cases_handshake
from splicecheck.conformance.catalog import select
from splicecheck.conformance.contract import PeerPlan, Scenario
from splicecheck.conformance.handshake import HANDSHAKE_REQS, ProxyHandshake, handshake_diffs, model_handshake
from splicecheck.conformance.results import Verdict
from splicecheck.conformance.runner import run_case
from splicecheck.conformance.trace.capture.reader import open_capture
from splicecheck.conformance.trace.engine import TraceConfig, TraceEngine
from splicecheck.reference.codec import decode
from splicecheck.reference.segment import ACK, SYN, SackPermitted, Segment, Timestamps, WindowScale, pad_options
from splicecheck.reference.seqspace import MOD32

DATA = Path(__file__).parent / "data" / "trace"


def scenario(ts: bool, sack: bool, ws: int | None, server_ts: bool = True, family: int = 4) -> Scenario:
    return Scenario(client=PeerPlan(isn=MOD32 - 1, wscale=ws, sack_permitted=sack, tsval=MOD32 - 2 if ts else None),
                    server=PeerPlan(isn=5, wscale=3, sack_permitted=True, tsval=70_000 if server_ts else None),
                    family=family)


def options_without(seg: Segment, kind: type) -> Segment:
    opts = pad_options(tuple(o for o in seg.tcp.options if type(o) is not kind))
    return replace(seg, tcp=replace(seg.tcp, options=opts, checksum=None))


def with_ts(seg: Segment, **change: int) -> Segment:
    opts = tuple(replace(o, **change) if type(o) is Timestamps else o for o in seg.tcp.options)
    return replace(seg, tcp=replace(seg.tcp, options=opts, checksum=None))


def failing(hs: ProxyHandshake) -> dict[str, tuple[object, object]]:
    return {d.req: (d.expected, d.actual) for d in hs.diffs() if not d.ok}


@pytest.mark.req(*HANDSHAKE_REQS)
def test_the_models_handshakes_satisfy_every_rule_for_every_option_combination() -> None:
    made: set[str] = set()
    for ts, sack, ws, server_ts, family in itertools.product((False, True), (False, True), (None, 0, 14),
                                                             (False, True), (4, 6)):
        checks = model_handshake(scenario(ts, sack, ws, server_ts, family)).diffs()
        assert all(d.ok for d in checks), [(d.req, d.field, d.expected, d.actual) for d in checks if not d.ok]
        made |= {d.req for d in checks}
    assert made == set(HANDSHAKE_REQS)  # every rule was actually checked somewhere


@pytest.mark.req("HS-CLIENT-ADVERT", "HS-SYNACK-TSECR", "HS-SYN-OPTIONS", "HS-SERVER-ACK-TSECR")
def test_each_rule_catches_its_departure() -> None:
    plain = model_handshake(scenario(False, False, None))
    full = model_handshake(scenario(True, True, 7))
    # HS-CLIENT-ADVERT: a SYN-ACK offering window scale, SACK-permitted or timestamps the client never offered.
    for extra in (WindowScale(7), SackPermitted(), Timestamps(1, 0)):
        synack = plain.proxy_synack
        opts = pad_options((*synack.tcp.options, extra))
        bad = replace(plain, proxy_synack=replace(synack, tcp=replace(synack.tcp, checksum=None, options=opts)))
        assert failing(bad) == {"HS-CLIENT-ADVERT": (False, True)}
    # HS-SYNACK-TSECR: the SYN-ACK echoes something else than the client SYN's TSval (MOD32 - 2).
    assert failing(replace(full, proxy_synack=with_ts(full.proxy_synack, tsecr=0))) == \
        {"HS-SYNACK-TSECR": (MOD32 - 2, 0)}
    # HS-SYN-OPTIONS: the SYN to the server drops the client's SACK-permitted, or its timestamps.
    assert failing(replace(full, proxy_syn=options_without(full.proxy_syn, SackPermitted))) == \
        {"HS-SYN-OPTIONS": (True, False)}
    no_ts = failing(replace(full, proxy_syn=options_without(full.proxy_syn, Timestamps)))
    assert no_ts == {"HS-SYN-OPTIONS": (True, False)}  # and no echo to check on a leg without timestamps
    # HS-SERVER-ACK-TSECR: the ACK echoes another value (70_000 is the server SYN-ACK's TSval), or no TS at all.
    assert failing(replace(full, proxy_ack=with_ts(full.proxy_ack, tsecr=70_001))) == \
        {"HS-SERVER-ACK-TSECR": (70_000, 70_001)}
    assert failing(replace(full, proxy_ack=options_without(full.proxy_ack, Timestamps))) == \
        {"HS-SERVER-ACK-TSECR": (70_000, None)}
    # Without the client's SYN only the echo to the server can be judged.
    only = handshake_diffs(None, None, full.proxy_syn.tcp.options, full.server_synack.tcp.options,
                           with_ts(full.proxy_ack, tsecr=1).tcp.options)
    assert [(d.req, d.ok) for d in only] == [("HS-SERVER-ACK-TSECR", False)]


@pytest.mark.req("HS-SERVER-ACK-TSECR")
def test_the_echo_twice_mutant_is_killed_and_the_reference_passes_every_hs_case() -> None:
    for c in cases_handshake.CASES:
        assert run_case(ReferenceAdapter(), c, "reference").verdict is Verdict.PASS, c.id
    (case,) = select(ids=["HS-SERVER-ACK-TSECR/both-timestamps"])
    r = run_case(MutantAdapter("hs-echo-twice"), case, "mutant:hs-echo-twice")
    assert r.verdict is Verdict.NON_STRICT  # a SHOULD
    (d,) = r.diffs
    # T = 77000 (the server SYN-ACK's TSval), its = the model proxy's TSval 0x01000000: echo T + (T - its).
    assert (d.req, d.expected, d.actual) == ("HS-SERVER-ACK-TSECR", 77_000, (2 * 77_000 - 0x0100_0000) % MOD32)


@pytest.mark.req("HS-SERVER-ACK-TSECR", "HS-SYN-OPTIONS")
def test_trace_checker_grades_synproxys_echo_from_the_recorded_capture() -> None:
    """tests/data/trace holds a live Linux SYNPROXY run. The proxy's ACK to the server is found in the server
    pcap (the proxy's pure ACK of the server's SYN-ACK); T and its are read here with the codec alone."""
    def packets(name: str) -> list[Segment]:
        with open_capture(DATA / name) as r:
            return [decode(ip) for _ts, _lt, ip, _o in r if (ip[0] >> 4 == 4 and ip[9] == 6)
                    or (ip[0] >> 4 == 6 and ip[6] == 6)]  # TCP only (the capture holds ICMP errors too)

    client, server = packets("synproxy-client.pcap"), packets("synproxy-server.pcap")
    def client_of(seg: Segment, to_client: bool) -> str:
        a, port = (seg.ip.dst, seg.tcp.dport) if to_client else (seg.ip.src, seg.tcp.sport)
        return f"{ipaddress.ip_address(a)}:{port}"

    its = {client_of(s, True): s.tcp.option(Timestamps) for s in client if s.tcp.flags == SYN | ACK}
    t = {client_of(s, True): s.tcp.option(Timestamps) for s in server if s.tcp.flags == SYN | ACK}
    acks = {}
    for s in server:
        who = client_of(s, False)
        if s.tcp.flags == ACK and not s.payload and who not in acks and who in t:
            acks[who] = s.tcp.option(Timestamps)
    results = TraceEngine(DATA / "synproxy-client.pcap", DATA / "synproxy-server.pcap",
                          TraceConfig(idle_timeout=0.5)).run()
    graded = 0
    for r in results:
        if "leg-only" in r.case:
            continue
        who = r.case.removeprefix("trace/").split(">")[0]
        checks = [d for d in r.diffs if d.req == "HS-SERVER-ACK-TSECR"]
        theirs, echo, ours = t.get(who), acks.get(who), its.get(who)
        if not isinstance(theirs, Timestamps) or not isinstance(echo, Timestamps) or not isinstance(ours, Timestamps):
            continue
        graded += 1
        assert echo.tsecr == (2 * theirs.tsval - ours.tsval) % MOD32 != theirs.tsval  # the kernel's double adjustment
        assert [(d.expected, d.actual) for d in checks] == [(theirs.tsval, echo.tsecr)], r.case
        assert "HS-SERVER-ACK-TSECR" in r.reqs and r.verdict is not Verdict.PASS
    assert graded >= 5
