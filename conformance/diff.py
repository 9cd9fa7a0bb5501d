"""The diff engine: what the model expected against what the IUT emitted, field by field.

For one injection the model's :class:`~splicecheck.reference.relay.RelayResult` says which packets
leave on which leg: relayed segments on the out leg, an ICMP error back on the in leg. The IUT's
:class:`~splicecheck.conformance.contract.Observation` holds the raw packets it emitted on each leg.
Packets are paired in order per leg; a count mismatch is a difference of its own (``to_server.count``)
and the common prefix is compared field by field.

Every comparison is a :class:`~splicecheck.conformance.results.FieldDiff` attributed to the
requirement that the field evidences, chosen from the model's notes — the sequence number of a
trimmed segment evidences TRIM-REST, of an untrimmed one SEQ-MAP; a checksum evidences TCPCSUM-VALID
when the input's was right and CSUM-FAILSAFE when it was wrong. Values are kept JSON-friendly.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from ..reference.checksum import internet_checksum, ones_add, ones_sum, tcp_checksum
from ..reference.codec import decode, encode, push_options
from ..reference.errors import MalformedSegment
from ..reference.icmp import (
    IPV6_MIN_MTU,
    PROTO_ICMPV6,
    PacketTooBig,
    encode_icmp,
    is_time_exceeded,
    parse_icmp,
)
from ..reference.relay import Direction, Note, RelayResult, SpliceState
from ..reference.segment import (
    ACK,
    CWR,
    ECE,
    RST,
    SYN,
    URG,
    EndOfOptionList,
    IPv4Header,
    IPv6Header,
    MaxSegmentSize,
    NoOperation,
    OpaqueRest,
    Sack,
    SackPermitted,
    Segment,
    Timestamps,
    UnknownOption,
    WindowScale,
    addr_text,
    flags_text,
)
from ..reference.seqspace import HALF, MOD32, seq_sub
from .contract import Observation
from .results import FieldDiff, Geometry, StepRecord

_ECN_FLAGS = ECE | CWR  # negotiated in the SYN exchange (RFC 3168 §6.1.1): ECN-PASS, not FLAGS-KEEP


def summary(raw: bytes) -> str:
    """One line per packet, tcpdump-like; never raises."""
    icmp = parse_icmp(raw)
    if icmp is not None:
        return f"{icmp.src} > {icmp.dst} ICMP type {icmp.type} code {icmp.code} mtu {icmp.mtu}"
    try:
        return decode(raw).summary()
    except MalformedSegment as exc:
        try:  # the headers read, the option area unwalkable: the segment, and where its area breaks
            return f"{decode(raw, keep_rest=True).summary()} (malformed option area: {exc})"
        except MalformedSegment:
            return f"malformed packet ({len(raw)} bytes): {exc}"


def tcp_valid(seg: Segment, raw: bytes) -> bool:
    return tcp_checksum(seg.ip.src, seg.ip.dst, raw[seg.ip.header_length:]) == seg.tcp.checksum


def ip_valid(seg: Segment, raw: bytes) -> bool:
    return not isinstance(seg.ip, IPv4Header) or internet_checksum(raw[:seg.ip.header_length]) == 0


def _options_view(seg: Segment) -> dict[str, object]:
    """The options as comparable JSON-friendly values, keyed by what they evidence."""
    t = seg.tcp
    ts = t.option(Timestamps)
    sack = t.option(Sack)
    ws = t.option(WindowScale)
    passed = [o for o in t.options if isinstance(o, (MaxSegmentSize, SackPermitted, UnknownOption, OpaqueRest))]
    return {
        "ts": [ts.tsval, ts.tsecr] if isinstance(ts, Timestamps) else None,
        "ts_count": sum(isinstance(o, Timestamps) for o in t.options),
        "ts_all": [[o.tsval, o.tsecr] for o in t.options if isinstance(o, Timestamps)],
        "sack": [list(b) for b in sack.blocks] if isinstance(sack, Sack) else None,
        "ws": ws.shift if isinstance(ws, WindowScale) else None,
        "passed": [push_options((o,)).hex() for o in passed],
        "layout": push_options(t.options).hex(),
        "instances": [push_options((o,)).hex() for o in t.options if not isinstance(o, (NoOperation, EndOfOptionList))],
    }


class _Collector:
    def __init__(self, step: int) -> None:
        self.step = step
        self.diffs: list[FieldDiff] = []

    def add(self, packet: int, field: str, expected: object, actual: object, req: str) -> None:
        self.diffs.append(FieldDiff(self.step, packet, field, expected, actual, req))


def _seq_req(notes: tuple[Note, ...]) -> str:
    if Note.BELOW_BASE_PURE_ACK in notes:
        return "TRIM-BELOW"  # the pure ACK at the base that replaces a segment wholly below it
    return "TRIM-REST" if Note.TRIMMED in notes else "SEQ-MAP"


def compare_segments(c: _Collector, i: int, leg: str, e: Segment, e_raw: bytes, a: Segment, a_raw: bytes,
                     model: RelayResult, state: SpliceState, injected: Segment, in_valid: tuple[bool, bool]) -> None:
    """All field checks of one expected/actual segment pair, in a fixed order (the report lists them so)."""
    p = f"{leg}[{i}]."
    _compare_header(c, i, p, e, a, model.notes)
    _compare_payload(c, i, p, e, a, model.notes)
    # window: exact rescale, and never promising more than the sender's real window; a RST's receiver reads
    # neither (RST-FIELDS)
    rst = bool(e.tcp.flags & RST)
    c.add(i, p + "tcp.window", e.tcp.window, a.tcp.window, "RST-FIELDS" if rst else "WS-EXACT")
    leg_in, leg_out = state.legs(model.direction or Direction.C2S)
    real = injected.tcp.window << (0 if injected.tcp.flags & SYN else leg_in.recv_shift)  # RFC 7323 §2.2
    believed = a.tcp.window << (0 if a.tcp.flags & SYN else leg_out.send_shift)
    c.add(i, p + "tcp.window believed <= real", True, believed <= real, "RST-FIELDS" if rst else "WS-SAFE")
    _compare_ip(c, i, p, e, e_raw, a, a_raw, in_valid)
    _compare_options(c, i, p, e, a, injected, model.notes)


def _compare_header(c: _Collector, i: int, p: str, e: Segment, a: Segment, notes: tuple[Note, ...]) -> None:
    """Addresses, ports, sequence and acknowledgment numbers, flags and the urgent pointer."""
    c.add(i, p + "ip.version", e.ip.version, a.ip.version, "ADDR-REWRITE")
    c.add(i, p + "ip.src", addr_text(e.ip.src), addr_text(a.ip.src), "ADDR-REWRITE")
    c.add(i, p + "ip.dst", addr_text(e.ip.dst), addr_text(a.ip.dst), "ADDR-REWRITE")
    c.add(i, p + "tcp.sport", e.tcp.sport, a.tcp.sport, "PORT-REWRITE")
    c.add(i, p + "tcp.dport", e.tcp.dport, a.tcp.dport, "PORT-REWRITE")
    c.add(i, p + "tcp.seq", e.tcp.seq, a.tcp.seq, _seq_req(notes))
    ack_req = "ACK-NOACK" if not e.tcp.flags & ACK else "RST-FIELDS" if e.tcp.flags & RST else "ACK-MAP"
    c.add(i, p + "tcp.ack", e.tcp.ack, a.tcp.ack, ack_req)
    if Note.URG_CLEARED in notes:
        flags_req, urg_req = "URG-CLEAR", "URG-CLEAR"
    elif Note.TRIMMED in notes:
        flags_req, urg_req = "TRIM-REST", "URG-SHIFT"
    else:
        flags_req, urg_req = "FLAGS-KEEP", "URG-KEEP"
    if Note.BELOW_BASE_PURE_ACK in notes:
        flags_req = urg_req = "TRIM-BELOW"
    # ECE/CWR depend on ECN negotiation, which the legs may disagree on: graded apart (ECN-PASS)
    c.add(i, p + "tcp.flags", flags_text(e.tcp.flags & ~_ECN_FLAGS), flags_text(a.tcp.flags & ~_ECN_FLAGS), flags_req)
    c.add(i, p + "tcp.flags ECE/CWR", flags_text(e.tcp.flags & _ECN_FLAGS), flags_text(a.tcp.flags & _ECN_FLAGS),
          "ECN-PASS")
    c.add(i, p + "tcp.reserved", e.tcp.reserved, a.tcp.reserved, "FLAGS-KEEP")
    if e.tcp.flags & URG or a.tcp.flags & URG or e.tcp.urgent != a.tcp.urgent:
        c.add(i, p + "tcp.urgent", e.tcp.urgent, a.tcp.urgent, urg_req)


def _compare_payload(c: _Collector, i: int, p: str, e: Segment, a: Segment, notes: tuple[Note, ...]) -> None:
    """More bytes than expected after a trim = data below the base relayed (TRIM-SOUND); fewer = data at
    or after it dropped (TRIM-COMPLETE)."""
    if e.payload == a.payload:
        c.add(i, p + "payload", len(e.payload), len(a.payload), "PAYLOAD-KEEP")
        return
    trimmed = Note.TRIMMED in notes
    if trimmed and len(a.payload) > len(e.payload):
        req = "TRIM-SOUND"
    elif trimmed and len(a.payload) < len(e.payload):
        req = "TRIM-COMPLETE"
    else:
        req = "PAYLOAD-KEEP"
    c.add(i, p + "payload", f"{len(e.payload)} bytes {e.payload[:16].hex()}",
          f"{len(a.payload)} bytes {a.payload[:16].hex()}", req)


def _compare_ip(c: _Collector, i: int, p: str, e: Segment, e_raw: bytes, a: Segment, a_raw: bytes,
                in_valid: tuple[bool, bool]) -> None:
    """The IP fields a splice keeps or decrements, and both checksums (valid out when valid in)."""
    c.add(i, p + "ip.ttl", e.ip.hop_limit, a.ip.hop_limit, "TTL-DEC")
    if isinstance(e.ip, IPv4Header) and isinstance(a.ip, IPv4Header):
        c.add(i, p + "ip.options", e.ip.options.hex(), a.ip.options.hex(), "IPOPT-STRIP")
        c.add(i, p + "ip.tos DSCP", e.ip.tos >> 2, a.ip.tos >> 2, "IP-PRESERVE")
        c.add(i, p + "ip.tos ECN", e.ip.tos & 3, a.ip.tos & 3, "ECN-PASS")
        c.add(i, p + "ip.df", e.ip.df, a.ip.df, "IP-PRESERVE")
        c.add(i, p + "ip.id", e.ip.ident, a.ip.ident, "IP-PRESERVE")
        c.add(i, p + "ip.checksum valid", ip_valid(e, e_raw), ip_valid(a, a_raw),
              "IPCSUM-VALID" if in_valid[0] else "CSUM-FAILSAFE")
    elif isinstance(e.ip, IPv6Header) and isinstance(a.ip, IPv6Header):
        c.add(i, p + "ip.traffic_class DSCP", e.ip.traffic_class >> 2, a.ip.traffic_class >> 2, "IP-PRESERVE")
        c.add(i, p + "ip.traffic_class ECN", e.ip.traffic_class & 3, a.ip.traffic_class & 3, "ECN-PASS")
        c.add(i, p + "ip.flow_label", e.ip.flow_label, a.ip.flow_label, "IP-PRESERVE")
    c.add(i, p + "tcp.checksum valid", tcp_valid(e, e_raw), tcp_valid(a, a_raw),
          "TCPCSUM-VALID" if in_valid[1] else "CSUM-FAILSAFE")
    _sweep(c, i, p + "ip", e_raw, a_raw, UNCLAIMED_IP[e.ip.version], "IP-OTHER")


#: Per IP version, the bits of a relayed segment's fixed IP header that no field rule reads: byte offset →
#: mask. Everything else is claimed: version, TOS/traffic class, flow label, ID, DF, TTL, addresses by their
#: rules above; IHL and the length fields derive from the options and payload compared above; the header
#: checksum by its validity rule. Left: IPv4's reserved flag, MF and fragment offset, protocol (RFC 791 §3.1),
#: IPv6's next header (RFC 8200 §3). The TCP header has no such bits: ports, seq, ack, data offset (from the
#: options), the reserved bits, the nine flags, window, checksum (validity) and urgent pointer are all read.
UNCLAIMED_IP: dict[int, dict[int, int]] = {4: {6: 0xBF, 7: 0xFF, 9: 0xFF}, 6: {6: 0xFF}}


def _sweep(c: _Collector, i: int, p: str, e_raw: bytes, a_raw: bytes, unclaimed: dict[int, int], req: str,
           e_at: int = 0, a_at: int = 0) -> None:
    """The catch-all: a difference in bits no field rule reads is still a difference (never equal by
    omission). ``e_at``/``a_at``: where the header starts in each packet."""
    for off, mask in sorted(unclaimed.items()):
        x = e_raw[e_at + off] & mask if e_at + off < len(e_raw) else None
        y = a_raw[a_at + off] & mask if a_at + off < len(a_raw) else None
        if x != y:
            c.add(i, f"{p} byte {off} (bits {mask:#04x})", x, y, req)


def _compare_options(c: _Collector, i: int, p: str, e: Segment, a: Segment, injected: Segment,
                     notes: tuple[Note, ...]) -> None:
    """Timestamps, SACK, window scale, the options passed through, and last the byte layout. The mapped values
    of a RST's Timestamps and SACK options are RST-FIELDS' (its receiver reads neither)."""
    eo, ao = _options_view(e), _options_view(a)
    rst = bool(e.tcp.flags & RST)
    in_ts = injected.tcp.option(Timestamps) is not None
    if eo["ts"] is None and in_ts:
        c.add(i, p + "tcp.options.TS", None, ao["ts"], "TS-STRIP")
    elif eo["ts"] is not None or ao["ts"] is not None:
        ets, ats = eo["ts"], ao["ts"]
        c.add(i, p + "tcp.options.TS.tsval", ets[0] if isinstance(ets, list) else None,
              ats[0] if isinstance(ats, list) else None, "RST-FIELDS" if rst else "TS-VAL")
        c.add(i, p + "tcp.options.TS.tsecr", ets[1] if isinstance(ets, list) else None,
              ats[1] if isinstance(ats, list) else None, "RST-FIELDS" if rst else "TS-ECR")
        if eo["ts_count"] != 1 or ao["ts_count"] != 1:  # every TS option must be mapped
            c.add(i, p + "tcp.options.TS (all)", eo["ts_all"], ao["ts_all"], "RST-FIELDS" if rst else "TS-VAL")
    in_sack = injected.tcp.option(Sack) is not None
    if eo["sack"] is None and in_sack:
        c.add(i, p + "tcp.options.SACK", None, ao["sack"],
              "SACK-CLIP" if Note.SACK_CLIPPED in notes else "SACK-STRIP")
    elif eo["sack"] is not None or ao["sack"] is not None:
        c.add(i, p + "tcp.options.SACK", eo["sack"], ao["sack"],
              "SACK-CLIP" if Note.SACK_CLIPPED in notes else "RST-FIELDS" if rst else "SACK-MAP")
    if injected.tcp.option(WindowScale) is not None or ao["ws"] is not None:
        c.add(i, p + "tcp.options.WS", eo["ws"], ao["ws"], "WS-STRIP")
    c.add(i, p + "tcp.options (passed through)", eo["passed"], ao["passed"], "OPT-PASS")
    _compare_instances(c, i, p, eo, ao, e, injected, notes)
    # byte layout last: NOP overwrite vs removal is a MAY; checked only when everything else agrees
    if (eo["ts_all"] == ao["ts_all"] and eo["sack"] == ao["sack"] and eo["ws"] == ao["ws"]
            and eo["instances"] == ao["instances"]):
        c.add(i, p + "tcp.options layout", eo["layout"], ao["layout"], "STRIP-STYLE")


def _kind_req(kind: int, e: Segment, injected: Segment, notes: tuple[Note, ...]) -> str:
    """The requirement an instance of option ``kind`` evidences (the same choice as the rules above)."""
    if kind == 8:  # Timestamps, RFC 7323 §3
        stripped = e.tcp.option(Timestamps) is None and injected.tcp.option(Timestamps) is not None
        return "TS-STRIP" if stripped else "TS-VAL"
    if kind == 5:  # SACK, RFC 2018 §3
        if Note.SACK_CLIPPED in notes:
            return "SACK-CLIP"
        stripped = e.tcp.option(Sack) is None and injected.tcp.option(Sack) is not None
        return "SACK-STRIP" if stripped else "SACK-MAP"
    if kind == 3:  # window scale, RFC 7323 §2
        return "WS-STRIP"
    return "OPT-PASS"


def _compare_instances(c: _Collector, i: int, p: str, eo: dict[str, object], ao: dict[str, object], e: Segment,
                       injected: Segment, notes: tuple[Note, ...]) -> None:
    """Every option instance (NOP and EOL padding aside), in order: an extra, missing, duplicated or
    reordered instance changes the list of kinds; an instance the rules above do not read (a second
    SACK or window scale) is compared byte for byte."""
    e_inst = eo["instances"] if isinstance(eo["instances"], list) else []
    a_inst = ao["instances"] if isinstance(ao["instances"], list) else []
    e_kinds = [int(x[:2], 16) for x in e_inst]
    a_kinds = [int(x[:2], 16) for x in a_inst]
    if e_kinds != a_kinds:  # charged to the kind extra or missing, else (reordered) to the first out of place
        extra, missing = Counter(a_kinds) - Counter(e_kinds), Counter(e_kinds) - Counter(a_kinds)
        at = next((k for k, (x, y) in enumerate(zip(e_kinds, a_kinds, strict=False)) if x != y), 0)
        odd = [k for k in a_kinds if k in extra] + [k for k in e_kinds if k in missing]
        kind = odd[0] if odd else e_kinds[at]
        c.add(i, p + "tcp.options (kinds, in order)", e_kinds, a_kinds, _kind_req(kind, e, injected, notes))
        return
    seen: dict[int, int] = {}
    for k, (kind, x, y) in enumerate(zip(e_kinds, e_inst, a_inst, strict=True)):
        nth = seen.get(kind, 0)
        seen[kind] = nth + 1
        read_above = kind in (8, 2, 4) or kind not in (5, 3) or nth == 0  # TS all, passed all, first SACK/WS
        if not read_above:
            c.add(i, p + f"tcp.options[{k}] (kind {kind}, instance {nth + 1})", x, y,
                  _kind_req(kind, e, injected, notes))


#: ICMP errors: the bits of the outer IP header and the ICMP header no rule of :func:`compare_icmp`
#: reads, relative to each header's start (IPv4: TOS, ID, the reserved and DF flags; the ICMP "unused"
#: field, RFC 1191 §4. IPv6: traffic class and flow label). The sender of the offending segment does not
#: act on them and the originator chooses them (RFC 1812 §4.3.2.5 even asks routers for precedence 6 or 7
#: where the model puts 0): ICMP-OTHER, a MAY, so that a difference is reported as INFO.
ICMP_OTHER_IP: dict[int, dict[int, int]] = {4: {1: 0xFF, 4: 0xFF, 5: 0xFF, 6: 0xC0},
                                            6: {0: 0x0F, 1: 0xFF, 2: 0xFF, 3: 0xFF}}
ICMP_OTHER_ICMP: dict[int, dict[int, int]] = {4: {4: 0xFF, 5: 0xFF}, 6: {}}
#: the largest ICMP error: RFC 1812 §4.3.2.3 (576 bytes), RFC 4443 §2.4(c) (the IPv6 minimum MTU)
ICMP_MAX = {4: 576, 6: IPV6_MIN_MTU}


def icmp_valid(raw: bytes) -> tuple[bool, bool]:
    """(IP header checksum valid, ICMP checksum valid) of an ICMP(v6) packet. ICMPv6's checksum covers
    the pseudo-header (RFC 4443 §2.3); IPv6 has no header checksum (always valid)."""
    if raw[0] >> 4 == 4:
        ihl = (raw[0] & 0x0F) * 4
        return internet_checksum(raw[:ihl]) == 0, internet_checksum(raw[ihl:]) == 0
    body = raw[40:]
    pseudo = raw[8:40] + struct.pack("!IxxxB", len(body), PROTO_ICMPV6)
    return True, (~ones_add(ones_sum(pseudo), ones_sum(body))) & 0xFFFF == 0


def _quote_view(raw: bytes, offending: bytes) -> str:
    """What an ICMP error quotes, judged against the offending packet as received: a prefix of it at
    least as long as RFC 792 asks (its IP header and 64 bits of data) or, for ICMPv6, as much as fits in
    1280 bytes (RFC 4443 §2.4(c)); at most ``ICMP_MAX`` bytes in all."""
    version = raw[0] >> 4
    head = (raw[0] & 0x0F) * 4 + 8 if version == 4 else 48
    quote = raw[head:]
    if version == 4:
        need = min(len(offending), ((offending[0] & 0x0F) * 4 if offending else 20) + 8)
    else:
        need = min(len(offending), ICMP_MAX[6] - 48)
    if len(raw) > ICMP_MAX[version]:
        return f"{len(raw)} bytes in all, over {ICMP_MAX[version]}"
    if quote != offending[:len(quote)]:
        at = next((k for k, (x, y) in enumerate(zip(quote, offending, strict=False)) if x != y), len(offending))
        return f"{len(quote)} bytes, differing from the offending packet at byte {at}"
    if len(quote) < need:
        return f"{len(quote)} bytes, fewer than {need}"
    return f"a prefix of the offending packet, at least {need} bytes"


def compare_icmp(c: _Collector, i: int, p: str, e_raw: bytes, a_raw: bytes, offending: bytes) -> None:
    """Every byte of an ICMP error of the IP version expected (type, code and MTU are compared already):
    what makes the sender accept and act on it — outer addresses, TTL / hop limit, lengths, both
    checksums, the quoted datagram (RFC 792; RFC 1191 §4; RFC 4443 §2.3, §2.4) — is MSS-ICMP's; the rest
    (:data:`ICMP_OTHER_IP`) ICMP-OTHER's."""
    version = e_raw[0] >> 4
    e_ihl = (e_raw[0] & 0x0F) * 4 if version == 4 else 40
    a_ihl = (a_raw[0] & 0x0F) * 4 if version == 4 else 40
    c.add(i, p + "ip.src", e_raw[12:16].hex() if version == 4 else e_raw[8:24].hex(),
          a_raw[12:16].hex() if version == 4 else a_raw[8:24].hex(), "MSS-ICMP")
    c.add(i, p + "ip.dst", e_raw[16:20].hex() if version == 4 else e_raw[24:40].hex(),
          a_raw[16:20].hex() if version == 4 else a_raw[24:40].hex(), "MSS-ICMP")
    c.add(i, p + "ip.ttl", e_raw[8 if version == 4 else 7], a_raw[8 if version == 4 else 7], "MSS-ICMP")
    if version == 4:
        length = struct.unpack_from("!H", a_raw, 2)[0]
        c.add(i, p + "ip.total length = packet length", True, length == len(a_raw), "MSS-ICMP")
        c.add(i, p + "ip fragment (MF, offset)", e_raw[6] & 0x3F, a_raw[6] & 0x3F, "MSS-ICMP")
        c.add(i, p + "ip fragment offset (low byte)", e_raw[7], a_raw[7], "MSS-ICMP")
        c.add(i, p + "ip.options", e_raw[20:e_ihl].hex(), a_raw[20:a_ihl].hex(), "ICMP-OTHER")
    else:
        length = struct.unpack_from("!H", a_raw, 4)[0]
        c.add(i, p + "ip.payload length = packet length - 40", True, length == len(a_raw) - 40, "MSS-ICMP")
    e_ok, a_ok = icmp_valid(e_raw), icmp_valid(a_raw)
    if version == 4:
        c.add(i, p + "ip.checksum valid", e_ok[0], a_ok[0], "MSS-ICMP")
    c.add(i, p + "icmp.checksum valid", e_ok[1], a_ok[1], "MSS-ICMP")
    c.add(i, p + "icmp.quote", _quote_view(e_raw, offending), _quote_view(a_raw, offending), "MSS-ICMP")
    _sweep(c, i, p + "ip", e_raw, a_raw, ICMP_OTHER_IP[version], "ICMP-OTHER")
    _sweep(c, i, p + "icmp", e_raw, a_raw, ICMP_OTHER_ICMP[version], "ICMP-OTHER", e_ihl, a_ihl)


