"""The exhaustive comparison (conformance/diff.py): each class of byte difference is caught and attributed.

Each test crafts an observation that differs from the model's packet in exactly one place (checksums
recomputed so that nothing else differs) and asserts the FieldDiff and its requirement."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from splicecheck.conformance.case import from_client
from splicecheck.conformance.cases_common import payload, spliced_at
from splicecheck.conformance.contract import Observation, Scenario
from splicecheck.conformance.diff import diff_step, observation
from splicecheck.conformance.model import Model, reference_state
from splicecheck.conformance.results import FieldDiff
from splicecheck.reference.checksum import internet_checksum, ones_add, ones_sum, tcp_checksum
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.relay import RelayResult, SpliceState, direction_of
from splicecheck.reference.segment import ACK, NOP, PSH, RST, Sack, Segment, Timestamps, WindowScale

V4 = spliced_at()
V6 = spliced_at(family=6)
MSS4 = spliced_at(server_mss=536)
MSS6 = spliced_at(server_mss=1240, family=6)  # a Packet Too Big below 1280 is not sent (RFC 8201 §4)


def _data(st: SpliceState) -> Segment:
    return from_client(st, 0, payload=b"exhaustive", flags=ACK | PSH, ts=True)


def _big(st: SpliceState) -> Segment:
    return from_client(st, 0, payload=payload(1400))


def fix(raw: bytes, keep_ip: bool = False, keep_l4: bool = False) -> bytes:
    """``raw`` with its IP header checksum and its TCP/ICMP checksum recomputed (unless kept)."""
    b = bytearray(raw)
    if b[0] >> 4 == 4:
        hl = (b[0] & 0x0F) * 4
        if not keep_ip:
            b[10:12] = b"\0\0"
            b[10:12] = struct.pack("!H", internet_checksum(bytes(b[:hl])))
        src, dst = bytes(b[12:16]), bytes(b[16:20])
        proto = b[9]
    else:
        hl, src, dst, proto = 40, bytes(b[8:24]), bytes(b[24:40]), b[6]
    if keep_l4:
        return bytes(b)
    if proto == 6:
        b[hl + 16:hl + 18] = struct.pack("!H", tcp_checksum(src, dst, bytes(b[hl:])))
    else:
        b[hl + 2:hl + 4] = b"\0\0"
        body = bytes(b[hl:])
        if proto == 58:
            pseudo = src + dst + struct.pack("!IxxxB", len(body), 58)
            b[hl + 2:hl + 4] = struct.pack("!H", (~ones_add(ones_sum(pseudo), ones_sum(body))) & 0xFFFF)
        else:
            b[hl + 2:hl + 4] = struct.pack("!H", internet_checksum(body))
    return bytes(b)


def judge(scenario: Scenario, build: Callable[[SpliceState], Segment],
          mutate: Callable[[bytes], bytes]) -> tuple[list[FieldDiff], bytes]:
    """The differing checks when the IUT emits the model's output with its one packet passed through ``mutate``."""
    st = reference_state(scenario)
    seg = build(st)
    expected = Model(st).relay(seg, 0.0)
    obs = observation((expected,))
    leg = "to_client" if obs.to_client else "to_server"
    (packet,) = getattr(obs, leg)
    mutated = Observation(**{leg: (mutate(packet),)})
    diffs, _ = diff_step(0, st, seg, encode(seg), expected, mutated, "SEQ-MAP")
    return [d for d in diffs if not d.ok], packet


def only(diffs: list[FieldDiff]) -> tuple[str, str]:
    assert len(diffs) == 1, [(d.field, d.req, d.expected, d.actual) for d in diffs]
    return diffs[0].field.split("].", 1)[-1], diffs[0].req


def setbyte(off: int, value: Callable[[int], int], **keep: bool) -> Callable[[bytes], bytes]:
    def m(raw: bytes) -> bytes:
        b = bytearray(raw)
        b[off] = value(b[off]) & 0xFF
        return fix(bytes(b), **keep)
    return m


def test_the_model_against_itself_differs_nowhere() -> None:
    for sc, build in ((V4, _data), (V6, _data), (MSS4, _big), (MSS6, _big)):
        assert judge(sc, build, lambda r: r)[0] == []


@pytest.mark.req("IP-OTHER")
def test_ip_reserved_flag_is_ip_other() -> None:
    assert only(judge(V4, _data, setbyte(6, lambda x: x | 0x80))[0]) == ("ip byte 6 (bits 0xbf)", "IP-OTHER")


