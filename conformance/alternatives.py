"""Legitimate outcomes other than the model's (results.py, "Several legitimate outcomes"), as the relay
functions that make them and the differences each tolerates.

* **Supply timestamps** (``SUPPLY_TS``): legs that disagree on timestamps; towards the leg that uses
  them the splice adds a Timestamps option to every relayed non-RST segment that lacks one, so that a
  strict RFC 7323 §3.2 receiver (which SHOULD drop a segment without it) keeps the connection. The
  model's instance carries TSval = the last TSval the proxy sent that end host and TSecr = the last
  one it received from it; a supplying splice runs its own clock forward and echoes the latest TSval it
  saw, so any TSval and TSecr at or after those (within 2^31, RFC 7323 §5.3's PAWS order) is this
  outcome, and so is any option layout.
* **Clear ECN** (``CLEAR_ECN``): towards an end host that did not negotiate ECN in its SYN exchange (the
  scenarios' end hosts never do: ``PeerPlan`` has no ECN setup), the splice may clear the ECN field
  and ECE/CWR (RFC 3168 §6.1.1: a host that did not negotiate ECN must not get ECT packets).
* **Host reset** (``HOST_RESET``): a segment that belongs to neither leg (DIR-ONLY) is not the splice's, so it
  reaches the proxy host's own TCP, which answers a segment for no connection with a RST (RFC 9293 §3.10.7.1,
  the CLOSED state; §3.5.2 group 1). The splice relayed nothing: that is DIR-ONLY kept, by a host that is a
  correct TCP. The RST goes back to its sender: from the address and port the segment was sent to,
  ``<SEQ=SEG.ACK><CTL=RST>`` when it carried an ACK, else ``<SEQ=0><ACK=SEG.SEQ+SEG.LEN> <CTL=RST,ACK>``
  (SEG.LEN counts SYN and FIN). Only a segment sent to one of the proxy's own addresses by an end host of the
  splice gets one (other senders are not routed to in the scenarios); a RST is never answered. The host's own
  IP choices (TTL or hop limit, identification, DF, flow label, the IPv4 options its IP layer echoes) and the
  RST's window are its own and tolerated, in the foreign segment's step only: the case's other steps are the
  splice's, judged as always. A departure from the host's RST (a wrong sequence number, a RST to the wrong
  place) is DIR-ONLY's: that packet is not a relayed segment, so the mapping requirements are not charged.
* **Relay an unwalkable option area** (``RELAY_UNWALKABLE``): a segment whose option area cannot be walked (an
  option length under 2, or one running past the header; RFC 9293 §3.1) is no segment to the model's codec, so
  the model drops it. A splice may as well relay it: mapped as any segment, the options before the fault mapped
  or stripped as usual, the area from the fault on passed as it came (it cannot know what those bytes hold).
  The receiving end host deals with the area: RFC 9293 MUST-7 has every TCP prepared for an illegal option
  length. Step by step, as it is each segment's own; everything else is the model's. A relay that writes into
  or past the unwalkable rest (trusting a bad length) is neither outcome and still fails.
* **Refuse** is not a relay: an IUT that declines to splice legs that disagree raises ``SpliceRefused``,
  which the runner grades as the alternative ``"refuse"``.
"""

from __future__ import annotations

from dataclasses import replace

from ..reference.codec import decode, encode
from ..reference.relay import Direction, Note, RelayResult, SpliceState, relay
from ..reference.segment import (
    ACK,
    CWR,
    ECE,
    FIN,
    NOP,
    RST,
    SYN,
    EndOfOptionList,
    IPv4Header,
    IPv6Header,
    Segment,
    TcpHeader,
    Timestamps,
    pad_options,
)
from ..reference.seqspace import HALF, seq_add, seq_sub
from .case import Alternative
from .results import FieldDiff


def _seal(seg: Segment) -> Segment:
    ip = replace(seg.ip, checksum=None) if isinstance(seg.ip, IPv4Header) else seg.ip
    return decode(encode(Segment(ip, replace(seg.tcp, checksum=None), seg.payload)))


def supply_timestamps(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The model's relay, with a Timestamps option added towards a leg that uses timestamps when the
    other does not (module docstring)."""
    result = relay(state, seg, now)
    if result.direction is None:
        return result
    leg_in, leg_out = ((state.client, state.server) if result.direction is Direction.C2S
                       else (state.server, state.client))
    if not leg_out.timestamps or leg_in.timestamps:
        return result

    def add(out: Segment) -> Segment:
        if out.tcp.flags & RST or out.tcp.option(Timestamps) is not None:
            return out
        kept = [o for o in out.tcp.options if not isinstance(o, EndOfOptionList)]
        opts = pad_options([*kept, NOP, NOP, Timestamps(leg_out.lastsent_ts, leg_out.lastrecv_ts)])
        return _seal(replace(out, tcp=replace(out.tcp, options=opts)))

    return replace(result, emitted=tuple(add(e) if isinstance(e, Segment) else e for e in result.emitted))


def _at_or_after(d: FieldDiff) -> bool:
    return (isinstance(d.expected, int) and isinstance(d.actual, int)
            and seq_sub(d.actual, d.expected) < HALF)


def supplied_clock(d: FieldDiff) -> bool:
    """A supplied timestamp's own clock (TSval, TSecr at or after the model's) or its layout."""
    if d.field.endswith(("tcp.options.TS.tsval", "tcp.options.TS.tsecr")):
        return _at_or_after(d)
    return d.field.endswith("tcp.options layout")


def clear_ecn(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The model's relay with the ECN field set to not-ECT and ECE/CWR cleared on every relayed segment."""
    result = relay(state, seg, now)

    def clear(out: Segment) -> Segment:
        ip = out.ip
        if isinstance(ip, IPv4Header):
            ip = replace(ip, tos=ip.tos & ~3)
        else:
            ip = replace(ip, traffic_class=ip.traffic_class & ~3)
        return _seal(Segment(ip, replace(out.tcp, flags=out.tcp.flags & ~(ECE | CWR)), out.payload))

    return replace(result, emitted=tuple(clear(e) if isinstance(e, Segment) else e for e in result.emitted))


