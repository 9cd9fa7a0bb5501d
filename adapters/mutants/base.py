"""The mutant zoo's registry and the ways mutants are made (see the package docstring)."""

from __future__ import annotations

import inspect
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from ...conformance.contract import Observation, Scenario
from ...conformance.handshake import ProxyHandshake
from ...reference import relay as relay_module
from ...reference.checksum import ones_sum, pseudo_header, rfc1624_update
from ...reference.codec import ipv4_header_bytes, tcp_header_bytes
from ...reference.icmp import PacketTooBig, encode_icmp
from ...reference.lifecycle import SpliceMachine
from ...reference.relay import RelayResult, SpliceState
from ...reference.segment import IPv4Header, Segment, TcpOption, Timestamps, UnknownOption, WindowScale
from ..reference import RelayFn

SpliceFn = Callable[[Scenario, SpliceState], SpliceState]
HandshakeFn = Callable[[ProxyHandshake], ProxyHandshake]


@dataclass(frozen=True, slots=True)
class Mutant:
    """One bug: its relay function, for lifecycle bugs the constants its splice really uses, and for
    handshake bugs the proxy's handshake packets it really sends (from the model's)."""

    name: str
    relay_fn: RelayFn
    violates: tuple[str, ...]  # the requirements the bug breaks (documentation; kills are the suite's)
    splice_fn: SpliceFn | None = None
    #: a lifecycle bug in the machine itself (a SpliceMachine subclass), used by every way of opening
    machine_cls: type[SpliceMachine] | None = None
    #: a bug in the constants of a splice made in the accept direction (``open_accepted`` only)
    accept_fn: SpliceFn | None = None
    #: a bug in the proxy's own handshake packets (its SYN-ACK, SYN and ACK)
    handshake_fn: HandshakeFn | None = None

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.handshake_fn or self.splice_fn or self.accept_fn or self.machine_cls
                              or self.relay_fn) or ""

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n")[0].replace("\n", " ")


MUTANTS: dict[str, Mutant] = {}


def _mutant(name: str, *violates: str) -> Callable[[RelayFn], RelayFn]:
    def register(fn: RelayFn) -> RelayFn:
        MUTANTS[name] = Mutant(name, fn, violates)
        return fn

    return register


# --------------------------------------------------------------------------------------------------
# How mutants are made
# --------------------------------------------------------------------------------------------------

_SWAP_LOCK = threading.RLock()


@contextmanager
def _swapped(**functions: object) -> Iterator[None]:
    """Replace names in :mod:`splicecheck.reference.relay` while the block runs (module docstring)."""
    with _SWAP_LOCK:
        saved = {name: getattr(relay_module, name) for name in functions}
        for name, fn in functions.items():
            setattr(relay_module, name, fn)
        try:
            yield
        finally:
            for name, fn in saved.items():
                setattr(relay_module, name, fn)


def _eqn3(hc: int | None, old: bytes, new: bytes) -> int | None:
    """RFC 1624 eqn. 3 (``checksum.rfc1624_update``) over whole byte strings that changed from ``old`` to
    ``new``. Both must start at an even offset of the checksummed data; their lengths may differ (words
    removed or added)."""
    if hc is None or old == new:
        return hc
    result: int = rfc1624_update(hc + ones_sum(old), ones_sum(new))
    return result


def _reseal(old: Segment, new: Segment) -> Segment:
    """``new`` with ``old``'s checksums carried over the changed header bytes (same payload): what an
    implementation that rewrites the field in place and updates the checksum incrementally emits."""
    old_len = old.tcp.header_length + len(old.payload)
    new_len = new.tcp.header_length + len(new.payload)
    tcp_csum = _eqn3(old.tcp.checksum, pseudo_header(old.ip.src, old.ip.dst, old_len) + tcp_header_bytes(old.tcp),
                     pseudo_header(new.ip.src, new.ip.dst, new_len) + tcp_header_bytes(new.tcp))
    ip = new.ip
    if isinstance(old.ip, IPv4Header) and isinstance(ip, IPv4Header):
        ip = replace(ip, checksum=_eqn3(old.ip.checksum, ipv4_header_bytes(old.ip, old_len),
                                        ipv4_header_bytes(ip, new_len)))
    return Segment(ip, replace(new.tcp, checksum=tcp_csum), new.payload)


def _patched(result: RelayResult, change: Callable[[Segment], Segment], reseal: bool = True) -> RelayResult:
    """The model's result with ``change`` applied to every relayed segment."""
    emitted = tuple(((_reseal(e, change(e)) if reseal else change(e)) if isinstance(e, Segment) else e)
                    for e in result.emitted)
    return replace(result, emitted=emitted)


def _with_options(seg: Segment, options: tuple[TcpOption, ...]) -> Segment:
    """``seg`` with other option values of the same wire bytes (its checksum stays right)."""
    return replace(seg, tcp=replace(seg.tcp, options=options))


def _opaque(opt: Timestamps | WindowScale) -> UnknownOption:
    """The same bytes as an option the relay does not know, so passes through untouched (OPT-PASS)."""
    if isinstance(opt, Timestamps):
        return UnknownOption(8, struct.pack("!II", opt.tsval, opt.tsecr))
    return UnknownOption(3, bytes((opt.shift,)))




@dataclass(frozen=True, slots=True)
class CraftedIcmp(PacketTooBig):
    """An ICMP error whose wire form the mutant builds itself (``wire``), for the bugs that live in the
    encoding (a checksum): the zoo's sessions put ``wire()`` where the model's encoding would be."""

    def wire(self) -> bytes:
        return encode_icmp(self)


def crafted(results: Iterable[RelayResult], obs: Observation) -> Observation:
    """``obs`` (the model's encoding of ``results``) with every :class:`CraftedIcmp` as the mutant builds it."""
    fixes = {encode_icmp(e): e.wire() for r in results for e in r.emitted if isinstance(e, CraftedIcmp)}
    if not fixes:
        return obs
    return replace(obs, to_client=tuple(fixes.get(x, x) for x in obs.to_client),
                   to_server=tuple(fixes.get(x, x) for x in obs.to_server))
