"""Mutants whose bug bites only near a wrap boundary of the 32-bit sequence (or timestamp) space.

Every other mutant of the zoo misbehaves on a sizeable share of 32-bit space (``plain-lt`` wherever a
segment and its base are more than 2^31 apart in plain order, which uniformly drawn offsets hit a
quarter of the time). These do not: each is the model everywhere except in a region of at most
``WINDOW`` numbers (or one segment's length) at 2^32, so a search that draws numbers uniformly meets
them about once in 2^16 examples or less. They are the zoo's measure of whether the wrap-focused
strategies earn their keep (``benchmarks/strategy_power.py``).

Two families:

- *a bounded quantity crosses 2^32*: a segment's end, an urgent end — the region is as wide as a
  segment (``wrap-cross-dropped``, ``wrap-trim-end``, ``wrap-urg-end``);
- *a special case for numbers near the wrap, written wrong*: the implementer saw that ``x + offset``
  may pass 2^32 - 1 when ``x`` is close to it and added a branch for that region, which saturates or
  clamps instead of reducing modulo 2^32 (``wrap-sack-edge``, ``wrap-tsecr``, ``wrap-seq-base``). The
  branch is the bug's trigger region, ``WINDOW`` numbers wide.
"""

from __future__ import annotations

from ...reference.arith import MASK16, MASK32
from ...reference.mapping import map_sack_block, map_seq, map_tsecr, map_urgent, trim_count
from ...reference.relay import RelayResult, SpliceState, direction_of, relay
from ...reference.segment import FIN, SYN, Segment
from .base import _mutant, _swapped

#: how close to the wrap the "near the wrap" branches of the second family reach (64 KiB: one maximal
#: unscaled window, the distance an implementer would call "about to wrap")
WINDOW = 1 << 16
_TOP = (1 << 32) - WINDOW  # the first number of the last WINDOW below 2^32


def _seg_len(seg: Segment) -> int:
    return len(seg.payload) + bool(seg.tcp.flags & SYN) + bool(seg.tcp.flags & FIN)


def _saturate(x: int) -> int:
    """A 64-bit value converted to 32 bits by saturation (``min(x, 2^32 - 1)``, Rust's
    ``u32::try_from(x).unwrap_or(u32::MAX)``) instead of reduction modulo 2^32."""
    return min(x, MASK32)


