"""Link layers: from a captured frame to the IP packet it carries (and back, for writing captures).

Supported link-layer types (``tcpdump.org/linktypes.html``):

===========  =====================================================================================
 type         frame
===========  =====================================================================================
 1            Ethernet II; any number of 802.1Q (0x8100), 802.1ad (0x88a8) or old QinQ (0x9100,
              0x9200) tags are skipped
 113          Linux cooked capture v1 (SLL, 16-byte header, protocol at bytes 14-15)
 276          Linux cooked capture v2 (SLL2, 20-byte header, protocol at bytes 0-1)
 0, 108       BSD loopback (4-byte address family, host or network order): the IP version decides
 101, 12, 14  raw IP (``LINKTYPE_RAW`` and the two historical ``DLT_RAW`` values): the version decides
 228, 229     raw IPv4, raw IPv6
===========  =====================================================================================

A frame's IP packet is cut to the length its own header states (IPv4 total length, IPv6 payload
length + 40), so Ethernet padding and trailing FCS never count as payload. A packet shorter than
that length, or a record shorter than the original frame, was cut by the capture's snap length: it
is yielded with ``truncated`` set, and the checker matches it but does not judge it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .capture import Record

Packet = tuple[int, int, bytes, bool]  # (ts_ns, leg, IP packet, truncated)

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
DLT_RAW = 12
DLT_RAW_OPENBSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})


def _by_version(frame: bytes, off: int) -> bytes | None:
    if len(frame) > off and frame[off] >> 4 in (4, 6):
        return frame[off:]
    return None


def _ethertype(frame: bytes, et: int, off: int) -> bytes | None:
    n = len(frame)
    while et in VLAN_TAGS and n >= off + 4:
        et = (frame[off + 2] << 8) | frame[off + 3]
        off += 4
    if et in (ETH_IPV4, ETH_IPV6):
        return frame[off:]
    return None


def _ethernet(frame: bytes) -> bytes | None:
    if len(frame) < 14:
        return None
    et = (frame[12] << 8) | frame[13]
    if et in (ETH_IPV4, ETH_IPV6):  # the common case, without the tag loop
        return frame[14:]
    return _ethertype(frame, et, 14)


def _sll(frame: bytes) -> bytes | None:
    if len(frame) < 16:
        return None
    return _ethertype(frame, (frame[14] << 8) | frame[15], 16)


def _sll2(frame: bytes) -> bytes | None:
    if len(frame) < 20:
        return None
    return _ethertype(frame, (frame[0] << 8) | frame[1], 20)


def _loopback(frame: bytes) -> bytes | None:
    return _by_version(frame, 4)


def _raw(frame: bytes) -> bytes | None:
    return _by_version(frame, 0)


def _raw4(frame: bytes) -> bytes | None:
    return frame if frame and frame[0] >> 4 == 4 else None


def _raw6(frame: bytes) -> bytes | None:
    return frame if frame and frame[0] >> 4 == 6 else None


#: link type → the function taking a frame to its IP packet (None: not an IP frame, e.g. ARP)
DECAP: dict[int, Callable[[bytes], bytes | None]] = {
    LINKTYPE_ETHERNET: _ethernet,
    LINKTYPE_LINUX_SLL: _sll,
    LINKTYPE_LINUX_SLL2: _sll2,
    LINKTYPE_NULL: _loopback,
    LINKTYPE_LOOP: _loopback,
    LINKTYPE_RAW: _raw,
    DLT_RAW: _raw,
    DLT_RAW_OPENBSD: _raw,
    LINKTYPE_IPV4: _raw4,
    LINKTYPE_IPV6: _raw6,
}


def supported(linktype: int) -> bool:
    return linktype in DECAP


@dataclass(slots=True)
class LinkStats:
    """What one capture held besides IP packets."""

    frames: int = 0
    ip: int = 0
    not_ip: int = 0  # ARP, LLDP, STP, ... (and runt frames)
    truncated: int = 0  # cut by the snap length
    unknown_linktype: dict[int, int] = field(default_factory=dict)  # link type → frames skipped


_RAW_TYPES = frozenset({LINKTYPE_RAW, DLT_RAW, DLT_RAW_OPENBSD})


def ip_batches(batches: Iterable[list[Record]], leg: int, stats: LinkStats) -> Iterator[list[Packet]]:
    """Every IP frame of a capture as ``(ts_ns, leg, ip_packet, truncated)``, a list per batch of records;
    what is not IP is counted in ``stats``. Raw IP and untagged Ethernet are handled inline (the hot
    path of a big capture), every other frame by its link type's function in :data:`DECAP`."""
    decaps = DECAP
    for batch in batches:
        out: list[Packet] = []
        append = out.append
        last_type = -1
        decap: Callable[[bytes], bytes | None] | None = None
        mode = 0  # 1: raw IP, 2: Ethernet, 0: through decap
        for ts, linktype, frame, orig in batch:
            if linktype != last_type:
                decap = decaps.get(linktype)
                last_type = linktype
                mode = 1 if linktype in _RAW_TYPES else 2 if linktype == LINKTYPE_ETHERNET else 0
            if mode == 1 and frame and 0x40 <= frame[0] < 0x70:
                ip = frame
            elif mode == 2 and len(frame) >= 34 and frame[12] in (0x08, 0x86) and frame[13] in (0x00, 0xDD) \
                    and ((frame[12] << 8) | frame[13]) in (ETH_IPV4, ETH_IPV6):
                ip = frame[14:]
            else:
                if decap is None:
                    stats.unknown_linktype[linktype] = stats.unknown_linktype.get(linktype, 0) + 1
                    continue
                got = decap(frame)
                if got is None:
                    stats.not_ip += 1
                    continue
                ip = got
            n = len(ip)
            if ip[0] < 0x60:  # noqa: SIM108
                want = (ip[2] << 8) | ip[3] if n >= 4 else 20
            else:
                want = ((ip[4] << 8) | ip[5]) + 40 if n >= 6 else 40
            if n == want and orig == len(frame):
                append((ts, leg, ip, False))
                continue
            truncated = orig > len(frame)
            if n > want >= 20:
                ip = ip[:want]
            elif n < want:
                truncated = True
            if truncated:
                stats.truncated += 1
            append((ts, leg, ip, truncated))
        stats.frames += len(batch)
        stats.ip += len(out)
        if out:
            yield out


