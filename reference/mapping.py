"""The splice's arithmetic kernel: every per-field transform of paper §3.3–§3.4, written once.

Each function is generic (ints in the relay, z3 bit-vectors in ``spec/proofs``) and pure. The relay
(:mod:`splicecheck.reference.relay`) composes them; the Z3 proofs call them directly, so what is proved
is what runs. Requirement IDs (``spec/requirements.py``) are named at the lines that implement them.

Sequence numbers of one segment
    A segment occupies ``seg_len = SYN + len(data) + FIN`` sequence numbers starting at ``seq``
    (RFC 9293 §3.4): the SYN first, then the data, then the FIN (SEQ-CTL).
"""

from __future__ import annotations

from .arith import MASK16, MASK32, Truth, Word, and_, bit, ite, lshr, not_, ule, ult, umin
from .seqspace import after, before, seq_add, seq_sub


def map_seq(seq: Word, in_splice_irs: Word, out_splice_iss: Word) -> Word:
    """§3.3: ``seq' = (seq - in.splice_irs) + out.splice_iss`` mod 2^32 (SEQ-MAP)."""
    return seq_add(seq_sub(seq, in_splice_irs), out_splice_iss)


def map_ack(ack: Word, in_splice_iss: Word, out_splice_irs: Word) -> Word:
    """§3.3: ``ack' = (ack - in.splice_iss) + out.splice_irs`` mod 2^32 (ACK-MAP)."""
    return seq_add(seq_sub(ack, in_splice_iss), out_splice_irs)


def trim_count(seq: Word, seg_len: Word, splice_irs: Word) -> Word:
    """How many of the segment's sequence numbers lie below ``splice_irs`` (§3.3, TRIM-SOUND).

    "Below" is Linux's ``before``: a segment starting exactly 2^31 from the base counts as below it
    and is trimmed whole (TRIM-HALF). The count never exceeds ``seg_len``.
    """
    return ite(before(seq, splice_irs), umin(seq_sub(splice_irs, seq), seg_len), 0)


def trimmed_seq(seq: Word, trimmed: Word) -> Word:
    """The first sequence number left after chopping ``trimmed`` of them off the front."""
    return seq_add(seq, trimmed)


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
    return seq_add(seq_sub(tsval, in_lastrecv_ts), out_lastsent_ts)


def map_tsecr(tsecr: Word, in_lastsent_ts: Word, out_lastrecv_ts: Word) -> Word:
    """§3.4.1: ``TSecho_out = (TSecho_in - in.lastsent_TS) + out.lastrecv_TS`` (TS-ECR)."""
    return seq_add(seq_sub(tsecr, in_lastsent_ts), out_lastrecv_ts)


def map_sack_block(left: Word, right: Word, in_splice_iss: Word, out_splice_irs: Word) -> tuple[Truth, Word, Word]:
    """A SACK block ``[left, right)`` through the splice (§3.4.3; SACK-MAP, SACK-CLIP).

    Edges are acknowledgment numbers of data the proxy sent on ``in``; they map like the ack field.
    Data below ``in.splice_iss`` (the OK message and what came before it) was never relayed, so a
    block reaching below it is clipped to start there, and a block wholly below it is dropped
    (``keep`` False). Returns ``(keep, left', right')``.
    """
    keep = after(right, in_splice_iss)
    clipped_left = ite(before(left, in_splice_iss), in_splice_iss, left)
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
