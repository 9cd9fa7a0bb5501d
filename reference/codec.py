"""Wire codec: bytes ⇄ :class:`Segment` (after aioquic's ``packet.py``: pure pull/push functions).

``decode`` is total: every byte string yields a :class:`Segment` or raises :class:`MalformedSegment`
with a machine-readable :class:`Malformation`. ``encode(decode(b)) == b`` for every well-formed
packet, option order, padding and checksums included. Checksums left as ``None`` are computed.

Speed (docs/ARCHITECTURE.md principle 3): ``decode`` builds its values with the unchecked constructors of
:mod:`~splicecheck.reference.segment` — every field comes out of a fixed-width struct format or a
length the checks above it bounded, so ``__post_init__`` would find nothing — and keeps the bytes it
read on the segment (``Segment._wire``); ``encode`` of such a segment returns them. :func:`serialise`
always builds the bytes from the fields, and the tests hold the two to each other. The option areas of
nearly every data segment (NOP NOP TS, and NOP NOP SACK after it) are recognised by their fixed bytes
(:func:`lazy_layout`) and left as bytes in the header, parsed when its options are first read
(``segment.UNPARSED``; :func:`pull_options` unpacks them without the general option loop); every other
area is parsed, and checked, by :func:`decode` itself.

Scope: IPv4 (RFC 791 §3.1) with options, IPv6 (RFC 8200 §3) without extension headers, TCP
(RFC 9293 §3.1). Fragments are not segments and are refused.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from .checksum import ipv4_header_checksum, tcp_checksum
from .errors import Malformation, MalformedSegment
from .segment import (
    IP_MF,
    NOP,
    OPT_EOL,
    OPT_MSS,
    OPT_NOP,
    OPT_SACK,
    OPT_SACK_PERMITTED,
    OPT_TIMESTAMP,
    OPT_WSCALE,
    UNPARSED,
    EndOfOptionList,
    IPv4Header,
    IPv6Header,
    MaxSegmentSize,
    NoOperation,
    OpaqueRest,
    Sack,
    SackPermitted,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    unchecked_ipv4,
    unchecked_ipv6,
    unchecked_mss,
    unchecked_sack,
    unchecked_segment,
    unchecked_tcp,
    unchecked_timestamps,
    unchecked_wscale,
)

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIHHHH")
#: an IP header without options and the TCP header after it, in one struct (the relay's output)
_IPV4_TCP = struct.Struct(_IPV4.format + _TCP.format[1:])
_IPV6_TCP = struct.Struct(_IPV6.format + _TCP.format[1:])
_TS = struct.Struct("!II")
_U16 = struct.Struct("!H")
PROTO_TCP = 6
# RFC 8200 §4 extension headers (and RFC 4302/4303 AH/ESP, RFC 5533 shim6, RFC 7401 HIP).
_IPV6_EXTENSIONS = frozenset({0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254})
_SACK_PERMITTED = SackPermitted()
_TS_HEAD = struct.Struct("!BBII")  # kind 8, length 10, TSval, TSecr
_SACK_EDGES = {n: struct.Struct(f"!{2 * n}I") for n in range(1, 5)}  # n SACK blocks: 2n edges


def _pairs(n: int) -> Callable[[tuple[int, ...]], tuple[tuple[int, int], ...]]:
    """2n edges → n ``(left, right)`` blocks: the 2-tuple slices of the edges, in one C call."""
    if n == 1:
        return lambda edges: (edges,)  # type: ignore[return-value]  # the two edges are the block
    return itemgetter(*[slice(2 * i, 2 * i + 2) for i in range(n)])


_SACK_BLOCKS = {n: _pairs(n) for n in range(1, 5)}
_SACK_HEADS = {n: struct.Struct(f"!BB{2 * n}I") for n in range(1, 5)}  # kind 5, length, then the edges
_NOP_NOP_TS = bytes((OPT_NOP, OPT_NOP, OPT_TIMESTAMP, 10))
#: The option areas of the usual data segment (RFC 7323 Appendix A's layout), by their length, each one struct:
#: NOP, NOP, TS (12 bytes: the four octets NOP, NOP, kind 8, length 10; TSval, TSecr), and that followed by NOP,
#: NOP, SACK of n blocks (16 + 8n bytes: the same, then NOP, NOP, kind 5, length 2 + 8n; the 2n edges), n ≤ 3 —
#: a fourth block does not fit beside the timestamps in 40 bytes.
ALIGNED_AREAS = {12: struct.Struct("!4sII"), **{16 + 8 * n: struct.Struct(f"!4sII4s{2 * n}I") for n in range(1, 4)}}
_ALIGNED_TS = ALIGNED_AREAS[12]
_ALIGNED_TS_SACK = {n: (ALIGNED_AREAS[16 + 8 * n], bytes((OPT_NOP, OPT_NOP, OPT_SACK, 2 + 8 * n))) for n in range(1, 4)}
#: option-area length → the NOP, NOP, kind, length octets of the SACK that fills it after NOP, NOP, TS:
#: 1 to 3 blocks (a fourth does not fit beside the timestamps in 40 bytes)
_NOP_NOP_SACK_FILLING = {16 + 8 * k: bytes((OPT_NOP, OPT_NOP, OPT_SACK, 2 + 8 * k)) for k in range(1, 4)}
#: Linux's SYN and SYN-ACK options when all four are on (tcp_options_write): MSS; SACK-permitted and the
#: timestamps sharing 12 bytes; NOP and window scale. The fixed octets, then MSS, TSval, TSecr, shift.
_LINUX_SYN = struct.Struct("!2sH4sII3sB")
_LINUX_SYN_FIXED = (bytes((OPT_MSS, 4)), bytes((OPT_SACK_PERMITTED, 2, OPT_TIMESTAMP, 10)),
                    bytes((OPT_NOP, OPT_WSCALE, 3)))


def _fail(reason: Malformation, detail: str, offset: int | None = None) -> MalformedSegment:
    return MalformedSegment(reason, detail, offset)


# --------------------------------------------------------------------------------------------------
# TCP options
# --------------------------------------------------------------------------------------------------


def pull_options(data: bytes, base: int = 0, keep_rest: bool = False) -> tuple[TcpOption, ...]:
    """Parse a TCP option area (RFC 9293 §3.1 "Options"); ``base`` only shifts error offsets. ``keep_rest``:
    where the area cannot be walked on (a length under 2, or one running past the area), the options so far
    and an :class:`~splicecheck.reference.segment.OpaqueRest` holding the bytes from that option's kind
    octet on, instead of :class:`MalformedSegment`.

    Fast path: the two areas nearly every established-state segment carries — NOP, NOP, Timestamps
    (the layout RFC 7323 Appendix A recommends, and what Linux and the BSDs send), and that followed
    by NOP, NOP, SACK filling the rest of the area — and Linux's SYN area with every option on (MSS,
    SACK-permitted, Timestamps, NOP, window scale) are recognised by their fixed bytes and unpacked
    without the general loop. The result is the one the loop would give (``tests/test_codec.py``
    holds the two to each other on every layout)."""
    n = len(data)
    if n >= 12 and data[:4] == _NOP_NOP_TS:
        ts = unchecked_timestamps(*_TS.unpack_from(data, 4))
        if n == 12:
            return (NOP, NOP, ts)
        if data[12:16] == _NOP_NOP_SACK_FILLING.get(n):  # n == 16 + 8k and a k-block SACK fills it
            k = (n - 16) >> 3
            return (NOP, NOP, ts, NOP, NOP, unchecked_sack(_SACK_BLOCKS[k](_SACK_EDGES[k].unpack_from(data, 16))))
    elif n == 20 and data[:2] == b"\x02\x04":
        mss_head, mss, ts_head, tsval, tsecr, ws_head, shift = _LINUX_SYN.unpack(data)
        if (mss_head, ts_head, ws_head) == _LINUX_SYN_FIXED:
            return (unchecked_mss(mss), _SACK_PERMITTED, unchecked_timestamps(tsval, tsecr), NOP,
                    unchecked_wscale(shift))
    return _pull_options_loop(data, base, keep_rest)


def lazy_layout(area: bytes) -> bool:
    """Whether an option area is NOP, NOP, Timestamps, alone or followed by NOP, NOP, SACK filling the rest: the
    areas :func:`decode` and the relay leave as bytes in a header (``segment.UNPARSED``), to be parsed when its
    options are first read. They are valid by their fixed bytes: :func:`pull_options` cannot fail on them."""
    return area[:4] == _NOP_NOP_TS and (len(area) == 12 or area[12:16] == _NOP_NOP_SACK_FILLING.get(len(area)))


def pull_lazy(area: bytes) -> tuple[TcpOption, ...]:
    """The options of an area :func:`lazy_layout` accepts — NOP NOP TS, and NOP NOP SACK after it — unpacked in
    one struct without checking the layout again: what ``segment.TcpHeader.options`` parses a lazy header's
    bytes with (the same values as :func:`pull_options`, ``tests/test_codec_malformed.py``)."""
    v = ALIGNED_AREAS[len(area)].unpack(area)
    ts = unchecked_timestamps(v[1], v[2])
    if len(v) == 3:
        return (NOP, NOP, ts)
    return (NOP, NOP, ts, NOP, NOP, unchecked_sack(_SACK_BLOCKS[(len(v) - 4) >> 1](v[4:])))


def _pull_options_loop(data: bytes, base: int, keep_rest: bool = False) -> tuple[TcpOption, ...]:
    """The general option parser: any layout, and the errors of a malformed one (or, with ``keep_rest``,
    its rest as an ``OpaqueRest``)."""
    out: list[TcpOption] = []
    i, n = 0, len(data)
    while i < n:
        kind = data[i]
        if kind == OPT_NOP:
            out.append(NOP)
            i += 1
            continue
        if kind == OPT_EOL:
            out.append(EndOfOptionList(bytes(data[i + 1:])))
            break
        if keep_rest and (i + 1 >= n or data[i + 1] < 2 or i + data[i + 1] > n):
            out.append(OpaqueRest(bytes(data[i:])))
            break
        if i + 1 >= n:
            raise _fail(Malformation.OPTION_OVERRUN, f"option kind {kind} has no length octet", base + i)
        length = data[i + 1]
        if length < 2:
            raise _fail(Malformation.BAD_OPTION_LENGTH, f"option kind {kind} has length {length}", base + i)
        if i + length > n:
            raise _fail(Malformation.OPTION_OVERRUN,
                        f"option kind {kind} length {length} runs past the header by {i + length - n}",
                        base + i)
        out.append(_typed_option(kind, length, data, i))
        i += length
    return tuple(out)


def _typed_option(kind: int, length: int, data: bytes, i: int) -> TcpOption:
    if kind == OPT_TIMESTAMP and length == 10:
        return unchecked_timestamps(*_TS.unpack_from(data, i + 2))
    if kind == OPT_SACK and length >= 10 and (length - 2) % 8 == 0:  # 1..4 blocks: 10 ≤ length ≤ 38
        k = length >> 3
        return unchecked_sack(_SACK_BLOCKS[k](_SACK_EDGES[k].unpack_from(data, i + 2)))
    if kind == OPT_MSS and length == 4:
        return unchecked_mss(_U16.unpack_from(data, i + 2)[0])  # 16 bits by the struct format
    if kind == OPT_WSCALE and length == 3:
        return unchecked_wscale(data[i + 2])  # one octet: 0..255, what WindowScale accepts
    if kind == OPT_SACK_PERMITTED and length == 2:
        return _SACK_PERMITTED
    return UnknownOption(kind, bytes(data[i + 2:i + length]))




def _push_timestamps(opt: Timestamps) -> bytes:
    return _TS_HEAD.pack(OPT_TIMESTAMP, 10, opt.tsval, opt.tsecr)


def push_timestamps(tsval: int, tsecr: int) -> bytes:
    """A Timestamps option from its two values."""
    return _TS_HEAD.pack(OPT_TIMESTAMP, 10, tsval, tsecr)


def push_aligned_timestamps(tsval: int, tsecr: int) -> bytes:
    """NOP, NOP, Timestamps: the 12-byte layout of RFC 7323 Appendix A (see :func:`pull_options`)."""
    return _ALIGNED_TS.pack(_NOP_NOP_TS, tsval, tsecr)


def push_aligned_timestamps_sack(tsval: int, tsecr: int, edges: list[int]) -> bytes:
    """NOP, NOP, Timestamps, NOP, NOP, SACK (the second layout of :func:`pull_options`) from the timestamps and
    the SACK's edges ``[left1, right1, ...]`` (1 to 3 blocks), in one struct."""
    layout, sack_head = _ALIGNED_TS_SACK[len(edges) >> 1]
    return layout.pack(_NOP_NOP_TS, tsval, tsecr, sack_head, *edges)


