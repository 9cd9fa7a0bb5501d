"""The adapter contract: how splicecheck drives an implementation under test (IUT).

Theory of operation
-------------------
A *case* asks for a splice described by a :class:`Scenario` — the two end hosts' handshakes (ISNs,
options), the proxy's choices where the IUT lets us make them, the OK-message length and the bytes
exchanged before the splice. An :class:`Adapter` opens a :class:`Session` for it: the IUT sets the
splice up, by being told the numbers or by running real handshakes and *learning* the constants it
picked (SYNPROXY's cookie ISN, say). ``Session.state`` is the reference model's
:class:`~splicecheck.reference.relay.SpliceState` for that splice, so the model's expectation for
any segment is ``relay(session.state, segment, now)``.

The case then injects segments, built from ``session.state`` (never from the requested numbers: an
IUT may have chosen its own), with ``Session.inject``. The adapter returns an :class:`Observation`:
the raw packets the IUT emitted towards the client (on leg C) and towards the server (on leg D)
within its timeout. Raw bytes, not decoded segments: a malformed output is the IUT's fault and the
diff engine names it.

Before the splice (Feature.LIFECYCLE)
------------------------------------
``open`` always yields a made splice, so the lifecycle itself (paper §3, figures 3, 4, 6, 7) cannot be
watched through it. An adapter with Feature.LIFECYCLE also has ``open_unspliced(scenario)`` (see
:class:`LifecycleAdapter`; the helper :func:`open_unspliced` turns its absence into UNSUPPORTED): a
context manager yielding a session right after the *client's* handshake — stage UNSPLICED, C
connected, D not. Only the scenario's handshake fields count there (end hosts, family, the proxy's
ISNs and TSvals, strip style); ``ok_len`` and the pre-splice byte counts are ignored, because the
case drives the whole figure-3 sequence itself with ``Session.event``: SERVER_CONNECTED (connect D;
its :class:`~splicecheck.reference.lifecycle.Socket` is the one the model's handshake gives, which a
live IUT may ignore as long as it connects D per the scenario), INTEND_SPLICE, the application's reads
and writes (APP_*), PRESPLICE(n) and the OK message (APP_SEND_CLIENT in PRESPLICED), and segments
with ``Session.inject`` (a server segment is one from the scenario's server address and port). The
model's expectation is a second :class:`~splicecheck.reference.lifecycle.SpliceMachine` driven with
the same events, from the sockets the reference's handshakes give (``model.handshake_sockets``): the
lifecycle cases choose the proxy's ISNs and TSvals (CHOOSE_PROXY_ISN, CHOOSE_PROXY_TS), since before
the splice there are no constants to learn them from. Per step:

* **Refusal.** An event or segment the IUT does not take in its current stage makes ``event`` /
  ``inject`` raise :class:`RefusedError` (a :class:`~splicecheck.reference.errors.SpliceStateError`,
  carrying the stage, the event and the reason). The cases accept any ``SpliceStateError`` as a
  refusal and compare it with the lifecycle table's answer (LIFE-TOTAL); any other exception is the
  harness's (ERROR).
* **What is emitted.** The observation of a step is, as always, every packet the IUT sent within its
  timeout. The splice itself emits nothing before it is made: data the model absorbs (read by the
  proxy application) or holds (server data after INTEND_SPLICE, client data after PRESPLICE) is
  neither relayed nor acknowledged beyond its base (LIFE-DONTACK). The held segments are relayed, in
  arrival order, on the step that makes the splice — the APP_SEND_CLIENT that writes the OK message's
  last byte, or PRESPLICE itself when n is 0 (LIFE-RELEASE). Packets of the proxy's own TCP before
  the splice — the bytes its application wrote, and acknowledgments of bytes it may still read — are
  not the splice's, and the cases allow them: a TCP segment from the proxy to an end host, without
  SYN, FIN or RST, carrying only bytes the application wrote on that socket and acknowledging nothing
  held (on D nothing past D's ``splice_irs`` once DONT_ACK is set; on C nothing past C's
  ``splice_irs`` once PRESPLICE is done).
* **``Session.state`` before the splice** raises :class:`NotSplicedError` (a :class:`HarnessError`:
  asking is the case's mistake). Once the splice is made it is the splice the IUT made, and its base
  points are compared with the model's (LIFE-BASE-S2C, LIFE-BASE-C2S); later segments are built from
  the model's constants, so wrong bases also show on the wire.
* **Learnt numbers** (optional ``learnt_sockets``, added with issue 15). A live IUT whose kernel picks
  the proxy's ISNs and TSvals cannot honour the scenario's (CHOOSE_PROXY_ISN, CHOOSE_PROXY_TS). Its
  session may instead expose ``learnt_sockets``: a pair (C's, D's)
  :class:`~splicecheck.reference.lifecycle.Socket`, as the proxy's handshakes on the wire showed them
  (D's ``None`` until SERVER_CONNECTED). The lifecycle cases then drive the model from those sockets
  (the client's from the start, the server's once the IUT connected D) instead of the scenario's
  proxy numbers, which such an ``open_unspliced`` ignores; the end hosts' numbers stay the scenario's.
  Only the proxy's own ISNs, TSvals and options are taken from the wire: every base point is still
  computed by the model from the events and compared with the IUT's (:func:`session_sockets`).
* **``Session.stage``** (optional): a session that can report its
  :class:`~splicecheck.reference.lifecycle.Stage` (or the stage's value) exposes it as ``stage``; it is
  compared with the model's after every step (:func:`session_stage`). Completion on the ACK of the
  whole OK message (LIFE-COMPLETE) changes nothing on the wire, so the cases about the completion
  point are UNSUPPORTED for sessions without it.

After the splice (Feature.LIFECYCLE, added with issue 17)
--------------------------------------------------------
Two more event types reach ``Session.event`` on a session that has made its splice (from
``open_unspliced`` or ``open``): ``APP_CLOSE``, figure 3's ``close(s); close(c)`` — the IUT must send
nothing for it and keep relaying (LIFE-CLOSE-SILENT) — and ``TIMER``, the proxy's timers running out:
its retransmission timer and, once both FINs are acknowledged, the splice's linger (its TIME-WAIT). A
live adapter lets them expire (waits for them, shortens them in its lab — Linux conntrack's
``nf_conntrack_tcp_timeout_time_wait``, say — or advances the clock of a simulated IUT) and returns
every packet sent meanwhile. Until the client has acknowledged the whole OK message
the IUT retransmits its unacknowledged bytes on C (LIFE-OK-RETRANSMIT); after both FINs are
acknowledged the splice may end on the timer (LIFE-TEARDOWN). An adapter that cannot apply either
raises :class:`UnsupportedError` from ``event`` for it (the case is UNSUPPORTED); adapters without
Feature.LIFECYCLE never see them. Both are refused (RefusedError) where the lifecycle table refuses them.

The accept direction (Feature.ACCEPT)
-------------------------------------
An adapter that can splice a connection the *server* opened to the proxy (FTP active mode, SOCKS BIND;
paper §3) also has ``open_accepted(scenario)``, a context manager like ``open`` yielding a made splice;
the helper :func:`open_accepted` turns its absence into UNSUPPORTED. The scenario is read as
:func:`~splicecheck.conformance.model.accepted_machine` says: INTEND_SPLICE on the listening socket
before the server connects, the client's ``client_presplice`` bytes read by the application and not
forwarded, ``server_presplice`` bytes sent by the server before the application accepted D (held).

An adapter declares, in ``unsupported``, the :class:`Feature`\\ s it cannot do (the exit code 127 of
quic-interop-runner); cases needing one are UNSUPPORTED, not FAIL. Optionally, ``partial``: features it
can do for some scenarios only (it raises :class:`UnsupportedError` from ``open`` for the others);
random strategies do not draw those (:func:`drawable_avoid`). Errors that are the harness's and
not the IUT's (the lab could not be built, a namespace vanished) are raised as :class:`HarnessError`
and graded ERROR.

Adapters are found by name in :data:`ADAPTERS` (``reference``, ``mutant:NAME``, ``synproxy``, …) or
given as ``package.module:Class``; a ``NAME:ARG`` form passes ``ARG`` to the adapter factory.
"""

