"""Raw endpoints: inject IP packets on a lab leg and capture what the proxy emits there.

Theory of operation
-------------------
The client and the server of the lab are not kernel TCP endpoints (docs/LAB.md, "The end hosts
are raw"): their veth ends carry no IPv4 address and have IPv6 disabled, so their kernels
neither answer segments with RSTs nor send ND/MLD/ARP. Everything on such an end is done by one
``AF_PACKET``/``SOCK_DGRAM`` socket that was opened *inside* the endpoint namespace (see
:func:`splicecheck.adapters.netns.call_in_netns`) and bound to the veth:

* sending: the socket takes a bare IP packet and the destination MAC (the proxy's interface); the
  kernel adds the Ethernet header. Packet sockets bypass the endpoint's IP stack and netfilter.
* capturing: ``SOCK_DGRAM`` strips the link-layer header, so reads return raw IP bytes. The socket
  exists from lab set-up on, so nothing the proxy emits can be missed between an injection and the
  start of a capture (no sniffer start-up race, no sleeps). Kernel receive timestamps come with
  each packet (``SO_TIMESTAMPNS``).

Filtering keeps the lab's TCP and ICMP traffic and drops the rest: non-IP frames (ARP), IPv6
neighbour discovery and MLD (ICMPv6 types 130-137, 143; RFC 4861 §4, RFC 3810 §5), anything with
IPv6 extension headers (MLD's hop-by-hop), and frames the endpoint itself sent (``PACKET_OUTGOING``).

Reading uses ``select`` with a deadline: until an expected count is reached, or a quiet period
passes with nothing new, or the overall timeout expires — whichever comes first.

Checksums. A packet the proxy's kernel *generates* (SYNPROXY's SYN-ACK, a RST) leaves with
``CHECKSUM_PARTIAL``, and over veth nobody completes it: a capture would hold a pseudo-header sum,
not the checksum a wire would carry. The lab therefore turns TX checksum offload off on the proxy's
veth ends (:func:`disable_tx_checksum_offload`), and every capture records ``TP_STATUS_CSUMNOTREADY``
(``PACKET_AUXDATA``) as :attr:`Captured.checksum_pending` so that any leftover case is visible.
In the other direction an injected packet normally arrives as ``CHECKSUM_NONE`` (the receiver must
verify it); ``send(..., offload=True)`` instead hands it over as ``CHECKSUM_PARTIAL`` through a
``PACKET_VNET_HDR`` socket, the way a local TCP stack's packets look, and the stack fills the
checksum in. That matters for nft ``synproxy`` on IPv6, which verifies checksums with the IPv4-only
``nf_ip_checksum`` and so drops every IPv6 SYN whose checksum is not already trusted.
"""

from __future__ import annotations

import array
import fcntl
import select
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ...reference.icmp import ICMP6_HOUSEKEEPING, PROTO_ICMP, PROTO_ICMPV6

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
SO_TIMESTAMPNS = 35  # asm-generic/socket.h; SCM_TIMESTAMPNS has the same value
SOL_PACKET = 263
PACKET_OUTGOING = 4
PACKET_AUXDATA = 8
PACKET_VNET_HDR = 15
TP_STATUS_CSUMNOTREADY = 0x8
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
IPPROTO_TCP = 6
_TIMESPEC = struct.Struct("@qq")
_AUXDATA = struct.Struct("@IIIHHHH")  # struct tpacket_auxdata
_VNET_HDR = struct.Struct("<BBHHHH")  # struct virtio_net_hdr (little-endian on these hosts)
_MAX_FRAME = 65536
_ANC_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_AUXDATA.size)


def is_lab_traffic(ethertype: int, packet: bytes) -> bool:
    """Whether a captured network-layer packet is TCP or (non-housekeeping) ICMP over IPv4/IPv6."""
    if ethertype == ETH_P_IP:
        return len(packet) >= 20 and packet[0] >> 4 == 4 and packet[9] in (IPPROTO_TCP, PROTO_ICMP)
    if ethertype == ETH_P_IPV6:
        if len(packet) < 40 or packet[0] >> 4 != 6:
            return False
        next_header = packet[6]
        if next_header == IPPROTO_TCP:
            return True
        return next_header == PROTO_ICMPV6 and len(packet) > 40 and packet[40] not in ICMP6_HOUSEKEEPING
    return False