def _push_sack(opt: Sack) -> bytes:
    return push_sack_edges([e for block in opt.blocks for e in block])


def push_sack_edges(edges: list[int]) -> bytes:
    """A SACK option from its edges ``[left1, right1, left2, right2, ...]`` (1 to 4 blocks)."""
    n = len(edges)
    return _SACK_HEADS[n >> 1].pack(OPT_SACK, 2 + 4 * n, *edges)


def _push_mss(opt: MaxSegmentSize) -> bytes:
    return b"\x02\x04" + _U16.pack(opt.value)


def _push_wscale(opt: WindowScale) -> bytes:
    return bytes((OPT_WSCALE, 3, opt.shift))


def _push_eol(opt: EndOfOptionList) -> bytes:
    return b"\x00" + opt.padding


def _push_unknown(opt: UnknownOption) -> bytes:
    return bytes((opt.kind, 2 + len(opt.data))) + opt.data


#: One encoder per option type: a dict lookup instead of a chain of isinstance tests.
_PUSH: dict[type, Callable[[Any], bytes]] = {
    Timestamps: _push_timestamps,
    NoOperation: lambda _: b"\x01",
    Sack: _push_sack,
    MaxSegmentSize: _push_mss,
    WindowScale: _push_wscale,
    SackPermitted: lambda _: b"\x04\x02",
    EndOfOptionList: _push_eol,
    UnknownOption: _push_unknown,
    OpaqueRest: lambda opt: opt.data,
}