from __future__ import annotations

import importlib
import os
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from types import ModuleType
from typing import Protocol, runtime_checkable

from ..reference.arith import MASK32
from ..reference.errors import SpliceCheckError, SpliceStateError
from ..reference.lifecycle import Event, Socket, Stage
from ..reference.relay import SpliceState, StripStyle
from ..reference.segment import Segment


class Feature(StrEnum):
    """Things a case may need that not every IUT can do."""

    IPV6 = "ipv6"  # splices between IPv6 hosts
    OK_MESSAGE = "ok-message"  # a non-empty OK message (SYNPROXY's is always empty)
    PRESPLICE_DATA = "presplice-data"  # bytes exchanged through the proxy application before the splice
    CHOOSE_PROXY_ISN = "choose-proxy-isn"  # the proxy's ISNs are set by the scenario, not by the IUT
    CHOOSE_PROXY_TS = "choose-proxy-ts"  # likewise the proxy's timestamps
    IP_OPTIONS = "ip-options"  # IPv4 options can be injected and reach the splice
    BAD_CHECKSUM = "bad-checksum"  # segments with a wrong checksum reach the splice
    MALFORMED = "malformed"  # malformed TCP option areas reach the splice
    WINDOW_SCALING = "window-scaling"  # the legs can negotiate different window scales
    MSS_ICMP = "mss-icmp"  # the out peer can announce a small MSS and a larger segment can reach the splice (§3.4.4)
    FOREIGN_SEGMENT = "foreign-segment"  # segments not on either leg can be injected
    TTL = "ttl"  # TTL/hop limit handling is observable
    STRIP_REMOVE = "strip-remove"  # options are stripped by removal rather than NOP overwrite
    LIFECYCLE = "lifecycle"  # the socket-level lifecycle events (INTEND_SPLICE, PRESPLICE, ...)
    BELOW_BASE = "below-base"  # segments below splice_irs reach the splice (no stateful filter first)
    ACCEPT = "accept"  # splices in the accept direction (``open_accepted``: FTP active mode, SOCKS BIND)