def _count_req(notes: tuple[Note, ...], primary: str) -> str:
    for note, req in ((Note.TTL_EXPIRED, "TTL-EXPIRE"), (Note.NOT_THIS_SPLICE, "DIR-ONLY"),
                      (Note.MSS_EXCEEDED, "MSS-ICMP"), (Note.BELOW_BASE_DROPPED, "TRIM-BELOW"),
                      (Note.BELOW_BASE_PURE_ACK, "TRIM-BELOW"), (Note.SPLICE_RESET, "LIFE-AFTER-RST")):
        if note in notes:
            return req
    return primary


def observation(results: Iterable[RelayResult]) -> Observation:
    """The packets the model emits for ``results``, per leg, as an IUT would show them: relayed segments
    on the out leg, an ICMP error back to the sender on the in leg."""
    to_client: list[bytes] = []
    to_server: list[bytes] = []
    for r in results:
        c2s = r.direction is Direction.C2S
        for e in r.emitted:
            if isinstance(e, PacketTooBig):  # back to the sender
                (to_client if c2s else to_server).append(encode_icmp(e))
            else:
                (to_server if c2s else to_client).append(encode(e))
    return Observation(tuple(to_client), tuple(to_server))


def expected_counts(*results: RelayResult) -> tuple[int, int]:
    """(to_client, to_server): how many packets the model emits on each leg for ``results`` (the
    routing of :func:`observation`, without encoding anything)."""
    c = s = 0
    for r in results:
        icmp = sum(isinstance(e, PacketTooBig) for e in r.emitted)
        relayed = len(r.emitted) - icmp
        if r.direction is Direction.C2S:
            c, s = c + icmp, s + relayed
        else:
            c, s = c + relayed, s + icmp
    return c, s


