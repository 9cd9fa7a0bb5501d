"""What the named case modules (``cases_<group>.py``) share: scenarios placed in sequence space,
segment tweaks the builders do not offer, and the custom executes a few cases need.

Scenarios. :func:`spliced_at` asks for a splice whose base points sit where a case wants them —
``0xFFFFFFFF``, ``0``, across the wrap — by choosing the end hosts' ISNs (always under the scenario's
control) and, for the *send* bases, the proxy's ISNs (which needs ``CHOOSE_PROXY_ISN``, added by
``Scenario.needs()`` automatically). The arithmetic is that of paper figures 6 and 7 with no bytes
in flight; ``tests/test_cases.py`` checks it against the lifecycle machine, so a slip here would be
caught rather than silently testing another base.

Custom executes. The diff engine attributes each compared field to the requirement the field
evidences (``diff.py``); a few requirements are about *why* a field has its value rather than about a
field — the 2^31 distance (SEQ-ORDER-HALF, TRIM-HALF), SYN/FIN sequence space (SEQ-CTL), the
lifecycle's base points (LIFE-*). :func:`focused` runs a case as the runner would and credits the
differences in the fields the case is about to its primary requirement, so that a failure counts
against the requirement the case was written for (``results.requirement_verdicts``). Differences in
other fields stay collateral, as everywhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from ..reference.codec import decode, encode
from ..reference.errors import MalformedSegment
from ..reference.relay import RelayResult, SpliceState, StripStyle, direction_of
from ..reference.segment import IPv4Header, Segment
from ..reference.seqspace import seq_sub
from .case import Case, Injection, injections
from .contract import Adapter, PeerPlan, Scenario, Session
from .diff import diff_step, expected_counts, geometry
from .model import Model
from .results import CaseResult, FieldDiff, Geometry, StepRecord, case_verdict
from .runner import Executed, execute

HALF = 1 << 31
M32 = 0xFFFF_FFFF

Execute = Callable[[Adapter, Case, int | None], CaseResult]

#: Timestamps and SACK on both legs, no window scaling: the splice most cases want.
FULL = Scenario(client=PeerPlan(isn=1_000_000, tsval=1_000, sack_permitted=True),
                server=PeerPlan(isn=9_000_000, tsval=77_000, sack_permitted=True))
#: No options beyond MSS on either leg.
PLAIN = Scenario()


def spliced_at(c2s_irs: int = 1_000_001, s2c_irs: int = 9_000_001, *, c2s_iss: int | None = None,
               s2c_iss: int | None = None, ts: bool = True, sack: bool = True, client_ts: bool | None = None,
               server_ts: bool | None = None, client_sack: bool | None = None, server_sack: bool | None = None,
               client_tsval: int = 1_000, server_tsval: int = 77_000,
               client_wscale: int | None = None, server_wscale: int | None = None, client_mss: int = 1460,
               server_mss: int = 1460, client_df: bool = True, ok_len: int = 0, client_presplice: int = 0,
               server_presplice: int = 0, proxy_tsval_c: int | None = None, proxy_tsval_d: int | None = None,
               strip_style: StripStyle = StripStyle.NOP, family: int = 4) -> Scenario:
    """A scenario whose splice has ``C.splice_irs = c2s_irs`` (the client's first relayed byte),
    ``D.splice_irs = s2c_irs`` (the server's), and, when given, ``D.splice_iss = c2s_iss`` and
    ``C.splice_iss = s2c_iss`` (the proxy's sides; these need CHOOSE_PROXY_ISN)."""
    c_ts = ts if client_ts is None else client_ts
    s_ts = ts if server_ts is None else server_ts
    c_sack = sack if client_sack is None else client_sack
    s_sack = sack if server_sack is None else server_sack
    client = PeerPlan(isn=seq_sub(c2s_irs, 1 + client_presplice), mss=client_mss, wscale=client_wscale,
                      sack_permitted=c_sack, tsval=client_tsval if c_ts else None, df=client_df)
    server = PeerPlan(isn=seq_sub(s2c_irs, 1 + server_presplice), mss=server_mss, wscale=server_wscale,
                      sack_permitted=s_sack, tsval=server_tsval if s_ts else None)
    return Scenario(
        client=client, server=server, family=family,
        proxy_isn_d=None if c2s_iss is None else seq_sub(c2s_iss, 1 + client_presplice),
        proxy_isn_c=None if s2c_iss is None else seq_sub(s2c_iss, 1 + server_presplice + ok_len),
        proxy_tsval_c=proxy_tsval_c, proxy_tsval_d=proxy_tsval_d, ok_len=ok_len,
        client_presplice=client_presplice, server_presplice=server_presplice, strip_style=strip_style)


# --------------------------------------------------------------------------------------------------
# Segment tweaks (the result is sealed: decoded from its encoding, checksums as on the wire)
# --------------------------------------------------------------------------------------------------


def seal(seg: Segment) -> Segment:
    return decode(encode(seg))


def with_tcp(seg: Segment, **changes: object) -> Segment:
    """``seg`` with TCP header fields changed and its checksum recomputed."""
    return seal(replace(seg, tcp=replace(seg.tcp, checksum=None, **changes)))  # type: ignore[arg-type]


def with_ip(seg: Segment, **changes: object) -> Segment:
    """``seg`` with IP header fields changed (addresses included) and both checksums recomputed."""
    ip = replace(seg.ip, **changes)  # type: ignore[arg-type]
    if isinstance(ip, IPv4Header):
        ip = replace(ip, checksum=None)
    return seal(replace(seg, ip=ip, tcp=replace(seg.tcp, checksum=None)))


def corrupt_ip_checksum(seg: Segment) -> Injection:
    """The segment with its IPv4 header checksum off by one (CSUM-FAILSAFE on the IP header)."""
    raw = bytearray(encode(seg))
    raw[11] ^= 0x01
    return Injection(decode(bytes(raw)), bytes(raw))


def malformed(seg: Segment, mutate: Callable[[bytearray, int], None]) -> Injection:
    """``seg`` on the wire with its bytes changed by ``mutate(raw, tcp_offset)``; the change must make
    the packet undecodable (checked here, so a case cannot silently send a well-formed packet)."""
    raw = bytearray(encode(seg))
    mutate(raw, seg.ip.header_length)
    try:
        decode(bytes(raw))
    except MalformedSegment:
        return Injection(seg, bytes(raw))
    raise ValueError("the mutation left a well-formed segment")


def fresh_tcp_checksum(raw: bytearray, tcp_at: int) -> None:
    """Recompute the TCP checksum of ``raw`` in place (a malformed option area is still checksummed
    correctly, so that only the malformation is under test)."""
    from ..reference.checksum import tcp_checksum

    raw[tcp_at + 16:tcp_at + 18] = b"\x00\x00"
    if raw[0] >> 4 == 4:
        src, dst = bytes(raw[12:16]), bytes(raw[16:20])
    else:
        src, dst = bytes(raw[8:24]), bytes(raw[24:40])
    raw[tcp_at + 16:tcp_at + 18] = tcp_checksum(src, dst, bytes(raw[tcp_at:])).to_bytes(2, "big")


#: One step of an advancing stream: within a window (RFC 7323 §2.3: at most 2^30), so every step moves
#: the direction's furthest point (TRIM-2GIB, reference.mapping.advance_to).
STEP = (1 << 30) - (1 << 20)


def stream(st: SpliceState, upto: int, *, server: bool = False) -> list[Segment]:
    """One-byte segments from the client (or the server) moving that direction's furthest point to
    ``upto`` past its base (saturating at 2^31), each ending at most STEP beyond the previous one."""
    from .case import from_client, from_server

    make = from_server if server else from_client
    out: list[Segment] = []
    reached = 0
    while reached < upto:
        reached = min(reached + STEP, upto)
        out.append(make(st, reached - 1, payload=b"+"))
    return out


def payload(n: int, seed: int = 0) -> bytes:
    """``n`` recognisable data bytes (a counter, so a shifted or chopped payload shows in a diff)."""
    return bytes((seed + i) & 0xFF for i in range(n))


# --------------------------------------------------------------------------------------------------
# Custom executes
# --------------------------------------------------------------------------------------------------


def result(case: Case, diffs: Sequence[FieldDiff], steps: list[StepRecord], geo: list[Geometry], t0: float,
           seed: int | None) -> CaseResult:
    """A case's result from all its checks, graded like the runner grades (results.case_verdict)."""
    bad = [d for d in diffs if not d.ok]
    return CaseResult(case=case.id, reqs=list(case.reqs), verdict=case_verdict(list(case.reqs), bad),
                      description=case.description, expectation=case.expectation, diffs=bad, checked=len(diffs),
                      steps=steps, geometry=geo, duration=time.perf_counter() - t0, seed=seed, kind=case.kind)


def run_injections(session: Session, model: Model, built: Iterable[Injection | Segment], primary: str,
                   first_step: int = 0) -> Executed:
    """Inject ``built`` into ``session`` and diff each against ``model`` (the runner's loop, with the
    model chosen by the caller: e.g. one holding the constants the scenario implies)."""
    diffs: list[FieldDiff] = []
    steps: list[StepRecord] = []
    geo: list[Geometry] = []
    for i, inj in enumerate(injections(list(built)), first_step):
        state_before = model.state
        try:
            judged = decode(inj.wire) if inj.raw is not None else inj.segment
        except MalformedSegment:
            expected = RelayResult(direction_of(state_before, inj.segment), ())
            judged = inj.segment
        else:
            expected = model.relay(judged, inj.now)
        observed = session.inject(inj.segment, raw=inj.raw, expect=expected_counts(expected))
        step_diffs, record = diff_step(i, state_before, judged, inj.wire, expected, observed, primary)
        diffs += step_diffs
        steps.append(record)
        g = geometry(state_before, judged, expected)
        if g is not None:
            geo.append(g)
    return Executed(diffs, steps, geo)


def focused(*about: str) -> Execute:
    """An execute that runs the case as the runner does and credits differences attributed to any of
    ``about`` to the case's primary requirement (module docstring)."""
    credited = frozenset(about)

    def run(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
        t0 = time.perf_counter()
        ex = execute(adapter, case)
        diffs = [replace(d, req=case.primary) if d.req in credited else d for d in ex.diffs]
        return result(case, diffs, ex.steps, ex.geometry, t0, seed)

    return run


StateCheck = Callable[[SpliceState, Scenario], list[FieldDiff]]


def state_diff(field: str, expected: object, actual: object, req: str) -> FieldDiff:
    """A check of the splice itself rather than of a relayed packet (step and packet -1)."""
    return FieldDiff(-1, -1, field, expected, actual, req)


def state_checked(check: StateCheck) -> Execute:
    """An execute that checks the session's splice state with ``check`` (what the IUT announced or
    chose: window scales, base points) and then runs the case's injections as the runner would."""

    def run(adapter: Adapter, case: Case, seed: int | None) -> CaseResult:
        t0 = time.perf_counter()
        with adapter.open(case.scenario) as session:
            checks = check(session.state, case.scenario)
            ex = run_injections(session, Model(session.state), case.build(session.state), case.primary)
        return result(case, checks + ex.diffs, ex.steps, ex.geometry, t0, seed)

    return run
