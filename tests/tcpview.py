"""Scapy-side helpers for the live adapters: craft TCP/IP packets and summarise captured ones.

The lab's raw endpoints speak bare IP bytes (:mod:`splicecheck.adapters.lab.rawsock`). Here scapy
(explicit layers only, docs/ARCHITECTURE.md "Scapy at the edges") turns a handful of arguments into such
bytes, and a captured packet into a :class:`TcpView`: a flat, frozen record of the header fields
and options that the probes reason about. Checksums and lengths are left to scapy (``None``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet, Raw
from splicecheck.adapters.lab.rawsock import Captured

OptionList = tuple[tuple[str, Any], ...]


def tcp_options(*, mss: int | None = None, wscale: int | None = None, sack_perm: bool = False,
                ts: tuple[int, int] | None = None, sack: Sequence[tuple[int, int]] = ()) -> list[tuple[str, Any]]:
    """A TCP option list in the order Linux uses for a SYN (MSS, SACK-permitted+TS, NOP+WScale)."""
    opts: list[tuple[str, Any]] = []
    if mss is not None:
        opts.append(("MSS", mss))
    if sack_perm and ts is not None:
        opts += [("SAckOK", b""), ("Timestamp", ts)]
    else:
        if sack_perm:
            opts += [("NOP", None), ("NOP", None), ("SAckOK", b"")]
        if ts is not None:
            opts += [("NOP", None), ("NOP", None), ("Timestamp", ts)]
    if sack:
        opts += [("NOP", None), ("NOP", None), ("SAck", tuple(x for block in sack for x in block))]
    if wscale is not None:
        opts += [("NOP", None), ("WScale", wscale)]
    return opts


def craft(src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int = 0, *,
          window: int = 65535, options: Sequence[tuple[str, Any]] = (), payload: bytes = b"",
          urgent: int = 0, ttl: int = 64) -> bytes:
    """Bare IPv4 or IPv6 (by ``src``'s family) TCP packet bytes, checksums computed by scapy."""
    v4 = ipaddress.ip_address(src).version == 4
    ip: Packet = IP(src=src, dst=dst, ttl=ttl) if v4 else IPv6(src=src, dst=dst, hlim=ttl)
    seg = TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=ack % 2**32, window=window,
              urgptr=urgent, options=list(options))
    pkt = ip / seg / Raw(payload) if payload else ip / seg
    return bytes(pkt)


@dataclass(frozen=True, slots=True)
class TcpView:
    """A captured or injected TCP segment, flattened. ``leg`` is "client"/"server"; ``ts`` in seconds."""

    leg: str
    ts: float
    src: str
    dst: str
    sport: int
    dport: int
    flags: str  # scapy letters, e.g. "SA", "A", "PA", "R"
    seq: int
    ack: int
    window: int
    options: OptionList
    payload: bytes
    raw: bytes = field(repr=False)

    def option(self, name: str) -> Any:
        """Value of the first option called ``name`` (scapy names: MSS, WScale, SAckOK, Timestamp, SAck)."""
        for key, value in self.options:
            if key == name:
                return value if value is not None else True
        return None

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def tsval(self) -> int | None:
        ts = self.option("Timestamp")
        return None if ts is None else int(ts[0])

    @property
    def tsecr(self) -> int | None:
        ts = self.option("Timestamp")
        return None if ts is None else int(ts[1])

    @property
    def option_names(self) -> tuple[str, ...]:
        """Option kinds present, without padding NOP/EOL, in wire order."""
        return tuple(k for k, _ in self.options if k not in ("NOP", "EOL"))

    def brief(self) -> str:
        opts = ",".join(f"{k}={v}" if v not in (None, b"") else k for k, v in self.options if k not in ("NOP", "EOL"))
        return (f"[{self.leg}] {self.src}:{self.sport} > {self.dst}:{self.dport} {self.flags} seq={self.seq} "
                f"ack={self.ack} win={self.window} <{opts}> len={len(self.payload)}")


def view(leg: str, data: bytes, ts: float = 0.0) -> TcpView | None:
    """Flatten one bare IP packet; ``None`` if it is not TCP (e.g. an ICMP error)."""
    pkt: Packet = IP(data) if data[0] >> 4 == 4 else IPv6(data)
    if TCP not in pkt:
        return None
    tcp = pkt[TCP]
    # Slice the payload from the wire bytes by the IP length fields, so link padding never counts.
    if isinstance(pkt, IP):
        start, end = pkt.ihl * 4, int(pkt.len)
    else:
        start, end = 40, 40 + int(pkt.plen)
    payload = bytes(data[start + tcp.dataofs * 4: end])
    options = tuple((str(k), v) for k, v in tcp.options)
    return TcpView(leg, ts, str(pkt.src), str(pkt.dst), int(tcp.sport), int(tcp.dport), str(tcp.flags),
                   int(tcp.seq), int(tcp.ack), int(tcp.window), options, payload, bytes(data))


def views(captured: Sequence[Captured]) -> tuple[TcpView, ...]:
    """The TCP segments among captures (ICMP and others are left out)."""
    out = []
    for c in captured:
        v = view(c.leg, c.data, c.ts)
        if v is not None:
            out.append(v)
    return tuple(out)
