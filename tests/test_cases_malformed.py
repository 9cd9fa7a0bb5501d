"""The OPT-PASS cases whose option area cannot be walked (``cases_options``): dropping the segment (the model)
and relaying it mapped with the area from the fault on as it came (``relay-unwalkable``) both pass; a relay
that maps nothing, or writes where the bad length points, fails against the outcome it took."""

from __future__ import annotations

import dataclasses

import pytest
from splicecheck.adapters.reference import ReferenceAdapter, ReferenceSession
from splicecheck.conformance.case import Case
from splicecheck.conformance.contract import Feature, Observation, Scenario
from splicecheck.conformance.model import reference_state
from splicecheck.conformance.results import Verdict
from splicecheck.conformance.runner import run_case
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.errors import MalformedSegment
from splicecheck.reference.lifecycle import Event, EventType
from splicecheck.reference.segment import IPv4Header, Segment
from test_cases import SessionWrapper, verdict

MALFORMED_AREAS = ("OPT-PASS/truncated-option-area", "OPT-PASS/option-length-zero", "OPT-PASS/kind-without-length")


class RelaysMalformed(ReferenceSession):
    """The reference, except that a packet whose bytes do not decode is relayed as :meth:`relay_malformed` makes
    it: here, as it came, to the server (nothing mapped)."""

    def relay_malformed(self, raw: bytes) -> Observation:
        return Observation(to_server=(raw,))

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        if raw is not None:
            try:
                decode(raw)
            except MalformedSegment:
                return self.relay_malformed(raw)
        return super().inject(segment, raw=raw, expect=expect)


class RelaysMalformedMapped(RelaysMalformed):
    """Relays a segment whose option area cannot be walked as any segment, the area from the fault on as it came."""

    def relay_malformed(self, raw: bytes) -> Observation:
        kept = decode(raw, keep_rest=True)
        kind = EventType.SERVER_SEGMENT if self._from_server(kept) else EventType.CLIENT_SEGMENT
        return self._handle(Event(kind, segment=kept))


class TrustsBadLength(RelaysMalformedMapped):
    """As :class:`RelaysMalformedMapped`, then, like a parser that believes the bad length, overwrites the
    payload's first two bytes, where a Timestamps option claiming 12 bytes would end."""

    def relay_malformed(self, raw: bytes) -> Observation:
        out = super().relay_malformed(raw)
        return Observation(to_client=out.to_client, to_server=tuple(_overwrite_payload(p) for p in out.to_server))


def _overwrite_payload(packet: bytes) -> bytes:
    seg = decode(packet, keep_rest=True)
    tcp = dataclasses.replace(seg.tcp, checksum=None)
    ip = dataclasses.replace(seg.ip, checksum=None) if isinstance(seg.ip, IPv4Header) else seg.ip
    return encode(Segment(ip, tcp, b"\x00\x00" + seg.payload[2:]))


@pytest.mark.req("OPT-PASS")
def test_relaying_a_malformed_option_area_mapped_is_the_alternative() -> None:
    """Dropping the segment (the model) and relaying it mapped with the unwalkable rest as it came
    (relay-unwalkable) both pass; the result names which one the IUT took."""
    for cid in MALFORMED_AREAS:
        assert verdict(ReferenceAdapter(), cid).alternative == "model", cid
        r = verdict(SessionWrapper(lambda sc, s: RelaysMalformedMapped(s.machine)), cid)
        assert r.verdict is Verdict.PASS and r.alternative == "relay-unwalkable" and r.checked > 20, cid


@pytest.mark.req("OPT-PASS", "DIR-ONLY")
def test_step_local_alternatives_mix_in_one_case() -> None:
    """A case with a segment whose option area cannot be walked and a foreign segment: an IUT that relays the
    first mapped and whose host answers the second with its RST follows neither alternative alone, and passes
    with both (each step its own outcome, the name joining them)."""
    from splicecheck.conformance.alternatives import FOREIGN, UNWALKABLE, host_reset
    from splicecheck.conformance.cases_options import _length_zero, with_bad_options
    from splicecheck.conformance.cases_tcp import FULL, NEEDS_FOREIGN, foreign

    bad = with_bad_options(_length_zero)
    c = Case("OPT-PASS/and-foreign", ("OPT-PASS", "DIR-ONLY"), "malformed, then foreign", "x",
             lambda st: [*bad(st), foreign(st, sport=st.client.peer.port ^ 1)], FULL,
             NEEDS_FOREIGN | {Feature.MALFORMED}, alternatives=FOREIGN + UNWALKABLE)
    adapter = SessionWrapper(lambda sc, s: RelaysMalformedMapped(s.machine))
    adapter.relay_fn = host_reset
    r = run_case(adapter, c, "test")
    assert r.verdict is Verdict.PASS and r.alternative == "host-reset+relay-unwalkable", r.diffs
    # the same IUT without its host's RST: the malformed step alone takes the alternative
    r = run_case(SessionWrapper(lambda sc, s: RelaysMalformedMapped(s.machine)), c, "test")
    assert r.verdict is Verdict.PASS and r.alternative == "relay-unwalkable"


def test_a_packet_with_an_unwalkable_option_area_is_summarised_as_a_segment() -> None:
    """Reports show the segment (its flags and numbers) and where its option area breaks; a packet whose
    headers cannot be read stays "malformed packet"."""
    from splicecheck.conformance.cases_options import _length_zero, with_bad_options
    from splicecheck.conformance.diff import summary

    (inj,) = with_bad_options(_length_zero)(reference_state(Scenario()))
    assert inj.raw is not None
    line = summary(inj.raw)
    assert "[A] seq 1000001" in line and "len 17" in line and "<OpaqueRest>" in line, line
    assert line.endswith("(malformed option area: bad-option-length at byte 40: option kind 253 has length 0)")
    assert summary(inj.raw[:30]).startswith("malformed packet (30 bytes)")


@pytest.mark.req("OPT-PASS", "SEQ-MAP", "PAYLOAD-KEEP")
def test_relaying_a_malformed_option_area_unmapped_or_past_its_end_fails() -> None:
    """A relay of the packet as it came (nothing mapped) and one that writes where the bad length points
    (into the payload) are graded against relay-unwalkable, the outcome they took, and fail there."""
    for cid in MALFORMED_AREAS:
        r = verdict(SessionWrapper(lambda sc, s: RelaysMalformed(s.machine)), cid)
        assert r.verdict is Verdict.FAIL and r.alternative == "relay-unwalkable", cid
        assert {"SEQ-MAP", "ADDR-REWRITE", "PORT-REWRITE"} <= {d.req for d in r.diffs}, cid
        r = verdict(SessionWrapper(lambda sc, s: TrustsBadLength(s.machine)), cid)
        assert r.verdict is Verdict.FAIL and {d.req for d in r.diffs} >= {"PAYLOAD-KEEP"}, cid
        assert r.alternative == "relay-unwalkable", cid
