"""The trace checker's fast path: the model's rewrite of a plain segment, precomputed per direction.

Why. The full check of one relayed segment — decode, ``relay`` (the model), encode, ``diff_step`` —
costs tens of microseconds; a capture of a busy box holds millions of segments. But almost all of
them are *plain*: data or ACKs with no SYN or RST, nothing to trim, no IPv4 options, options made
of NOPs, an EOL, one Timestamps and one SACK option whose blocks lie past the base (when both legs
use them), TTL above 1, within the out peer's MSS. For those the model's output is the input with a
fixed set of words replaced, and whether the box emitted exactly that can be decided by building
those words and comparing bytes.

How it stays honest.

* The mappings of a plain segment are translations modulo 2^32 whose constants are computed once per
  connection by the model's own functions (:mod:`splicecheck.reference.mapping`); the checksums by
  the same RFC 1624 eqn. 3 the relay uses, as a sum over the changed words (``2^16 ≡ 1 mod 0xFFFF``,
  so a 32-bit word counts as its value). The window rescale and the advance (TRIM-2GIB) follow
  ``relay_window`` and ``advance_to`` line for line; whether a segment could be trimmed is left to
  the model's ``behind_base`` whenever it is not obviously ahead of the base.
* The fast path can only say PASS: :func:`fast_equal` is true only when the box's packet is
  byte-for-byte the packet the model's rewrite gives. Anything else — a different byte, a segment
  that is not plain — goes to the full path (model + ``diff_step``), which alone grades differences.
* A PASS counts the checks the full path makes for a segment of the same *shape* (IP version, URG,
  Timestamps, ACK, data), learnt by running the full path on the first fast PASS of each shape; the
  checker also re-runs the full path on a sample of fast PASSes and stops using the fast path for a
  shape on any disagreement (``tests/test_trace_fast.py`` compares the two paths on many random
  segments). One approximation, in what a PASS is *attributed to* and never in its verdict: an input
  whose TCP checksum was already wrong is fast-passed under TCPCSUM-VALID's check where the full path
  names CSUM-FAILSAFE (telling them apart would mean summing every payload; the box's checksum equals
  the model's incremental update byte for byte either way).
"""

from __future__ import annotations

import struct

from ...reference.arith import MASK32
from ...reference.checksum import rfc1624_update
from ...reference.mapping import ADVANCE_LIMIT, MAX_WINDOW, behind_base, map_ack, map_seq, map_tsecr, map_tsval
from ...reference.relay import Direction, SpliceState
from ...reference.segment import ACK
from ...reference.seqspace import HALF

_M = 0xFFFF
# IPv4 header without options + TCP header; the addresses and ports, contiguous, as one 12-byte field
_V4 = struct.Struct("!BBHHHBBH12sIIHHHH")
_V4_TS = struct.Struct("!BBHHHBBH12sIIHHHHIII")  # ... + NOP NOP TS(8,10) as one word + TSval, TSecr
_V6 = struct.Struct("!IHBB36sIIHHHH")  # the same for IPv6 (36 bytes of addresses and ports)
_V6_TS = struct.Struct("!IHBB36sIIHHHHIII")
_NO_TS = (0, 0, 0)  # what a header too short for NOP NOP TS reads in its place
_TS_WORD = 0x0101_080A  # NOP, NOP, kind 8, length 10
SEQ_ACK_OFF = struct.Struct("!IIH")  # seq, ack, data offset + flags (at TCP offset 4)
_TS_PAIR = struct.Struct("!II")
_PORTS = struct.Struct("!HH")
# The shape of a plain segment: what decides which checks the full path makes on it.
SHAPE_URG = 1
SHAPE_TS = 2
SHAPE_V6 = 4
SHAPE_ACK = 8
SHAPE_DATA = 16  # payload or FIN (the primary requirement of a drop is PAYLOAD-KEEP)
SHAPE_SACK = 32
_ACK_URG_SHAPE = (0, SHAPE_ACK, SHAPE_URG, SHAPE_ACK | SHAPE_URG)  # indexed by the flags' URG and ACK bits (0x30)
_SACK_EDGES = {n: struct.Struct(f"!{2 * n}I") for n in range(1, 5)}


