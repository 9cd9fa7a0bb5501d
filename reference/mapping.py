"""The splice's arithmetic kernel: every per-field transform of paper §3.3–§3.4, written once.

Each function is generic (ints in the relay, z3 bit-vectors in ``spec/proofs``) and pure. The relay
(:mod:`splicecheck.reference.relay`) composes them; the Z3 proofs call them directly, so what is proved
is what runs. Requirement IDs (``spec/requirements.py``) are named at the lines that implement them.

Every sum and difference is modulo 2^32, written out as ``(a - b + c) & MASK32`` — the meaning of
``seqspace.seq_add``/``seq_sub``, spelt inline because the relay calls these functions for every
segment and a Python call costs more than the arithmetic.

Sequence numbers of one segment
    A segment occupies ``seg_len = SYN + len(data) + FIN`` sequence numbers starting at ``seq``
    (RFC 9293 §3.4): the SYN first, then the data, then the FIN (SEQ-CTL).

Stream order and the advance (TRIM-SOUND, TRIM-COMPLETE, TRIM-HALF, TRIM-2GIB, SACK-CLIP)
    §3.3 chops out "data with sequence numbers less than the splice base point", and says what that
    data is: "only a retransmission of data received and processed by the proxy before the splice".
    Trimming exists for those retransmissions and nothing else. "Less than" is meant along the stream,
    but sequence numbers live on a circle of 2^32 and compare only within 2^31 of each other (RFC 9293
    §3.4, RFC 1982 §3.2). Comparing with the fixed ``splice_irs`` (Linux ``before(seq, splice_irs)``)
    works for the first 2 GiB; after that every new byte lies 2^31 or more past the base, "before" it on
    the circle, and such a relay trims every new segment to a pure ACK: the splice stalls.

    So the relay keeps, per direction, the *advance*: how far past the base the stream has reached (the
    end of the furthest segment relayed), saturating at 2^31. The rule:

        the numbers that precede the base are the ``2^31 - advance`` numbers just below it.

    At ``advance == 0`` that is the half circle below the base — exactly ``before(x, splice_irs)``, the
    distance 2^31 included (TRIM-HALF). Each number the stream advances moves its furthest point one
    on and takes one number off the far end of the stretch, which now lies within 2^31 *ahead* of the
    furthest point: new data. At 2^31 the stretch is empty and nothing is trimmed any more. In other
    words a number precedes the base iff it is ``before`` both the base and the furthest point — its
    place in the stream read relative to where the stream is, as RFC 1982 asks, not to where it began.

    Nothing that should be trimmed escapes: a sender retransmits only from SND.UNA, and
    SND.NXT - SND.UNA is at most its window, below 2^30 (RFC 7323 §2.3); once the stream has reached
    ``advance`` past the base, SND.NXT is at least that far, so a retransmitted pre-splice byte lies at
    most ``2^30 - advance`` below the base — inside the stretch. The advance grows only when a relayed
    segment ends 1 to 2^30 ahead of the furthest point: no receiver accepts data further ahead than its
    window (RFC 9293 §3.10.7.4), so a stray or forged segment further out is relayed (it is ahead, so
    untrimmed) but cannot drag the furthest point away from the stream. The Z3 proofs
    (``spec/proofs_trim.py``) show that the rule trims exactly the numbers at negative stream positions,
    at any distance from the base, and that ``advance_to`` keeps ``advance == min(reach, 2^31)``
    segment after segment.
"""

from __future__ import annotations

from .arith import MASK16, MASK32, Truth, Word, and_, bit, concrete_twins, ite, lshr, not_, ule, ult, umin
from .seqspace import HALF

#: RFC 7323 §2.3: a window is at most 65535 << 14 < 2^30 bytes, the bound the advance may jump by.
MAX_WINDOW = 1 << 30
#: The advance saturates at 2^31: from there on nothing within 2^31 of the stream precedes the base.
ADVANCE_LIMIT = HALF


