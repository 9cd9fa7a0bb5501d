"""The mutant zoo: the reference model with one realistic bug each, to measure the suite's power.

A mutant is the reference adapter with a different relay function (or, for a lifecycle bug, different
splice constants). Each is a small, plausible difference from the model, and each function's docstring
says which real-world bug it imitates. ``splicecheck mutants`` runs the suite against every one: a
mutant the suite cannot tell from the model is a hole in the suite.

How a mutant is made, in order of preference:

- *post-processing* the model's output (``_patched``): one field changed, the checksums carried along
  by RFC 1624 eqn. 3 over the changed bytes, as a real implementation that rewrites that field would;
- calling the model with a *modified input or state* whose wire bytes are the same (a Window Scale
  option handed over as an unknown option of kind 3 is relayed untouched, byte for byte);
- *substituting one arithmetic function* of :mod:`splicecheck.reference.relay` for the duration of the
  call (``_swapped``), so that the relay recomputes everything else — checksums included — from the
  mutant's value.

Mutants are internally consistent: a mutant that changed a field but left the checksum stale would be
caught by the checksum, not by the field, and overstate the suite's power. The only mutants whose
checksums are off are those whose whole point is the checksum: ``rfc1141``, ``csum-clip-stale`` and
the two ICMP checksum mutants. A bug in how an ICMP error is *encoded* is an ICMP error of class
``base.CraftedIcmp``, whose ``wire()`` the zoo's sessions put on the wire in place of the model's
encoding.

The swap replaces a module attribute process-wide while the mutant's relay runs. A lock keeps two
mutants from swapping at once; the model itself must not relay on another thread meanwhile (the
runner relays model and IUT one after the other, and ``splicecheck mutants`` uses processes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from ... import __version__
from ...conformance.contract import (
    AdapterNotFound,
    Feature,
    IutInfo,
    Observation,
    RefusedError,
    Scenario,
    UnsupportedError,
)
from ...conformance.diff import observation
from ...conformance.handshake import model_handshake
from ...conformance.model import accepted_machine, addresses, reference_machine, unspliced_machine
from ...reference.checksum import pseudo_header, rfc1141_update
from ...reference.codec import decode, encode, tcp_header_bytes
from ...reference.errors import SpliceStateError
from ...reference.lifecycle import Event, SpliceMachine, Stage
from ...reference.relay import RelayResult, SpliceState, relay
from ...reference.segment import IPv4Header, Segment
from ...reference.seqspace import seq_sub
from ..reference import ReferenceSession
from .base import MUTANTS, Mutant, _mutant, _patched, crafted

# isort: off
# The mutants register in import order, which MUTANTS keeps (the table's order): sequence space first,
# then options, window, MSS and IP, then the splice's own packets (ICMP errors, the 5-tuple, a checksum
# on one path), then the checksum and lifecycle mutants below, then the wrap-only bugs (wrap.py).
from .seq import behind_base_by  # public: tests/test_mutants.py
from . import options  # noqa: F401
from . import wire  # noqa: F401
from . import handshake  # noqa: F401
from . import lifecycle  # noqa: F401
# isort: on

__all__ = ["MUTANTS", "Mutant", "MutantAdapter", "MutantSession", "behind_base_by"]


# --------------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------------


@_mutant("rfc1141", "TCPCSUM-VALID")
def rfc1141(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """The TCP checksum is updated by RFC 1141's ``HC' = HC + m + ~m'`` word by word, not by RFC 1624 eqn. 3.

    RFC 1141's formula, widely copied, is right except at one corner (RFC 1624 §3): when the correct
    new checksum is 0x0000 it yields 0xFFFF, a value a full computation never produces. Only a
    segment crafted to land on that corner tells the two apart. (Trimmed segments, whose payload
    changes, keep the model's checksum.)"""
    t = seg.tcp

    def update(out: Segment) -> Segment:
        if t.checksum is None or out.payload != seg.payload or out.tcp.header_length != t.header_length:
            return out
        length = t.header_length + len(seg.payload)
        old = pseudo_header(seg.ip.src, seg.ip.dst, length) + tcp_header_bytes(t)
        new = pseudo_header(out.ip.src, out.ip.dst, length) + tcp_header_bytes(out.tcp)
        hc: int = t.checksum
        for i in range(0, len(old), 2):
            if old[i:i + 2] != new[i:i + 2]:
                hc = rfc1141_update(hc, int.from_bytes(old[i:i + 2], "big"), int.from_bytes(new[i:i + 2], "big"))
        return replace(out, tcp=replace(out.tcp, checksum=hc))

    return _patched(relay(state, seg, now), update, reseal=False)


@_mutant("csum-recompute", "CSUM-FAILSAFE")
def csum_recompute(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Both checksums are computed afresh over the relayed packet instead of updated incrementally.

    What checksum offload and most userspace relays do: correct for good input, but a segment
    corrupted before the proxy leaves it with a valid checksum and the corruption is delivered
    (RFC 1624 §1; the paper's fail-safe argument in §3.3)."""
    def fresh(out: Segment) -> Segment:
        ip = replace(out.ip, checksum=None) if isinstance(out.ip, IPv4Header) else out.ip
        return decode(encode(Segment(ip, replace(out.tcp, checksum=None), out.payload)))

    return _patched(relay(state, seg, now), fresh, reseal=False)


# --------------------------------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------------------------------


def _ok_len_ignored(scenario: Scenario, correct: SpliceState) -> SpliceState:
    """Server → client ``splice_iss`` is taken as C's ``snd_nxt`` at PRESPLICE, without adding the n bytes
    of the OK message still to be written.

    Figure 6's subtle point: the OK message may not have been written yet when the splice is set up,
    so the splice must be told its length. Forgetting it makes the server's first byte overwrite
    the OK message at the client (its last n bytes become server data)."""
    c = correct.client
    return replace(correct, client=replace(c, splice_iss=seq_sub(c.splice_iss, scenario.ok_len)))


MUTANTS["ok-len-ignored"] = Mutant("ok-len-ignored", relay, ("LIFE-BASE-S2C", "SEQ-MAP"), _ok_len_ignored)

# Bugs that bite only near a wrap boundary, registered last (the power benchmark's zoo).
from . import wrap  # noqa: E402, F401

# --------------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------------


class ZooSession(ReferenceSession):
    """A reference session whose ICMP errors may be crafted by the mutant (``base.CraftedIcmp``)."""

    def _handle(self, event: Event) -> Observation:
        try:
            results = self.machine.handle(event, self.now)
        except RefusedError:
            raise
        except SpliceStateError as exc:  # the model's refusal is the contract's
            raise RefusedError(exc.state, exc.event, exc.detail) from exc
        return crafted(results, observation(results))


class ZooLifecycleSession(ZooSession):
    """A zoo session from ``open_unspliced``: the machine's stage reported, as the reference's is."""

    @property
    def stage(self) -> Stage:
        return self.machine.stage


class MutantSession(ZooSession):
    """A reference session whose machine runs with wrong constants, while ``state`` reports the legs a
    correct splice has for the scenario (and the machine's own progress) — as a live adapter that
    chose the proxy's ISNs would: it knows what the splice should be, not what the IUT got wrong."""

    def __init__(self, machine: SpliceMachine, correct: SpliceState) -> None:
        super().__init__(machine)
        self._correct = correct

    @property
    def state(self) -> SpliceState:
        current = super().state
        return replace(current, client=self._correct.client, server=self._correct.server)


class MutantAdapter:
    """``mutant:NAME`` — the reference model with the bug ``NAME`` of :data:`MUTANTS`."""

    unsupported: frozenset[Feature] = frozenset()

    def __init__(self, arg: str = "") -> None:
        if arg not in MUTANTS:
            raise AdapterNotFound(f"unknown mutant {arg!r}: use mutant:NAME with NAME one of {', '.join(MUTANTS)}")
        self.mutant = MUTANTS[arg]
        self.name = f"mutant:{arg}"

    def info(self) -> IutInfo:
        m = self.mutant
        return IutInfo(self.name, __version__, f"the reference model with a bug: {m.summary}",
                       {"mutant": m.name, "violates": ", ".join(m.violates)})

    @property
    def _machine(self) -> type[SpliceMachine]:
        return self.mutant.machine_cls or SpliceMachine

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[ReferenceSession]:
        machine = reference_machine(scenario, machine=self._machine)
        machine.relay_fn = self.mutant.relay_fn
        hs = model_handshake(scenario)
        hs = self.mutant.handshake_fn(hs) if self.mutant.handshake_fn is not None else hs
        if self.mutant.splice_fn is None:
            session: ZooSession = ZooSession(machine)
        else:
            assert machine.splice is not None
            correct = machine.splice
            machine.splice = self.mutant.splice_fn(scenario, correct)
            session = MutantSession(machine, correct)
        session.proxy_handshake = hs
        yield session

    @contextmanager
    def open_unspliced(self, scenario: Scenario) -> Iterator[ReferenceSession]:
        """Only for the mutants whose bug is in the lifecycle machine (``Mutant.machine_cls``): the others'
        bugs are in a relay function or in constants handed to ``open``, and are measured there."""
        if self.mutant.machine_cls is None:
            raise UnsupportedError(f"{self.name}: the bug is not in the lifecycle machine, so no session before "
                                   "the splice")
        where = addresses(scenario.family)
        machine = unspliced_machine(scenario, where)
        machine = self._machine(machine.client, strip_style=machine.strip_style)
        machine.relay_fn = self.mutant.relay_fn
        yield ZooLifecycleSession(machine, where)

    @contextmanager
    def open_accepted(self, scenario: Scenario) -> Iterator[ReferenceSession]:
        """Only for the mutants with a lifecycle bug (``machine_cls``, ``accept_fn``), as ``open_unspliced``."""
        if self.mutant.machine_cls is None and self.mutant.accept_fn is None:
            raise UnsupportedError(f"{self.name}: the bug is not in the lifecycle, so no accept-direction splice")
        machine = accepted_machine(scenario, machine=self._machine)
        machine.relay_fn = self.mutant.relay_fn
        if self.mutant.accept_fn is None:
            yield ZooSession(machine)
            return
        assert machine.splice is not None
        correct = machine.splice
        machine.splice = self.mutant.accept_fn(scenario, correct)
        yield MutantSession(machine, correct)

    def close(self) -> None:
        pass

