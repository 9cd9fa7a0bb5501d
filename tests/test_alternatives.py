"""Cases with several legitimate outcomes (issue 17): a splice whose legs disagree on timestamps may strip
(the paper, the model), supply or refuse; ECN marks towards an end host that never negotiated ECN may be
relayed or cleared. An IUT following any of them PASSes, the evidence names the one it matched, and an IUT
following none is graded against the model as always."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from splicecheck.adapters.reference import ReferenceAdapter, ReferenceSession
from splicecheck.conformance import catalog
from splicecheck.conformance.alternatives import (
    CLEAR_ECN,
    HOST_RESET,
    SUPPLY_TS,
    clear_ecn,
    host_reset,
    supply_timestamps,
)
from splicecheck.conformance.case import Alternative, Case, from_server
from splicecheck.conformance.contract import Scenario, SpliceRefused
from splicecheck.conformance.results import CaseResult, FieldDiff, Verdict
from splicecheck.conformance.runner import run_case
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.relay import RelayResult, SpliceState, relay
from splicecheck.reference.segment import CWR, IPv4Header, Segment, Timestamps
from splicecheck.reference.seqspace import seq_add

TOWARDS_TS = "TS-STRIP/towards-timestamp-leg"


def case(case_id: str) -> Case:
    (c,) = catalog.select(ids=[case_id])
    return c


def run(relay_fn: object, case_id: str) -> CaseResult:
    return run_case(ReferenceAdapter(relay_fn=relay_fn), case(case_id), "test")  # type: ignore[arg-type]


def with_ts(tsval_off: int, tsecr_off: int):  # type: ignore[no-untyped-def]
    """An IUT that supplies timestamps towards the timestamp leg with its own clock: the model's
    supplied values moved by the given offsets (checksums recomputed)."""
    def fn(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        result = supply_timestamps(state, seg, now)

        def shift(out: Segment) -> Segment:
            ts = out.tcp.option(Timestamps)
            if not isinstance(ts, Timestamps) or relay(state, seg, now).segments[0].tcp.option(Timestamps):
                return out
            opts = tuple(Timestamps(seq_add(ts.tsval, tsval_off), seq_add(ts.tsecr, tsecr_off))
                         if isinstance(o, Timestamps) else o for o in out.tcp.options)
            ip = dataclasses.replace(out.ip, checksum=None) if isinstance(out.ip, IPv4Header) else out.ip
            return decode(encode(Segment(ip, dataclasses.replace(out.tcp, options=opts, checksum=None), out.payload)))

        return dataclasses.replace(result, emitted=tuple(shift(e) if isinstance(e, Segment) else e
                                                         for e in result.emitted))
    return fn


# -- each alternative passes, and says so -------------------------------------------------------------


@pytest.mark.req("TS-STRIP")
def test_strip_supply_and_refuse_each_pass_and_are_recorded() -> None:
    strip = run(relay, TOWARDS_TS)
    assert (strip.verdict, strip.alternative) == (Verdict.PASS, "model")
    supply = run(supply_timestamps, TOWARDS_TS)
    assert (supply.verdict, supply.alternative) == (Verdict.PASS, SUPPLY_TS.name) and not supply.diffs
    own_clock = run(with_ts(1000, 3), TOWARDS_TS)  # the splice's clock ran on; it echoes a later TSval
    assert (own_clock.verdict, own_clock.alternative) == (Verdict.PASS, SUPPLY_TS.name)
    assert json.loads(own_clock.to_json())["alternative"] == SUPPLY_TS.name

    class Refuses(ReferenceAdapter):
        @contextmanager
        def open(self, scenario: Scenario) -> Iterator[ReferenceSession]:
            raise SpliceRefused("the legs disagree on timestamps")
            yield  # pragma: no cover

    refused = run_case(Refuses(), case(TOWARDS_TS), "refuses")
    assert (refused.verdict, refused.alternative) == (Verdict.PASS, "refuse") and "SPLICE-REFUSE" in refused.reqs
    agreeing = run_case(Refuses(), case("TS-VAL/c2s"), "refuses")  # legs that agree: no alternative
    assert agreeing.verdict is Verdict.FAIL and agreeing.alternative == ""


@pytest.mark.req("TS-STRIP", "TS-VAL")
def test_an_iut_following_no_alternative_fails() -> None:
    """Timestamps supplied with a TSval behind the last the client saw (PAWS would drop the segment):
    neither the strip nor the supply. Graded against the outcome it came closest to, the supply, so the
    failure is the TSval that went backwards (TS-VAL), not the option's presence."""
    r = run(with_ts(-1000, 0), TOWARDS_TS)
    assert r.verdict is Verdict.FAIL and r.alternative == SUPPLY_TS.name
    assert any(d.field.endswith("tcp.options.TS.tsval") and d.req == "TS-VAL" for d in r.diffs)
    assert not any(d.field.endswith("tcp.options.TS") and d.req == "TS-STRIP" for d in r.diffs)
    echo_back = run(with_ts(0, -5), TOWARDS_TS)  # an echo older than what the proxy had received
    assert echo_back.verdict is Verdict.FAIL and echo_back.alternative == SUPPLY_TS.name
    assert any(d.field.endswith("tcp.options.TS.tsecr") for d in echo_back.diffs)


