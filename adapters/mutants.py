"""The mutant zoo: the reference model with one realistic bug each, to measure the suite's power.

A mutant is the reference adapter with a different relay function (or, for a lifecycle bug, different
splice constants). Each is a small, plausible difference from the model, and each function's docstring
says which real-world bug it imitates. ``splicecheck mutants`` runs the suite against every one: a
mutant the suite cannot tell from the model is a hole in the suite.

How a mutant is made, in order of preference:

- *post-processing* the model's output (``_patched``): one field changed, the checksums carried along
  by RFC 1624 eqn. 3 over the changed bytes, as a real implementation that rewrites that field would;
- calling the model with a *modified input or state* whose wire bytes are the same (a Window Scale
  option handed over as an unknown option of kind 3 is relayed untouched, byte for byte);
- *substituting one arithmetic function* of :mod:`splicecheck.reference.relay` for the duration of the
  call (``_swapped``), so that the relay recomputes everything else — checksums included — from the
  mutant's value.

Mutants are internally consistent: a mutant that changed a field but left the checksum stale would be
caught by the checksum, not by the field, and overstate the suite's power. The only mutant whose
checksums are off is ``rfc1141``, whose whole point is the checksum.

The swap replaces a module attribute process-wide while the mutant's relay runs. A lock keeps two
mutants from swapping at once; the model itself must not relay on another thread meanwhile (the
runner relays model and IUT one after the other, and ``splicecheck mutants`` uses processes).
"""

from __future__ import annotations

import inspect
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from .. import __version__
from ..conformance.contract import AdapterNotFound, Feature, IutInfo, Scenario
from ..conformance.model import reference_machine
from ..reference import relay as relay_module
from ..reference.arith import MASK16, MASK32
from ..reference.checksum import ones_sum, pseudo_header, rfc1141_update, rfc1624_update
from ..reference.codec import decode, encode, ipv4_header_bytes, tcp_header_bytes
from ..reference.icmp import PacketTooBig
from ..reference.lifecycle import SpliceMachine
from ..reference.mapping import ADVANCE_LIMIT, map_ack, trim_count
from ..reference.relay import RelayResult, SpliceState, direction_of, relay
from ..reference.segment import ACK, AE, FIN, IPv4Header, Segment, TcpOption, Timestamps, UnknownOption, WindowScale
from ..reference.seqspace import seq_sub, serial_lt
from .reference import ReferenceSession, RelayFn

SpliceFn = Callable[[Scenario, SpliceState], SpliceState]


@dataclass(frozen=True, slots=True)
class Mutant:
    """One bug: its relay function, and for lifecycle bugs the constants its splice really uses."""

    name: str
    relay_fn: RelayFn
    violates: tuple[str, ...]  # the requirements the bug breaks (documentation; kills are the suite's)
    splice_fn: SpliceFn | None = None

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.splice_fn or self.relay_fn) or ""

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n")[0].replace("\n", " ")


MUTANTS: dict[str, Mutant] = {}


def _mutant(name: str, *violates: str) -> Callable[[RelayFn], RelayFn]:
    def register(fn: RelayFn) -> RelayFn:
        MUTANTS[name] = Mutant(name, fn, violates)
        return fn

    return register


# --------------------------------------------------------------------------------------------------
# How mutants are made
# --------------------------------------------------------------------------------------------------

_SWAP_LOCK = threading.RLock()


@contextmanager
def _swapped(**functions: object) -> Iterator[None]:
    """Replace names in :mod:`splicecheck.reference.relay` while the block runs (module docstring)."""
    with _SWAP_LOCK:
        saved = {name: getattr(relay_module, name) for name in functions}
        for name, fn in functions.items():
            setattr(relay_module, name, fn)
        try:
            yield
        finally:
            for name, fn in saved.items():
                setattr(relay_module, name, fn)


def _eqn3(hc: int | None, old: bytes, new: bytes) -> int | None:
    """RFC 1624 eqn. 3 (``checksum.rfc1624_update``) over whole byte strings that changed from ``old`` to
    ``new``. Both must start at an even offset of the checksummed data; their lengths may differ (words
    removed or added)."""
    if hc is None or old == new:
        return hc
    result: int = rfc1624_update(hc + ones_sum(old), ones_sum(new))
    return result