def ethertype_of(packet: bytes) -> int:
    """The Ethernet type for a bare IP packet, from its version nibble."""
    version = packet[0] >> 4 if packet else 0
    if version == 4:
        return ETH_P_IP
    if version == 6:
        return ETH_P_IPV6
    raise ValueError(f"not an IP packet (version nibble {version})")


@dataclass(frozen=True, slots=True)
class Captured:
    """One packet the proxy emitted on a leg: raw IP bytes (no Ethernet header) and its kernel time."""

    leg: str
    data: bytes
    ts: float  # CLOCK_REALTIME seconds at which the endpoint's veth received it
    checksum_pending: bool = False  # the kernel had not filled the L4 checksum in (CHECKSUM_PARTIAL)

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("empty capture")


class RawLeg:
    """The packet socket of one endpoint (client or server) of the lab.

    ``sock`` must be an ``AF_PACKET``/``SOCK_DGRAM`` socket already bound to ``ifname`` inside the
    endpoint's namespace (:func:`open_packet_socket` makes one). ``peer_mac`` is the proxy's MAC on
    this leg, the link destination of every injected packet.
    """

    def __init__(self, name: str, sock: socket.socket, ifname: str, peer_mac: bytes,
                 offload_sock: socket.socket | None = None, own_mac: bytes = bytes(6)) -> None:
        if len(peer_mac) != 6 or len(own_mac) != 6:
            raise ValueError("MAC addresses are 6 bytes")
        self.name = name
        self.sock = sock
        self.offload_sock = offload_sock
        self.ifname = ifname
        self.peer_mac = peer_mac
        self.own_mac = own_mac
        self.sent = 0
        self.received = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, packet: bytes, *, offload: bool = False, ethertype: int | None = None) -> None:
        """Inject one bare IP packet towards the proxy.

        With ``offload`` a TCP packet goes out as ``CHECKSUM_PARTIAL`` (the stack computes its TCP
        checksum; whatever checksum ``packet`` carries is replaced), like a local socket's packet.
        ``ethertype`` overrides the link type read from the version nibble (for deliberately
        malformed packets whose first byte is not a valid IP version).
        """
        if ethertype is None:
            ethertype = ethertype_of(packet)
        if offload:
            if self.offload_sock is None:
                raise RuntimeError(f"leg {self.name} has no offload socket")
            link = self.peer_mac + self.own_mac + struct.pack("!H", ethertype)
            self.offload_sock.send(_vnet_partial(link, packet))
        else:
            self.sock.sendto(packet, (self.ifname, ethertype, 0, 0, self.peer_mac))
        self.sent += 1

    def read_ready(self) -> list[Captured]:
        """Read every packet already queued on the socket (non-blocking), keeping only lab traffic."""
        out: list[Captured] = []
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(_MAX_FRAME, _ANC_SIZE, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return out
            # addr = (ifname, ethertype, pkttype, hatype, link address)
            if addr[2] == PACKET_OUTGOING or not is_lab_traffic(addr[1], data):
                continue
            self.received += 1
            ts, pending = _ancillary(anc)
            out.append(Captured(self.name, data, ts, pending))

    def flush(self) -> int:
        """Discard everything queued; return how many lab packets were discarded."""
        return len(self.read_ready())

    def close(self) -> None:
        self.sock.close()
        if self.offload_sock is not None:
            self.offload_sock.close()


def _ancillary(ancillary: list[tuple[int, int, bytes]]) -> tuple[float, bool]:
    """(kernel receive time, checksum pending) from SO_TIMESTAMPNS and PACKET_AUXDATA messages."""
    ts, pending = None, False
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            ts = sec + nsec / 1e9
        elif level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= _AUXDATA.size:
            pending = bool(_AUXDATA.unpack_from(data)[0] & TP_STATUS_CSUMNOTREADY)
    return (time.time() if ts is None else ts), pending


def _ones_sum(data: bytes) -> int:
    if len(data) & 1:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _vnet_partial(link: bytes, packet: bytes) -> bytes:
    """virtio_net_hdr + Ethernet header ``link`` + TCP packet, asking for checksum completion
    (CHECKSUM_PARTIAL; ``PACKET_VNET_HDR`` works on ``SOCK_RAW`` sockets only, hence the link header).

    The checksum field must then hold the folded, uncomplemented pseudo-header sum (RFC 9293 §3.1,
    RFC 8200 §8.1), which the stack adds the segment's sum to and complements.
    """
    if packet[0] >> 4 == 4:
        if packet[9] != IPPROTO_TCP:
            raise ValueError("offloaded injection supports TCP only")
        start = (packet[0] & 0x0F) * 4
        length = struct.unpack_from("!H", packet, 2)[0] - start
        pseudo = packet[12:20] + struct.pack("!BBH", 0, IPPROTO_TCP, length)
    else:
        if packet[6] != IPPROTO_TCP:
            raise ValueError("offloaded injection supports TCP without extension headers only")
        start = 40
        length = struct.unpack_from("!H", packet, 4)[0]
        pseudo = packet[8:40] + struct.pack("!IxxxB", length, IPPROTO_TCP)
    body = packet[:start + 16] + struct.pack("!H", _ones_sum(pseudo)) + packet[start + 18:]
    return _VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, len(link) + start, 16) + link + body