def _words(data: bytes) -> int:
    return int.from_bytes(data, "big") % _M


def seg_key(seq: int, ack: int, plen: int, flags: int) -> int:
    """One int standing for (seq, ack, payload length, flags): what pairs an output with its input."""
    return (seq << 57) | (ack << 25) | (plen << 9) | flags


def output_key(ip: bytes, ihl: int) -> int:
    """The :func:`seg_key` of a captured packet (its TCP header must be there)."""
    seq, ack, offfl = SEQ_ACK_OFF.unpack_from(ip, ihl + 4)
    if ip[0] >> 4 == 4:
        plen = ((ip[2] << 8) | ip[3]) - ihl - ((offfl >> 12) << 2)
    else:
        plen = ((ip[4] << 8) | ip[5]) + 40 - ihl - ((offfl >> 12) << 2)
    return seg_key(seq, ack, plen, offfl & 0x1FF)


#: what :meth:`FastTransform.expect` returns: (key, expected header bytes, header length, shape, advance after)
Expected = tuple[int, bytes, int, int, int]


class FastTransform:
    """The rewrite of plain segments of one direction of one splice (module docstring).

    Every mapping of §3.3–§3.4 that a plain segment goes through is a translation modulo 2^32, so
    its constant is computed once, *by the model's own function* applied at 0 (``map_seq(0, irs, iss)
    = iss − irs``), and a segment costs an addition each. What is not a translation — the window
    rescale when the legs' shifts differ, the advance — is done as the model's functions do it, and
    ``tests/test_trace_fast.py`` holds the two to each other on many random segments and sequences."""

    __slots__ = ("ack_in_iss", "ack_out_irs", "d_ack", "d_ip", "d_seq", "d_tcp", "d_tsecr", "d_tsval", "ends",
                 "in_shift", "irs", "out_iss", "out_mss", "out_shift", "sack_map", "same_shift", "ts_map", "v4")

    def __init__(self, state: SpliceState, direction: Direction) -> None:
        leg_in, leg_out = state.legs(direction)
        self.v4 = len(leg_in.peer.addr) == 4
        self.irs, self.out_iss = leg_in.splice_irs, leg_out.splice_iss
        self.ack_in_iss, self.ack_out_irs = leg_in.splice_iss, leg_out.splice_irs
        self.d_seq: int = map_seq(0, leg_in.splice_irs, leg_out.splice_iss)
        self.d_ack: int = map_ack(0, leg_in.splice_iss, leg_out.splice_irs)
        self.d_tsval: int = map_tsval(0, leg_in.lastrecv_ts, leg_out.lastsent_ts)
        self.d_tsecr: int = map_tsecr(0, leg_in.lastsent_ts, leg_out.lastrecv_ts)
        self.in_shift, self.out_shift = leg_in.recv_shift, leg_out.send_shift
        self.same_shift = self.in_shift == self.out_shift
        self.ts_map = leg_in.timestamps and leg_out.timestamps
        self.sack_map = leg_in.sack and leg_out.sack
        self.out_mss = leg_out.peer_mss
        # the out leg's addresses and ports as they follow each other in the headers
        self.ends = leg_out.local.addr + leg_out.peer.addr + _PORTS.pack(leg_out.local.port, leg_out.peer.port)
        # words that change the same way in every segment: the addresses (IP header and pseudo-header)
        # and the ports in the TCP checksum; the addresses and TTL − 1 in the IPv4 header's
        d_addr = _words(leg_out.local.addr + leg_out.peer.addr) - _words(leg_in.peer.addr + leg_in.local.addr)
        d_ports = leg_out.local.port + leg_out.peer.port - leg_in.peer.port - leg_in.local.port
        self.d_tcp = (d_addr + d_ports) % _M
        self.d_ip = (d_addr - 0x100) % _M

    def expect(self, ip: bytes, advance: int, advance_back: int = 0) -> Expected | None:
        """The model's output for the plain segment ``ip`` (its header bytes; the payload is the input's),
        with the direction's advance after it (``advance_back``: the other direction's); None when the
        segment is not plain."""
        n = len(ip)
        if self.v4:
            if n < 40 or ip[0] != 0x45:
                return None
            # one unpack reads the usual NOP NOP TS along when there is room for it (else zeros)
            (_v, tos, total, ident, ff, ttl, _p, ip_sum, _e, seq, ack, offfl, win, tcp_sum, urg, ts_word, tsval,
             tsecr) = _V4_TS.unpack_from(ip) if n >= 52 else _V4.unpack_from(ip) + _NO_TS
            if ttl <= 1 or n != total:
                return None
            hl = 20
        else:
            if n < 60:
                return None
            (vtcfl, plen6, _nh, ttl, _e, seq, ack, offfl, win, tcp_sum, urg, ts_word, tsval,
             tsecr) = _V6_TS.unpack_from(ip) if n >= 72 else _V6.unpack_from(ip) + _NO_TS
            if ttl <= 1 or n != plen6 + 40:
                return None
            hl = 40
            ff = 0x4000  # IPv6 never fragments en route: DF in effect (RFC 8200 §5)
        flags = offfl & 0x1FF
        if flags & 0x006:  # SYN, RST
            return None
        doff = (offfl >> 12) << 2
        opts_o = b""  # the rewritten option bytes, when not the usual NOP NOP TS
        if doff == 32 and ts_word == _TS_WORD:  # Linux's NOP NOP TS: the common case
            if not self.ts_map:
                return None
            tsval_o, tsecr_o = (tsval + self.d_tsval) & MASK32, (tsecr + self.d_tsecr) & MASK32
            d_words = tsval_o - tsval + tsecr_o - tsecr  # what the rewritten option words add to the sum
            shape = SHAPE_TS
        elif doff == 20:
            d_words = shape = 0
        else:
            rewritten = self._options(ip, hl, doff, advance_back)
            if rewritten is None:
                return None
            opts_o, d_words, shape = rewritten
        plen = n - hl - doff
        if plen + doff - 20 > self.out_mss and ff & 0x4000:
            return None  # MSS-ICMP territory (options count, RFC 6691; relayed options never grow)
        irs = self.irs
        seg_len = plen + (flags & 1)  # FIN
        if seg_len and (seq - irs) & MASK32 >= HALF and behind_base(seq, irs, advance):
            return None  # something to trim
        seq_o = (seq + self.d_seq) & MASK32
        ack_o = (ack + self.d_ack) & MASK32 if flags & 0x010 else ack  # ACK
        win_o = win if self.same_shift else min(((win << self.in_shift) & MASK32) >> self.out_shift, 0xFFFF)
        if advance < ADVANCE_LIMIT:  # mapping.advance_to
            step = (seq + seg_len - irs - advance) & MASK32
            if 0 < step <= MAX_WINDOW:
                advance = min(advance + step, ADVANCE_LIMIT)
        shape |= _ACK_URG_SHAPE[(flags >> 4) & 3]
        if seg_len:
            shape |= SHAPE_DATA
        # RFC 1624 eqn. 3 over the changed words as differences new − old, the input's checksum error carried along
        tcp_o = rfc1624_update(tcp_sum, self.d_tcp + seq_o - seq + ack_o - ack + win_o - win + d_words)
        ts_here = shape & SHAPE_TS and not opts_o
        if self.v4:
            ip_o = rfc1624_update(ip_sum, self.d_ip)  # addresses and TTL − 1 changed
            if ts_here:
                head = _V4_TS.pack(0x45, tos, total, ident, ff, ttl - 1, 6, ip_o, self.ends, seq_o, ack_o, offfl,
                                   win_o, tcp_o, urg, _TS_WORD, tsval_o, tsecr_o)
            else:
                head = _V4.pack(0x45, tos, total, ident, ff, ttl - 1, 6, ip_o, self.ends, seq_o, ack_o, offfl, win_o,
                                tcp_o, urg) + opts_o
        else:
            shape |= SHAPE_V6
            if ts_here:
                head = _V6_TS.pack(vtcfl, plen6, 6, ttl - 1, self.ends, seq_o, ack_o, offfl, win_o, tcp_o, urg,
                                   _TS_WORD, tsval_o, tsecr_o)
            else:
                head = _V6.pack(vtcfl, plen6, 6, ttl - 1, self.ends, seq_o, ack_o, offfl, win_o, tcp_o, urg) + opts_o
        return (seq_o << 57) | (ack_o << 25) | (plen << 9) | flags, head, hl + doff, shape, advance

    def _options(self, ip: bytes, hl: int, doff: int, advance_back: int) -> tuple[bytes, int, int] | None:
        """Any other option list (of the TCP header at ``hl`` with data offset ``doff``) of NOPs, an EOL
        and its padding, at most one Timestamps and one SACK option (as ``relay._map_options`` treats
        them: mapped in place, everything else byte for byte): ``(rewritten bytes, checksum words added,
        shape)``, or None for anything else — a data offset out of range, an option to strip, an MSS or
        unknown kind, a SACK block reaching before the base (clipping)."""
        if not 24 <= doff <= 60 or hl + doff > len(ip):
            return None
        opts = ip[hl + 20:hl + doff]
        i, m = 0, len(opts)
        ts_at = sack_at = -1
        while i < m:
            k = opts[i]
            if k == 1:
                i += 1
                continue
            if k == 0:
                break  # EOL: the rest is padding, relayed as it is
            if i + 1 >= m:
                return None
            ln = opts[i + 1]
            if i + ln > m:
                return None
            if k == 8 and ln == 10 and ts_at < 0 and self.ts_map:
                ts_at = i
            elif k == 5 and ln in (10, 18, 26, 34) and sack_at < 0 and self.sack_map:
                sack_at = i
            else:
                return None
            i += ln
        out = bytearray(opts)
        words = 0
        shape = 0
        if ts_at >= 0:
            tsval, tsecr = _TS_PAIR.unpack_from(opts, ts_at + 2)
            tsval_o, tsecr_o = (tsval + self.d_tsval) & MASK32, (tsecr + self.d_tsecr) & MASK32
            _TS_PAIR.pack_into(out, ts_at + 2, tsval_o, tsecr_o)
            words += tsval_o - tsval + tsecr_o - tsecr
            shape |= SHAPE_TS
        if sack_at >= 0:
            nb = (opts[sack_at + 1] - 2) >> 3
            fmt = _SACK_EDGES[nb]
            edges = fmt.unpack_from(opts, sack_at + 2)
            base, d = self.ack_in_iss, self.d_ack
            for j in range(0, 2 * nb, 2):  # SACK-CLIP territory unless both edges are at or past the base
                if (edges[j] - base) & MASK32 >= HALF or (edges[j + 1] - 1 - base) & MASK32 >= HALF:
                    return None
            mapped = [(x + d) & MASK32 for x in edges]
            fmt.pack_into(out, sack_at + 2, *mapped)
            words += sum(mapped) - sum(edges)
            shape |= SHAPE_SACK
        del advance_back  # clipping depends on it; the check above excludes every case where it could
        return bytes(out), words, shape

    def key_only(self, ip: bytes, ihl: int) -> int:
        """The output key of an input whose payload the capture cut (snap length): mapped seq and ack,
        trimming ignored — enough to pair it with its output, which is then not judged either."""
        seq, ack, offfl = SEQ_ACK_OFF.unpack_from(ip, ihl + 4)
        flags = offfl & 0x1FF
        if ip[0] >> 4 == 4:
            plen = ((ip[2] << 8) | ip[3]) - ihl - ((offfl >> 12) << 2)
        else:
            plen = ((ip[4] << 8) | ip[5]) + 40 - ihl - ((offfl >> 12) << 2)
        seq_o = map_seq(seq, self.irs, self.out_iss)
        ack_o = map_ack(ack, self.ack_in_iss, self.ack_out_irs) if flags & ACK else ack
        return seg_key(seq_o, ack_o, plen, flags)


def fast_equal(head: bytes, hlen: int, inp: bytes, out: bytes) -> bool:
    """Whether ``out`` is the expected packet: the expected header bytes, then the input's payload."""
    return len(out) == len(inp) and out.startswith(head) and out[hlen:] == inp[hlen:]