def map_seq(seq: Word, in_splice_irs: Word, out_splice_iss: Word) -> Word:
    """§3.3: ``seq' = (seq - in.splice_irs) + out.splice_iss`` mod 2^32 (SEQ-MAP)."""
    return (seq - in_splice_irs + out_splice_iss) & MASK32


def map_ack(ack: Word, in_splice_iss: Word, out_splice_irs: Word) -> Word:
    """§3.3: ``ack' = (ack - in.splice_iss) + out.splice_irs`` mod 2^32 (ACK-MAP)."""
    return (ack - in_splice_iss + out_splice_irs) & MASK32


def behind_base(x: Word, base: Word, advance: Word) -> Truth:
    """``x`` precedes ``base`` in a stream that has advanced ``advance`` (0 .. 2^31) past it.

    The numbers that precede the base are the ``2^31 - advance`` numbers just below it (module
    docstring): at ``advance == 0`` the half circle below the base, i.e. Linux's ``before(x, base)``
    with the distance 2^31 included (TRIM-HALF); every number the stream advances takes one off the
    far end of that stretch, which is now within 2^31 *ahead* of the furthest point; at 2^31 none is
    left. Equivalently: ``x`` is ``before`` both the base and the furthest point ``base + advance``.
    """
    room = HALF - advance  # the window [base - room, base), as seqspace.in_window reads it
    return ult((x - base + room) & MASK32, room)


def advance_to(advance: Word, base: Word, end: Word) -> Word:
    """The advance once a segment whose sequence space ends at ``end`` (exclusive) has been relayed.

    It grows to reach ``end`` when ``end`` lies 1 to 2^30 (``MAX_WINDOW``) ahead of the furthest
    point ``base + advance``, saturating at 2^31; otherwise it is unchanged (TRIM-2GIB). No overflow:
    ``advance ≤ 2^31`` and the step is at most 2^30 when it grows.
    """
    step = (end - base - advance) & MASK32  # how far end lies ahead of base + advance
    return ite(ult((step - 1) & MASK32, MAX_WINDOW), umin(advance + step, ADVANCE_LIMIT), advance)


def trim_count(seq: Word, seg_len: Word, splice_irs: Word, advance: Word) -> Word:
    """How many of the segment's sequence numbers precede ``splice_irs`` in the stream (§3.3).

    The stream has advanced ``advance`` past the base (:func:`behind_base`). Trimming is a prefix:
    if the first number precedes the base, the ``splice_irs - seq`` numbers up to the base go (at most
    ``seg_len``); otherwise nothing does (TRIM-SOUND, TRIM-COMPLETE, TRIM-2GIB). At ``advance == 0``
    a segment starting exactly 2^31 from the base counts as below it and is trimmed whole (TRIM-HALF).
    """
    return ite(behind_base(seq, splice_irs, advance), umin((splice_irs - seq) & MASK32, seg_len), 0)


def trimmed_seq(seq: Word, trimmed: Word) -> Word:
    """The first sequence number left after chopping ``trimmed`` of them off the front."""
    return (seq + trimmed) & MASK32


def split_trim(trimmed: Word, syn: Truth, data_len: Word, fin: Truth) -> tuple[Truth, Word, Truth]:
    """Which parts of ``[SYN][data][FIN]`` survive a prefix trim of ``trimmed`` numbers.

    Returns ``(syn_kept, data_cut, fin_kept)``: the SYN survives only if nothing is trimmed, ``data_cut``
    data bytes are chopped from the front, and the FIN survives unless the trim reaches past the data
    (SEQ-CTL, TRIM-SOUND, TRIM-COMPLETE).
    """
    syn_n = bit(syn, trimmed)
    syn_kept = and_(syn, ult(trimmed, 1))
    after_syn = ite(ult(syn_n, trimmed), trimmed - syn_n, 0)
    data_cut = umin(after_syn, data_len)
    fin_kept = and_(fin, ule(trimmed, syn_n + data_len))
    return syn_kept, data_cut, fin_kept