def push_option(opt: TcpOption) -> bytes:
    return _PUSH[type(opt)](opt)


def push_options(options: tuple[TcpOption, ...]) -> bytes:
    push = _PUSH
    return b"".join([push[type(o)](o) for o in options])


# --------------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------------


def decode(data: bytes, keep_rest: bool = False) -> Segment:
    """Parse one IP packet carrying one TCP segment. Raises :class:`MalformedSegment`. ``keep_rest``: an
    option area that cannot be walked is no error; its walkable options are followed by an
    :class:`~splicecheck.reference.segment.OpaqueRest` holding the rest as bytes (:func:`pull_options`)."""
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n == 0:
        raise _fail(Malformation.EMPTY, "no bytes")
    version = data[0] >> 4
    ip: IPv4Header | IPv6Header
    if version == 4:
        if n < 20:
            raise _fail(Malformation.TRUNCATED_IP_HEADER, f"{n} bytes, an IPv4 header needs 20")
        vihl, tos, total, ident, ff, ttl, proto, csum, src, dst = _IPV4.unpack_from(data)
        hl = (vihl & 0x0F) * 4
        if hl < 20:
            raise _fail(Malformation.BAD_IHL, f"IHL {hl // 4} is below 5", 0)
        if n < hl:
            raise _fail(Malformation.TRUNCATED_IP_HEADER, f"{n} bytes, IHL says {hl}")
        if total != n:
            raise _fail(Malformation.TOTAL_LENGTH_MISMATCH, f"total length {total}, packet has {n} bytes", 2)
        if proto != PROTO_TCP:
            raise _fail(Malformation.NOT_TCP, f"IP protocol {proto}", 9)
        if ff & 0x1FFF or (ff >> 13) & IP_MF:
            raise _fail(Malformation.FRAGMENT, f"fragment offset {ff & 0x1FFF}, MF {(ff >> 13) & 1}", 6)
        ip = unchecked_ipv4(src, dst, tos, ident, ff >> 13, 0, ttl, csum, data[20:hl])
    elif version == 6:
        if n < 40:
            raise _fail(Malformation.TRUNCATED_IP_HEADER, f"{n} bytes, an IPv6 header needs 40")
        vtcfl, plen, nh, hlim, src, dst = _IPV6.unpack_from(data)
        if plen + 40 != n:
            raise _fail(Malformation.TOTAL_LENGTH_MISMATCH, f"payload length {plen}, packet carries {n - 40}", 4)
        if nh in _IPV6_EXTENSIONS:
            raise _fail(Malformation.UNSUPPORTED_IPV6_EXTENSION, f"next header {nh}", 6)
        if nh != PROTO_TCP:
            raise _fail(Malformation.NOT_TCP, f"next header {nh}", 6)
        hl = 40
        ip = unchecked_ipv6(src, dst, (vtcfl >> 20) & 0xFF, vtcfl & 0xFFFFF, hlim)
    else:
        raise _fail(Malformation.BAD_IP_VERSION, f"version {version}", 0)

    tlen = n - hl
    if tlen < 20:
        raise _fail(Malformation.TRUNCATED_TCP_HEADER, f"{tlen} bytes of TCP, a header needs 20", hl)
    sport, dport, seq, ack, off_flags, window, csum, urgent = _TCP.unpack_from(data, hl)
    doff = (off_flags >> 12) * 4
    if doff < 20:
        raise _fail(Malformation.BAD_DATA_OFFSET, f"data offset {doff // 4} is below 5", hl + 12)
    if doff > tlen:
        raise _fail(Malformation.DATA_OFFSET_PAST_END, f"data offset {doff // 4} words, segment has {tlen} bytes",
                    hl + 12)
    # the options of the usual data segment are left as bytes, parsed when first read (segment.UNPARSED)
    lazy = None
    if doff == 20:
        options: Any = ()
    else:
        area = data[hl + 20:hl + doff]
        if lazy_layout(area):
            options, lazy = UNPARSED, area
        else:
            options = pull_options(area, hl + 20, keep_rest)
    # Valid by construction: struct widths bound every number; the options fill exactly doff - 20 ≤ 40
    # bytes, a multiple of 4; the IP length fields bound the segment's length.
    tcp = unchecked_tcp(sport, dport, seq, ack, off_flags & 0x1FF, window, urgent, options, csum,
                        (off_flags >> 9) & 0x7, lazy)
    return unchecked_segment(ip, tcp, data[hl + doff:], data)


