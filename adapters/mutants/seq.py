"""Mutants that get sequence-space arithmetic wrong: mapping, trimming, the urgent pointer, the ack."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace

from ...reference.arith import MASK16, MASK32
from ...reference.mapping import ADVANCE_LIMIT, map_ack, trim_count
from ...reference.relay import RelayResult, SpliceState, direction_of, relay
from ...reference.segment import ACK, FIN, Segment
from ...reference.seqspace import HALF, MOD32, serial_lt
from .base import _mutant, _patched, _swapped

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
    return x - MOD32 if x & HALF else x


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