@dataclass(frozen=True, slots=True)
class PeerPlan:
    """One end host's SYN (or SYN-ACK): its ISN and the options it offers (None/False: absent)."""

    isn: int
    mss: int | None = 1460
    wscale: int | None = None
    sack_permitted: bool = False
    tsval: int | None = None  # None: no timestamps; else the TSval of its SYN / SYN-ACK
    df: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.isn <= MASK32 or (self.tsval is not None and not 0 <= self.tsval <= MASK32):
            raise ValueError("ISNs and timestamps are 32-bit values")
        if self.wscale is not None and not 0 <= self.wscale <= 14:
            raise ValueError(f"window scale must be 0..14 (RFC 7323 §2.3): {self.wscale}")
        if self.mss is not None and not 1 <= self.mss <= 0xFFFF:
            raise ValueError(f"MSS must be 1..65535: {self.mss}")


@dataclass(frozen=True, slots=True)
class Scenario:
    """The splice a case asks for (paper §3, figure 3), from the outside.

    ``proxy_isn_c``/``proxy_isn_d``: the proxy's ISN on leg C (towards the client) and leg D; ``None``
    lets the IUT choose (adapters without CHOOSE_PROXY_ISN ignore the values). Likewise the proxy's
    TSvals. ``ok_len``: the OK message's length (PRESPLICE's n); ``client_presplice`` /
    ``server_presplice``: bytes each end host sent through the proxy application before the splice.
    """

    client: PeerPlan = field(default_factory=lambda: PeerPlan(isn=1_000_000))
    server: PeerPlan = field(default_factory=lambda: PeerPlan(isn=9_000_000))
    family: int = 4
    proxy_isn_c: int | None = None
    proxy_isn_d: int | None = None
    proxy_tsval_c: int | None = None
    proxy_tsval_d: int | None = None
    ok_len: int = 0
    client_presplice: int = 0
    server_presplice: int = 0
    strip_style: StripStyle = StripStyle.NOP

    def __post_init__(self) -> None:
        if self.family not in (4, 6):
            raise ValueError(f"family must be 4 or 6: {self.family}")
        for v in (self.proxy_isn_c, self.proxy_isn_d, self.proxy_tsval_c, self.proxy_tsval_d):
            if v is not None and not 0 <= v <= MASK32:
                raise ValueError("ISNs and timestamps are 32-bit values")
        if min(self.ok_len, self.client_presplice, self.server_presplice) < 0:
            raise ValueError("byte counts are non-negative")

    def needs(self) -> frozenset[Feature]:
        """The features an IUT must have to set this scenario up at all."""
        need = set()
        if self.family == 6:
            need.add(Feature.IPV6)
        if self.ok_len:
            need.add(Feature.OK_MESSAGE)
        if self.client_presplice or self.server_presplice:
            need.add(Feature.PRESPLICE_DATA)
        if self.proxy_isn_c is not None or self.proxy_isn_d is not None:
            need.add(Feature.CHOOSE_PROXY_ISN)
        if self.proxy_tsval_c is not None or self.proxy_tsval_d is not None:
            need.add(Feature.CHOOSE_PROXY_TS)
        if self.strip_style is StripStyle.REMOVE:
            need.add(Feature.STRIP_REMOVE)
        if self.client.wscale is not None or self.server.wscale is not None:
            need.add(Feature.WINDOW_SCALING)
        return frozenset(need)