def split_observation(results: Sequence[RelayResult], observed: Observation) -> list[Observation]:
    """``observed`` divided among ``results`` in order, per leg: each result gets as many packets as the
    model emits for it, and the last one whatever remains (so extra packets are judged, not lost)."""
    parts: list[Observation] = []
    at_c = at_s = 0
    for k, r in enumerate(results):
        ec, es = expected_counts(r)
        last = k == len(results) - 1
        parts.append(Observation(observed.to_client[at_c:None if last else at_c + ec],
                                 observed.to_server[at_s:None if last else at_s + es]))
        at_c, at_s = at_c + ec, at_s + es
    return parts


def expired_back(state: SpliceState, model: RelayResult, injected: Segment) -> str | None:
    """The leg towards the sender of a packet whose TTL or hop limit expires at the proxy, where a router's
    time-exceeded error (RFC 1812 §5.3.1) may go; None for any other packet.

    A packet of the splice expires by the model's own rule (``Note.TTL_EXPIRED``, TTL-EXPIRE). So does any
    other packet the model does not relay that arrives with TTL or hop limit 0 or 1 from an end host of the
    splice — a foreign one (DIR-ONLY), or one the model drops before it looks at the TTL (malformed TCP
    options, say): a router decrements the TTL before it looks at TCP at all (RFC 1812 §5.3.1), so where the
    proxy host routes it on (a router-based splice such as SYNPROXY) it expires there just as well, and the
    error goes back to its sender."""
    if Note.TTL_EXPIRED in model.notes:
        return "to_client" if model.direction is not Direction.S2C else "to_server"
    if model.emitted:
        return None
    ip = injected.ip
    if ip.hop_limit > 1:  # (an IPv4 header's hop_limit is its TTL)
        return None
    if ip.src == state.client.peer.addr:
        return "to_client"
    if ip.src == state.server.peer.addr:
        return "to_server"
    return None