def test_tcp_option_instance_duplicated_or_missing() -> None:
    def options(change: Callable[[tuple], tuple]) -> Callable[[bytes], bytes]:
        def m(raw: bytes) -> bytes:
            seg = decode(raw)
            tcp = seg.tcp.__class__(**{**{f: getattr(seg.tcp, f) for f, spec in seg.tcp.__dataclass_fields__.items()
                                          if spec.init},  # not the private bytes a decoded header keeps
                                       "options": change(seg.tcp.options), "checksum": None})
            return encode(Segment(seg.ip.__class__(**{**{f: getattr(seg.ip, f) for f in seg.ip.__dataclass_fields__},
                                                       "checksum": None}), tcp, seg.payload))
        return m

    ts = Timestamps(1, 2)
    diffs, _ = judge(V4, _data, options(lambda o: (NOP, NOP, ts, *o)))  # a second TS instance, equal values too
    assert ("tcp.options (kinds, in order)", "TS-VAL") in [(d.field.split("].", 1)[1], d.req) for d in diffs]
    diffs, _ = judge(V4, _data, options(lambda o: (NOP, WindowScale(7), *o)))  # an extra WS first
    assert ("tcp.options (kinds, in order)", "WS-STRIP") in [(d.field.split("].", 1)[1], d.req) for d in diffs]
    no_ts = options(lambda o: (NOP,) * 10 + tuple(x for x in o if not isinstance(x, Timestamps)))
    diffs, _ = judge(V4, _data, no_ts)
    assert ("tcp.options (kinds, in order)", "TS-VAL") in [(d.field.split("].", 1)[1], d.req) for d in diffs]


@pytest.mark.req("MSS-ICMP", "ICMP-OTHER")
def test_icmp_checksums_quote_addresses_ttl() -> None:
    for sc in (MSS4, MSS6):
        v4 = sc is MSS4
        hl = 20 if v4 else 40
        assert only(judge(sc, _big, setbyte(hl + 2, lambda x: x ^ 1, keep_l4=True))[0]) == \
            ("icmp.checksum valid", "MSS-ICMP")
        assert only(judge(sc, _big, setbyte(hl + 8 + 12, lambda x: x ^ 1))[0]) == ("icmp.quote", "MSS-ICMP")
        assert only(judge(sc, _big, setbyte(8 if v4 else 7, lambda x: x - 1))[0]) == ("ip.ttl", "MSS-ICMP")
        assert only(judge(sc, _big, setbyte(12 if v4 else 8, lambda x: x ^ 1))[0]) == ("ip.src", "MSS-ICMP")
        field, req = only(judge(sc, _big, setbyte(1, lambda x: x ^ 0x08))[0])
        assert req == "ICMP-OTHER" and field.startswith("ip byte 1")
    assert only(judge(MSS4, _big, setbyte(0 + 20 + 4, lambda x: x ^ 1))[0]) == \
        ("icmp byte 4 (bits 0xff)", "ICMP-OTHER")
    assert only(judge(MSS4, _big, setbyte(10, lambda x: x ^ 1, keep_l4=True, keep_ip=True))[0]) == \
        ("ip.checksum valid", "MSS-ICMP")


def test_icmpv6_checksum_without_the_pseudo_header_is_caught() -> None:
    def no_pseudo(raw: bytes) -> bytes:
        b = bytearray(raw)
        b[42:44] = b"\0\0"
        b[42:44] = struct.pack("!H", internet_checksum(bytes(b[40:])))
        return bytes(b)
    assert only(judge(MSS6, _big, no_pseudo)[0]) == ("icmp.checksum valid", "MSS-ICMP")


def test_a_longer_quote_within_the_limit_is_allowed() -> None:
    def longer(raw: bytes) -> bytes:
        st = reference_state(MSS4)
        offending = encode(_big(st))
        b = bytearray(raw[:28] + offending[:200])
        b[2:4] = struct.pack("!H", len(b))
        return fix(bytes(b))
    assert judge(MSS4, _big, longer)[0] == []


@pytest.mark.parametrize(("scenario", "build"), [(V4, _data), (V6, _data), (MSS4, _big), (MSS6, _big)],
                         ids=["tcp-v4", "tcp-v6", "icmp-v4", "icmp-v6"])