@pytest.mark.req("ECN-PASS")
def test_relaying_or_clearing_ecn_pass_and_a_half_clear_does_not() -> None:
    for cid in ("ECN-PASS/ece-cwr-s2c", "ECN-PASS/ce-mark-c2s", "ECN-PASS/ect1-ipv6-s2c", "FLAGS-KEEP/ece-cwr-c2s"):
        assert (run(relay, cid).verdict, run(relay, cid).alternative) == (Verdict.PASS, "model"), cid
        cleared = run(clear_ecn, cid)
        assert (cleared.verdict, cleared.alternative) == (Verdict.PASS, CLEAR_ECN.name), cid

    def half(state: SpliceState, seg: Segment, now: float) -> RelayResult:  # ECE cleared, CWR kept
        result = clear_ecn(state, seg, now)
        out = result.segments[0]
        fixed = decode(encode(dataclasses.replace(out, tcp=dataclasses.replace(out.tcp, flags=out.tcp.flags | CWR,
                                                                               checksum=None))))
        return dataclasses.replace(result, emitted=(fixed,))

    r = run(half, "ECN-PASS/ece-cwr-s2c")
    assert r.verdict is Verdict.INFO and r.alternative == ""  # ECN-PASS is a MAY: departures are INFO
    assert [d.req for d in r.diffs] == ["ECN-PASS"]


# -- the single-outcome path is what it was ------------------------------------------------------------


def test_single_outcome_cases_record_nothing() -> None:
    single = next(c for c in catalog.all_cases() if not c.alternatives and c.execute is None)
    r = run_case(ReferenceAdapter(), single, "reference")
    assert r.verdict is Verdict.PASS and r.alternative == "" and "alternative" not in json.loads(r.to_json())


