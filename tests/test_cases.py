"""The named and vector case catalogue: it covers every requirement, the reference passes all of it, and
deliberately broken splices fail the cases written for what they break."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import z3
from splicecheck.adapters.reference import ReferenceAdapter, ReferenceSession
from splicecheck.conformance import cases_vectors, catalog
from splicecheck.conformance.case import Case
from splicecheck.conformance.cases_common import spliced_at
from splicecheck.conformance.catalog import MODULES, all_cases, coverage
from splicecheck.conformance.contract import Feature, Observation, Scenario, SpliceRefused
from splicecheck.conformance.diff import ip_valid, tcp_valid
from splicecheck.conformance.model import reference_machine, reference_state
from splicecheck.conformance.results import CaseKind, CaseResult, Verdict, grade
from splicecheck.conformance.runner import run, run_case
from splicecheck.reference.arith import MASK32
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.errors import MalformedSegment
from splicecheck.reference.lifecycle import Event, SpliceMachine
from splicecheck.reference.mapping import map_ack, map_seq
from splicecheck.reference.relay import Direction, Note, RelayResult, SpliceState, direction_of, relay
from splicecheck.reference.segment import ACK, URG, IPv4Header, Segment, Timestamps
from splicecheck.reference.seqspace import HALF, seq_sub
from splicecheck.spec.proofs import BY_ID as PROOFS
from splicecheck.spec.requirements import BY_ID, REQUIREMENTS

#: The named and vector cases (the catalogue also holds property and stateful cases, tested elsewhere).
CASES = tuple(c for c in all_cases() if c.kind in (CaseKind.NAMED, CaseKind.VECTOR))
BY_CASE = {c.id: c for c in CASES}
RelayFn = Callable[[SpliceState, Segment, float], RelayResult]


def verdict(adapter: ReferenceAdapter, case_id: str) -> CaseResult:
    return run_case(adapter, BY_CASE[case_id], "test")


# --------------------------------------------------------------------------------------------------
# The catalogue itself
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reference_passes(case: Case) -> None:
    r = run_case(ReferenceAdapter(), case, "reference")
    assert r.verdict is Verdict.PASS, (r.reason, [d.line() for d in r.diffs])
    assert r.checked > 0 and r.repro.endswith(case.id)


def test_whole_catalogue_is_quick() -> None:
    t0 = time.perf_counter()
    results = run(ReferenceAdapter(), list(CASES), adapter_spec="reference")
    assert time.perf_counter() - t0 < 10.0
    assert {r.verdict for r in results} == {Verdict.PASS}


def test_every_requirement_is_targeted() -> None:
    ours = {c.id for c in CASES}
    missing = [rid for rid, ids in coverage().items() if not set(ids) & ours and BY_ID[rid].covered]
    assert not missing
    primaries = {c.primary for c in CASES if c.kind is CaseKind.NAMED}
    covered = {r.id for r in REQUIREMENTS if r.covered}
    assert primaries == covered, covered ^ primaries  # every covered requirement has named cases of its own


def test_ids_are_stable_and_named_after_their_requirement() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    for c in CASES:
        head, _, slug = c.id.partition("/")
        assert head in BY_ID and head == c.primary, c.id
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug), c.id
        assert c.description and c.expectation, c.id


def test_named_cases_cite_a_source() -> None:
    for c in CASES:
        if c.kind is CaseKind.NAMED:
            assert re.search(r"paper §|RFC \d+|splicecheck|Linux", c.expectation + c.description), c.id


def test_every_module_is_registered_and_exports_cases() -> None:
    ours = [m for m in MODULES if m.startswith("cases_")]
    on_disk = {p.stem for p in Path(catalog.__file__).parent.glob("cases_*.py")} - {"cases_common"}
    assert len(ours) == len(set(ours)) == 17 and set(ours) == on_disk
    for m in ours:
        module = __import__(f"splicecheck.conformance.{m}", fromlist=["CASES"])
        assert module.CASES and all(isinstance(c, Case) for c in module.CASES), m


@pytest.mark.parametrize(("kwargs", "want"), [
    ({"c2s_irs": MASK32, "s2c_irs": 0}, {"c_irs": MASK32, "s_irs": 0}),
    ({"c2s_irs": 0, "c2s_iss": MASK32, "s2c_iss": 0}, {"c_irs": 0, "s_iss": MASK32, "c_iss": 0}),
    ({"c2s_irs": 5, "s2c_irs": 7, "c2s_iss": 1, "s2c_iss": 2, "ok_len": 10, "client_presplice": 20,
      "server_presplice": 30}, {"c_irs": 5, "s_irs": 7, "s_iss": 1, "c_iss": 2}),
])
def test_spliced_at_places_the_bases(kwargs: dict[str, Any], want: dict[str, int]) -> None:
    """The helper's ISN arithmetic against the lifecycle machine (figures 6 and 7)."""
    st = reference_state(spliced_at(**kwargs))
    got = {"c_irs": st.client.splice_irs, "c_iss": st.client.splice_iss, "s_irs": st.server.splice_irs,
           "s_iss": st.server.splice_iss}
    assert {k: got[k] for k in want} == want


