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
* **Refuse** is not a relay: an IUT that declines to splice legs that disagree raises ``SpliceRefused``,
  which the runner grades as the alternative ``"refuse"``.
"""

from __future__ import annotations

from dataclasses import replace

from ..reference.codec import decode, encode
from ..reference.relay import Direction, RelayResult, SpliceState, relay
from ..reference.segment import CWR, ECE, NOP, RST, EndOfOptionList, IPv4Header, Segment, Timestamps, pad_options
from .case import Alternative
from .results import FieldDiff

HALF = 1 << 31


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
            and (d.actual - d.expected) & 0xFFFF_FFFF < HALF)


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


SUPPLY_TS = Alternative(
    "supply-timestamps", supply_timestamps,
    "RFC 7323 §3.2: the leg that negotiated timestamps gets them on every segment (the splice's own clock)",
    supplied_clock)
CLEAR_ECN = Alternative(
    "clear-ecn", clear_ecn,
    "RFC 3168 §6.1.1: no ECT, ECE or CWR towards an end host that did not negotiate ECN")

#: What a case whose legs disagree on timestamps accepts besides the paper's strip (and refusal).
TS_DISAGREE: tuple[Alternative, ...] = (SUPPLY_TS,)
#: What a case about ECN marks between end hosts that never negotiated ECN accepts besides relaying them.
ECN_UNNEGOTIATED: tuple[Alternative, ...] = (CLEAR_ECN,)