def test_alternatives_are_judged_only_when_the_model_differs() -> None:
    """A passing IUT never reaches the alternatives (no second judgement): one that raises if called."""
    def trap(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        raise AssertionError("an alternative was judged although the model's outcome matched")

    c = dataclasses.replace(case(TOWARDS_TS), alternatives=(Alternative("trap", trap, "never used"),))
    assert run_case(ReferenceAdapter(), c, "reference").verdict is Verdict.PASS
    r = run_case(ReferenceAdapter(relay_fn=supply_timestamps), c, "supplies")
    assert r.verdict is Verdict.ERROR and "trap" not in r.alternative  # the trap ran: the IUT differed


def test_alternatives_need_the_runners_execute() -> None:
    with pytest.raises(ValueError, match="alternatives"):
        dataclasses.replace(case("LIFE-TEARDOWN/linger-then-end"), alternatives=(SUPPLY_TS,))


def test_old_results_lines_load() -> None:
    r = run(relay, TOWARDS_TS)
    line = json.loads(r.to_json())
    del line["alternative"]
    assert CaseResult.from_dict(line).alternative == ""


# -- a foreign segment answered by the proxy host's own TCP (DIR-ONLY) ------------------------------------

FOREIGN_IDS = [c.id for c in catalog.select(reqs=["DIR-ONLY"]) if c.kind.value == "named"]


def _rst_changed(**tcp: int):  # type: ignore[no-untyped-def]
    """A host that answers with the RFC 9293 RST, one field changed (checksums recomputed)."""
    def fn(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        result = host_reset(state, seg, now)

        def change(out: Segment) -> Segment:
            ip = dataclasses.replace(out.ip, checksum=None) if isinstance(out.ip, IPv4Header) else out.ip
            return decode(encode(Segment(ip, dataclasses.replace(out.tcp, checksum=None, **tcp), out.payload)))

        if result.direction is None or relay(state, seg, now).direction is not None:
            return result
        return dataclasses.replace(result, emitted=tuple(change(e) for e in result.segments))
    return fn


@pytest.mark.req("DIR-ONLY")
def test_a_host_that_resets_foreign_segments_passes_and_says_so() -> None:
    assert len(FOREIGN_IDS) >= 20
    answered = 0
    for cid in FOREIGN_IDS:
        r = run(host_reset, cid)
        assert r.verdict is Verdict.PASS, (cid, r.diffs)
        assert r.alternative in ("model", HOST_RESET.name), cid
        answered += r.alternative == HOST_RESET.name
    # the one-off port cases, the legs crossed and the wrong proxy port reach the host; foreign addresses do not
    assert answered >= 12
    host_ttl = run(_rst_changed(window=29200), "DIR-ONLY/foreign-source-port")  # the host's own window
    assert (host_ttl.verdict, host_ttl.alternative) == (Verdict.PASS, HOST_RESET.name)


@pytest.mark.req("DIR-ONLY")
def test_a_host_reset_carrying_the_ip_options_its_ip_layer_echoes_passes() -> None:
    """Linux answers a segment that carried a Record Route option with a RST that carries it back, its own
    address entered (an eBPF splice's proxy host did, found by a campaign): the host's IP layer, not the
    splice, so host-reset tolerates it; a wrong sequence number beside it still fails."""
    def echoing(**tcp: int):  # type: ignore[no-untyped-def]
        def fn(state: SpliceState, seg: Segment, now: float) -> RelayResult:
            result = host_reset(state, seg, now)
            if result.direction is None or relay(state, seg, now).direction is not None:
                return result

            def echo(out: Segment) -> Segment:
                ip = dataclasses.replace(out.ip, checksum=None, options=bytes([7, 7, 8]) + out.ip.src + bytes(1))
                return decode(encode(Segment(ip, dataclasses.replace(out.tcp, checksum=None, **tcp), out.payload)))

            return dataclasses.replace(result, emitted=tuple(echo(e) for e in result.segments))
        return fn

    ok = run(echoing(), "DIR-ONLY/foreign-source-port")
    assert (ok.verdict, ok.alternative) == (Verdict.PASS, HOST_RESET.name), ok.diffs
    bad = run(echoing(seq=12345), "DIR-ONLY/foreign-source-port")
    assert bad.verdict is Verdict.FAIL


@pytest.mark.req("DIR-ONLY")
def test_a_wrong_reset_or_a_relayed_foreign_segment_still_fails() -> None:
    wrong_seq = run(_rst_changed(seq=12345), "DIR-ONLY/foreign-source-port")
    # graded against the host's reset (it sent one packet where the model sends none), whose number is
    # wrong: that is DIR-ONLY's departure, not SEQ-MAP's (the host's RST is not a relayed segment)
    assert wrong_seq.verdict is Verdict.FAIL and wrong_seq.alternative == HOST_RESET.name
    assert [(d.field, d.req) for d in wrong_seq.diffs] == [("to_client[0].tcp.seq", "DIR-ONLY")]
    no_rst_flag = run(_rst_changed(flags=0x10), "DIR-ONLY/one-off-dst-port-c2s-v4")  # a bare ACK is no reset
    assert no_rst_flag.verdict is Verdict.FAIL

    def relays_everything(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        """A splice that matches on addresses only: the foreign port is relayed as if it were the leg's."""
        fixed = dataclasses.replace(seg, tcp=dataclasses.replace(seg.tcp, sport=state.client.peer.port))
        return relay(state, fixed if relay(state, seg, now).direction is None else seg, now)

    relayed = run(relays_everything, "DIR-ONLY/foreign-source-port")
    assert relayed.verdict is Verdict.FAIL


@pytest.mark.req("DIR-ONLY")
def test_the_hosts_own_choices_are_excused_only_in_the_foreign_segments_step() -> None:
    """An IUT whose proxy host answers a foreign segment with its RST, and whose splice then relays a
    segment with a wrong window: the window is the splice's departure, not the host's choice, and fails
    (host-reset excuses the window of the host's RST only)."""
    from splicecheck.conformance.alternatives import FOREIGN
    from splicecheck.conformance.cases_tcp import FULL, NEEDS_FOREIGN, foreign

    def host_and_bad_window(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        result = host_reset(state, seg, now)
        if relay(state, seg, now).direction is None:
            return result

        def widen(out: Segment) -> Segment:
            ip = dataclasses.replace(out.ip, checksum=None) if isinstance(out.ip, IPv4Header) else out.ip
            tcp = dataclasses.replace(out.tcp, checksum=None, window=out.tcp.window + 1)
            return decode(encode(Segment(ip, tcp, out.payload)))

        return dataclasses.replace(result, emitted=tuple(widen(e) for e in result.segments))

    # (data first: the reference session ends its splice on a RST it emits, the host's included)
    c = Case("DIR-ONLY/after-data", ("DIR-ONLY", "WS-EXACT"), "server data, then a foreign segment", "x",
             lambda st: [from_server(st, 0, payload=b"data"), foreign(st, sport=st.client.peer.port ^ 1)], FULL,
             NEEDS_FOREIGN, alternatives=FOREIGN)
    r = run_case(ReferenceAdapter(relay_fn=host_and_bad_window), c, "test")
    assert r.verdict is Verdict.FAIL and r.alternative == HOST_RESET.name
    assert {(d.step, d.field.split(" ")[0]) for d in r.diffs} == {(0, "to_client[0].tcp.window")}
    assert run_case(ReferenceAdapter(relay_fn=host_reset), c, "test").verdict is Verdict.PASS


@pytest.mark.req("DIR-ONLY")
def test_a_host_that_answers_one_foreign_segment_and_not_another_passes() -> None:
    """Whether the proxy host answers a foreign segment (a socket or route for it, or none) is its own, segment
    by segment: an IUT silent for one and resetting the next matches neither the model nor host-reset alone,
    and departs from nothing; each step is graded against the outcome it came closer to. A wrong RST in one of
    them still fails."""
    from splicecheck.conformance.alternatives import FOREIGN
    from splicecheck.conformance.cases_tcp import FULL, NEEDS_FOREIGN, foreign

    def answers_port_2(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        if seg.tcp.sport == state.client.peer.port ^ 2:
            return host_reset(state, seg, now)
        return relay(state, seg, now)

    c = Case("DIR-ONLY/two-foreign", ("DIR-ONLY",), "two foreign segments", "x",
             lambda st: [foreign(st, sport=st.client.peer.port ^ 1), foreign(st, sport=st.client.peer.port ^ 2)],
             FULL, NEEDS_FOREIGN, alternatives=FOREIGN)
    mixed = run_case(ReferenceAdapter(relay_fn=answers_port_2), c, "test")
    assert (mixed.verdict, mixed.alternative) == (Verdict.PASS, HOST_RESET.name), mixed.diffs
    assert not [d for d in mixed.diffs if not d.ok]

    def wrong_second(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        result = answers_port_2(state, seg, now)
        if seg.tcp.sport != state.client.peer.port ^ 2:
            return result
        [rst] = result.segments
        ip = dataclasses.replace(rst.ip, checksum=None) if isinstance(rst.ip, IPv4Header) else rst.ip
        bad = decode(encode(Segment(ip, dataclasses.replace(rst.tcp, seq=seq_add(rst.tcp.seq, 1), checksum=None))))
        return dataclasses.replace(result, emitted=(bad,))

    wrong = run_case(ReferenceAdapter(relay_fn=wrong_second), c, "test")
    assert wrong.verdict is Verdict.FAIL


def test_the_closest_outcome_is_the_one_whose_kinds_of_packet_the_iut_sent() -> None:
    """``distance``: packets of another kind first (a count, SYN or RST added or gone, ICMP in a segment's
    place), then the differing checks; FIN is no other kind (a trim removes it), nor is any other field."""
    from splicecheck.conformance.runner import distance, diverges

    def d(field: str, expected: object, actual: object) -> FieldDiff:
        return FieldDiff(0, 0, field, expected, actual, "SEQ-MAP")

    assert diverges(d("to_server.count", 0, 1))
    assert diverges(d("to_client[0].tcp.flags", "RA", "A")) and diverges(d("to_client[0].tcp.flags", "A", "SA"))
    assert not diverges(d("to_client[0].tcp.flags", "FA", "A")) and not diverges(d("to_client[0].tcp.seq", 1, 2))
    assert diverges(d("to_client[0].icmp", None, [3, 4, 1280])) and not diverges(d("to_client[0].icmp", [3, 4, 576],
                                                                                    [3, 4, 1280]))
    one_extra = [d("to_server.count", 0, 1)]
    relayed_differently = [d("to_server[0].tcp.seq", 1, 2), d("to_server[0].tcp.ack", 1, 2), d("x", 1, 1)]
    assert distance(relayed_differently) == (0, 2) < distance(one_extra) == (1, 1)