def map_urgent(urg: Truth, urgent: Word, trimmed: Word) -> tuple[Truth, Word]:
    """Urgent pointer through a prefix trim (§3.3; RFC 9293 §3.8.5, RFC 6093 §2).

    The pointer is an offset from ``seq`` to the octet *after* the urgent data, so the last urgent
    octet is ``seq + urgent - 1``. With nothing trimmed it is unchanged (URG-KEEP). After trimming
    ``t`` numbers it is reduced by ``t`` so that it designates the same octet (URG-SHIFT); if that
    octet was trimmed (``urgent <= t``), URG is cleared and the pointer zeroed (URG-CLEAR). Without
    URG the field carries no meaning and is relayed unchanged.
    """
    cleared = and_(urg, ult(0, trimmed), ule(urgent, trimmed))
    urg_out = and_(urg, not_(cleared))
    urgent_out = ite(cleared, 0, ite(urg, (urgent - trimmed) & MASK16, urgent))
    return urg_out, urgent_out


def map_tsval(tsval: Word, in_lastrecv_ts: Word, out_lastsent_ts: Word) -> Word:
    """§3.4.1: ``TSval_out = (TSval_in - in.lastrecv_TS) + out.lastsent_TS`` (TS-VAL)."""
    return (tsval - in_lastrecv_ts + out_lastsent_ts) & MASK32


def map_tsecr(tsecr: Word, in_lastsent_ts: Word, out_lastrecv_ts: Word) -> Word:
    """§3.4.1: ``TSecho_out = (TSecho_in - in.lastsent_TS) + out.lastrecv_TS`` (TS-ECR)."""
    return (tsecr - in_lastsent_ts + out_lastrecv_ts) & MASK32


def map_sack_block(left: Word, right: Word, in_splice_iss: Word, out_splice_irs: Word,
                   advance: Word) -> tuple[Truth, Word, Word]:
    """A SACK block ``[left, right)`` through the splice (§3.4.3; SACK-MAP, SACK-CLIP).

    Edges are acknowledgment numbers of data the proxy sent on ``in``; they map like the ack field.
    Data preceding ``in.splice_iss`` (the OK message and what came before it) was never relayed, so a
    block reaching before it is clipped to start there, and a block wholly before it is dropped
    (``keep`` False). "Before" is stream order, as for trimming: ``advance`` is how far the stream the
    block acknowledges — the *other* direction, relayed out to ``in``'s peer — has reached past
    ``in.splice_iss`` (:func:`behind_base`). The block keeps a byte iff its last one, ``right - 1``,
    does not precede the base. Returns ``(keep, left', right')``.
    """
    keep = not_(behind_base((right - 1) & MASK32, in_splice_iss, advance))
    clipped_left = ite(behind_base(left, in_splice_iss, advance), in_splice_iss, left)
    return keep, map_ack(clipped_left, in_splice_iss, out_splice_irs), map_ack(right, in_splice_iss, out_splice_irs)


def relay_window(window: Word, in_shift: int, out_shift: int) -> Word:
    """Window field through the splice (§3.4.2; RFC 7323 §2.3; WS-SAFE, WS-EXACT).

    The sender on ``in`` means ``window << in_shift`` octets; the receiver on ``out`` reads the field
    as ``field << out_shift``. The field relayed is ``(window << in_shift) >> out_shift`` rounded down
    and clamped to 16 bits, so it never promises more than the real window and never overflows.
    ``window`` is a 32-bit word holding a 16-bit value; shifts are at most 14 (RFC 7323 §2.3).
    """
    real = (window << in_shift) & MASK32
    return umin(lshr(real, out_shift), MASK16)


#: Every function above compiled for ints (:func:`~splicecheck.reference.arith.concrete_twins`): the same
#: source with the generic helpers' calls replaced by their int branches, written as operators. The relay
#: runs these; the proofs run the originals; ``tests/test_concrete.py`` holds the two to each other.
concrete = concrete_twins(globals(), ("map_seq", "map_ack", "behind_base", "advance_to", "trim_count", "trimmed_seq",
                                      "split_trim", "map_urgent", "map_tsval", "map_tsecr", "map_sack_block",
                                      "relay_window"))