def ip_packets(records: Iterable[Record], stats: LinkStats) -> Iterator[tuple[int, bytes, bool]]:
    """``(ts_ns, ip_packet, truncated)`` for every IP frame of a capture, one at a time."""
    def one_batch() -> Iterator[list[Record]]:
        batch: list[Record] = []
        for r in records:
            batch.append(r)
            if len(batch) >= 1024:
                yield batch
                batch = []
        if batch:
            yield batch

    for batch in ip_batches(one_batch(), 0, stats):
        for ts, _leg, ip, cut in batch:
            yield ts, ip, cut


# --------------------------------------------------------------------------------------------------
# Framing, for writers
# --------------------------------------------------------------------------------------------------

_MAC_A = bytes.fromhex("020000000001")
_MAC_B = bytes.fromhex("020000000002")


def frame(linktype: int, ip: bytes, *, vlan: tuple[int, ...] = (), outgoing: bool = False) -> bytes:
    """``ip`` in a frame of ``linktype`` (locally administered MACs; ``vlan``: 802.1Q tag ids)."""
    et = (ETH_IPV4 if ip[0] >> 4 == 4 else ETH_IPV6).to_bytes(2, "big")
    if linktype == LINKTYPE_ETHERNET:
        tags = b"".join(b"\x81\x00" + (v & 0x0FFF).to_bytes(2, "big") for v in vlan)
        src, dst = (_MAC_A, _MAC_B) if outgoing else (_MAC_B, _MAC_A)
        return dst + src + tags + et + ip
    if linktype == LINKTYPE_LINUX_SLL:
        return (4 if outgoing else 0).to_bytes(2, "big") + b"\x00\x01\x00\x06" + _MAC_A + b"\x00\x00" + et + ip
    if linktype == LINKTYPE_LINUX_SLL2:
        return et + b"\x00\x00" + (2).to_bytes(4, "big") + b"\x00\x01" + bytes([4 if outgoing else 0, 6]) + \
            _MAC_A + b"\x00\x00" + ip
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        family = 2 if ip[0] >> 4 == 4 else 24
        return (family.to_bytes(4, "little" if linktype == LINKTYPE_NULL else "big")) + ip
    if linktype in (LINKTYPE_RAW, DLT_RAW, DLT_RAW_OPENBSD, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return ip
    raise ValueError(f"cannot frame for link type {linktype}")