#: What the model must do somewhere in a case for it to exercise its primary requirement at all (a case
#: that passes without the behaviour happening tests nothing). Negative cases — the behaviour must *not*
#: happen — are listed in NEGATIVE.
EXERCISES: dict[str, set[Note]] = {
    "IPOPT-STRIP": {Note.IP_OPTIONS_REMOVED}, "TTL-EXPIRE": {Note.TTL_EXPIRED}, "DIR-ONLY": {Note.NOT_THIS_SPLICE},
    "TRIM-REST": {Note.TRIMMED}, "TRIM-SOUND": {Note.TRIMMED}, "TRIM-HALF": {Note.TRIMMED},
    "TRIM-BELOW": {Note.BELOW_BASE_PURE_ACK, Note.BELOW_BASE_DROPPED}, "URG-SHIFT": {Note.TRIMMED},
    "URG-CLEAR": {Note.URG_CLEARED}, "TS-VAL": {Note.TS_MAPPED}, "TS-ECR": {Note.TS_MAPPED},
    "TS-STRIP": {Note.TS_STRIPPED}, "SACK-CLIP": {Note.SACK_CLIPPED}, "SACK-STRIP": {Note.SACK_STRIPPED},
    "WS-STRIP": {Note.WS_STRIPPED}, "MSS-ICMP": {Note.MSS_EXCEEDED},
    "STRIP-STYLE": {Note.TS_STRIPPED, Note.SACK_STRIPPED, Note.WS_STRIPPED},
}
NEGATIVE = {"TRIM-BELOW/zero-length-below-mapped", "SACK-CLIP/server-stream-past-2gib", "MSS-ICMP/exactly-mss",
            "MSS-ICMP/df-clear-relayed", "MSS-ICMP/trimmed-to-fit", "TRIM-HALF/half-then-base",
            "MSS-ICMP/ipv6-below-1280-relayed"}


def model_notes(case: Case) -> set[Note]:
    """Every note the model attaches to the case's injections (undecodable ones add nothing)."""
    from splicecheck.conformance.case import injections
    from splicecheck.conformance.model import Model

    notes: set[Note] = set()
    with ReferenceAdapter().open(case.scenario) as session:
        model = Model(session.state)
        for inj in injections(case.build(session.state)):
            try:
                seg = decode(inj.wire) if inj.raw is not None else inj.segment
            except MalformedSegment:
                continue
            notes |= set(model.relay(seg, 0.0).notes)
    return notes


EXERCISING = [c for c in CASES if c.kind is CaseKind.NAMED
              and ((c.primary in EXERCISES and c.execute is None) or c.primary in ("TRIM-HALF", "TRIM-2GIB"))]


