"""The mutant zoo (adapters/mutants.py) and ``splicecheck mutants`` (splicecheck/cli_mutants.py).

Every mutant has a *witness*: a small case on which it differs from the model, so no mutant is
equivalent to the model, and the diff engine grades the difference. The catalogue test checks that
the real suite kills every mutant.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence

import pytest
from splicecheck.adapters import mutants as zoo
from splicecheck.adapters.mutants import MUTANTS, MutantAdapter
from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance import cases_handshake, catalog
from splicecheck.conformance.case import (
    Case,
    Injection,
    corrupt_tcp_checksum,
    from_client,
    from_server,
    injections,
    ts_option,
)
from splicecheck.conformance.cases_common import spliced_at, with_ip
from splicecheck.conformance.cases_lifecycle_end import half_close
from splicecheck.conformance.contract import (
    Adapter,
    AdapterNotFound,
    Feature,
    Observation,
    PeerPlan,
    Scenario,
    load_adapter,
)
from splicecheck.conformance.diff import icmp_valid, lines, tcp_valid
from splicecheck.conformance.handshake import session_handshake
from splicecheck.conformance.results import CaseResult, Verdict
from splicecheck.conformance.runner import run_case
from splicecheck.reference import mapping
from splicecheck.reference import relay as relay_module
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.icmp import encode_icmp
from splicecheck.reference.relay import SpliceState, relay
from splicecheck.reference.segment import (
    ACK,
    AE,
    FIN,
    NOP,
    PSH,
    RST,
    URG,
    Sack,
    Segment,
    Timestamps,
    WindowScale,
    addr,
)
from splicecheck.reference.seqspace import before, seq_add, serial_lt

from splicecheck import cli_mutants

H31, M32 = 1 << 31, 0xFFFF_FFFF

# --------------------------------------------------------------------------------------------------
# Witnesses: one small case per mutant
# --------------------------------------------------------------------------------------------------

WRAP = Scenario(client=PeerPlan(isn=0xFFFF_FFF0, tsval=5, sack_permitted=True, wscale=7),
                server=PeerPlan(isn=0xFFFF_FFFE, tsval=9, sack_permitted=True, wscale=2), ok_len=5,
                client_presplice=20)  # C.splice_irs = 5, D.splice_irs = 0xffffffff: both legs wrap
HALF = Scenario(client=PeerPlan(isn=0x8000_0000))  # C.splice_irs = 0x80000001, just past the signed boundary
SACK_WRAP = dataclasses.replace(WRAP, proxy_isn_c=0xFFFF_FFFD)  # C.splice_iss = 3, just past the wrap
SACK_TOP = dataclasses.replace(WRAP, proxy_isn_c=0xFFFF_0000)  # C.splice_iss = 0xffff0006, 64 KiB below 2^32
SEQ_BASE_LOW = dataclasses.replace(WRAP, proxy_isn_d=0xF000_0000)  # D.splice_iss far below C.splice_irs = 5
TS_ONE_LEG = Scenario(client=PeerPlan(isn=1000), server=PeerPlan(isn=2000, tsval=77))  # TS on leg D only
MSS_V4 = spliced_at(server_mss=536)  # a 1000-byte client segment gets ICMP fragmentation-needed
MSS_V6 = spliced_at(server_mss=1300, family=6)  # a 1400-byte one ICMPv6 packet-too-big (MTU 1360 >= 1280)
ICMP = frozenset({Feature.MSS_ICMP})

Build = Callable[[SpliceState], Sequence[Injection | Segment]]


def zero_checksum(st: SpliceState) -> list[Segment]:
    """A segment whose relayed checksum is 0x0000 (RFC 1141's corner): its last payload word is the
    checksum the relayed segment gets when that word is zero, which brings the sum to 0xffff."""
    probe = from_client(st, 0, payload=b"ok\x00\x00", flags=ACK | PSH)
    (out,) = relay(st, probe, 0.0).segments
    assert out.tcp.checksum
    return [from_client(st, 0, payload=b"ok" + out.tcp.checksum.to_bytes(2, "big"), flags=ACK | PSH)]


def reserved_bits(st: SpliceState) -> list[Segment]:
    s = from_client(st, 0, payload=b"r", flags=ACK | AE)
    return [decode(encode(dataclasses.replace(s, tcp=dataclasses.replace(s.tcp, reserved=5, checksum=None),
                                              ip=dataclasses.replace(s.ip, checksum=None))))]


def sack(st: SpliceState, left: int, right: int) -> list[Segment]:
    iss = st.client.splice_iss
    return [from_client(st, 0, options=[NOP, NOP, Sack(((seq_add(iss, left), seq_add(iss, right)),))])]


def two_sacks(st: SpliceState) -> list[Segment]:
    iss = st.client.splice_iss
    return [from_client(st, 0, options=[NOP, NOP, Sack(((seq_add(iss, 10), seq_add(iss, 20)),)),
                                        NOP, NOP, Sack(((seq_add(iss, 30), seq_add(iss, 40)),))])]


def lifecycle_witness(name: str, case_id: str) -> Case:
    (case,) = catalog.select(ids=[case_id])
    return dataclasses.replace(case, id=f"{case.primary}/witness-{name}")


def witness(name: str, reqs: tuple[str, ...], build: Build, scenario: Scenario = WRAP,
            needs: frozenset[Feature] = frozenset()) -> Case:
    return Case(f"{reqs[0]}/witness-{name}", reqs, f"witness of mutant {name}", "as the model", build, scenario,
                needs)


WITNESSES: dict[str, Case] = {w.id.split("witness-")[1]: w for w in [
    witness("unmasked-seq", ("SEQ-MAP",), lambda st: [from_server(st, 5, payload=b"wrap")]),
    witness("plain-lt", ("TRIM-SOUND", "TRIM-REST"), lambda st: [from_client(st, -8, payload=b"0123456789ab")]),
    witness("signed-lt", ("TRIM-SOUND", "TRIM-REST"), lambda st: [from_client(st, -4, payload=b"012345")], HALF),
    witness("serial-lt", ("TRIM-HALF", "TRIM-SOUND"), lambda st: [from_client(st, 1 << 31, payload=b"half")]),
    witness("no-trim", ("TRIM-SOUND", "TRIM-REST"), lambda st: [from_client(st, -3, payload=b"abcdef")]),
    witness("fixed-base", ("TRIM-COMPLETE", "PAYLOAD-KEEP", "SEQ-MAP"), lambda st: [
        from_client(st, (1 << 30) - 100, payload=b"x" * 10), from_client(st, (1 << 31) - 200, payload=b"y" * 10),
        from_client(st, (1 << 31) + 100, payload=b"past 2 GiB")]),
    witness("fin-not-counted", ("TRIM-BELOW",), lambda st: [from_client(st, -3, payload=b"ab", flags=ACK | FIN)]),
    witness("urg-not-shifted", ("URG-SHIFT",),
            lambda st: [from_client(st, -3, payload=b"abcdefgh", flags=ACK | URG, urgent=6)]),
    witness("urg-not-cleared", ("URG-CLEAR",),
            lambda st: [from_client(st, -3, payload=b"abcdefgh", flags=ACK | URG, urgent=2)]),
    witness("ack-wrong-base", ("ACK-MAP",), lambda st: [from_client(st, 0, ack_off=7, payload=b"x")]),
    witness("rst-ack-mapped", ("ACK-NOACK",), lambda st: [from_server(st, 0, flags=RST, ack=12345)]),
    witness("sack-unmapped", ("SACK-MAP",), lambda st: sack(st, 10, 20)),
    witness("sack-clip-lt", ("SACK-CLIP",), lambda st: sack(st, -16, 20), SACK_WRAP),
    witness("sack-not-clipped", ("SACK-CLIP",), lambda st: sack(st, -3, 20)),
    witness("tsval-unmapped", ("TS-VAL",), lambda st: [from_client(st, 0, payload=b"t")]),
    witness("tsecr-unmapped", ("TS-ECR",), lambda st: [from_client(st, 0, payload=b"t")]),
    witness("ts-first-only", ("TS-VAL", "TS-ECR"), lambda st: [from_client(
        st, 0, payload=b"t", ts=False, options=[NOP, NOP, ts_option(st.client), NOP, NOP, ts_option(st.client, 2)])]),
    witness("ts-not-stripped", ("TS-STRIP",), lambda st: [from_server(st, 0, payload=b"t")], TS_ONE_LEG),
    witness("ws-not-stripped", ("WS-STRIP",), lambda st: [from_client(st, 0, options=[NOP, WindowScale(7)])]),
    witness("window-not-unscaled", ("WS-EXACT",), lambda st: [from_server(st, 0, window=1000)]),
    witness("window-truncated", ("WS-EXACT",), lambda st: [from_server(st, 0, window=30000)]),
    witness("mss-no-icmp", ("MSS-ICMP",), lambda st: [from_client(st, 0, payload=b"m" * 1500)],
            needs=frozenset({Feature.MSS_ICMP})),
    witness("mss-silent-drop", ("MSS-ICMP",), lambda st: [from_client(st, 0, payload=b"m" * 1500)],
            needs=frozenset({Feature.MSS_ICMP})),
    witness("sack-first-only", ("SACK-MAP",), two_sacks),
    witness("ts-fastpath-ecr", ("TS-ECR",), lambda st: [from_client(
        st, 0, payload=b"t", options=[NOP, NOP, ts_option(st.client, 1, 3)])]),
    witness("icmp6-csum-no-pseudo", ("MSS-ICMP",), lambda st: [from_client(st, 0, payload=b"m" * 1400)], MSS_V6,
            ICMP),
    witness("icmp-csum-before-quote", ("MSS-ICMP",), lambda st: [from_client(st, 0, payload=b"m" * 1000)], MSS_V4,
            ICMP),
    witness("icmp-quotes-relayed", ("MSS-ICMP",), lambda st: [from_client(st, 0, payload=b"m" * 1000)], MSS_V4,
            ICMP),
    witness("icmp6-short-quote", ("MSS-ICMP",), lambda st: [from_client(st, 0, payload=b"m" * 1400)], MSS_V6, ICMP),
    witness("icmp-from-out-peer", ("MSS-ICMP",), lambda st: [from_server(st, 0, payload=b"m" * 2000)], MSS_V4,
            ICMP),
    witness("icmp-ttl-inherited", ("MSS-ICMP",), lambda st: [from_client(st, 0, payload=b"m" * 1000, ttl=20)],
            MSS_V4, ICMP),
    witness("dir-any-local-addr", ("DIR-ONLY",),
            lambda st: [with_ip(from_client(st, 0, payload=b"x"), dst=addr("198.18.0.98"))],
            needs=frozenset({Feature.FOREIGN_SEGMENT})),
    witness("csum-clip-stale", ("SACK-CLIP",), lambda st: sack(st, -3, 20)),
    witness("ipopt-kept", ("IPOPT-STRIP",), lambda st: [from_client(st, 0, ip_options=b"\x94\x04\x00\x00")],
            needs=frozenset({Feature.IP_OPTIONS})),
    witness("ttl-not-decremented", ("TTL-DEC",), lambda st: [from_client(st, 0, payload=b"x")]),
    witness("reserved-cleared", ("FLAGS-KEEP",), reserved_bits),
    witness("rfc1141", ("TCPCSUM-VALID",), zero_checksum),
    witness("csum-recompute", ("CSUM-FAILSAFE",),
            lambda st: [corrupt_tcp_checksum(from_client(st, 0, payload=b"x" * 7))]),
    witness("ok-len-ignored", ("SEQ-MAP",), lambda st: [from_server(st, 0, payload=b"data")]),
    witness("fin-ends-splice", ("LIFE-TEARDOWN",), half_close),
    # lifecycle mutants whose bug needs events or the accept direction: the catalogue's case, run by its execute
    lifecycle_witness("close-sends-fin", "LIFE-CLOSE-SILENT/close-after-ok-message"),
    lifecycle_witness("ok-not-retransmitted", "LIFE-OK-RETRANSMIT/ok-message-lost"),
    lifecycle_witness("accept-dontack-not-inherited", "LIFE-ACCEPT/ftp-active-early-data"),
    # wrap-only bugs (adapters/mutants/wrap.py); WRAP: D.splice_irs = 2^32 - 1, C.splice_irs = 5
    witness("wrap-cross-dropped", ("SEQ-MAP", "PAYLOAD-KEEP"), lambda st: [from_server(st, 0, payload=b"wrap")]),
    witness("wrap-trim-end", ("TRIM-REST", "TRIM-COMPLETE"), lambda st: [from_server(st, -3, payload=b"abcdefgh")]),
    witness("wrap-urg-end", ("URG-CLEAR",),
            lambda st: [from_client(st, -8, payload=b"0123456789ab", flags=ACK | URG, urgent=2)]),
    witness("wrap-sack-edge", ("SACK-MAP",), lambda st: sack(st, 10, 20), SACK_TOP),
    witness("wrap-tsecr", ("TS-ECR",), lambda st: [from_client(
        st, 0, payload=b"t", options=[NOP, NOP, Timestamps(7, M32 - 0xFF)])]),
    witness("wrap-seq-base", ("SEQ-MAP",), lambda st: [from_client(st, 0, payload=b"x")], SEQ_BASE_LOW),
]}


# The handshake mutant's witness is checked like the HS cases: on the proxy's own handshake packets.
WITNESSES["hs-echo-twice"] = Case("HS-SERVER-ACK-TSECR/witness-hs-echo-twice", ("HS-SERVER-ACK-TSECR",),
                                  "witness of mutant hs-echo-twice", "as the model", lambda st: [], WRAP,
                                  execute=cases_handshake.handshake_checked)


def observe(adapter: Adapter, case: Case) -> list[Observation]:
    with adapter.open(case.scenario) as session:
        return [session.inject(i.segment, raw=i.raw) for i in injections(case.build(session.state))]


def observe_all(adapter: Adapter, case: Case) -> list[Observation]:
    """Everything the IUT emitted: the proxy's own handshake packets (when the session reports them), then
    its answer to each injection."""
    with adapter.open(case.scenario) as session:
        hs = session_handshake(session)
        return ([hs.observation] if hs is not None else []) + \
            [session.inject(i.segment, raw=i.raw) for i in injections(case.build(session.state))]


def wire(obs: list[Observation]) -> list[tuple[tuple[bytes, ...], tuple[bytes, ...]]]:
    return [(o.to_client, o.to_server) for o in obs]


# --------------------------------------------------------------------------------------------------
# The zoo
# --------------------------------------------------------------------------------------------------


def test_every_mutant_has_a_witness_and_a_docstring() -> None:
    assert set(WITNESSES) == set(MUTANTS)
    assert "plain-lt" in MUTANTS  # used by name by the wrap-strategy benchmark
    for m in MUTANTS.values():
        assert len(m.doc) > 80 and m.summary, m.name
        assert m.violates, m.name


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_differs_from_the_model_and_the_diff_engine_says_so(name: str) -> None:
    case = WITNESSES[name]
    if case.execute is None:  # a lifecycle witness compares the wire step by step in its own execute
        assert wire(observe_all(MutantAdapter(name), case)) != wire(observe_all(ReferenceAdapter(), case))
    r = run_case(MutantAdapter(name), case, f"mutant:{name}")
    assert r.verdict in cli_mutants.KILLING, (r.verdict, list(lines(r.diffs)))
    assert r.verdict.value != "ERROR", r.reason


def test_the_model_passes_every_witness() -> None:
    for case in WITNESSES.values():
        r = run_case(ReferenceAdapter(), case, "reference")
        assert r.verdict.value == "PASS", (case.id, list(lines(r.diffs)), r.reason)


def test_mutants_keep_their_checksums_consistent() -> None:
    """Outside the checksum mutants, every relayed segment of a valid input has valid checksums: a
    mutant is caught by its bug, never by a checksum it forgot."""
    for name, case in WITNESSES.items():
        if name in ("rfc1141", "csum-recompute", "csum-clip-stale") or case.id.startswith("CSUM"):
            continue
        for obs in observe(MutantAdapter(name), case):
            for raw in obs.to_client + obs.to_server:
                if raw[9 if raw[0] >> 4 == 4 else 6] != 6:
                    continue  # ICMP
                seg = decode(raw)
                assert tcp_valid(seg, raw), name


def test_rfc1141_differs_only_at_the_zero_corner() -> None:
    rng = random.Random(1)
    with MutantAdapter("rfc1141").open(WRAP) as session:
        st = session.state
    corner = 0
    for _ in range(3000):
        s = from_client(st, rng.randrange(0, 1000), payload=rng.randbytes(rng.randrange(2, 40)),
                        window=rng.randrange(65536))
        (want,) = relay(st, s, 0.0).segments
        (got,) = zoo.rfc1141(st, s, 0.0).segments
        assert got.tcp.checksum == want.tcp.checksum or (want.tcp.checksum, got.tcp.checksum) == (0, 0xFFFF)
        corner += got.tcp.checksum != want.tcp.checksum
    (want,) = relay(st, zero_checksum(st)[0], 0.0).segments
    (got,) = zoo.rfc1141(st, zero_checksum(st)[0], 0.0).segments
    assert (want.tcp.checksum, got.tcp.checksum) == (0, 0xFFFF)
    assert corner < 10  # random inputs almost never reach the corner: that is the point


def test_serial_lt_changes_only_the_order() -> None:
    """The serial-lt mutant's stream order is the model's with ``before`` replaced, and nothing else:
    with ``before`` put back it is the model's ``behind_base``; with serial_lt it differs only at 2^31."""
    rng = random.Random(4)
    model_order = zoo.behind_base_by(before)
    edges = [0, 1, 2, H31 - 1, H31, H31 + 1, M32 - 1, M32]
    for _ in range(20000):
        base = rng.choice([rng.randrange(1 << 32), *edges])
        x = (base + rng.choice([rng.randrange(1 << 32), *edges, -1, -H31])) & M32
        advance = rng.choice([0, 1, rng.randrange(H31), H31 - 1, H31])
        assert model_order(x, base, advance) == mapping.behind_base(x, base, advance), (x, base, advance)
        if zoo.behind_base_by(serial_lt)(x, base, advance) != model_order(x, base, advance):
            assert H31 in ((base - x) & M32, (base + advance - x) & M32)


def test_crafted_icmp_is_on_the_wire_and_only_there() -> None:
    """The checksum mutants' errors reach the wire with the bad checksum (the zoo's sessions encode them);
    their other fields are the model's, and ``encode_icmp`` of them is still the model's packet."""
    for name, bad in (("icmp6-csum-no-pseudo", (True, False)), ("icmp-csum-before-quote", (True, False))):
        case = WITNESSES[name]
        (got,) = observe(MutantAdapter(name), case)[0].to_client
        (want,) = observe(ReferenceAdapter(), case)[0].to_client
        assert len(got) == len(want) and got != want
        assert icmp_valid(want) == (True, True) and icmp_valid(got) == bad
        with MutantAdapter(name).open(case.scenario) as session:
            st = session.state
        (msg,) = MUTANTS[name].relay_fn(st, injections(case.build(st))[0].segment, 0.0).emitted
        assert encode_icmp(msg) == want


def test_layout_and_instance_mutants_are_right_elsewhere() -> None:
    """ts-fastpath-ecr errs only in the aligned layouts, sack-first-only only on a second SACK option, the
    ICMP mutants only on ICMP errors, csum-clip-stale only when a block is clipped."""
    with ReferenceAdapter().open(WRAP) as session:
        st = session.state
    iss = st.client.splice_iss
    ordinary = [from_client(st, 0, payload=b"unaligned"),  # TS then EOL: the layout the cases append
                from_client(st, 0, options=[Sack(((seq_add(iss, 10), seq_add(iss, 20)),))]),
                from_client(st, 0, payload=b"m" * 100)]
    for name in ("ts-fastpath-ecr", "sack-first-only", "icmp6-csum-no-pseudo", "icmp-csum-before-quote",
                 "icmp-quotes-relayed", "icmp6-short-quote", "icmp-from-out-peer", "icmp-ttl-inherited",
                 "dir-any-local-addr", "csum-clip-stale"):
        for seg in ordinary:
            assert MUTANTS[name].relay_fn(st, seg, 0.0) == relay(st, seg, 0.0), name


#: the new mutant classes of issue 12 and the named case that kills each first (catalogue order)
ISSUE12_KILLERS = {
    "icmp6-csum-no-pseudo": "MSS-ICMP/ipv6-packet-too-big",
    "icmp-csum-before-quote": "MSS-ICMP/c2s-over-server-mss",
    "icmp-quotes-relayed": "MSS-ICMP/c2s-over-server-mss",
    "icmp6-short-quote": "MSS-ICMP/ipv6-packet-too-big",
    "icmp-from-out-peer": "MSS-ICMP/c2s-over-server-mss",
    "icmp-ttl-inherited": "MSS-ICMP/c2s-over-server-mss",
    "sack-first-only": "SACK-MAP/two-sack-options",
    "ts-fastpath-ecr": "TS-ECR/aligned-layout-c2s",
    "dir-any-local-addr": "DIR-ONLY/foreign-destination-address",
    "csum-clip-stale": "SEQ-ORDER-HALF/sack-block-at-half",
    "hs-echo-twice": "HS-SERVER-ACK-TSECR/both-timestamps",
}


def test_issue12_mutants_are_killed_by_their_named_cases() -> None:
    """Each new mutant is in the zoo and killed by its named case (the reference passing it: the control);
    csum-clip-stale by a case aimed at another requirement, through the collateral TCPCSUM-VALID."""
    assert set(ISSUE12_KILLERS) <= set(MUTANTS)
    try:
        cases = catalog.select(ids=sorted(set(ISSUE12_KILLERS.values())))
    except catalog.UnknownCase:
        pytest.skip("a killing case is missing from the catalogue")
    outcomes = cli_mutants.hunt_all(list(ISSUE12_KILLERS), cases)
    for o in outcomes:
        assert o.killed and not o.ignored, (o.mutant, cli_mutants.table(outcomes))
        assert ISSUE12_KILLERS[o.mutant] in [k.case for k in o.kills], (o.mutant, o.kills)
        kill = next(k for k in o.kills if k.case == ISSUE12_KILLERS[o.mutant])
        assert kill.verdict in ("FAIL", "NON-STRICT"), (o.mutant, kill)
    clip = next(o for o in outcomes if o.mutant == "csum-clip-stale")
    assert clip.kills[0].reqs == ("TCPCSUM-VALID",) or clip.kills[0].verdict == "FAIL"


def test_swapped_functions_are_restored_even_on_error() -> None:
    case = WITNESSES["unmasked-seq"]
    observe(MutantAdapter("unmasked-seq"), case)  # raises struct.error inside, caught: the segment is dropped
    observe(MutantAdapter("plain-lt"), WITNESSES["plain-lt"])
    assert relay_module.map_seq is mapping.concrete.map_seq  # the twin the relay runs (tests/test_concrete.py)
    assert relay_module.trim_count is mapping.concrete.trim_count


def test_ok_len_mutant_reports_the_correct_constants() -> None:
    with MutantAdapter("ok-len-ignored").open(WRAP) as bad, ReferenceAdapter().open(WRAP) as good:
        assert bad.state == good.state
        assert bad.machine.splice is not None
        assert bad.machine.splice.client.splice_iss == (good.state.client.splice_iss - WRAP.ok_len) & 0xFFFF_FFFF


def test_loading_by_name() -> None:
    adapter = load_adapter("mutant:plain-lt")
    assert adapter.name == "mutant:plain-lt" and adapter.unsupported == frozenset()
    info = adapter.info()
    assert info.name == "mutant:plain-lt" and info.details["mutant"] == "plain-lt" and "before" in info.description
    for bad in ("mutant:nope", "mutant:", "mutant"):
        with pytest.raises(AdapterNotFound) as exc:
            load_adapter(bad)
        assert "plain-lt" in str(exc.value) and "ok-len-ignored" in str(exc.value)


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def witness_catalogue(monkeypatch: pytest.MonkeyPatch) -> tuple[Case, ...]:
    cases = tuple(WITNESSES.values())
    monkeypatch.setattr(catalog, "all_cases", lambda: cases)
    return cases


def test_cli_kills_every_mutant_on_the_witnesses(witness_catalogue: tuple[Case, ...],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_mutants.main(["--jobs", "1"]) == 0
    out = capsys.readouterr().out
    n = len(MUTANTS)
    assert f"killed {n}/{n} (100%)" in out
    assert "SEQ-MAP/witness-unmasked-seq (SEQ-MAP)" in out  # first witness in catalogue order kills it
    # plain-lt is caught already by the first wrap witness: 4 < 0xffffffff, so data after the base is trimmed
    assert "SEQ-MAP/witness-unmasked-seq (SEQ-MAP)" in out.split("plain-lt")[1].splitlines()[0]


def test_cli_survivor_exit_code_and_all(witness_catalogue: tuple[Case, ...],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_mutants.main(["--jobs", "1", "--only", "plain-lt", "--case", "TTL-DEC"]) == 1
    out = capsys.readouterr().out
    assert "SURVIVED (1 cases)" in out and "killed 0/1 (0%)" in out and "survived: plain-lt" in out
    assert cli_mutants.main(["--jobs", "1", "--only", "no-trim", "--req", "TRIM-SOUND", "--all"]) == 0
    out = capsys.readouterr().out
    assert out.count("witness-") == 4  # every TRIM-SOUND witness kills no-trim
    outcomes = cli_mutants.hunt_all(["no-trim"], catalog.select(reqs=["TRIM-SOUND"]), stop_first=False)
    assert [k.examples for k in outcomes[0].kills] == [1, 1, 1, 1]


def test_cli_usage_errors(witness_catalogue: tuple[Case, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_mutants.main(["--only", "nope"]) == 2
    assert cli_mutants.main(["--case", "NO-SUCH"]) == 2
    assert cli_mutants.main(["--bogus"]) == 2
    assert cli_mutants.main(["--list"]) == 0
    assert "plain-lt" in capsys.readouterr().out


def test_a_case_the_model_fails_kills_nothing() -> None:
    """The control: a broken case — one the model fails too — is not counted as a kill."""
    def always_fails(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
        return CaseResult(case=case.id, reqs=list(case.reqs), verdict=Verdict.FAIL)

    broken = dataclasses.replace(WITNESSES["ttl-not-decremented"], id="TTL-DEC/broken", execute=always_fails)
    (outcome,) = cli_mutants.hunt_all(["plain-lt"], [broken])
    assert not outcome.killed and outcome.ignored == ("TTL-DEC/broken",)
    (outcome,) = cli_mutants.hunt_all(["plain-lt"], [broken], control=False)
    assert outcome.killed


# --------------------------------------------------------------------------------------------------
# The real catalogue
# --------------------------------------------------------------------------------------------------


def _catalogue() -> tuple[Case, ...]:
    cases = catalog.all_cases()
    if not cases:
        pytest.skip("the case catalogue is empty")
    return cases


def test_the_catalogue_kills_every_mutant() -> None:
    """Every mutant is killed by the real catalogue (each by its first killer; worker processes)."""
    cases = _catalogue()
    outcomes = cli_mutants.hunt_all(list(MUTANTS), cases, jobs=2)
    survivors = [o.mutant for o in outcomes if not o.killed]
    assert not survivors, cli_mutants.table(outcomes)
    assert not [o.ignored for o in outcomes if o.ignored]  # no killer is a case the model fails


@pytest.mark.slow
def test_the_model_passes_the_catalogue() -> None:
    """The reference adapter is killed by nothing (the control of every kill, on the whole catalogue)."""
    cases = _catalogue()
    results = [run_case(ReferenceAdapter(), c, "reference", 0) for c in cases]
    assert [(r.case, r.verdict.value) for r in results if r.verdict in cli_mutants.KILLING] == []


def test_a_property_kill_counts_its_examples() -> None:
    _catalogue()
    try:
        cases = catalog.select(ids=["prop/urgent"])
    except catalog.UnknownCase:
        pytest.skip("no prop/urgent case")
    (outcome,) = cli_mutants.hunt_all(["urg-not-shifted"], cases, budget=200)
    (kill,) = outcome.kills
    assert kill.case == "prop/urgent" and kill.examples is not None and 1 <= kill.examples <= 200