def test_every_bit_of_the_headers_is_judged(scenario: Scenario, build: Callable[[SpliceState], Segment]) -> None:
    """Never equal by omission: flipping any single bit of the packet's headers (and of its options and
    the first bytes after them), checksums recomputed, leaves at least one differing check."""
    _, packet = judge(scenario, build, lambda r: r)
    v4 = packet[0] >> 4 == 4
    hl = (packet[0] & 0x0F) * 4 if v4 else 40
    csum_ip = {10, 11} if v4 else set()
    csum_l4 = {hl + 16, hl + 17} if packet[9 if v4 else 6] == 6 else {hl + 2, hl + 3}
    missed = []
    for off in range(min(len(packet), hl + 80)):
        for bit in range(8):
            b = bytearray(packet)
            b[off] ^= 1 << bit
            mutated = fix(bytes(b), keep_ip=off in csum_ip, keep_l4=off in csum_l4 or (v4 and off in csum_ip))
            if mutated == packet:
                continue
            if not judge(scenario, build, lambda _r, m=mutated: m)[0]:
                missed.append((off, bit))
    assert not missed


@pytest.mark.req("RST-FIELDS")
def test_the_window_and_ack_of_a_rst_are_rst_fields() -> None:
    """A window one lower: WS-EXACT on data, RST-FIELDS (a MAY: a RST's receiver reads no window or ack) on a
    RST."""
    def rst(st: SpliceState) -> Segment:
        return from_client(st, 0, flags=RST | ACK)

    def lower(raw: bytes) -> bytes:
        b = bytearray(raw)
        hl = (b[0] & 0x0F) * 4
        b[hl + 14:hl + 16] = struct.pack("!H", struct.unpack_from("!H", b, hl + 14)[0] - 1)
        return fix(bytes(b))

    assert only(judge(V4, _data, lower)[0]) == ("tcp.window", "WS-EXACT")
    assert only(judge(V4, rst, lower)[0]) == ("tcp.window", "RST-FIELDS")

    def ack_plus_one(raw: bytes) -> bytes:
        b = bytearray(raw)
        hl = (b[0] & 0x0F) * 4
        b[hl + 8:hl + 12] = struct.pack("!I", (struct.unpack_from("!I", b, hl + 8)[0] + 1) & 0xFFFFFFFF)
        return fix(bytes(b))

    # the acknowledgment number likewise: ACK-MAP on data, RST-FIELDS on a RST+ACK
    assert only(judge(V4, _data, ack_plus_one)[0]) == ("tcp.ack", "ACK-MAP")
    assert only(judge(V4, rst, ack_plus_one)[0]) == ("tcp.ack", "RST-FIELDS")


@pytest.mark.req("RST-FIELDS")
def test_the_timestamp_and_sack_values_of_a_rst_are_rst_fields() -> None:
    """A TSval one higher or a SACK edge one off: TS-VAL and SACK-MAP on data, RST-FIELDS on a RST (PAWS exempts
    a RST, and no receiver reads its SACK blocks); a stripped option stays its strip rule's."""
    def with_opts(flags: int) -> Callable[[SpliceState], Segment]:
        def build(st: SpliceState) -> Segment:
            edge = (st.client.splice_iss + 8) & 0xFFFFFFFF
            return from_client(st, 0, flags=flags, options=[NOP, NOP, Timestamps(1000, st.client.lastsent_ts), NOP,
                                                             NOP, Sack(((edge, (edge + 8) & 0xFFFFFFFF),))])
        return build

    def bump(at: int) -> Callable[[bytes], bytes]:
        """Add one to the 32-bit word ``at`` bytes into the option area (NOP, NOP, TS at 2; SACK's left edge
        at 16 after NOP, NOP, TS, NOP, NOP, kind, length)."""
        def m(raw: bytes) -> bytes:
            b = bytearray(raw)
            o = (b[0] & 0x0F) * 4 + 20 + at
            b[o:o + 4] = struct.pack("!I", (struct.unpack_from("!I", b, o)[0] + 1) & 0xFFFFFFFF)
            return fix(bytes(b))
        return m

    for flags, ts_req, sack_req in ((ACK, "TS-VAL", "SACK-MAP"), (RST | ACK, "RST-FIELDS", "RST-FIELDS")):
        _, packet = judge(V4, with_opts(flags), lambda r: r)
        hl = (packet[0] & 0x0F) * 4
        assert packet[hl + 20:hl + 24] == bytes([1, 1, 8, 10]) and packet[hl + 32:hl + 36] == bytes([1, 1, 5, 10])
        assert only(judge(V4, with_opts(flags), bump(4))[0]) == ("tcp.options.TS.tsval", ts_req)
        assert only(judge(V4, with_opts(flags), bump(16))[0]) == ("tcp.options.SACK", sack_req)


