"""What a conformance case is, and the builders cases use to make segments relative to a splice.

A :class:`Case` names the requirements it targets (stable IDs, the first is the primary one), says
in words what it checks and what a correct splice does, asks for a :class:`Scenario`, and *builds*
its injections from the splice state the IUT actually has (``session.state``): an IUT may choose its
own ISNs, so every sequence number is written relative to ``splice_irs``/``splice_iss``. Cases with a
custom ``execute`` (Hypothesis property and stateful cases) run many examples and report one result.

The builders :func:`from_client` and :func:`from_server` make segments at an offset from the in
leg's base, with ack numbers at an offset from what the proxy sent, timestamps relative to the last
ones each side saw, and everything else as keywords.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..reference.codec import decode, encode
from ..reference.relay import Leg, RelayResult, SpliceState
from ..reference.segment import (
    ACK,
    IP_DF,
    IPv4Header,
    IPv6Header,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    pad_options,
)
from ..reference.seqspace import seq_add
from ..spec.requirements import BY_ID
from .contract import Feature, Scenario
from .results import CaseKind, CaseResult, FieldDiff

if TYPE_CHECKING:
    from .contract import Adapter


@dataclass(frozen=True, slots=True)
class Injection:
    """One segment sent to the proxy. ``raw`` replaces ``encode(segment)`` on the wire (malformed or
    deliberately corrupted input); the model then judges ``decode(raw)``. ``now``: model time."""

    segment: Segment
    raw: bytes | None = None
    now: float = 0.0

    @property
    def wire(self) -> bytes:
        return self.raw if self.raw is not None else encode(self.segment)


Build = Callable[[SpliceState], Sequence[Injection | Segment]]
RelayFn = Callable[[SpliceState, Segment, float], RelayResult]


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another legitimate outcome of a case, besides the model's (results.py, "Several legitimate
    outcomes"): the splice a correct IUT may also be, given as the relay function that makes it.
    ``tolerate`` says which differences from that relay's output are still this outcome — the IUT's own
    free choices (a supplied timestamp's clock, say); ``None``: none, the output must match exactly.
    ``tolerate_where`` limits it to the steps whose outcome (that relay's result) it holds for — an
    alternative that changes only some steps (a host's RST for a foreign segment) excuses nothing in the
    others; ``None``: every step. ``per_step``: the choice is made anew at each step (the proxy host answers
    one foreign segment and not another: whether it has a socket or route for each is its own), so each step
    is graded against whichever of the model and this outcome it came closer to; otherwise the whole case
    follows one outcome. ``keep_rest``: this outcome's splice relays a segment whose option area it cannot
    walk, so its relay is given such an input decoded with the rest of the area as bytes (``codec.decode``'s
    ``keep_rest``); otherwise, as for the model, such an input is expected to be dropped. ``charge``: the
    requirement every check in the steps it holds for is charged to, instead of the field's own — where its
    packets are not the splice's relaying (a host's RST is DIR-ONLY's, not SEQ-MAP's); "" keeps the fields'."""

    name: str
    relay_fn: RelayFn
    why: str
    tolerate: Callable[[FieldDiff], bool] | None = field(default=None, compare=False)
    tolerate_where: Callable[[RelayResult], bool] | None = field(default=None, compare=False)
    per_step: bool = False
    keep_rest: bool = False
    charge: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    """One named conformance case (Autobahn / h2spec style)."""

    id: str
    reqs: tuple[str, ...]
    description: str
    expectation: str
    build: Build
    scenario: Scenario = field(default_factory=Scenario)
    needs: frozenset[Feature] = frozenset()
    kind: CaseKind = CaseKind.NAMED
    execute: Callable[[Adapter, Case, int | None], CaseResult] | None = field(default=None, compare=False)
    #: other legitimate outcomes (graded by the runner's own execute: not with a custom one)
    alternatives: tuple[Alternative, ...] = ()

    def __post_init__(self) -> None:
        if not self.reqs:
            raise ValueError(f"case {self.id} targets no requirement")
        if self.alternatives and self.execute is not None:
            raise ValueError(f"case {self.id}: alternatives are graded by the runner, not by a custom execute")
        unknown = [r for r in self.reqs if r not in BY_ID]
        if unknown:
            raise ValueError(f"case {self.id} names unknown requirements {unknown}")

    @property
    def primary(self) -> str:
        return self.reqs[0]

    def all_needs(self) -> frozenset[Feature]:
        return self.needs | self.scenario.needs()