@dataclass(frozen=True, slots=True)
class Observation:
    """What the IUT emitted in answer to one injection: raw IP packets per leg, in order."""

    to_client: tuple[bytes, ...] = ()
    to_server: tuple[bytes, ...] = ()
    elapsed: float = 0.0  # seconds the adapter waited

    @property
    def empty(self) -> bool:
        return not self.to_client and not self.to_server


@dataclass(frozen=True, slots=True)
class IutInfo:
    """Who was tested: printed in every report."""

    name: str
    version: str
    description: str = ""
    details: dict[str, str] = field(default_factory=dict)


class HarnessError(SpliceCheckError):
    """The harness failed (not the IUT): the case is graded ERROR."""


class UnsupportedError(SpliceCheckError):
    """The adapter found at run time that it cannot do what the case needs: UNSUPPORTED."""


class SpliceRefused(SpliceCheckError):
    """Raised by ``Adapter.open`` when the IUT declines to splice the scenario's legs and would relay
    through the application instead — the paper's first answer to incompatible options (§3.4). Not
    UNSUPPORTED (the harness could make the case) and not a failure when the legs disagree on an option
    (:func:`legs_disagree`): the runner grades it as the legitimate alternative ``"refuse"`` (PASS, with
    SPLICE-REFUSE among the case's requirements); refusing legs that agree is graded against the case's
    own primary requirement."""


def legs_disagree(scenario: Scenario) -> bool:
    """Whether the two end hosts' SYNs disagree on an option the splice cannot carry unchanged
    (timestamps, SACK-permitted, window scaling): where refusing to splice is legitimate (§3.4)."""
    c, s = scenario.client, scenario.server
    return ((c.tsval is None) != (s.tsval is None) or c.sack_permitted != s.sack_permitted
            or (c.wscale is None) != (s.wscale is None))


REFUSE_REQ = "SPLICE-REFUSE"


def refusal_req(scenario: Scenario, primary: str) -> str:
    """The requirement a refusal to splice ``scenario`` is graded against (:class:`SpliceRefused`)."""
    return REFUSE_REQ if legs_disagree(scenario) else primary


class NotSplicedError(HarnessError):
    """``Session.state`` was asked before the splice was made (a session from ``open_unspliced``)."""