@_mutant("wrap-cross-dropped", "SEQ-MAP", "PAYLOAD-KEEP")
def wrap_cross_dropped(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """A segment whose sequence space runs across 2^32 is dropped as malformed.

    The sanity check ``seq <= end`` with ``end = (seq + len) mod 2^32`` — meant to reject a length
    that overflows — also rejects every segment whose numbers run past 2^32 - 1 (ending at 0 included):
    the one segment in 2^32 / len that straddles the wrap is silently lost, and retransmitted, and
    lost again. Only a segment within its own length of 2^32 shows it."""
    n = _seg_len(seg)
    if n and (seg.tcp.seq + n) & MASK32 < seg.tcp.seq:
        direction = direction_of(state, seg)
        if direction is not None:
            return RelayResult(direction, (), (), now, 0, state)
    return relay(state, seg, now)


def _trim_end_plain(seq: int, seg_len: int, splice_irs: int, advance: int) -> int:
    trimmed: int = trim_count(seq, seg_len, splice_irs, advance)
    if trimmed and (seq + seg_len) & MASK32 <= splice_irs:  # "ends at or before the base": all of it goes
        return seg_len
    return trimmed


@_mutant("wrap-trim-end", "TRIM-REST", "TRIM-COMPLETE", "PAYLOAD-KEEP")
def wrap_trim_end(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Trimming decides "wholly below the base" by a plain ``end <= splice_irs`` on the segment's end
    reduced modulo 2^32, after a correct ``before(seq, splice_irs)``.

    Right for every segment whose end does not pass 2^32 - 1. A segment straddling a base that lies
    just below 2^32 and ending past the wrap has a small reduced end, compares as wholly below, and
    is trimmed whole: its bytes above the base are lost (TRIM-COMPLETE) instead of relayed from the
    base (TRIM-REST). Only a base within one segment's length below 2^32 shows it."""
    with _swapped(trim_count=_trim_end_plain):
        return relay(state, seg, now)


@_mutant("wrap-urg-end", "URG-CLEAR", "URG-SHIFT")
def wrap_urg_end(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Whether the urgent octet was trimmed away is decided by comparing the urgent end ``seq + urgent``,
    computed in 64 bits and never reduced, with ``splice_irs`` as plain integers.

    Equivalent to the model's ``urgent <= trimmed`` while ``seq`` and the base lie on the same side of
    2^32. When the segment starts below 2^32 and the base lies just past 0, the unreduced end is always
    larger: a pointer whose octet was trimmed is not cleared but reduced in 16 bits, wraps to near
    65535, and URG stays set (URG-CLEAR). Only a base within one segment's length above 0 shows it."""
    direction = direction_of(state, seg)
    if direction is None:
        return relay(state, seg, now)
    seq, irs = seg.tcp.seq, state.legs(direction)[0].splice_irs

    def urgent(urg: bool, pointer: int, trimmed: int) -> tuple[bool, int]:
        kept, out = map_urgent(urg, pointer, trimmed)
        if urg and trimmed and not kept and seq + pointer > irs:  # the unreduced end says it survived
            return True, (pointer - trimmed) & MASK16
        return kept, out

    with _swapped(map_urgent=urgent):
        return relay(state, seg, now)


@_mutant("wrap-sack-edge", "SACK-MAP")
def wrap_sack_edge(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """A SACK block's right edge in the last 64 KiB below 2^32 is mapped by a "near the wrap" branch
    that adds the offset in 64 bits and saturates the result at 2^32 - 1 instead of reducing it.

    The mapped edge is right wherever the sum stays below 2^32; past it the receiver is told that data
    up to 2^32 - 1 arrived, which is neither the block the peer sent nor any block at all (SACK-MAP).
    Only an edge within 64 KiB below 2^32 shows it."""
    def block(left: int, right: int, in_splice_iss: int, out_splice_irs: int, advance: int) -> tuple[bool, int, int]:
        keep, l2, r2 = map_sack_block(left, right, in_splice_iss, out_splice_irs, advance)
        if right >= _TOP:
            r2 = _saturate(right + ((out_splice_irs - in_splice_iss) & MASK32))
        return keep, l2, r2

    with _swapped(map_sack_block=block):
        return relay(state, seg, now)


@_mutant("wrap-tsecr", "TS-ECR")
def wrap_tsecr(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """A TSecr in the last 64 KiB below 2^32 is mapped by a "near the wrap" branch that adds the offset
    in 64 bits and saturates at 2^32 - 1 instead of reducing modulo 2^32.

    The echoed value is then stuck at 2^32 - 1 until the peer's clock wraps: the sender's RTT samples
    (RFC 7323 §4) are wrong by up to 2^32 ticks. Only an echoed TSval within 64 KiB below 2^32 shows
    it."""
    def tsecr(value: int, in_lastsent_ts: int, out_lastrecv_ts: int) -> int:
        if value >= _TOP:
            return _saturate(value + ((out_lastrecv_ts - in_lastsent_ts) & MASK32))
        out: int = map_tsecr(value, in_lastsent_ts, out_lastrecv_ts)
        return out

    with _swapped(map_tsecr=tsecr):
        return relay(state, seg, now)


@_mutant("wrap-seq-base", "SEQ-MAP")
def wrap_seq_base(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """When ``in.splice_irs`` lies in the first 64 KiB above 0 (the stream's base just past a wrap), the
    sequence mapping applies the offset ``out.splice_iss - in.splice_irs`` as a signed 64-bit number
    and clamps a negative result to 0 instead of reducing it modulo 2^32.

    A "base just wrapped" special case: there the implementer expected ``seq - splice_irs`` to be small
    and positive and guarded the other sign with a clamp. Whenever the other leg's base lies below
    this one's by more than the segment's offset, every mapped number is 0 (SEQ-MAP). Only a base
    within 64 KiB above 0 shows it."""
    def seq_map(seq: int, in_splice_irs: int, out_splice_iss: int) -> int:
        if in_splice_irs < WINDOW:
            offset = ((out_splice_iss - in_splice_irs + (1 << 31)) & MASK32) - (1 << 31)  # signed
            return max(seq + offset, 0) & MASK32
        out: int = map_seq(seq, in_splice_irs, out_splice_iss)
        return out

    with _swapped(map_seq=seq_map):
        return relay(state, seg, now)