@pytest.mark.parametrize("case", EXERCISING, ids=[c.id for c in EXERCISING])
def test_cases_make_their_behaviour_happen(case: Case) -> None:
    notes = model_notes(case)
    if case.primary == "TRIM-2GIB":  # past 2 GiB fresh data is relayed; the window rule is the exception
        assert notes & {Note.TRIMMED} == ({Note.TRIMMED} if "trimmed" in case.id or "does-not-advance" in case.id
                                          else set()), case.id
    elif case.id not in NEGATIVE:
        assert notes & EXERCISES[case.primary], (case.id, notes)
    assert Note.TRIMMED not in notes or Feature.BELOW_BASE in case.all_needs(), case.id  # below the base: declared


# --------------------------------------------------------------------------------------------------
# Z3 boundary vectors
# --------------------------------------------------------------------------------------------------


def satisfies(prop_id: str, case: str, values: dict[str, int]) -> bool:
    """The committed vector is a model of the property's premises and the named boundary constraint."""
    goal = PROOFS[prop_id].goal()
    subst = [(var, z3.BoolVal(bool(values[name])) if z3.is_bool(var) else z3.BitVecVal(values[name], var.size()))
             for name, var in goal.variables.items()]
    (boundary,) = [b for name, b in goal.boundaries if name == case]
    conds = [e for _, e in goal.premises] + [boundary]
    conds += [expr == values[name] for name, expr in goal.derived.items()]
    return all(z3.is_true(z3.simplify(z3.substitute(c, *subst))) for c in conds)


def test_vector_file_matches_a_fresh_computation() -> None:
    # in a fresh process: the models Z3 finds depend on the queries made before in the same process
    # (other tests' proofs), so only a fresh solver gives the committed file's exact values
    import json
    import subprocess
    import sys

    committed = cases_vectors.load()
    code = "import json; from splicecheck.conformance import cases_vectors; print(json.dumps(cases_vectors.compute()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    fresh = json.loads(out.stdout)
    assert committed["properties"].keys() == fresh["properties"].keys()
    for pid, entry in fresh["properties"].items():
        mine = committed["properties"][pid]
        assert mine["requirements"] == entry["requirements"], pid
        assert [v["case"] for v in mine["vectors"]] == [v["case"] for v in entry["vectors"]], pid
        if committed["z3"] == fresh["z3"]:  # the same solver finds the same models
            assert mine["vectors"] == entry["vectors"], f"{pid}: rerun python -m splicecheck.conformance.cases_vectors"
        for v in mine["vectors"]:
            assert satisfies(pid, v["case"], v["values"]), (pid, v["case"])


def test_vector_cases() -> None:
    vectors = [c for c in CASES if c.kind is CaseKind.VECTOR]
    converted = {pid for pid in cases_vectors.CONVERTERS}
    assert converted | set(cases_vectors.SKIPPED) == set(PROOFS)
    for pid in converted:
        assert any(f"of {pid}." in c.description for c in vectors), pid
    assert len(vectors) > 80


# --------------------------------------------------------------------------------------------------
# Teeth: broken splices fail the matching cases
# --------------------------------------------------------------------------------------------------


def reseal(seg: Segment, ip: dict[str, Any] | None = None, **tcp: Any) -> Segment:
    """``seg`` with fields changed and checksums recomputed (a broken IUT that at least checksums)."""
    new_ip = seg.ip
    if ip:
        new_ip = dataclasses.replace(seg.ip, **ip)
        if isinstance(new_ip, IPv4Header):
            new_ip = dataclasses.replace(new_ip, checksum=None)
    return decode(encode(dataclasses.replace(seg, ip=new_ip, tcp=dataclasses.replace(seg.tcp, checksum=None, **tcp))))