def injections(built: Sequence[Injection | Segment]) -> list[Injection]:
    return [b if isinstance(b, Injection) else Injection(b) for b in built]


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------


def _segment(leg: Leg, seq: int, ack: int, flags: int, payload: bytes, window: int, urgent: int,
             options: Sequence[TcpOption], ttl: int, df: bool, tos: int, ip_options: bytes, ident: int) -> Segment:
    if len(leg.peer.addr) == 4:
        ip: IPv4Header | IPv6Header = IPv4Header(leg.peer.addr, leg.local.addr, tos=tos, ident=ident,
                                                 flags=IP_DF if df else 0, ttl=ttl, options=ip_options)
    else:
        ip = IPv6Header(leg.peer.addr, leg.local.addr, traffic_class=tos, flow_label=0x12345, hop_limit=ttl)
    tcp = TcpHeader(leg.peer.port, leg.local.port, seq, ack, flags, window, urgent, pad_options(tuple(options)))
    return decode(encode(Segment(ip, tcp, payload)))  # sealed: checksums as on the wire


def ts_option(leg: Leg, val_off: int = 1, ecr_off: int = 0) -> Timestamps:
    """A Timestamps option from ``leg``'s peer: TSval ``val_off`` ticks after the last the proxy got
    from it, TSecr ``ecr_off`` after the last the proxy sent it."""
    return Timestamps(seq_add(leg.lastrecv_ts, val_off), seq_add(leg.lastsent_ts, ecr_off))


def _build(leg: Leg, off: int, ack_off: int, flags: int, payload: bytes, window: int, urgent: int,
           options: Sequence[TcpOption] | None, ts: bool, ttl: int, df: bool, tos: int, ip_options: bytes,
           ident: int, seq: int | None, ack: int | None) -> Segment:
    opts = list(options or ())
    if ts and leg.timestamps and not any(isinstance(o, Timestamps) for o in opts):
        opts.append(ts_option(leg))
    s = seq if seq is not None else seq_add(leg.splice_irs, off)
    a = ack if ack is not None else seq_add(leg.splice_iss, ack_off)
    return _segment(leg, s, a, flags, payload, window, urgent, opts, ttl, df, tos, ip_options, ident)


def from_client(st: SpliceState, off: int = 0, *, ack_off: int = 0, flags: int = ACK, payload: bytes = b"",
                window: int = 8192, urgent: int = 0, options: Sequence[TcpOption] | None = None, ts: bool = True,
                ttl: int = 64, df: bool = True, tos: int = 0, ip_options: bytes = b"", ident: int = 0x4242,
                seq: int | None = None, ack: int | None = None) -> Segment:
    """A segment from the client to the proxy: seq = C.splice_irs + off, ack = C.splice_iss + ack_off
    (absolute ``seq``/``ack`` override); a Timestamps option is added when leg C uses them and ``ts``."""
    return _build(st.client, off, ack_off, flags, payload, window, urgent, options, ts, ttl, df, tos, ip_options,
                  ident, seq, ack)


def from_server(st: SpliceState, off: int = 0, *, ack_off: int = 0, flags: int = ACK, payload: bytes = b"",
                window: int = 8192, urgent: int = 0, options: Sequence[TcpOption] | None = None, ts: bool = True,
                ttl: int = 64, df: bool = True, tos: int = 0, ip_options: bytes = b"", ident: int = 0x4242,
                seq: int | None = None, ack: int | None = None) -> Segment:
    """A segment from the server to the proxy: seq = D.splice_irs + off, ack = D.splice_iss + ack_off."""
    return _build(st.server, off, ack_off, flags, payload, window, urgent, options, ts, ttl, df, tos, ip_options,
                  ident, seq, ack)


def corrupt_tcp_checksum(seg: Segment) -> Injection:
    """The segment with its TCP checksum off by one (an error the splice must pass on, CSUM-FAILSAFE)."""
    raw = bytearray(encode(seg))
    at = seg.ip.header_length + 16
    value = ((raw[at] << 8) | raw[at + 1]) ^ 0x0001
    raw[at:at + 2] = value.to_bytes(2, "big")
    return Injection(decode(bytes(raw)), bytes(raw))