def open_packet_socket(ifname: str, rcvbuf: int = 4 << 20) -> socket.socket:
    """Open a packet socket bound to ``ifname`` in the *calling thread's* namespace.

    Call it through :func:`~splicecheck.adapters.netns.call_in_netns` so that the socket belongs to
    the endpoint namespace.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.bind((ifname, ETH_P_ALL))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_offload_socket(ifname: str) -> socket.socket:
    """A send-only raw packet socket (protocol 0 receives nothing) taking virtio_net_hdr-prefixed frames."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        sock.bind((ifname, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def disable_tx_checksum_offload(ifname: str) -> None:
    """``ethtool -K IF tx off`` through the legacy ETHTOOL_STXCSUM ioctl, in the calling thread's namespace.

    The kernel then completes checksums in software before handing packets to the device, so what
    the endpoints capture is what a wire would carry.
    """
    value = array.array("I", [ETHTOOL_STXCSUM, 0])  # struct ethtool_value {cmd, data}
    address, _ = value.buffer_info()
    ifreq = struct.pack("16sP", ifname.encode(), address)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


def collect(legs: Mapping[RawLeg, int | None], *, timeout: float = 1.0,
            quiet: float = 0.05) -> dict[str, list[Captured]]:
    """Capture on several legs at once; return ``{leg name: [Captured, ...]}`` in arrival order.

    For a leg mapped to a count, reading stops on that leg's account once the count is reached (a
    leg that already holds more than that keeps the extras: nothing is dropped). For a leg mapped
    to ``None``, the capture ends only after ``quiet`` seconds in which no leg saw anything new. The
    whole call never takes longer than ``timeout``; the caller compares what came with what it
    expected (a short list is the implementation's answer, not a harness error).
    """
    now = time.monotonic()
    deadline = now + timeout
    last_seen = now
    out: dict[str, list[Captured]] = {leg.name: [] for leg in legs}
    open_ended = any(n is None for n in legs.values())

    def satisfied() -> bool:
        return all(n is None or len(out[leg.name]) >= n for leg, n in legs.items())

    fds = list(legs)
    while True:
        for leg in fds:
            got = leg.read_ready()
            if got:
                out[leg.name].extend(got)
                last_seen = time.monotonic()
        now = time.monotonic()
        if satisfied() and (not open_ended or now - last_seen >= quiet):
            return out
        if now >= deadline:
            return out
        wait = deadline - now
        if open_ended and satisfied():
            wait = min(wait, last_seen + quiet - now)
        select.select(fds, [], [], max(wait, 0.0))