def on_outputs(change: Callable[[Segment, Segment, RelayResult], Segment]) -> RelayFn:
    def relay_fn(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        r = relay(state, seg, now)
        out = tuple(change(e, seg, r) if isinstance(e, Segment) else e for e in r.emitted)
        return dataclasses.replace(r, emitted=out)

    return relay_fn


def relayed_as_if(alter: Callable[[SpliceState, Segment], SpliceState | None]) -> RelayFn:
    """Relay with an altered splice state where ``alter`` returns one (the successor state stays the true
    one, so only this segment's output is wrong)."""

    def relay_fn(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        right = relay(state, seg, now)
        other = alter(state, seg)
        if other is None:
            return right
        return dataclasses.replace(relay(other, seg, now), state=right.state)

    return relay_fn


def seq_plus_one(e: Segment, seg: Segment, r: RelayResult) -> Segment:
    return reseal(e, seq=(e.tcp.seq + 1) & MASK32)


def ack_mapped_regardless(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The old nf_nat_seq_adjust(): ack_seq rewritten whatever the ACK flag says."""
    r = relay(state, seg, now)
    if r.direction is None or seg.tcp.flags & ACK:
        return r
    leg_in, leg_out = state.legs(r.direction)
    ack = map_ack(seg.tcp.ack, leg_in.splice_iss, leg_out.splice_irs)
    return dataclasses.replace(r, emitted=tuple(reseal(e, ack=ack) if isinstance(e, Segment) else e
                                                for e in r.emitted))


def rfc1982_order(state: SpliceState, seg: Segment) -> SpliceState | None:
    """At exactly 2^31 from the base RFC 1982 orders nothing: such a splice relays the segment untrimmed."""
    d = direction_of(state, seg)
    if d is None:
        return None
    leg_in, leg_out = state.legs(d)
    if seq_sub(seg.tcp.seq, leg_in.splice_irs) != HALF:
        return None
    mapped = map_seq(seg.tcp.seq, leg_in.splice_irs, leg_out.splice_iss)
    legs = (dataclasses.replace(leg_in, splice_irs=seg.tcp.seq), dataclasses.replace(leg_out, splice_iss=mapped))
    client, server = legs if d is Direction.C2S else legs[::-1]
    return dataclasses.replace(state, client=client, server=server)


def never_trims(state: SpliceState, seg: Segment) -> SpliceState:
    """A splice that considers every stream saturated: it neither trims nor clips SACK blocks."""
    return dataclasses.replace(state, c2s_advance=HALF, s2c_advance=HALF)


def urgent_untouched(e: Segment, seg: Segment, r: RelayResult) -> Segment:
    if seg.tcp.flags & URG and Note.TRIMMED in r.notes:
        return reseal(e, flags=e.tcp.flags | URG, urgent=seg.tcp.urgent)
    return e


def only_first_timestamps(e: Segment, seg: Segment, r: RelayResult) -> Segment:
    """Linux synproxy_tstamp_adjust(): returns after the first Timestamps option."""
    ins = [o for o in seg.tcp.options if isinstance(o, Timestamps)]
    outs = [i for i, o in enumerate(e.tcp.options) if isinstance(o, Timestamps)]
    if len(ins) < 2 or len(outs) < 2:
        return e
    opts = list(e.tcp.options)
    opts[outs[1]] = ins[1]
    return reseal(e, options=tuple(opts))


def timestamps_unmapped(e: Segment, seg: Segment, r: RelayResult) -> Segment:
    ins = iter([o for o in seg.tcp.options if isinstance(o, Timestamps)])
    opts = tuple(next(ins) if isinstance(o, Timestamps) else o for o in e.tcp.options)
    return reseal(e, options=opts) if opts != e.tcp.options else e


def timestamps_everywhere(state: SpliceState, seg: Segment) -> SpliceState:
    return dataclasses.replace(state, client=dataclasses.replace(state.client, timestamps=True),
                               server=dataclasses.replace(state.server, timestamps=True))


def window_always_max(e: Segment, seg: Segment, r: RelayResult) -> Segment:
    return reseal(e, window=0xFFFF)


def ttl_kept(e: Segment, seg: Segment, r: RelayResult) -> Segment:
    return reseal(e, ip={"ttl": e.ip.hop_limit + 1}) if isinstance(e.ip, IPv4Header) else e


def ttl_ignored(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    if seg.ip.hop_limit <= 1 and isinstance(seg.ip, IPv4Header):
        seg = reseal(seg, ip={"ttl": 64})
    return relay(state, seg, now)


def relays_strangers(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    if direction_of(state, seg) is not None:
        return relay(state, seg, now)
    c = state.client
    return relay(state, reseal(seg, ip={"src": c.peer.addr, "dst": c.local.addr}, sport=c.peer.port,
                               dport=c.local.port), now)


def mss_ignored(state: SpliceState, seg: Segment) -> SpliceState:
    return dataclasses.replace(state, client=dataclasses.replace(state.client, peer_mss=0xFFFF),
                               server=dataclasses.replace(state.server, peer_mss=0xFFFF))


def checksum_recomputed(e: Segment, seg: Segment, r: RelayResult) -> Segment:
    return reseal(e)


#: Cases whose failure under a teeth relay is credited to other targeted requirements only: a segment
#: wholly below the base relayed whole breaks TRIM-SOUND (its data) and TRIM-REST (its seq), both MUSTs.
OTHERS_CREDITED = frozenset({"TRIM-BELOW/wholly-below-ack"})
#: cases whose own requirement holds but that saw another MUST broken first-hand: FAIL, naming it
COLLATERAL_MUST = {"ACK-MAP/c2s-pure-ack": "SEQ-MAP"}

TEETH: list[tuple[str, RelayFn, list[tuple[str, Verdict]]]] = [
    ("seq off by one", on_outputs(seq_plus_one),
     [("SEQ-MAP/c2s-at-base", Verdict.FAIL), ("SEQ-MAP/client-irs-ffffffff", Verdict.FAIL),
      ("SEQ-MAP/server-rst-mapped", Verdict.FAIL), ("SEQ-CTL/fin-acked-round-trip", Verdict.FAIL),
      ("TRIM-REST/irs-zero-straddles-wrap", Verdict.FAIL), ("ACK-MAP/c2s-pure-ack", Verdict.FAIL)]),
    ("ack mapped without ACK", ack_mapped_regardless,
     [("ACK-NOACK/bare-rst-s2c", grade("ACK-NOACK")), ("ACK-NOACK/data-without-ack", grade("ACK-NOACK")),
      ("ACK-MAP/rst-ack", Verdict.PASS)]),
    ("RFC 1982 order at 2^31", relayed_as_if(rfc1982_order),
     [("TRIM-HALF/c2s-at-half", grade("TRIM-HALF")), ("TRIM-HALF/irs-zero", grade("TRIM-HALF")),
      ("SEQ-ORDER-HALF/seq-at-half-c2s", grade("SEQ-ORDER-HALF")),
      ("SEQ-ORDER-HALF/seq-just-before-half", Verdict.PASS)]),
    ("no trimming, no clipping", relayed_as_if(never_trims),
     [("TRIM-SOUND/retransmit-presplice-c2s", Verdict.FAIL), ("TRIM-REST/straddle-c2s", Verdict.FAIL),
      ("TRIM-BELOW/wholly-below-ack", Verdict.FAIL), ("SACK-CLIP/straddles-base", grade("SACK-CLIP")),
      ("TRIM-2GIB/retransmission-after-1gib-trimmed", Verdict.FAIL), ("TRIM-2GIB/saturates-past-2gib", Verdict.PASS)]),
    ("urgent pointer not adjusted", on_outputs(urgent_untouched),
     [("URG-SHIFT/straddle-c2s", Verdict.FAIL), ("URG-CLEAR/urgent-octet-last-trimmed", grade("URG-CLEAR")),
      ("URG-KEEP/c2s-at-base", Verdict.PASS)]),
    ("synproxy: only the first Timestamps option mapped", on_outputs(only_first_timestamps),
     [("TS-VAL/two-ts-options-c2s", Verdict.FAIL), ("TS-VAL/two-ts-options-s2c", Verdict.FAIL),
      ("TS-VAL/c2s", Verdict.PASS)]),
    ("timestamps relayed unmapped", on_outputs(timestamps_unmapped),
     [("TS-VAL/c2s", Verdict.FAIL), ("TS-ECR/s2c", Verdict.FAIL),
      ("TS-VAL/z3-ts-paws-mapped-tsval-wraps-to-0", Verdict.FAIL)]),
    ("timestamps mapped where they must be stripped", relayed_as_if(timestamps_everywhere),
     [("TS-STRIP/client-only-c2s", grade("TS-STRIP")), ("TS-STRIP/server-only-s2c", grade("TS-STRIP"))]),
    ("window always 65535", on_outputs(window_always_max),
     [("WS-SAFE/s2c-window-sequence", Verdict.FAIL), ("WS-EXACT/s2c-small-window", Verdict.FAIL)]),
    ("TTL not decremented", on_outputs(ttl_kept), [("TTL-DEC/c2s-64", grade("TTL-DEC"))]),
    ("expired TTL relayed", ttl_ignored,
     [("TTL-EXPIRE/ttl-1-c2s", grade("TTL-EXPIRE")), ("TTL-EXPIRE/expired-rst-does-not-close", grade("TTL-EXPIRE"))]),
    ("foreign segments relayed", relays_strangers,
     [("DIR-ONLY/foreign-source-port", Verdict.FAIL), ("DIR-ONLY/foreign-rst-does-not-close", Verdict.FAIL)]),
    ("MSS not enforced", relayed_as_if(mss_ignored),
     [("MSS-ICMP/c2s-over-server-mss", grade("MSS-ICMP")), ("MSS-ICMP/exactly-mss", Verdict.PASS)]),
    ("checksum recomputed", on_outputs(checksum_recomputed),
     [("CSUM-FAILSAFE/corrupt-c2s", grade("CSUM-FAILSAFE")), ("TCPCSUM-VALID/c2s-data", Verdict.PASS)]),
]


@pytest.mark.parametrize(("name", "relay_fn", "expect"), TEETH, ids=[t[0] for t in TEETH])
def test_broken_relays_fail_their_cases(name: str, relay_fn: RelayFn, expect: list[tuple[str, Verdict]]) -> None:
    adapter = ReferenceAdapter(relay_fn=relay_fn)
    for case_id, want in expect:
        r = verdict(adapter, case_id)
        assert r.verdict is want, (name, case_id, r.verdict, [d.line() for d in r.diffs])
        if case_id in COLLATERAL_MUST:
            assert not r.targeted and COLLATERAL_MUST[case_id] in r.collateral_failures, (case_id, r)
        elif want is not Verdict.PASS and case_id not in OTHERS_CREDITED:  # counted against the case's own req
            assert any(d.req == r.reqs[0] for d in r.targeted), (case_id, [d.line() for d in r.diffs])


@pytest.mark.req("TRIM-HALF", "SEQ-ORDER-HALF")
def test_half_distance_failures_are_credited_to_the_half_requirements() -> None:
    r = verdict(ReferenceAdapter(relay_fn=relayed_as_if(rfc1982_order)), "TRIM-HALF/c2s-at-half")
    assert {d.req for d in r.diffs} >= {"TRIM-HALF"} and "TRIM-SOUND" not in {d.req for d in r.diffs}


# --------------------------------------------------------------------------------------------------
# Teeth: broken lifecycles and adapters
# --------------------------------------------------------------------------------------------------


class SessionWrapper(ReferenceAdapter):
    """The reference with its session replaced by ``make(scenario, reference session)``."""

    def __init__(self, make: Callable[[Scenario, ReferenceSession], Any]) -> None:
        super().__init__()
        self.make = make

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[Any]:
        with super().open(scenario) as session:
            yield self.make(scenario, session)


def spliced_with(change: Callable[[SpliceState, Scenario], SpliceState]) -> SessionWrapper:
    """An IUT whose splice has the constants ``change`` makes of the right ones."""

    def make(scenario: Scenario, session: ReferenceSession) -> ReferenceSession:
        return ReferenceSession(SpliceMachine.spliced(change(session.state, scenario)))

    return SessionWrapper(make)


class AcceptsEverything(ReferenceSession):
    def event(self, event: Event) -> Observation:
        return Observation()


class AcksServerData(ReferenceSession):
    """Acknowledges server data itself (DONT_ACK not honoured) besides relaying it."""

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        obs = super().inject(segment, raw=raw, expect=expect)
        if segment.payload and segment.tcp.sport == self.state.server.peer.port:
            return dataclasses.replace(obs, to_server=(*obs.to_server, encode(segment)))
        return obs


class RemembersOldSplice(ReferenceAdapter):
    """Keeps the constants of the first splice for every later one on the same ports (stale state)."""

    def __init__(self) -> None:
        super().__init__()
        self.first: SpliceState | None = None

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[ReferenceSession]:
        machine = reference_machine(scenario)
        if self.first is None:
            self.first = machine.splice
        else:
            machine = SpliceMachine.spliced(self.first)
        yield ReferenceSession(machine)


def forget_ok_message(st: SpliceState, sc: Scenario) -> SpliceState:
    return dataclasses.replace(st, client=dataclasses.replace(
        st.client, splice_iss=seq_sub(st.client.splice_iss, sc.ok_len)))


def scale_seven_to_client(st: SpliceState, sc: Scenario) -> SpliceState:
    return dataclasses.replace(st, client=dataclasses.replace(st.client, local_wscale=7))


def propose_zero_to_server(st: SpliceState, sc: Scenario) -> SpliceState:
    return dataclasses.replace(st, server=dataclasses.replace(st.server, local_wscale=0))


@pytest.mark.req("LIFE-TOTAL")
def test_lifecycle_walk_catches_an_iut_that_accepts_every_event() -> None:
    r = verdict(SessionWrapper(lambda sc, s: AcceptsEverything(s.machine)), "LIFE-TOTAL/reachable-stages")
    assert r.verdict is grade("LIFE-TOTAL")
    assert all(d.req == "LIFE-TOTAL" and d.expected == "refused" for d in r.diffs)
    assert len(r.diffs) == 22  # 7 socket-level events in each of the 3 reachable stages, APP_CLOSE after a RST


@pytest.mark.req("LIFE-BASE-S2C", "LIFE-COMPLETE")
def test_base_points_catch_a_forgotten_ok_message() -> None:
    adapter = spliced_with(forget_ok_message)
    r = verdict(adapter, "LIFE-BASE-S2C/presplice-and-ok-message")
    assert r.verdict is Verdict.FAIL
    assert "state.client.splice_iss (C.snd_nxt at PRESPLICE + OK length)" in {d.field for d in r.diffs}
    assert {d.req for d in r.targeted} == {"LIFE-BASE-S2C"}  # on the wire too: seq to the client, ack to the server
    assert any(d.field.endswith("tcp.seq") for d in r.diffs) and any(d.field.endswith("tcp.ack") for d in r.diffs)
    assert verdict(adapter, "LIFE-COMPLETE/ack-of-ok-message").verdict is Verdict.FAIL
    assert verdict(adapter, "LIFE-BASE-S2C/no-ok-message").verdict is Verdict.PASS  # n = 0: nothing forgotten


@pytest.mark.req("LIFE-DONTACK")
def test_dont_ack_catches_a_proxy_acking_server_data() -> None:
    r = verdict(SessionWrapper(lambda sc, s: AcksServerData(s.machine)), "LIFE-DONTACK/first-held-byte-follows-ok")
    assert r.verdict is Verdict.FAIL and {d.field for d in r.diffs} == {"to_server.count"}


@pytest.mark.req("LIFE-BASE-C2S")
def test_reused_5_tuple_catches_stale_splice_state() -> None:
    r = verdict(RemembersOldSplice(), "LIFE-BASE-C2S/reuse-5-tuple-after-rst")
    assert r.verdict is Verdict.FAIL
    assert {d.req for d in r.targeted} == {"LIFE-BASE-C2S", "LIFE-BASE-S2C"}


@pytest.mark.req("WS-ZERO", "WS-PROPAGATE")
def test_window_scale_announcements() -> None:
    assert verdict(spliced_with(scale_seven_to_client), "WS-ZERO/client-offers-7").verdict is Verdict.NON_STRICT
    assert verdict(spliced_with(propose_zero_to_server),
                   "WS-PROPAGATE/client-7-server-2").verdict is Verdict.NON_STRICT


def test_unsupported_features_make_cases_unsupported_not_failed() -> None:
    class Plain(ReferenceAdapter):
        unsupported = frozenset(Feature)

    results = run(Plain(), list(CASES), adapter_spec="plain")
    ran = [r for r in results if r.verdict is not Verdict.UNSUPPORTED]
    assert ran and all(r.verdict is Verdict.PASS for r in ran)
    assert all(r.reason.startswith("the IUT cannot") for r in results if r.verdict is Verdict.UNSUPPORTED)


# --------------------------------------------------------------------------------------------------
# Refusal to splice (paper §3.4's first solution)
# --------------------------------------------------------------------------------------------------


class RefusesToSplice(ReferenceAdapter):
    """An IUT that declines every splice and relays through its application instead."""

    name = "refuses"

    def open(self, scenario: Scenario) -> Any:
        raise SpliceRefused("incompatible options: relayed through the application")


@pytest.mark.req("SPLICE-REFUSE")
def test_a_refusal_on_disagreeing_legs_is_a_legitimate_alternative_not_fail_or_unsupported() -> None:
    r = verdict(RefusesToSplice(), "SPLICE-REFUSE/timestamps-one-leg")
    assert r.verdict is Verdict.PASS and r.alternative == "refuse" and r.diffs == [] and r.checked == 1
    assert "splice refused" in r.reason
    r = verdict(RefusesToSplice(), "TS-STRIP/client-only-c2s")  # the strip case on such legs: refusal passes too
    assert r.verdict is Verdict.PASS and r.alternative == "refuse" and "SPLICE-REFUSE" in r.reqs


@pytest.mark.req("SPLICE-REFUSE", "SEQ-MAP")
def test_a_refusal_on_agreeing_legs_is_graded_by_the_cases_own_requirement() -> None:
    r = verdict(RefusesToSplice(), "SEQ-MAP/c2s-at-base")
    assert r.verdict is Verdict.FAIL and [d.req for d in r.diffs] == ["SEQ-MAP"]


@pytest.mark.req("CSUM-FAILSAFE", "CSUM-CORRUPT-RELAY")
def test_dropping_a_corrupt_segment_is_info_and_relaying_it_valid_is_fail() -> None:
    def drops_corrupt(state: SpliceState, seg: Segment, now: float) -> RelayResult:
        """The authors' verify-and-recompute implementation (paper §3.3): a corrupt segment is dropped."""
        out = relay(state, seg, now)
        raw = encode(seg)  # the bytes as received
        return out if ip_valid(seg, raw) and tcp_valid(seg, raw) else dataclasses.replace(out, emitted=())

    for case_id in ("CSUM-FAILSAFE/corrupt-c2s", "CSUM-FAILSAFE/corrupt-s2c", "CSUM-FAILSAFE/corrupt-ip-header",
                    "CSUM-CORRUPT-RELAY/relayed-c2s"):
        r = verdict(ReferenceAdapter(relay_fn=drops_corrupt), case_id)
        assert r.verdict is Verdict.INFO, (case_id, r.diffs)
        assert {d.req for d in r.diffs} == {"CSUM-CORRUPT-RELAY"}, case_id