def _reseal(old: Segment, new: Segment) -> Segment:
    """``new`` with ``old``'s checksums carried over the changed header bytes (same payload): what an
    implementation that rewrites the field in place and updates the checksum incrementally emits."""
    old_len = old.tcp.header_length + len(old.payload)
    new_len = new.tcp.header_length + len(new.payload)
    tcp_csum = _eqn3(old.tcp.checksum, pseudo_header(old.ip.src, old.ip.dst, old_len) + tcp_header_bytes(old.tcp),
                     pseudo_header(new.ip.src, new.ip.dst, new_len) + tcp_header_bytes(new.tcp))
    ip = new.ip
    if isinstance(old.ip, IPv4Header) and isinstance(ip, IPv4Header):
        ip = replace(ip, checksum=_eqn3(old.ip.checksum, ipv4_header_bytes(old.ip, old_len),
                                        ipv4_header_bytes(ip, new_len)))
    return Segment(ip, replace(new.tcp, checksum=tcp_csum), new.payload)


def _patched(result: RelayResult, change: Callable[[Segment], Segment], reseal: bool = True) -> RelayResult:
    """The model's result with ``change`` applied to every relayed segment."""
    emitted = tuple(((_reseal(e, change(e)) if reseal else change(e)) if isinstance(e, Segment) else e)
                    for e in result.emitted)
    return replace(result, emitted=emitted)


def _with_options(seg: Segment, options: tuple[TcpOption, ...]) -> Segment:
    """``seg`` with other option values of the same wire bytes (its checksum stays right)."""
    return replace(seg, tcp=replace(seg.tcp, options=options))


def _opaque(opt: Timestamps | WindowScale) -> UnknownOption:
    """The same bytes as an option the relay does not know, so passes through untouched (OPT-PASS)."""
    if isinstance(opt, Timestamps):
        return UnknownOption(8, struct.pack("!II", opt.tsval, opt.tsecr))
    return UnknownOption(3, bytes((opt.shift,)))


# --------------------------------------------------------------------------------------------------
# Sequence-space arithmetic
# --------------------------------------------------------------------------------------------------