@pytest.mark.req("CSUM-CORRUPT-RELAY")
def test_a_segment_dropped_as_it_came_corrupt_is_csum_corrupt_relay_in_any_case() -> None:
    """Dropping a segment whose checksum was wrong on arrival is CSUM-CORRUPT-RELAY's MAY whatever requirement
    the case is about (its receiver would drop it anyway); dropping the same segment intact is the case's."""
    st = reference_state(V4)
    seg = from_client(st, 0, flags=ACK | 0x01)  # a FIN+ACK
    raw = encode(seg)
    expected = Model(st).relay(seg, 0.0)
    corrupt = raw[:36] + bytes([raw[36] ^ 0xFF]) + raw[37:]  # the TCP checksum's first byte
    for sent, req in ((corrupt, "CSUM-CORRUPT-RELAY"), (raw, "TCPCSUM-VALID")):
        diffs, _ = diff_step(0, st, decode(sent), sent, expected, Observation(), "TCPCSUM-VALID")
        assert [(d.field, d.req) for d in diffs if not d.ok] == [("to_server.count", req)]
    # one wholly below the base, which the model relays as a pure ACK at the base (TRIM-BELOW): the same
    below = from_client(st, -2, payload=b"ab")
    raw = encode(below)
    corrupt = raw[:36] + bytes([raw[36] ^ 0xFF]) + raw[37:]
    expected = Model(st).relay(below, 0.0)
    assert len(expected.emitted) == 1
    for sent, req in ((corrupt, "CSUM-CORRUPT-RELAY"), (raw, "TRIM-BELOW")):
        diffs, _ = diff_step(0, st, decode(sent), sent, expected, Observation(), "TCPCSUM-VALID")
        assert [(d.field, d.req) for d in diffs if not d.ok] == [("to_server.count", req)]


@pytest.mark.req("TTL-EXPIRE", "OPT-PASS")
def test_time_exceeded_for_a_segment_the_model_drops_before_its_ttl_is_allowed() -> None:
    """A client ACK with TTL 1 whose option area cannot be walked (an MSS option of length 0): the model drops
    it as malformed before it looks at the TTL (runner._judge: nothing emitted, no note), but a router-based
    box expires it first (RFC 1812 §5.3.1) and may send time-exceeded back; an ICMP error of another type is
    still extra."""
    st = reference_state(V4)
    seg = from_client(st, 0, ttl=1)
    b = bytearray(encode(seg)[:40] + b"\x02\x00\x00\x00")
    b[2:4] = struct.pack("!H", len(b))
    b[32] = (6 << 4) | (b[32] & 0x0F)  # data offset 6 words: the 4 option bytes
    raw = fix(bytes(b))
    expected = RelayResult(direction_of(st, seg), ())

    def icmp(kind: int) -> bytes:
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 56, 0, 0, 64, 1, 0, st.client.local.addr, st.client.peer.addr)
        return fix(head + struct.pack("!BBHI", kind, 0, 0, 0) + raw[:28])

    ok, _ = diff_step(0, st, seg, raw, expected, Observation(to_client=(icmp(11),)), "OPT-PASS")
    assert [d for d in ok if not d.ok] == [] and any("time-exceeded" in d.field for d in ok)
    bad, _ = diff_step(0, st, seg, raw, expected, Observation(to_client=(icmp(3),)), "OPT-PASS")
    assert next((d.field, d.req) for d in bad if not d.ok) == ("to_client.count", "OPT-PASS")


@pytest.mark.req("ACK-NOACK")
def test_not_relaying_what_would_leave_without_syn_rst_or_ack_is_ack_noack() -> None:
    """A server SYN+FIN without ACK whose SYN lies just below the base: the model trims the SYN and relays a
    bare FIN, which its receiver drops unprocessed (RFC 9293 §3.10.7.4, no ACK): not relaying it at all is
    ACK-NOACK's MAY, whatever the case is about."""
    from splicecheck.conformance.case import from_server

    st = reference_state(V4)
    synfin = from_server(st, -1, flags=0x03)  # SYN+FIN, SYN at splice_irs - 1
    expected = Model(st).relay(synfin, 0.0)
    [out] = observation((expected,)).to_client
    assert decode(out).tcp.flags == 0x01  # a bare FIN
    diffs, _ = diff_step(0, st, synfin, encode(synfin), expected, Observation(), "TRIM-REST")
    assert [(d.field, d.req) for d in diffs if not d.ok] == [("to_client.count", "ACK-NOACK")]