def not_acceptable(seg: Segment) -> bool:
    """A segment with none of SYN, RST and ACK: every state of its receiver drops it unprocessed — LISTEN and
    SYN-SENT for lacking SYN, ACK and RST, a synchronized state at the ACK check, before its data or FIN are
    looked at (RFC 9293 §3.10.7.2-3.10.7.4). A splice that does not relay it (conntrack holds it invalid)
    makes no difference the end hosts can tell: the count of such a step is ACK-NOACK's (a MAY, as the named
    ACK-NOACK cases grade it), whatever requirement the case is about."""
    return not seg.tcp.flags & (SYN | RST | ACK)


def _all_unacceptable(model: RelayResult) -> bool:
    """Whether the model emits only TCP segments their receiver drops unprocessed (:func:`not_acceptable`): a
    SYN+FIN without ACK whose SYN lies below the base leaves a bare FIN, say. (The model's own segments: one
    input is relayed on one leg, so a leg that lost a packet holds these.)"""
    segments = model.segments
    return bool(segments) and len(segments) == len(model.emitted) and all(not_acceptable(e) for e in segments)


def diff_step(step: int, state: SpliceState, injected: Segment, injected_raw: bytes, model: RelayResult,
              observed: Observation, primary: str) -> tuple[list[FieldDiff], StepRecord]:
    """Every check of one injection (equal fields included: ``checked`` counts them) and its record."""
    c = _Collector(step)
    expected_packets = observation((model,))
    exp_c, exp_s = expected_packets.to_client, expected_packets.to_server
    in_valid = (ip_valid(injected, injected_raw), tcp_valid(injected, injected_raw))
    count_req = _count_req(model.notes, primary)
    back = expired_back(state, model, injected)
    for leg, expected, actual in (("to_client", exp_c, observed.to_client), ("to_server", exp_s, observed.to_server)):
        if leg == back:
            # TTL-EXPIRE asks that the packet not be relayed; a router's time-exceeded error back to the
            # sender (RFC 1812 §5.3.1) is allowed, and recorded as a passing check rather than counted
            sent_back = tuple(a for a in actual if is_time_exceeded(a))
            actual = tuple(a for a in actual if not is_time_exceeded(a))
            if sent_back:
                c.add(-1, f"{leg}.icmp time-exceeded (allowed)", len(sent_back), len(sent_back), "TTL-EXPIRE")
        req = count_req
        if len(actual) < len(expected):
            if not all(in_valid):
                # dropped as it came, corrupt: CSUM-CORRUPT-RELAY's MAY whatever the case and whatever the model
                # makes of it (relayed, a pure ACK at the base for one below it, an ICMP error for one too big)
                req = "CSUM-CORRUPT-RELAY"
            elif count_req == primary and (not_acceptable(injected) or _all_unacceptable(model)):
                req = "ACK-NOACK"
        c.add(-1, f"{leg}.count", len(expected), len(actual), req)
        for i, (e_raw, a_raw) in enumerate(zip(expected, actual, strict=False)):
            e_icmp, a_icmp = parse_icmp(e_raw), parse_icmp(a_raw)
            if e_icmp is not None or a_icmp is not None:
                c.add(i, f"{leg}[{i}].icmp", None if e_icmp is None else [e_icmp.type, e_icmp.code, e_icmp.mtu],
                      None if a_icmp is None else [a_icmp.type, a_icmp.code, a_icmp.mtu], "MSS-ICMP")
                if e_icmp is not None and a_icmp is not None and e_raw[0] >> 4 == a_raw[0] >> 4:
                    compare_icmp(c, i, f"{leg}[{i}].", e_raw, a_raw, injected_raw)
                continue
            try:
                e, rest = decode(e_raw), False
            except MalformedSegment:  # an alternative's relay of an area it does not walk (Alternative.keep_rest)
                e, rest = decode(e_raw, keep_rest=True), True
            try:
                a = decode(a_raw, rest)
            except MalformedSegment as exc:
                c.add(i, f"{leg}[{i}].decodes", "a well-formed segment", f"malformed: {exc}", primary)
                continue
            compare_segments(c, i, leg, e, e_raw, a, a_raw, model, state, injected, in_valid)
    from_client = model.direction is not Direction.S2C
    record = StepRecord(
        leg_in="client" if from_client else "server",
        input=injected_raw.hex(),
        expected_to_client=[x.hex() for x in exp_c], expected_to_server=[x.hex() for x in exp_s],
        actual_to_client=[x.hex() for x in observed.to_client], actual_to_server=[x.hex() for x in observed.to_server],
        summary_input=summary(injected_raw),
        summary_expected=[summary(x) for x in exp_c + exp_s],
        summary_actual=[summary(x) for x in observed.to_client + observed.to_server],
    )
    return c.diffs, record


def geometry(state: SpliceState, seg: Segment, model: RelayResult, step: int) -> Geometry | None:
    """The input's place relative to the in leg's base (for reports' sequence-space picture), at step ``step``
    (the number its differences carry)."""
    if model.direction is None:
        return None
    leg_in, leg_out = state.legs(model.direction)
    t = seg.tcp
    return Geometry(leg_in.splice_irs, leg_out.splice_iss, t.seq, len(seg.payload), model.direction.value,
                    leg_in.splice_iss, step)


def distance(a: int, b: int) -> int:
    """Signed distance a - b in sequence space, in (-2^31, 2^31]."""
    d = int(seq_sub(a, b))
    return d - MOD32 if d > HALF else d


def lines(diffs: list[FieldDiff]) -> Iterator[str]:
    """packetdrill-style lines for the differing fields."""
    for d in diffs:
        if not d.ok:
            yield d.line()