@_mutant("unmasked-seq", "SEQ-MAP")
def unmasked_seq(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Sequence mapping without the reduction modulo 2^32; a segment whose mapped number leaves 0..2^32-1
    is dropped.

    The bug of a userspace splice in a language with unbounded integers (a Python NFQUEUE or scapy
    relay): ``seq - irs + iss`` is negative or above 2^32-1 whenever the mapping crosses the wrap, the
    header cannot be packed (``struct.error``), and the packet loop drops the segment and logs. In C
    the u32 arithmetic would wrap correctly; the symptom is the silent loss of every segment whose
    mapping wraps, which no test with small ISNs can see."""
    try:
        with _swapped(map_seq=lambda seq, in_splice_irs, out_splice_iss: seq - in_splice_irs + out_splice_iss):
            return relay(state, seg, now)
    except struct.error:
        return RelayResult(direction_of(state, seg), (), (), now)


def _trim_by(lt: Callable[[int, int], bool]) -> Callable[..., int]:
    """A ``trim_count`` that decides "below the fixed base" by ``lt(seq, splice_irs)``."""
    return lambda seq, seg_len, splice_irs, *_: min((splice_irs - seq) & MASK32, seg_len) if lt(seq, splice_irs) else 0


def _s32(x: int) -> int:
    return x - (1 << 32) if x & 0x8000_0000 else x


@_mutant("plain-lt", "TRIM-SOUND", "TRIM-COMPLETE", "TRIM-REST")
def plain_lt(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Trimming decides "below the base" with a plain unsigned ``seq < splice_irs`` instead of ``before``.

    The classic sequence-number bug (RFC 1982 §1; every stack's SEQ_LT exists because of it): across
    the wrap a segment below the base compares as above it and is relayed untrimmed, over the OK
    message (TRIM-SOUND), and one above it compares as below and is chopped (TRIM-COMPLETE). Like
    any splice written this way it compares with the fixed base (no advance, see ``fixed-base``)."""
    with _swapped(trim_count=_trim_by(lambda seq, splice_irs: seq < splice_irs)):
        return relay(state, seg, now)


@_mutant("signed-lt", "TRIM-SOUND", "TRIM-COMPLETE", "TRIM-REST")
def signed_lt(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Trimming compares ``(s32)seq < (s32)splice_irs`` — the casts on the operands, not on the difference.

    A near miss of Linux's ``(s32)(seq1 - seq2) < 0``: right everywhere except where the two numbers
    straddle 2^31 (0x7fffffff | 0x80000000), where the order flips. Only a base near 2^31 shows it.
    It compares with the fixed base, as ``plain-lt`` does."""
    with _swapped(trim_count=_trim_by(lambda seq, splice_irs: _s32(seq) < _s32(splice_irs))):
        return relay(state, seg, now)


def behind_base_by(lt: Callable[[int, int], bool]) -> Callable[[int, int, int], bool]:
    """:func:`~splicecheck.reference.mapping.behind_base` with the order ``lt`` in place of ``before``:
    ``x`` is ``lt`` both the base and the furthest point, while the advance is below 2^31 (mapping's
    own characterisation; ``behind_base_by(before)`` is ``behind_base``, tests/test_mutants.py)."""
    def behind(x: int, base: int, advance: int) -> bool:
        return advance < ADVANCE_LIMIT and lt(x, (base + advance) & MASK32) and lt(x, base)

    return behind


_serial_behind = behind_base_by(serial_lt)


def _serial_trim_count(seq: int, seg_len: int, splice_irs: int, advance: int, *_: int) -> int:
    return min((splice_irs - seq) & MASK32, seg_len) if _serial_behind(seq, splice_irs, advance) else 0


def _serial_map_sack_block(left: int, right: int, in_splice_iss: int, out_splice_irs: int, advance: int,
                           *_: int) -> tuple[bool, int, int]:
    keep = not _serial_behind((right - 1) & MASK32, in_splice_iss, advance)
    clipped_left = in_splice_iss if _serial_behind(left, in_splice_iss, advance) else left
    return keep, map_ack(clipped_left, in_splice_iss, out_splice_irs), map_ack(right, in_splice_iss, out_splice_irs)


@_mutant("serial-lt", "TRIM-HALF", "SEQ-ORDER-HALF")
def serial_lt_order(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The stream order (trimming, SACK clipping) uses RFC 1982's serial ``<`` instead of Linux's ``before``.

    An implementation whose ``SEQ_LT`` was written from RFC 1982 rather than taken from Linux or BSD:
    the two agree everywhere but at the one distance 2^31, where RFC 1982 leaves the order undefined
    (False both ways) and the splice must treat the segment as lying below the base (TRIM-HALF).
    Only the comparison differs: the rest of the model, its advance included, is unchanged."""
    with _swapped(trim_count=_serial_trim_count, map_sack_block=_serial_map_sack_block):
        return relay(state, seg, now)


@_mutant("no-trim", "TRIM-SOUND", "TRIM-REST")
def no_trim(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """No trimming at all: retransmitted pre-splice data is relayed, mapped below ``out.splice_iss``.

    The naive splice (a NAT-style constant offset from the first packet on): the paper's §3.3 warns
    that such data "would overwrite the OK message" at the client."""
    with _swapped(trim_count=lambda *_: 0):
        return relay(state, seg, now)


@_mutant("fixed-base", "TRIM-2GIB", "TRIM-COMPLETE")
def fixed_base(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Trimming compares every segment with the fixed base ``splice_irs``, however far the stream has gone.

    §3.3 read literally, as every splice that keeps no per-direction progress does: right for the
    first 2 GiB, after which every new byte is 2^31 or more past the base — ``before`` it on the
    circle — and is trimmed away. The splice stalls; a test that sends less than 2 GiB never sees it."""
    with _swapped(trim_count=lambda seq, seg_len, splice_irs, *_: trim_count(seq, seg_len, splice_irs, 0)):
        return relay(state, seg, now)


@_mutant("fin-not-counted", "SEQ-CTL", "TRIM-BELOW")
def fin_not_counted(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The trim computes the segment's length as its data (plus SYN) and forgets the FIN's sequence number.

    A common off-by-one of middleboxes that track ``seq + len`` (conntrack helpers, load balancers):
    a FIN lying just below the base survives the trim and is relayed at the base."""
    fin = 1 if seg.tcp.flags & FIN else 0
    with _swapped(trim_count=lambda seq, seg_len, *rest: trim_count(seq, seg_len - fin, *rest)):
        return relay(state, seg, now)


@_mutant("urg-not-shifted", "URG-SHIFT", "URG-CLEAR")
def urg_not_shifted(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Trimming chops the data but leaves URG and the urgent pointer as they came.

    The pointer is an offset from ``seq``; after a trim it designates an octet further on (or past the
    data). Splices and TCP proxies routinely forget the urgent pointer because almost nothing uses it."""
    with _swapped(map_urgent=lambda urg, urgent, trimmed: (urg, urgent)):
        return relay(state, seg, now)


@_mutant("urg-not-cleared", "URG-CLEAR")
def urg_not_cleared(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The urgent pointer is reduced by the trimmed amount in u16 arithmetic, without checking whether the
    urgent octet itself was trimmed: the pointer wraps to ~65535 and URG stays set.

    Half of a correct fix: the subtraction was added, the "urgent data already gone" case was not."""
    with _swapped(map_urgent=lambda urg, urgent, trimmed: (urg, (urgent - trimmed) & MASK16 if urg else urgent)):
        return relay(state, seg, now)


@_mutant("ack-wrong-base", "ACK-MAP")
def ack_wrong_base(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The ack field is mapped from ``in.splice_irs`` instead of ``in.splice_iss``.

    The irs/iss mix-up: the two constants of a leg sit side by side in the connection structure and
    the ack formula mirrors the seq formula. Invisible when both legs' numbers happen to coincide."""
    direction = direction_of(state, seg)
    if direction is None:
        return relay(state, seg, now)
    in_irs = state.legs(direction)[0].splice_irs
    with _swapped(map_ack=lambda ack, in_splice_iss, out_splice_irs: map_ack(ack, in_irs, out_splice_irs)):
        return relay(state, seg, now)


@_mutant("rst-ack-mapped", "ACK-NOACK")
def rst_ack_mapped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The ack field is mapped whether or not ACK is set, so a bare RST's (meaningless) ack is rewritten.

    A real Linux bug, fixed in 2017: the sequence adjustment rewrote the ack field without looking at
    the ACK flag. A correct receiver ignores the field, but the splice has changed a value it must
    relay as it came (ACK-NOACK), and a RST's ack number is what captures and monitors see."""
    result = relay(state, seg, now)
    if seg.tcp.flags & ACK or result.direction is None:
        return result
    leg_in, leg_out = state.legs(result.direction)
    ack = map_ack(seg.tcp.ack, leg_in.splice_iss, leg_out.splice_irs)
    return _patched(result, lambda out: replace(out, tcp=replace(out.tcp, ack=ack)))


# --------------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------------


@_mutant("sack-unmapped", "SACK-MAP", "SACK-CLIP")
def sack_unmapped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """SACK blocks are relayed as they came: neither mapped nor clipped.

    The ISN-randomising firewall bug (Cisco PIX/ASA sequence-number randomisation and others): the
    seq and ack fields are offset, the SACK edges are not, so the receiver gets blocks from another
    sequence space and — worse than useless — may discard or retransmit the wrong data."""
    with _swapped(map_sack_block=lambda left, right, *_: (True, left, right)):
        return relay(state, seg, now)


def _lt_map_sack_block(left: int, right: int, in_splice_iss: int, out_splice_irs: int,
                       *_: int) -> tuple[bool, int, int]:
    keep = right > in_splice_iss
    clipped_left = in_splice_iss if left < in_splice_iss else left
    return keep, map_ack(clipped_left, in_splice_iss, out_splice_irs), map_ack(right, in_splice_iss, out_splice_irs)


@_mutant("sack-clip-lt", "SACK-CLIP")
def sack_clip_lt(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """SACK clipping compares block edges with ``splice_iss`` by plain unsigned ``<``/``>``.

    The wrap bug again, in the code path tested least: a block reaching below a base just after the
    wrap is neither clipped nor dropped, and SACKs the OK message's numbers on the other leg."""
    with _swapped(map_sack_block=_lt_map_sack_block):
        return relay(state, seg, now)


@_mutant("sack-not-clipped", "SACK-CLIP")
def sack_not_clipped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """SACK edges are mapped but never clipped: a block reaching below ``splice_iss`` maps below the other
    leg's base and a block wholly below it is relayed.

    The natural first version of SACK support in a splice: map every number that looks like an ack."""
    def map_only(left: int, right: int, in_splice_iss: int, out_splice_irs: int, *_: int) -> tuple[bool, int, int]:
        return True, map_ack(left, in_splice_iss, out_splice_irs), map_ack(right, in_splice_iss, out_splice_irs)

    with _swapped(map_sack_block=map_only):
        return relay(state, seg, now)


@_mutant("tsval-unmapped", "TS-VAL")
def tsval_unmapped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """TSval is relayed unmapped (TSecr is mapped).

    A splice that treats timestamps as the end hosts' business: the receiver sees the other peer's
    clock jump at the splice, and PAWS (RFC 7323 §5) drops the data as old duplicates."""
    with _swapped(map_tsval=lambda tsval, in_lastrecv, out_lastsent: tsval):
        return relay(state, seg, now)


@_mutant("tsecr-unmapped", "TS-ECR")
def tsecr_unmapped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """TSecr is relayed unmapped (TSval is mapped).

    The echo is easy to forget because it is the peer's own value coming back; unmapped, the sender's
    RTT estimate (RFC 7323 §4) is computed from a timestamp it never sent."""
    with _swapped(map_tsecr=lambda tsecr, in_lastsent, out_lastrecv: tsecr):
        return relay(state, seg, now)


@_mutant("ts-first-only", "TS-VAL", "TS-ECR")
def ts_first_only(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Only the first Timestamps option of a segment is mapped; later ones pass through unchanged.

    A real Linux bug, fixed in 2026: the option walk that adjusted timestamps stopped after the first
    one it found. A segment carrying two Timestamps options — legal to send, if odd —
    reaches the receiver with one mapped and one raw value."""
    direction = direction_of(state, seg)
    if direction is None or not all(leg.timestamps for leg in state.legs(direction)):
        return relay(state, seg, now)
    seen = False
    options: list[TcpOption] = []
    for opt in seg.tcp.options:
        if isinstance(opt, Timestamps):
            options.append(_opaque(opt) if seen else opt)
            seen = True
        else:
            options.append(opt)
    return relay(state, _with_options(seg, tuple(options)), now)


@_mutant("ts-not-stripped", "TS-STRIP")
def ts_not_stripped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Timestamps options are relayed unchanged when only one leg uses timestamps.

    A splice that maps timestamps "when it has offsets" and otherwise leaves them alone: the peer
    that never negotiated timestamps receives them anyway (RFC 7323 §3.2 says it must ignore them;
    not all stacks do) with values from the proxy's connection."""
    direction = direction_of(state, seg)
    if direction is None or all(leg.timestamps for leg in state.legs(direction)):
        return relay(state, seg, now)
    opts = tuple(_opaque(o) if isinstance(o, Timestamps) else o for o in seg.tcp.options)
    return relay(state, _with_options(seg, opts), now)


@_mutant("ws-not-stripped", "WS-STRIP")
def ws_not_stripped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Window Scale options on data segments are relayed instead of stripped.

    The "pass unknown-to-us options through" policy applied to an option that is only meaningful in a
    SYN (RFC 7323 §2.2); a receiver that wrongly honours it rescales the window mid-connection."""
    opts = tuple(_opaque(o) if isinstance(o, WindowScale) else o for o in seg.tcp.options)
    return relay(state, _with_options(seg, opts), now)


# --------------------------------------------------------------------------------------------------
# Window, MSS, IP
# --------------------------------------------------------------------------------------------------


@_mutant("window-not-unscaled", "WS-EXACT", "WS-SAFE")
def window_not_unscaled(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The window field is relayed as it came, whatever the two legs' scale factors.

    What Linux SYNPROXY does in the data phase (LAB-NOTES: "data-phase windows are not rescaled"):
    with different shifts on the legs the receiver believes a window 2^k times too small or too
    large."""
    with _swapped(relay_window=lambda window, in_shift, out_shift: window):
        return relay(state, seg, now)


@_mutant("window-truncated", "WS-EXACT")
def window_truncated(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The rescaled window is stored in the 16-bit field by truncation instead of clamping.

    ``th->window = htons(win << in_shift >> out_shift)`` in C: above 65535 the high bits are lost
    and a large window becomes a small (or zero) one — safe (WS-SAFE), but the sender stalls."""
    with _swapped(relay_window=lambda window, in_shift, out_shift: ((window << in_shift) >> out_shift) & MASK16):
        return relay(state, seg, now)


@_mutant("mss-no-icmp", "MSS-ICMP")
def mss_no_icmp(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """No MSS check: a segment larger than the out peer's MSS is relayed as it is.

    Most NATs and splices never look at segment sizes; the oversized segment is fragmented or (with
    DF) dropped further on, and the sender is never told (paper §3.4.4)."""
    unlimited = replace(state, client=replace(state.client, peer_mss=0xFFFF),
                        server=replace(state.server, peer_mss=0xFFFF))
    result = relay(unlimited, seg, now)
    if result.state is None:
        return result
    return replace(result, state=replace(result.state, client=state.client, server=state.server))


@_mutant("mss-silent-drop", "MSS-ICMP")
def mss_silent_drop(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """An oversized segment is dropped, but no ICMP "fragmentation needed" is sent.

    The path-MTU black hole (RFC 2923 §2.1): ICMP generation disabled, rate-limited to nothing or
    filtered; the sender retransmits the same oversized segment until it gives up."""
    result = relay(state, seg, now)
    return replace(result, emitted=tuple(e for e in result.emitted if not isinstance(e, PacketTooBig)))


@_mutant("ipopt-kept", "IPOPT-STRIP")
def ipopt_kept(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """IPv4 options are copied to the relayed packet.

    What an address-rewriting NAT does: it edits the header in place and keeps whatever options came
    (source routes and record-route included), though the splice ends the IP path at the proxy."""
    if not isinstance(seg.ip, IPv4Header) or not seg.ip.options:
        return relay(state, seg, now)
    options = seg.ip.options

    def keep(out: Segment) -> Segment:
        return replace(out, ip=replace(out.ip, options=options)) if isinstance(out.ip, IPv4Header) else out

    return _patched(relay(state, seg, now), keep)


@_mutant("ttl-not-decremented", "TTL-DEC")
def ttl_not_decremented(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """TTL / hop limit is relayed unchanged.

    Socket-level relays and many transparent proxies do not behave as a router hop; loops through the
    splice then never expire."""
    ttl = seg.ip.hop_limit

    def keep(out: Segment) -> Segment:
        ip = replace(out.ip, ttl=ttl) if isinstance(out.ip, IPv4Header) else replace(out.ip, hop_limit=ttl)
        return replace(out, ip=ip)

    return _patched(relay(state, seg, now), keep)


@_mutant("reserved-cleared", "FLAGS-KEEP")
def reserved_cleared(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The three reserved bits and AE (the former NS bit) are cleared on relayed segments.

    The middlebox that "normalises" reserved header bits — the deployment problem RFC 3360 describes
    for ECN, and the one Accurate ECN's use of the AE bit has to survive."""
    return _patched(relay(state, seg, now),
                    lambda out: replace(out, tcp=replace(out.tcp, reserved=0, flags=out.tcp.flags & ~AE)))


# --------------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------------


@_mutant("rfc1141", "TCPCSUM-VALID")
def rfc1141(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The TCP checksum is updated by RFC 1141's ``HC' = HC + m + ~m'`` word by word, not by RFC 1624 eqn. 3.

    RFC 1141's formula, widely copied, is right except at one corner (RFC 1624 §3): when the correct
    new checksum is 0x0000 it yields 0xFFFF, a value a full computation never produces. Only a
    segment crafted to land on that corner tells the two apart. (Trimmed segments, whose payload
    changes, keep the model's checksum.)"""
    t = seg.tcp

    def update(out: Segment) -> Segment:
        if t.checksum is None or out.payload != seg.payload or out.tcp.header_length != t.header_length:
            return out
        length = t.header_length + len(seg.payload)
        old = pseudo_header(seg.ip.src, seg.ip.dst, length) + tcp_header_bytes(t)
        new = pseudo_header(out.ip.src, out.ip.dst, length) + tcp_header_bytes(out.tcp)
        hc: int = t.checksum
        for i in range(0, len(old), 2):
            if old[i:i + 2] != new[i:i + 2]:
                hc = rfc1141_update(hc, int.from_bytes(old[i:i + 2], "big"), int.from_bytes(new[i:i + 2], "big"))
        return replace(out, tcp=replace(out.tcp, checksum=hc))

    return _patched(relay(state, seg, now), update, reseal=False)


@_mutant("csum-recompute", "CSUM-FAILSAFE")
def csum_recompute(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Both checksums are computed afresh over the relayed packet instead of updated incrementally.

    What checksum offload and most userspace relays do: correct for good input, but a segment
    corrupted before the proxy leaves it with a valid checksum and the corruption is delivered
    (RFC 1624 §1; the paper's fail-safe argument in §3.3)."""
    def fresh(out: Segment) -> Segment:
        ip = replace(out.ip, checksum=None) if isinstance(out.ip, IPv4Header) else out.ip
        return decode(encode(Segment(ip, replace(out.tcp, checksum=None), out.payload)))

    return _patched(relay(state, seg, now), fresh, reseal=False)


# --------------------------------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------------------------------


def _ok_len_ignored(scenario: Scenario, correct: SpliceState) -> SpliceState:
    """Server → client ``splice_iss`` is taken as C's ``snd_nxt`` at PRESPLICE, without adding the n bytes
    of the OK message still to be written.

    Figure 6's subtle point: the OK message may not have been written yet when the splice is set up,
    so the splice must be told its length. Forgetting it makes the server's first byte overwrite
    the OK message at the client (its last n bytes become server data)."""
    c = correct.client
    return replace(correct, client=replace(c, splice_iss=seq_sub(c.splice_iss, scenario.ok_len)))


MUTANTS["ok-len-ignored"] = Mutant("ok-len-ignored", relay, ("LIFE-BASE-S2C", "SEQ-MAP"), _ok_len_ignored)


# --------------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------------


class MutantSession(ReferenceSession):
    """A reference session whose machine runs with wrong constants, while ``state`` reports the legs a
    correct splice has for the scenario (and the machine's own progress) — as a live adapter that
    chose the proxy's ISNs would: it knows what the splice should be, not what the IUT got wrong."""

    def __init__(self, machine: SpliceMachine, correct: SpliceState) -> None:
        super().__init__(machine)
        self._correct = correct

    @property
    def state(self) -> SpliceState:
        current = super().state
        return replace(current, client=self._correct.client, server=self._correct.server)


class MutantAdapter:
    """``mutant:NAME`` — the reference model with the bug ``NAME`` of :data:`MUTANTS`."""

    unsupported: frozenset[Feature] = frozenset()

    def __init__(self, arg: str = "") -> None:
        if arg not in MUTANTS:
            raise AdapterNotFound(f"unknown mutant {arg!r}: use mutant:NAME with NAME one of {', '.join(MUTANTS)}")
        self.mutant = MUTANTS[arg]
        self.name = f"mutant:{arg}"

    def info(self) -> IutInfo:
        m = self.mutant
        return IutInfo(self.name, __version__, f"the reference model with a bug: {m.summary}",
                       {"mutant": m.name, "violates": ", ".join(m.violates)})

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[ReferenceSession]:
        machine = reference_machine(scenario)
        machine.relay_fn = self.mutant.relay_fn
        if self.mutant.splice_fn is None:
            yield ReferenceSession(machine)
            return
        assert machine.splice is not None
        correct = machine.splice
        machine.splice = self.mutant.splice_fn(scenario, correct)
        yield MutantSession(machine, correct)

    def close(self) -> None:
        pass
