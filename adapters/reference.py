"""The ``reference`` adapter: the model itself as an IUT. It must pass every case.

A session is a :class:`~splicecheck.reference.lifecycle.SpliceMachine` that has made the scenario's
splice (:func:`~splicecheck.conformance.model.reference_machine`); injected segments are handed to it
as client or server segments and whatever it relays is encoded onto the legs. Mutants
(:mod:`splicecheck.adapters.mutants`) reuse this adapter with a different relay function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from splicecheck import __version__

from ..conformance.contract import Feature, IutInfo, Observation, Scenario
from ..conformance.model import reference_machine
from ..reference.codec import encode
from ..reference.icmp import PacketTooBig, encode_icmp
from ..reference.lifecycle import Event, EventType, SpliceMachine
from ..reference.relay import Direction, RelayResult, SpliceState, relay
from ..reference.segment import Segment

RelayFn = Callable[[SpliceState, Segment, float], RelayResult]


def observation(results: list[RelayResult]) -> Observation:
    """Where the model's emitted packets go: relayed segments on the out leg, ICMP back to the sender."""
    to_client: list[bytes] = []
    to_server: list[bytes] = []
    for r in results:
        c2s = r.direction is Direction.C2S
        for e in r.emitted:
            if isinstance(e, PacketTooBig):
                (to_client if c2s else to_server).append(encode_icmp(e))
            else:
                (to_server if c2s else to_client).append(encode(e))
    return Observation(tuple(to_client), tuple(to_server))


class ReferenceSession:
    def __init__(self, machine: SpliceMachine) -> None:
        self.machine = machine
        self.now = 0.0

    @property
    def state(self) -> SpliceState:
        assert self.machine.splice is not None
        return self.machine.splice

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        from ..reference.codec import decode
        from ..reference.errors import MalformedSegment

        if raw is not None:
            try:
                segment = decode(raw)
            except MalformedSegment:
                return Observation()  # a malformed packet is not relayed
        st = self.machine.splice
        from_server = st is not None and segment.ip.src == st.server.peer.addr and \
            segment.tcp.sport == st.server.peer.port
        kind = EventType.SERVER_SEGMENT if from_server else EventType.CLIENT_SEGMENT
        return observation(self.machine.handle(Event(kind, segment=segment), self.now))

    def event(self, event: Event) -> Observation:
        return observation(self.machine.handle(event, self.now))


class ReferenceAdapter:
    """The model as an IUT (every feature supported)."""

    name = "reference"
    unsupported: frozenset[Feature] = frozenset()

    def __init__(self, arg: str = "", relay_fn: RelayFn = relay) -> None:
        self.relay_fn = relay_fn

    def info(self) -> IutInfo:
        return IutInfo(self.name, __version__, "splicecheck's executable reference model (paper §3)")

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[ReferenceSession]:
        machine = reference_machine(scenario)
        machine.relay_fn = self.relay_fn
        yield ReferenceSession(machine)

    def close(self) -> None:
        pass