def host_reset(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The model's relay; for a foreign segment (no direction) sent by an end host to one of the proxy's
    addresses, the RST the proxy host's own TCP answers it with (module docstring). Its direction is the
    one whose out leg leads back to the sender (``diff.expected_counts`` routes by it). The model hands a
    foreign segment to this function without its lifecycle machine (``model.Model.relay``), so the RST,
    the host's and not a relayed one, does not close the splice."""
    result = relay(state, seg, now)
    t, ip = seg.tcp, seg.ip
    if result.direction is not None or t.flags & RST:
        return result
    if ip.dst not in (state.client.local.addr, state.server.local.addr):
        return result
    if ip.src == state.client.peer.addr:
        back = Direction.S2C
    elif ip.src == state.server.peer.addr:
        back = Direction.C2S
    else:
        return result
    if t.flags & ACK:
        tcp = TcpHeader(t.dport, t.sport, seq=t.ack, ack=0, flags=RST, window=0)
    else:
        length = len(seg.payload) + bool(t.flags & SYN) + bool(t.flags & FIN)
        tcp = TcpHeader(t.dport, t.sport, seq=0, ack=seq_add(t.seq, length), flags=RST | ACK, window=0)
    rip: IPv4Header | IPv6Header = (IPv4Header(ip.dst, ip.src) if isinstance(ip, IPv4Header)
                                    else IPv6Header(ip.dst, ip.src))
    return replace(result, direction=back, emitted=(_seal(Segment(rip, tcp, b"")),))


#: the fields of a host's RST that are the host's own choice (the IP layer's defaults and options, the RST's
#: window)
_HOST_CHOICES = ("ip.ttl", "ip.id", "ip.df", "ip.flow_label", "ip.tos DSCP", "ip.traffic_class DSCP",
                 "ip.options", "tcp.window", "tcp.window believed <= real")


def host_choice(d: FieldDiff) -> bool:
    """A host RST's field whose value its own stack picks: TTL or hop limit, identification, DF, flow label,
    DSCP, IPv4 options (a host answers with the options its IP layer echoes: Linux returns a Record Route or
    Timestamp option it received, with its own address entered, RFC 791 and RFC 1122 §3.2.1.8), window (and
    the scaled-window check, meaningless on a RST). Everything else is still compared (addresses, ports,
    numbers, flags, no ECN mark, valid checksums)."""
    return d.field.endswith(_HOST_CHOICES)


SUPPLY_TS = Alternative(
    "supply-timestamps", supply_timestamps,
    "RFC 7323 §3.2: the leg that negotiated timestamps gets them on every segment (the splice's own clock)",
    supplied_clock)
CLEAR_ECN = Alternative(
    "clear-ecn", clear_ecn,
    "RFC 3168 §6.1.1: no ECT, ECE or CWR towards an end host that did not negotiate ECN")

def host_step(result: RelayResult) -> bool:
    """A step whose segment is of no leg (the relay's ``NOT_THIS_SPLICE``): the only ones whose packets are
    the host's own, so the only ones where :func:`host_choice` excuses anything (a window a relayed segment
    carries elsewhere in the case is still the splice's, and still judged)."""
    return Note.NOT_THIS_SPLICE in result.notes


HOST_RESET = Alternative(
    "host-reset", host_reset,
    "RFC 9293 §3.10.7.1: a segment for no connection of the proxy host is answered by its own TCP with a RST",
    host_choice, host_step, per_step=True, charge="DIR-ONLY")

RELAY_UNWALKABLE = Alternative(
    "relay-unwalkable", relay,
    "RFC 9293 §3.1, MUST-7: an option area that cannot be walked is the receiving end host's to handle; the splice "
    "relays the segment with the area from the fault on as it came",
    per_step=True, keep_rest=True)

#: What a case whose legs disagree on timestamps accepts besides the paper's strip (and refusal).
TS_DISAGREE: tuple[Alternative, ...] = (SUPPLY_TS,)
#: What a case about ECN marks between end hosts that never negotiated ECN accepts besides relaying them.
ECN_UNNEGOTIATED: tuple[Alternative, ...] = (CLEAR_ECN,)
#: What a case sending a segment that belongs to neither leg accepts besides silence.
FOREIGN: tuple[Alternative, ...] = (HOST_RESET,)
#: What a case sending a segment whose option area cannot be walked accepts besides dropping it.
UNWALKABLE: tuple[Alternative, ...] = (RELAY_UNWALKABLE,)