def tcp_header_bytes(t: TcpHeader) -> bytes:
    """The TCP header with options, its checksum field zero (what checksum arithmetic sums)."""
    opts = push_options(t.options) if t.options else b""
    doff = (20 + len(opts)) // 4
    return _TCP.pack(t.sport, t.dport, t.seq, t.ack, (doff << 12) | (t.reserved << 9) | t.flags,
                     t.window, 0, t.urgent) + opts


def ipv4_header_bytes(ip: IPv4Header, payload_length: int) -> bytes:
    """The IPv4 header with options, its checksum field zero."""
    hl = 20 + len(ip.options)
    return _IPV4.pack(0x40 | (hl // 4), ip.tos, hl + payload_length, ip.ident, (ip.flags << 13) | ip.frag_offset,
                      ip.ttl, PROTO_TCP, 0, ip.src, ip.dst) + ip.options


def encode_tcp(seg: Segment, checksum: int | None = None) -> bytes:
    """The TCP header and payload, with ``checksum`` (default: the segment's own, or computed)."""
    body = tcp_header_bytes(seg.tcp) + seg.payload
    csum = seg.tcp.checksum if checksum is None else checksum
    if csum is None:
        csum = tcp_checksum(seg.ip.src, seg.ip.dst, body)
    return body[:16] + _U16.pack(csum) + body[18:]


def encode_ip_header(ip: IPv4Header | IPv6Header, payload_length: int) -> bytes:
    if isinstance(ip, IPv6Header):
        return _IPV6.pack((6 << 28) | (ip.traffic_class << 20) | ip.flow_label, payload_length, PROTO_TCP,
                          ip.hop_limit, ip.src, ip.dst)
    head = ipv4_header_bytes(ip, payload_length)
    csum = ipv4_header_checksum(head) if ip.checksum is None else ip.checksum
    return head[:10] + _U16.pack(csum) + head[12:]


def encode(seg: Segment) -> bytes:
    """Serialise a segment; ``None`` checksums are computed, stored ones written as they are.

    A segment that came from :func:`decode` or from the relay carries its bytes already; they are
    returned as they are (they equal :func:`serialise`'s result)."""
    wire = seg._wire
    return wire if wire is not None else serialise(seg)


def serialise(seg: Segment) -> bytes:
    """Serialise a segment from its fields alone, ignoring any bytes it carries (see :func:`encode`)."""
    tcp = encode_tcp(seg)
    return encode_ip_header(seg.ip, len(tcp)) + tcp