class RefusedError(SpliceStateError):
    """The IUT refused a lifecycle event or a segment in its current stage (module docstring):
    LIFE-TOTAL's defined error. ``state``: the stage's value, ``event``: the event type's value,
    ``detail``: the IUT's reason."""

    @property
    def reason(self) -> str:
        return self.detail


@runtime_checkable
class Session(Protocol):
    """One splice set up in the IUT (or, from ``open_unspliced``, one being set up).

    Optionally also ``stage``: the IUT's lifecycle stage (a Stage or its value), module docstring; and
    ``proxy_handshake``: a :class:`splicecheck.conformance.handshake.ProxyHandshake`, the packets of the two
    handshakes the proxy took part in, which the HS-* cases grade (without it they are UNSUPPORTED)."""

    @property
    def state(self) -> SpliceState:
        """The splice constants in effect (requested or learnt), in the reference model's terms; before
        the splice is made, :class:`NotSplicedError`."""
        ...

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        """Send ``segment`` to the proxy from whichever end host its addresses name (or from the client
        if they name neither); ``raw``, if given, is sent instead of ``encode(segment)`` (malformed
        input). Returns what the IUT emitted within the adapter's timeout.

        ``expect``: how many packets the model emits (to the client, to the server). A live adapter may
        use it to stop waiting early, but must still wait a grace period for packets beyond it: an
        extra packet is a finding, never something to miss."""
        ...

    def event(self, event: Event) -> Observation:
        """Apply a socket-level lifecycle event (adapters with Feature.LIFECYCLE only) and return what the
        IUT emitted (the held segments on the event that makes the splice); :class:`RefusedError` if the
        IUT refuses it."""
        ...


@runtime_checkable
class Adapter(Protocol):
    """An implementation under test. ``open`` is a context manager: the splice is torn down on exit."""

    name: str
    unsupported: frozenset[Feature]

    def info(self) -> IutInfo:
        ...

    def open(self, scenario: Scenario) -> AbstractContextManager[Session]:
        ...

    def close(self) -> None:
        """Release everything the adapter holds (a lab, say). Called once, at the end of a run."""
        ...


@runtime_checkable
class LifecycleAdapter(Adapter, Protocol):
    """An adapter with Feature.LIFECYCLE: it can also open a session before the splice."""

    def open_unspliced(self, scenario: Scenario) -> AbstractContextManager[Session]:
        """A session right after the client's handshake: stage UNSPLICED, D not connected (module
        docstring). Torn down on exit."""
        ...


def drawable_avoid(adapter: Adapter) -> frozenset[Feature]:
    """The features random strategies must not draw for ``adapter``: those it declares unsupported, and
    those it supports only for some scenarios (its optional ``partial``; SYNPROXY places a proxy ISN only
    where one client ISN can satisfy the scenario). Named cases needing a partial feature still run, and
    the adapter answers UNSUPPORTED at ``open`` for the scenarios it cannot make."""
    partial: frozenset[Feature] = getattr(adapter, "partial", frozenset())
    return adapter.unsupported | partial


def open_unspliced(adapter: Adapter, scenario: Scenario) -> AbstractContextManager[Session]:
    """``adapter.open_unspliced(scenario)``; :class:`UnsupportedError` if the adapter has none."""
    opener = getattr(adapter, "open_unspliced", None)
    if not callable(opener):
        raise UnsupportedError(f"adapter {adapter.name} cannot open a session before the splice (no open_unspliced)")
    cm: AbstractContextManager[Session] = opener(scenario)
    return cm


def open_accepted(adapter: Adapter, scenario: Scenario) -> AbstractContextManager[Session]:
    """``adapter.open_accepted(scenario)`` (module docstring, "The accept direction");
    :class:`UnsupportedError` naming the missing capability if the adapter has none."""
    opener = getattr(adapter, "open_accepted", None)
    if not callable(opener):
        raise UnsupportedError(f"adapter {adapter.name} cannot splice in the accept direction (a connection the "
                               "server opens to the proxy: FTP active mode, SOCKS BIND): it has no open_accepted")
    cm: AbstractContextManager[Session] = opener(scenario)
    return cm


