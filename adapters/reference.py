"""The ``reference`` adapter: the model itself as an IUT. It must pass every case.

A session is a :class:`~splicecheck.reference.lifecycle.SpliceMachine` that has made the scenario's
splice (:func:`~splicecheck.conformance.model.reference_machine`); injected segments are handed to it
as client or server segments and whatever it relays is encoded onto the legs. Mutants
(:mod:`splicecheck.adapters.mutants`) reuse this adapter with a different relay function.

A session from ``open`` also reports the proxy's handshake packets (``proxy_handshake``): the model proxy's
handshakes for the scenario (:func:`~splicecheck.conformance.handshake.model_handshake`), from which the
splice's constants come.

``open_unspliced`` (Feature.LIFECYCLE) yields a :class:`LifecycleSession` over a machine at stage
UNSPLICED (:func:`~splicecheck.conformance.model.unspliced_machine`): events and segments go to the
machine as they come, a refusal is the contract's ``RefusedError``, ``state`` raises
``NotSplicedError`` until the splice is made, and ``stage`` is the machine's. The events after the
splice (``APP_CLOSE``, ``TIMER``) are the machine's too: the OK message's retransmission on a timer is
the one packet of the proxy's own it emits (LIFE-OK-RETRANSMIT).

``open_accepted`` (Feature.ACCEPT) yields a session over a machine that made the scenario's splice in
the accept direction (:func:`~splicecheck.conformance.model.accepted_machine`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .. import __version__
from ..conformance.contract import Feature, IutInfo, NotSplicedError, Observation, RefusedError, Scenario
from ..conformance.diff import observation
from ..conformance.handshake import ProxyHandshake, model_handshake
from ..conformance.model import Addresses, accepted_machine, addresses, reference_machine, unspliced_machine
from ..reference.codec import decode
from ..reference.errors import MalformedSegment, SpliceStateError
from ..reference.lifecycle import Event, EventType, SpliceMachine, Stage
from ..reference.relay import RelayResult, SpliceState, relay
from ..reference.segment import Segment

RelayFn = Callable[[SpliceState, Segment, float], RelayResult]


class ReferenceSession:
    """A session over ``machine``; ``where`` (the scenario's addresses) tells server segments from client
    ones before D is connected — without it, the made splice's (or D's socket's) server endpoint does."""

    def __init__(self, machine: SpliceMachine, where: Addresses | None = None) -> None:
        self.machine = machine
        self.where = where
        self.now = 0.0
        self.proxy_handshake: ProxyHandshake | None = None  # set by the adapter's ``open``

    @property
    def state(self) -> SpliceState:
        if self.machine.splice is None:
            raise NotSplicedError(f"the splice is not made yet (stage {self.machine.stage.value}): no splice state")
        return self.machine.splice

    def _from_server(self, segment: Segment) -> bool:
        m = self.machine
        server = self.where.server if self.where is not None else m.splice.server.peer if m.splice is not None \
            else m.server.peer if m.server is not None else None
        return server is not None and segment.ip.src == server.addr and segment.tcp.sport == server.port

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        if raw is not None:
            try:
                segment = decode(raw)
            except MalformedSegment:
                return Observation()  # a malformed packet is not relayed
        kind = EventType.SERVER_SEGMENT if self._from_server(segment) else EventType.CLIENT_SEGMENT
        return self._handle(Event(kind, segment=segment))

    def event(self, event: Event) -> Observation:
        return self._handle(event)

    def _handle(self, event: Event) -> Observation:
        try:
            return observation(self.machine.handle(event, self.now))
        except RefusedError:
            raise
        except SpliceStateError as exc:  # the model's refusal is the contract's
            raise RefusedError(exc.state, exc.event, exc.detail) from exc


class LifecycleSession(ReferenceSession):
    """A session from ``open_unspliced``: the same, and the machine's stage reported."""

    @property
    def stage(self) -> Stage:
        return self.machine.stage


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
        session = ReferenceSession(machine)
        session.proxy_handshake = model_handshake(scenario)
        yield session

    @contextmanager
    def open_accepted(self, scenario: Scenario) -> Iterator[ReferenceSession]:
        machine = accepted_machine(scenario)
        machine.relay_fn = self.relay_fn
        yield ReferenceSession(machine)

    @contextmanager
    def open_unspliced(self, scenario: Scenario) -> Iterator[LifecycleSession]:
        where = addresses(scenario.family)
        machine = unspliced_machine(scenario, where)
        machine.relay_fn = self.relay_fn
        yield LifecycleSession(machine, where)

    def close(self) -> None:
        pass
