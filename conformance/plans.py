"""What a generated example is: a scenario and segments *relative to its splice*, made concrete only
once the splice exists.

A :class:`SegmentPlan` is a segment given by offsets from ``splice_irs``/``splice_iss`` and timestamps
from the last ones seen (:class:`TsPlan`, :class:`SackPlan`): IUTs may choose their own constants, so
segments are made from ``session.state`` only when the session is open, with
:func:`~splicecheck.conformance.case.from_client` / ``from_server``. Malformed option areas become raw
bytes in an :class:`~splicecheck.conformance.case.Injection`. An :class:`Example` is a
:class:`~splicecheck.conformance.contract.Scenario` and a few plans. The Hypothesis strategies that
draw them are in :mod:`~splicecheck.conformance.strategies`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from ..reference.arith import MASK32
from ..reference.checksum import ones_add, tcp_checksum
from ..reference.codec import decode, encode, push_options
from ..reference.relay import Leg, SpliceState, StripStyle, relay
from ..reference.segment import (
    ACK,
    FIN,
    NOP,
    SYN,
    IPv4Header,
    NoOperation,
    Sack,
    Segment,
    TcpOption,
    Timestamps,
    UnknownOption,
    flags_text,
)
from ..reference.seqspace import seq_add
from .case import Injection, corrupt_tcp_checksum, from_client, from_server
from .contract import PeerPlan, Scenario


def describe_scenario(s: Scenario) -> str:
    """One line for reasons and logs."""

    def peer(p: PeerPlan) -> str:
        opts = [f"mss={p.mss}"] if p.mss is not None else []
        opts += [f"ws={p.wscale}"] if p.wscale is not None else []
        opts += ["sack"] if p.sack_permitted else []
        opts += [f"ts={p.tsval:#x}"] if p.tsval is not None else []
        opts += [] if p.df else ["no-df"]
        return f"isn={p.isn:#x}" + (f" [{' '.join(opts)}]" if opts else "")

    def hx(v: int | None) -> str:
        return "IUT's" if v is None else f"{v:#x}"

    parts = [f"client {peer(s.client)}", f"server {peer(s.server)}"]
    if s.proxy_isn_c is not None or s.proxy_isn_d is not None:
        parts.append(f"proxy isn C={hx(s.proxy_isn_c)} D={hx(s.proxy_isn_d)}")
    if s.proxy_tsval_c is not None or s.proxy_tsval_d is not None:
        parts.append(f"proxy ts C={hx(s.proxy_tsval_c)} D={hx(s.proxy_tsval_d)}")
    parts.append(f"presplice c={s.client_presplice} s={s.server_presplice} ok={s.ok_len}")
    if s.family == 6:
        parts.append("IPv6")
    if s.strip_style is StripStyle.REMOVE:
        parts.append("strip=remove")
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------------
# Segments relative to a splice
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TsPlan:
    """A Timestamps option: TSval ``val_off`` after the last TSval the proxy got from the sender,
    TSecr ``ecr_off`` after the last it sent to it."""

    val_off: int = 1
    ecr_off: int = 0
    size: ClassVar[int] = 10

    def resolve(self, leg: Leg) -> Timestamps:
        return Timestamps(seq_add(leg.lastrecv_ts, self.val_off), seq_add(leg.lastsent_ts, self.ecr_off))


@dataclass(frozen=True, slots=True)
class SackPlan:
    """A SACK option whose edges are offsets from the in leg's ``splice_iss`` (the OK message and all
    before it lie below 0: blocks with ``left < 0 < right`` straddle the base)."""

    blocks: tuple[tuple[int, int], ...]

    @property
    def size(self) -> int:
        return 2 + 8 * len(self.blocks)

    def resolve(self, leg: Leg) -> Sack:
        return Sack(tuple((seq_add(leg.splice_iss, a), seq_add(leg.splice_iss, b)) for a, b in self.blocks))


OptPlan = TcpOption | TsPlan | SackPlan


def resolve(opt: OptPlan, leg: Leg) -> TcpOption:
    return opt.resolve(leg) if isinstance(opt, (TsPlan, SackPlan)) else opt


#: How a foreign segment differs from its leg: exactly one element of the 5-tuple (the protocol stays TCP).
FOREIGN_ELEMENTS = ("src-addr", "dst-addr", "src-port", "dst-port")


def other_address(a: bytes) -> bytes:
    """Another host of the same family and subnet (the last octet's top bit flipped)."""
    return a[:-1] + bytes((a[-1] ^ 0x80,))


def one_off(seg: Segment, element: str) -> Segment:
    """``seg`` with exactly one 5-tuple ``element`` (:data:`FOREIGN_ELEMENTS`) changed and its checksums
    recomputed: a segment on no leg of the splice (DIR-ONLY), which is not relayed."""
    ip, tcp = seg.ip, replace(seg.tcp, checksum=None)
    if element == "src-addr":
        ip = replace(ip, src=other_address(ip.src))
    elif element == "dst-addr":
        ip = replace(ip, dst=other_address(ip.dst))
    elif element == "src-port":
        tcp = replace(tcp, sport=tcp.sport ^ 1)
    elif element == "dst-port":
        tcp = replace(tcp, dport=tcp.dport ^ 1)
    else:
        raise ValueError(f"a 5-tuple element is one of {FOREIGN_ELEMENTS}: {element!r}")
    if isinstance(ip, IPv4Header):
        ip = replace(ip, checksum=None)
    return decode(encode(Segment(ip, tcp, seg.payload)))


def payload(size: int, fill: int) -> bytes:
    """Distinct, position-dependent bytes (so a misplaced trim shows in the diff)."""
    return bytes((fill + 7 * i) & 0xFF for i in range(size))


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """One segment relative to a splice: seq = in.splice_irs + ``off``, ack = in.splice_iss + ``ack_off``.

    ``malformed``: bytes that end the option area (after ``options`` and NOP padding) and make it
    malformed — sent raw. ``corrupt``: "tcp" or "ip" to send a wrong checksum."""

    side: str
    off: int = 0
    size: int = 0
    fill: int = 0
    flags: int = ACK
    ack_off: int = 0
    urgent: int = 0
    window: int = 8192
    options: tuple[OptPlan, ...] = ()
    malformed: bytes | None = None
    corrupt: str | None = None
    ttl: int = 64
    df: bool = True
    tos: int = 0
    ip_options: bytes = b""
    default_ts: bool = True  # without a TsPlan, carry the leg's usual TS option (when it uses timestamps)
    csum_corner: bool = False  # payload tuned so that the relayed TCP checksum is 0x0000 (RFC 1624 §3)
    aligned_ts: bool = False  # the default TS behind NOP,NOP (the common layout)
    foreign: str | None = None  # the 5-tuple element changed (a segment of no leg), or None

    def __post_init__(self) -> None:
        if self.side not in ("client", "server"):
            raise ValueError(f"side is client or server: {self.side!r}")
        if self.foreign is not None and self.foreign not in FOREIGN_ELEMENTS:
            raise ValueError(f"foreign is one of {FOREIGN_ELEMENTS}: {self.foreign!r}")
        if self.foreign is not None and self.malformed is not None:
            raise ValueError("a malformed segment is sent raw and cannot be made foreign")

    def leg(self, st_: SpliceState) -> Leg:
        return st_.client if self.side == "client" else st_.server

    def resolved(self, st_: SpliceState) -> list[TcpOption]:
        """The options with the plans resolved, the leg's default TS first when ``default_ts`` applies."""
        leg = self.leg(st_)
        opts = [resolve(o, leg) for o in self.options]
        if self.default_ts and leg.timestamps and not any(isinstance(o, TsPlan) for o in self.options):
            opts[0:0] = [NOP, NOP, TsPlan().resolve(leg)] if self.aligned_ts else [TsPlan().resolve(leg)]
        return opts

    def segment(self, st_: SpliceState, options: Sequence[TcpOption] | None = None,
                data: bytes | None = None) -> Segment:
        opts = list(options) if options is not None else self.resolved(st_)
        make = from_client if self.side == "client" else from_server
        data = payload(self.size, self.fill) if data is None else data
        return make(st_, self.off, ack_off=self.ack_off, flags=self.flags, payload=data, window=self.window,
                    urgent=self.urgent, options=opts, ts=False, ttl=self.ttl, df=self.df, tos=self.tos,
                    ip_options=self.ip_options)

    def _at_corner(self, st_: SpliceState, seg: Segment) -> Segment:
        """``seg`` with its last payload word changed so that the model relays it with TCP checksum
        0x0000 — the one value where RFC 1141's incremental update (HC + m + ~m') goes wrong (it gives
        0xFFFF). The checksum is linear in the payload: adding the current output checksum ``c`` to the
        relayed sum makes it 0xFFFF, i.e. the checksum 0; after an odd-length trim the word lands
        byte-swapped. Computed on the splice as built (a good guess for later segments of an example)."""
        data = seg.payload
        if len(data) < 2:
            return seg
        at = (len(data) // 2 - 1) * 2
        word = int.from_bytes(data[at:at + 2], "big")
        out = relay(st_, seg, 0.0).segments
        if not out or out[0].tcp.checksum is None or out[0].tcp.checksum == 0:
            return seg
        c = out[0].tcp.checksum
        for delta in (c, ((c << 8) | (c >> 8)) & 0xFFFF):
            tuned = self.segment(st_, data=data[:at] + int(ones_add(word, delta)).to_bytes(2, "big") + data[at + 2:])
            again = relay(st_, tuned, 0.0).segments
            if again and again[0].tcp.checksum == 0:
                return tuned
        return seg

    def build(self, st_: SpliceState) -> Injection:
        if self.malformed is not None:
            return self._malformed(st_)
        seg = self.segment(st_)
        if self.foreign is not None:
            seg = one_off(seg, self.foreign)
        if self.csum_corner:
            seg = self._at_corner(st_, seg)
        if self.corrupt == "tcp":
            return corrupt_tcp_checksum(seg)
        if self.corrupt == "ip" and isinstance(seg.ip, IPv4Header):
            raw = bytearray(encode(seg))
            raw[11] ^= 0x01
            return Injection(decode(bytes(raw)), bytes(raw))
        return Injection(seg)

    def _malformed(self, st_: SpliceState) -> Injection:
        """Encode with placeholders of the tail's size, then patch the tail in and fix the checksum."""
        assert self.malformed is not None
        valid = self.resolved(st_)
        tail = self.malformed
        pad = (-(len(push_options(tuple(valid))) + len(tail))) % 4
        holder: list[TcpOption] = [NOP] if len(tail) < 2 else [UnknownOption(253, b"\x00" * (len(tail) - 2))]
        seg = self.segment(st_, [*valid, *([NOP] * pad), *holder])
        raw = bytearray(encode(seg))
        ihl = seg.ip.header_length
        end = ihl + seg.tcp.header_length
        raw[end - len(tail):end] = tail
        raw[ihl + 16:ihl + 18] = tcp_checksum(seg.ip.src, seg.ip.dst, bytes(raw[ihl:])).to_bytes(2, "big")
        return Injection(seg, bytes(raw))

    def describe(self) -> str:
        parts = [f"{self.side} off={self.off:+d} len={self.size} [{flags_text(self.flags)}]"]
        if self.ack_off:
            parts.append(f"ack_off={self.ack_off:+d}")
        if self.urgent:
            parts.append(f"urg={self.urgent}")
        if self.window != 8192:
            parts.append(f"win={self.window}")
        if self.options:
            parts.append("opts=" + ",".join(_opt_text(o) for o in self.options))
        if self.malformed is not None:
            parts.append(f"malformed-tail={self.malformed.hex()}")
        if self.corrupt:
            parts.append(f"bad-{self.corrupt}-checksum")
        if self.ttl != 64:
            parts.append(f"ttl={self.ttl}")
        if self.ip_options:
            parts.append(f"ipopts={self.ip_options.hex()}")
        if self.csum_corner:
            parts.append("checksum-corner")
        if self.aligned_ts and not any(isinstance(o, TsPlan) for o in self.options):
            parts.append("nop-nop-ts")
        if self.foreign is not None:
            parts.append(f"foreign({self.foreign} changed)")
        return " ".join(parts)


def _opt_text(o: OptPlan) -> str:
    if isinstance(o, TsPlan):
        return f"TS({o.val_off:+d},{o.ecr_off:+d})"
    if isinstance(o, SackPlan):
        return "SACK(" + " ".join(f"{a:+d}..{b:+d}" for a, b in o.blocks) + ")"
    if isinstance(o, UnknownOption):
        return f"opt{o.kind}/{len(o.data) + 2}"
    if isinstance(o, NoOperation):
        return "NOP"
    return type(o).__name__


@dataclass(frozen=True, slots=True)
class Example:
    """One drawn example: a scenario and the segments injected into its splice, in order."""

    scenario: Scenario
    plans: tuple[SegmentPlan, ...] = field(default=())

    def build(self, st_: SpliceState) -> list[Injection]:
        return [p.build(st_) for p in self.plans]

    def describe(self) -> str:
        return describe_scenario(self.scenario) + " | " + " | ".join(p.describe() for p in self.plans)


def straddles_wrap(base: int, plan: SegmentPlan) -> bool:
    """The plan's sequence space crosses 2^32 -> 0 (given its leg's ``splice_irs``)."""
    seg_len = plan.size + bool(plan.flags & SYN) + bool(plan.flags & FIN)
    start = (base + plan.off) & MASK32
    return seg_len > 0 and start + seg_len > MASK32 + 1