def open_handshaken(adapter: Adapter, scenario: Scenario) -> AbstractContextManager[Session]:
    """A made splice whose session reports the proxy's handshake packets (``proxy_handshake``): the adapter's
    optional ``open_handshaken(scenario)`` if it has one (an adapter whose ``open`` may make a splice without
    handshakes of the proxy's own, by writing it directly, makes this one through them), else ``open``."""
    opener = getattr(adapter, "open_handshaken", None)
    cm: AbstractContextManager[Session] = opener(scenario) if callable(opener) else adapter.open(scenario)
    return cm


def session_sockets(session: object) -> tuple[Socket | None, Socket | None] | None:
    """The proxy's sockets a session learnt from the wire (its optional ``learnt_sockets``), or None
    (module docstring, "Learnt numbers")."""
    value = getattr(session, "learnt_sockets", None)
    if value is None:
        return None
    c, d = value
    return c, d


def session_stage(session: Session) -> Stage | None:
    """The stage a session reports (its optional ``stage``), or None if it reports none."""
    value = getattr(session, "stage", None)
    if value is None or isinstance(value, Stage):
        return value
    try:
        return Stage(getattr(value, "value", value))
    except ValueError as exc:
        raise HarnessError(f"the session reports an unknown stage {value!r}") from exc


#: Built-in adapters: name → "module:factory", imported only when asked for (the live ones need root).
ADAPTERS: dict[str, str] = {
    "reference": "splicecheck.adapters.reference:ReferenceAdapter",
    "mutant": "splicecheck.adapters.mutants:MutantAdapter",
    "synproxy": "splicecheck.adapters.synproxy:SynproxyAdapter",
    "seqadj-ftp": "splicecheck.adapters.seqadj_ftp:SeqadjFtpAdapter",
    "ebpf-splice": "splicecheck.adapters.ebpf_splice:EbpfSpliceAdapter",
}


class AdapterNotFound(SpliceCheckError):
    """Usage error: no adapter of that name (exit code 2)."""


def _import(module_name: str) -> ModuleType:
    """``module_name`` imported from ``sys.path``, or failing that with the current directory appended."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        top = module_name.partition(".")[0]
        if exc.name != top or cwd in sys.path or "" in sys.path:
            raise
        sys.path.append(cwd)
        return importlib.import_module(module_name)


def load_adapter(spec: str) -> Adapter:
    """``reference``, ``mutant:NAME``, ``synproxy``, or ``module:Class[:ARG]`` → an adapter.

    ``module`` is any importable module, dotted (``package.module``) or plain: one on ``sys.path`` or a
    file ``module.py`` in the current directory (the console script's ``sys.path`` does not hold the
    current directory, so it is appended, after everything installed, when the module is not found
    otherwise). A factory is called with the text after the name's first colon (``""`` if none)."""
    name, _, arg = spec.partition(":")
    if name in ADAPTERS:
        target = ADAPTERS[name]
    elif name and arg:
        cls, _, arg = arg.partition(":")
        target = f"{name}:{cls}"
    else:
        known = ", ".join(sorted(ADAPTERS))
        raise AdapterNotFound(f"unknown adapter {spec!r}: use one of {known}, mutant:NAME or module:Class")
    module_name, _, attr = target.partition(":")
    try:
        module = _import(module_name)
    except ImportError as exc:
        raise AdapterNotFound(f"adapter {spec!r}: cannot import {module_name}: {exc}") from exc
    factory = getattr(module, attr, None)
    if factory is None:
        raise AdapterNotFound(f"adapter {spec!r}: {module_name} has no {attr}")
    adapter = factory(arg)
    if not isinstance(adapter, Adapter):
        raise AdapterNotFound(f"adapter {spec!r}: {target} does not satisfy the Adapter contract")
    return adapter
