"""The ``synproxy`` adapter: Linux's nft SYNPROXY in the lab, driven as a splice with an empty OK message.

Theory of operation
-------------------
The IUT is the proxy namespace of one :class:`~splicecheck.adapters.lab.topology.Lab` (built at the first
``open``, torn down by ``close`` and on every exit path the lab covers) holding the
SYNPROXY ruleset of docs/LAB.md (:class:`~splicecheck.adapters.lab.rulesets.SynproxyConfig`, parameterised by the
adapter's argument) with ``nf_conntrack_tcp_loose=0``. Each session is one fresh connection (the
next client port, after emptying the proxy's conntrack table so that no earlier session's connection
can take a segment meant to be foreign to this one) whose handshakes the raw endpoints play with the
scenario's :class:`PeerPlan` s::

    client SYN (ISN, MSS, WS, SACK-perm, TS)         ──▶ proxy answers itself: SYN-ACK, cookie ISN C, TSval its
    client ACK (ack C+1, TSecr its)                  ──▶ proxy → server: SYN with the client's ISN and options
    server SYN-ACK (ISN S, its own options, TSval T) ──▶ proxy → server: ACK; proxy → client: window update

Those packets are the proxy's own, not relayed; ``open`` consumes all of them (the window update
too), so the first injection sees only what it caused. From then on conntrack's seqadj and
``synproxy_tstamp_adjust`` rewrite every segment; the splice constants are read off the wire:

* leg C: peer = client, local = the *server's* address and port (SYNPROXY is transparent);
  ``splice_irs = client ISN + 1``, ``splice_iss = C + 1``; ``lastrecv_ts`` = the TSval of the
  client's ACK, ``lastsent_ts`` = the TSval of the proxy's last segment to the client (the window
  update, else the SYN-ACK); SACK and window scale as the client's SYN and the proxy's SYN-ACK
  negotiated them (RFC 7323 §2.2: in effect only if both carried the option); MSS the client's.
* leg D: peer = server, local = the client's address and port; ``splice_irs = S + 1``,
  ``splice_iss`` = the proxy SYN's ISN + 1 (the client's ISN + 1: client→server seqs pass
  unchanged); ``lastrecv_ts = T``, ``lastsent_ts`` = the TSval of the proxy's ACK to the server
  (the client's TSval: client TSvals pass unchanged); options as the proxy's SYN and the server's
  SYN-ACK negotiated them; MSS the server's.

The model's mappings then coincide with the kernel's: server→client ``seq + (C − S)``, client→server
``ack − (C − S)`` and SACK edges likewise, server TSval ``+ (its − T)``, client TSecr ``− (its − T)``.

Placing the proxy's ISNs
------------------------
SYNPROXY chooses neither ISN freely: leg D's is the client's ISN, leg C's a SYN cookie, the client's ISN
plus an offset fixed per 4-tuple, minute and MSS index. A scenario that places the proxy's ISNs is made
when one free number — the client ISN — can satisfy it (:func:`isn_plan`): ``proxy_isn_d`` alone is the
client ISN; ``proxy_isn_c`` alone is reached by a probe SYN (same tuple, same options) that learns the
offset, then the client ISN ``wanted − offset``; the session checks that the cookie landed there and
probes again if a minute boundary moved it. Scenarios that pin two of them are UNSUPPORTED.

Capturing without sleeps
------------------------
Every injection goes through :meth:`Lab.exchange_fenced <splicecheck.adapters.lab.topology.Lab.exchange_fenced>`:
the segment, then an ICMP echo to the proxy on the same leg from the same CPU; the proxy handles a
CPU's backlog in order, so once the echo reply is captured every packet the proxy emitted in answer
to the segment has been captured too. A short grace period follows (longer when fewer packets came
than the model's ``expect``). No scapy on this path: packets are built with the project's codec.

Findings the verdicts show (Linux 6.18; not declared unsupported)
-----------------------------------------------------------------
* The client is told the ruleset's ``wscale`` whatever the server negotiates (WS-ZERO in the
  handshake, see :attr:`SynproxySession.handshake`), and data-phase windows are relayed unchanged:
  with different shifts on the legs WS-EXACT (SHOULD) and WS-SAFE (MUST) differ.
* The proxy's own ACK to the server echoes ``TSecr = T + (T − its)`` instead of ``T`` (adjusted twice:
  ``synproxy_tstamp_adjust`` runs on the ACK SYNPROXY built), graded by HS-SERVER-ACK-TSECR through
  :attr:`SynproxySession.proxy_handshake`. A Linux server drops that ACK (TcpExtTSEcrRejected) and is
  established only by the client's next segment, or by its SYN-ACK retransmitted after 1 s, relayed to the
  client and acknowledged by it.
* A client SYN without DF is offered the ruleset's mss, not 536 (MSS-536); a client without timestamps
  loses its SACK-permitted and window scale on the way to the server (they travel in the timestamp cookie).
* Conntrack runs first: out-of-window segments, acks (and SACK edges) of data never sent, segments
  with a bad checksum (``nf_conntrack_checksum=1``) and anything after a RST are INVALID and dropped
  by the ruleset's ``ct state invalid drop``. Client→server, an INVALID segment reaches the
  ``synproxy`` statement instead, which takes any ACK for a cookie ACK: when its seq/ack are close
  enough to the cookie pair (the MSS index lives in the cookie's low bits, so the ack may be off by a
  few), SYNPROXY opens the server connection a second time (a SYN on leg D), and a segment with SYN
  set is answered with a new SYN-ACK.
* A server RST is relayed at ``C.splice_iss`` whatever its sequence number: the 2019 fix for RSTs
  before the handshake completed re-initialises seqadj from the RST, so a RST after server data
  reaches the client below its rcv_nxt (SEQ-MAP).
* Nothing is trimmed below ``splice_irs``; options are never stripped; IPv4 options are forwarded.
* TTL/hop limit is decremented as by any router, and an expiring packet is answered with ICMP time
  exceeded (the model sends nothing).
* IPv6: the ``synproxy`` statement checks checksums with the IPv4 helper and drops IPv6 segments
  whose checksum the stack has not verified (synproxy_probe); the handshake is therefore injected as
  CHECKSUM_PARTIAL, data-phase segments as they are (a wire's CHECKSUM_NONE), so a bad checksum stays bad.
* The peer's MSS is not enforced: a DF segment larger than the MSS the other end announced is relayed
  whole, with no ICMP fragmentation-needed (MSS-ICMP), although the client was told the ruleset's mss.

Lab settings that are not the IUT: ICMP rate limits off and no ICMP redirects in the proxy namespace
(every run sees the same ICMP errors; a redirect is about the lab's topology), links with MTU 65535
(no case's segment is too large to inject: a departure from MSS-ICMP shows as a relayed segment, never
as a lab limit), and the conntrack table emptied before each session.
"""

from __future__ import annotations

import itertools
import platform
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import ClassVar

from .. import __version__
from ..conformance.contract import (
    AdapterNotFound,
    Feature,
    HarnessError,
    IutInfo,
    Observation,
    Scenario,
    UnsupportedError,
)
from ..conformance.handshake import ProxyHandshake
from ..conformance.model import OptionLayout, offer_in, syn_options
from ..reference.codec import decode, encode
from ..reference.errors import MalformedSegment
from ..reference.handshake import SynOptions, negotiate
from ..reference.lifecycle import Event
from ..reference.relay import Endpoint, Leg, SpliceState
from ..reference.segment import (
    ACK,
    IP_DF,
    NOP,
    SYN,
    IPv4Header,
    IPv6Header,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    addr,
    flags_text,
)
from ..reference.seqspace import seq_add, seq_sub
from .lab.fence import LabFenceTimeout
from .lab.observe import observe
from .lab.preflight import preflight
from .lab.rulesets import SynproxyConfig, load_synproxy
from .lab.topology import PREFIX, Lab, Side

__all__ = [
    "FREE_CLIENT_ISN",
    "ISN_COOKIE",
    "ISN_TIED",
    "LAB_FEATURES",
    "UNSUPPORTED_REASONS",
    "IsnPlan",
    "SynproxyAdapter",
    "SynproxyHandshake",
    "SynproxyOptions",
    "SynproxySession",
    "isn_plan",
    "synproxy_state",
]

LAB_FEATURES = ("root", "ip", "nft", "netns", "veth", "packet", "synproxy")
FIRST_PORT, LAST_PORT = 1024, 65535  # client ports, one per session, in turn
LAB_MTU = 65535  # no segment a case can build is too large for the lab's links
HANDSHAKE_WINDOW = 65535  # the crafted ends' handshake windows: the widest conntrack window without scaling

#: What SYNPROXY cannot do, one line each (cases needing it are UNSUPPORTED with this reason). Each is a
#: precondition the harness cannot create with this IUT; what the kernel does on the wire is always graded
#: (MSS-ICMP, say, runs: the crafted server announces the small MSS, and SYNPROXY's relaying the oversized
#: segment whole is the departure the verdicts show).
UNSUPPORTED_REASONS: dict[Feature, str] = {
    # SYNPROXY completes the handshake and hands the connection over; it writes no bytes of its own.
    Feature.OK_MESSAGE: "SYNPROXY's OK message is empty: the proxy never writes data to the client",
    # No proxy application exists: nothing can be exchanged through it before the splice.
    Feature.PRESPLICE_DATA: "no proxy application: the splice is made at the server's SYN-ACK, before any data",
    # The proxy's TSval is its own clock with the option bits in the low 6 bits (the timestamp cookie).
    Feature.CHOOSE_PROXY_TS: "the proxy's TSval is the kernel's clock carrying the timestamp cookie, not chosen",
    # No sockets and no splice API: the kernel splices implicitly when the server answers.
    Feature.LIFECYCLE: "no socket-level lifecycle (INTEND_SPLICE, PRESPLICE): the kernel splices implicitly",
    # There is no stripping style to choose: SYNPROXY strips no option at all (findings show under NOP cases).
    Feature.STRIP_REMOVE: "SYNPROXY strips no option, so it has no stripping style to configure",
}

#: CHOOSE_PROXY_ISN is not declared: :func:`isn_plan` places the proxy's ISNs where SYNPROXY lets a harness
#: place them, and refuses (UNSUPPORTED, with one of these reasons) only the scenarios it cannot make.
ISN_TIED = ("SYNPROXY's SYN to the server carries the client's own ISN (D.splice_iss = C.splice_irs): a scenario "
            "that places both with a non-zero client-to-server offset cannot be made")
ISN_COOKIE = ("the cookie ISN is the client's ISN plus a per-tuple, per-minute hash: with the client's ISN placed "
              "by the scenario too, the cookie (C.splice_iss) cannot be placed as well")


# --------------------------------------------------------------------------------------------------
# Options: the adapter's argument
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SynproxyOptions:
    """The adapter's argument, ``synproxy:TOKEN,TOKEN,...``:

    * ``mss=N``, ``wscale=N``, ``timestamp``, ``sack-perm``: the nft ``synproxy`` statement. If any
      of them is given the statement has exactly those (``mss`` 1460 when not given); otherwise it is
      the docs/LAB.md set ``mss 1460 wscale 7 timestamp sack-perm``.
    * ``port=N``: the server port the ruleset guards (8080).
    * ``timeout=S``: longest wait for a fence's reply (1 s); ``grace=S``: capture time after it (100 µs);
      ``short-grace=S``: the same when fewer packets came than the model expects (2 ms).
    """

    config: SynproxyConfig = field(default_factory=SynproxyConfig)
    timeout: float = 1.0
    grace: float = 0.0001
    short_grace: float = 0.002

    @classmethod
    def parse(cls, arg: str) -> SynproxyOptions:
        mss: int | None = None
        wscale: int | None = None
        flags: set[str] = set()
        port = 8080
        timing = {"timeout": 1.0, "grace": 0.0001, "short-grace": 0.002}
        for token in filter(None, (t.strip() for t in arg.split(","))):
            key, eq, value = token.partition("=")
            try:
                if key == "mss" and eq:
                    mss = int(value)
                elif key == "wscale" and eq:
                    wscale = int(value)
                elif key in ("timestamp", "sack-perm") and not eq:
                    flags.add(key)
                elif key == "port" and eq:
                    port = int(value)
                elif key in timing and eq:
                    timing[key] = float(value)
                    if not 0 <= timing[key] <= 60:
                        raise ValueError(f"{key} must be 0..60 seconds")
                else:
                    raise ValueError("unknown option")
            except ValueError as exc:
                raise AdapterNotFound(f"adapter 'synproxy:{arg}': bad option {token!r} ({exc}); use mss=N, "
                                      "wscale=N, timestamp, sack-perm, port=N, timeout=S, grace=S, short-grace=S"
                                      ) from None
        try:
            if mss is not None or wscale is not None or flags:
                config = SynproxyConfig(port=port, mss=1460 if mss is None else mss, wscale=wscale,
                                        timestamp="timestamp" in flags, sack_perm="sack-perm" in flags)
            else:
                config = SynproxyConfig(port=port)
        except ValueError as exc:
            raise AdapterNotFound(f"adapter 'synproxy:{arg}': {exc}") from None
        if timing["timeout"] <= 0:
            raise AdapterNotFound(f"adapter 'synproxy:{arg}': timeout must be positive")
        return cls(config, timing["timeout"], timing["grace"], timing["short-grace"])

    def statement(self) -> str:
        c = self.config
        flags = [f"mss {c.mss}"] + ([f"wscale {c.wscale}"] if c.wscale is not None else [])
        return "synproxy " + " ".join(flags + ["timestamp"] * c.timestamp + ["sack-perm"] * c.sack_perm)


# --------------------------------------------------------------------------------------------------
# One connection's handshakes and the splice they make
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SynproxyHandshake:
    """What the crafted ends sent and the proxy emitted while one connection was set up. Every
    number :func:`synproxy_state` needs is read from these segments."""

    client_syn: Segment
    synack: Segment  # the proxy's SYN-ACK to the client (cookie ISN, its TSval)
    client_ack: Segment
    server_syn: Segment  # the proxy's SYN to the server
    server_synack: Segment
    server_ack: Segment  # the proxy's ACK completing the server-side handshake
    window_update: Segment | None  # the proxy's ACK to the client after the server's SYN-ACK
    extra: Observation = field(default_factory=Observation)  # anything else it emitted meanwhile (normally none)

    @property
    def cookie_isn(self) -> int:
        return self.synack.tcp.seq

    @property
    def observation(self) -> Observation:
        """The proxy's own handshake packets per leg, for handshake checks (WS-ZERO, WS-PROPAGATE,
        MSS-536, the echo in its ACK to the server)."""
        to_client = [self.synack] + ([self.window_update] if self.window_update is not None else [])
        return Observation(tuple(encode(s) for s in to_client) + self.extra.to_client,
                           (encode(self.server_syn), encode(self.server_ack), *self.extra.to_server))


def _ts(seg: Segment) -> Timestamps | None:
    ts = seg.tcp.option(Timestamps)
    return ts if isinstance(ts, Timestamps) else None


def _offer(seg: Segment) -> SynOptions:
    """What a SYN or SYN-ACK offers, as Linux reads it: an MSS of 0 counts as none (tcp_parse_options)."""
    o = offer_in(seg.tcp.options)
    return o if o.mss else replace(o, mss=None)


def synproxy_state(h: SynproxyHandshake) -> SpliceState:
    """The splice one SYNPROXY connection made, in the model's terms (see the module doc)."""
    csyn, synack, cack, ssyn, ssa = h.client_syn, h.synack, h.client_ack, h.server_syn, h.server_synack
    client = Endpoint(csyn.ip.src, csyn.tcp.sport)
    server = Endpoint(csyn.ip.dst, csyn.tcp.dport)
    last_to_client = h.window_update if h.window_update is not None and _ts(h.window_update) else synack

    def tsval(seg: Segment | None) -> int:
        ts = _ts(seg) if seg is not None else None
        return ts.tsval if ts is not None else 0

    c, d = negotiate(_offer(csyn), _offer(synack)), negotiate(_offer(ssa), _offer(ssyn))
    leg_c = Leg(client, server, splice_irs=seq_add(csyn.tcp.seq, 1), splice_iss=seq_add(synack.tcp.seq, 1),
                timestamps=c.timestamps, lastrecv_ts=tsval(cack), lastsent_ts=tsval(last_to_client), sack=c.sack,
                peer_wscale=c.peer_wscale, local_wscale=c.local_wscale, peer_mss=c.peer_mss)
    leg_d = Leg(server, client, splice_irs=seq_add(ssa.tcp.seq, 1), splice_iss=seq_add(ssyn.tcp.seq, 1),
                timestamps=d.timestamps, lastrecv_ts=tsval(ssa), lastsent_ts=tsval(h.server_ack), sack=d.sack,
                peer_wscale=d.peer_wscale, local_wscale=d.local_wscale, peer_mss=d.peer_mss)
    return SpliceState(leg_c, leg_d)


# --------------------------------------------------------------------------------------------------
# Placing the proxy's ISNs (Feature.CHOOSE_PROXY_ISN)
# --------------------------------------------------------------------------------------------------

#: The client ISN of a scenario that does not place the client's side (``Scenario()``'s and
#: ``cases_common.spliced_at``'s default): the one client ISN this adapter treats as free to move.
FREE_CLIENT_ISN = Scenario().client.isn
COOKIE_TRIES = 3  # probe-and-SYN rounds before giving up (a minute boundary between them moves the cookie)


@dataclass(frozen=True, slots=True)
class IsnPlan:
    """The client ISN a session's SYN carries, and the cookie ISN it must be answered with (None: any).

    With ``cookie`` set the client ISN is chosen after a probe (:meth:`SynproxySession._handshake`):
    ``client_isn`` is then only where the probe starts."""

    client_isn: int
    cookie: int | None = None


def isn_plan(scenario: Scenario) -> IsnPlan:
    """Where the scenario's proxy ISNs can be placed through SYNPROXY, or :class:`UnsupportedError`.

    SYNPROXY's SYN to the server carries the client's ISN, so ``proxy_isn_d`` is the client ISN; its SYN
    cookie is ``client ISN + h`` with ``h`` fixed per 4-tuple, minute and MSS index
    (``secure_tcp_syn_cookie``, net/ipv4/syncookies.c: a tuple hash, the minute counter in the top 8 bits,
    a second tuple-and-minute hash plus the MSS index in the low 24). One probe SYN with the case's own
    options learns ``h``; the client ISN ``wanted − h`` then makes the cookie ``wanted``. The client ISN
    is one free number, so the scenario may pin at most one of: the client ISN (when it is not
    :data:`FREE_CLIENT_ISN`), ``proxy_isn_d`` (which is the same number), ``proxy_isn_c``."""
    isn, pc, pd = scenario.client.isn, scenario.proxy_isn_c, scenario.proxy_isn_d
    free = isn == FREE_CLIENT_ISN
    if pd is not None:
        if pd != isn and not free:
            raise UnsupportedError(ISN_TIED)
        isn, free = pd, False
    if pc is None:
        return IsnPlan(isn)
    if not free:
        raise UnsupportedError(ISN_COOKIE)
    return IsnPlan(isn, pc)


# --------------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------------


class SynproxySession:
    """One connection through SYNPROXY, set up by its handshakes; then a splice to inject into."""

    def __init__(self, lab: Lab, options: SynproxyOptions, scenario: Scenario, client_port: int,
                 plan: IsnPlan | None = None) -> None:
        self.lab = lab
        self.options = options
        self.scenario = scenario
        self.client_port = client_port
        self.plan = plan if plan is not None else isn_plan(scenario)
        self.probes = 0  # probe SYNs sent to place the cookie
        self.handshake = self._handshake()
        self._state = synproxy_state(self.handshake)

    @property
    def state(self) -> SpliceState:
        return self._state

    @property
    def proxy_handshake(self) -> ProxyHandshake:
        """The handshakes as the contract's optional ``proxy_handshake``: graded by the HS-* cases
        (:mod:`splicecheck.conformance.cases_handshake`)."""
        h = self.handshake
        return ProxyHandshake(h.client_syn, h.synack, h.server_syn, h.server_synack, h.server_ack)

    # -- set-up ---------------------------------------------------------------------------------

    def _exchange(self, leg: Side, wire: bytes, expect: dict[Side, int], *, offload: bool,
                  grace: float) -> dict[Side, list[bytes]]:
        o = self.options
        try:
            got = self.lab.exchange_fenced(leg, wire, expect, timeout=o.timeout, grace=grace,
                                           short_grace=o.short_grace, offload=offload)
        except LabFenceTimeout as exc:
            raise HarnessError(str(exc)) from exc
        except OSError as exc:  # the lab refused the packet (e.g. larger than the veth MTU)
            raise HarnessError(f"cannot inject {len(wire)} bytes on the {leg} leg: {exc}") from exc
        return {lg: [c.data for c in got[lg]] for lg in (Side.CLIENT, Side.SERVER)}

    def _handshake(self) -> SynproxyHandshake:
        sc, a, cfg = self.scenario, self.lab.addr, self.options.config
        c, s = sc.client, sc.server
        v6 = sc.family == 6
        cli, srv = (addr(a.client6), addr(a.server6)) if v6 else (addr(a.client4), addr(a.server4))
        cport, sport = self.client_port, cfg.port
        extra: dict[Side, list[bytes]] = {Side.CLIENT: [], Side.SERVER: []}
        log: list[tuple[str, Segment | bytes]] = []  # formatted only if the set-up fails

        def ip(src: bytes, dst: bytes, df: bool) -> IPv4Header | IPv6Header:
            if v6:
                return IPv6Header(src, dst, hop_limit=64)
            return IPv4Header(src, dst, ident=0, flags=IP_DF if df else 0, ttl=64)

        def step(name: str, leg: Side, seg: Segment, want: dict[Side, int], optional: Side | None = None,
                 grace: float = 0.0) -> dict[Side, Segment]:
            """Inject ``seg``; on each leg of ``want`` take the first segment with exactly those flags (and
            no data); keep the rest as evidence. Every leg but ``optional`` must have one."""
            log.append((f"{name}: sent", seg))
            got = self._exchange(leg, encode(seg), dict.fromkeys(want, 1), offload=v6, grace=grace)
            found: dict[Side, Segment] = {}
            for lg in (Side.CLIENT, Side.SERVER):
                for raw in got[lg]:
                    try:
                        out: Segment | None = decode(raw)
                    except MalformedSegment:
                        out = None
                    log.append((f"    got [{lg}]", raw if out is None else out))
                    if out is not None and lg in want and lg not in found and out.tcp.flags == want[lg] \
                            and not out.payload:
                        found[lg] = out
                    else:
                        extra[lg].append(raw)
            missing = [lg for lg in want if lg not in found and lg is not optional]
            if missing:
                lines = [f"{label} {x.summary() if isinstance(x, Segment) else x.hex()}" for label, x in log]
                raise HarnessError(f"SYNPROXY set-up, {name}: no {flags_text(want[missing[0]])} segment on the "
                                   f"{missing[0]} leg\n" + "\n".join(lines))
            return found

        def client_syn(isn: int) -> Segment:
            return Segment(ip(cli, srv, c.df), TcpHeader(cport, sport, isn, 0, SYN, HANDSHAKE_WINDOW,
                                                         options=syn_options(c, layout=OptionLayout.LINUX)))

        # 1. client SYN → the proxy's own SYN-ACK (cookie ISN), nothing towards the server. The fence
        # alone ends steps 1 and 2: what they must produce is checked right here. To place the cookie
        # (isn_plan), a probe SYN with the same options first learns the tuple's offset h = cookie − ISN;
        # SYNPROXY keeps no state for a SYN, so the probe leaves nothing behind but its SYN-ACK (consumed).
        want = self.plan.cookie
        isn = self.plan.client_isn
        for _ in range(COOKIE_TRIES if want is not None else 1):
            if want is not None:
                probe = step("probe SYN", Side.CLIENT, client_syn(isn), {Side.CLIENT: SYN | ACK})[Side.CLIENT]
                self.probes += 1
                isn = seq_sub(want, seq_sub(probe.tcp.seq, isn))
            syn = client_syn(isn)
            synack = step("client SYN", Side.CLIENT, syn, {Side.CLIENT: SYN | ACK})[Side.CLIENT]
            if want is None or synack.tcp.seq == want:
                break
        else:  # the offset changed between probe and SYN every time: the minute rolled over each time?
            raise HarnessError(f"SYNPROXY set-up: the cookie ISN missed {want:#010x} in {COOKIE_TRIES} probe rounds "
                               f"(last {synack.tcp.seq:#010x})")
        c = replace(c, isn=isn)
        its = _ts(synack)

        # 2. client ACK of the cookie → the proxy's SYN to the server. The client's clock has not ticked:
        # its ACK carries the SYN's TSval again (RFC 7323 §4.3 allows equal values).
        ack_opts: tuple[TcpOption, ...] = ()
        if c.tsval is not None and its is not None:
            ack_opts = (NOP, NOP, Timestamps(c.tsval, its.tsval))
        ack = Segment(ip(cli, srv, c.df), TcpHeader(cport, sport, seq_add(c.isn, 1), seq_add(synack.tcp.seq, 1), ACK,
                                                    HANDSHAKE_WINDOW, options=ack_opts))
        server_syn = step("client ACK", Side.CLIENT, ack, {Side.SERVER: SYN})[Side.SERVER]

        # 3. server SYN-ACK (answering only what the proxy's SYN offered) → ACK to the server and the
        # window update to the client, both consumed here, with the grace period before the first case.
        ssyn_ts = _ts(server_syn)
        synack_s = Segment(ip(srv, cli, s.df),
                           TcpHeader(sport, cport, s.isn, seq_add(server_syn.tcp.seq, 1), SYN | ACK, HANDSHAKE_WINDOW,
                                     options=syn_options(s, answer_to=_offer(server_syn),
                                                         tsecr=ssyn_ts.tsval if ssyn_ts else 0,
                                                         layout=OptionLayout.LINUX)))
        acks = step("server SYN-ACK", Side.SERVER, synack_s, {Side.SERVER: ACK, Side.CLIENT: ACK}, optional=Side.CLIENT,
                    grace=self.options.grace)
        return SynproxyHandshake(syn, synack, ack, server_syn, synack_s, acks[Side.SERVER], acks.get(Side.CLIENT),
                                 Observation(tuple(extra[Side.CLIENT]), tuple(extra[Side.SERVER])))

    # -- the contract ---------------------------------------------------------------------------

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        """Send on the server leg if ``segment`` comes from the server's address, else on the client
        leg; capture both legs until the fence is back, plus the grace period."""
        wire = raw if raw is not None else encode(segment)
        leg = Side.SERVER if segment.ip.src == self._state.server.peer.addr else Side.CLIENT
        o = self.options
        return observe(self.lab, leg, segment, wire, expect, timeout=o.timeout, grace=o.grace,
                       short_grace=o.short_grace)

    def event(self, event: Event) -> Observation:
        raise UnsupportedError(UNSUPPORTED_REASONS[Feature.LIFECYCLE])


# --------------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------------


class SynproxyAdapter:
    """Linux nft SYNPROXY: one lab per adapter, one fresh connection per session (see the module doc)."""

    name = "synproxy"
    unsupported: frozenset[Feature] = frozenset(UNSUPPORTED_REASONS)
    partial: frozenset[Feature] = frozenset({Feature.CHOOSE_PROXY_ISN})  # see isn_plan

    #: Per-namespace sysctls of the proxy besides the ruleset's own ``nf_conntrack_tcp_loose=0``: ICMP
    #: errors (time exceeded, unreachable) without rate limits, so every run sees the same ones; no
    #: ICMP redirects, which are about the lab's topology (a segment addressed back out of the leg it
    #: came in on), not about the splice. IPv6 sends none: the proxy's links have no link-local address.
    SYSCTLS: ClassVar[dict[str, str | int]] = {
        "net.ipv4.icmp_ratelimit": 0,
        "net.ipv4.icmp_msgs_per_sec": 1_000_000,
        "net.ipv4.icmp_msgs_burst": 1_000_000,
        "net.ipv6.icmp.ratelimit": 0,
        "net.ipv4.conf.all.send_redirects": 0,
        "net.ipv4.conf.default.send_redirects": 0,
    }

    def __init__(self, arg: str = "", *, prefix: str = PREFIX) -> None:
        self.options = SynproxyOptions.parse(arg)
        self.spec = f"synproxy:{arg}" if arg else "synproxy"  # what repro commands name
        self.prefix = prefix
        self.lab: Lab | None = None
        # used in turn, again and again; never the server's port: the ruleset matches on the destination port
        # alone, so the server's SYN-ACK to a client on that port would be taken for a client's SYN (notrack, then
        # answered by the synproxy statement with a cookie SYN-ACK) and the set-up would fail
        port = self.options.config.port
        self.client_ports: Sequence[int] = tuple(p for p in range(FIRST_PORT, LAST_PORT + 1) if p != port)
        self._ports: Iterator[int] = iter(())
        self.sessions = 0  # opened so far (all labs)
        self.labs = 0  # built so far

    def missing(self) -> list[str]:
        """Why this machine cannot run the adapter (empty: it can), probed by preflight."""
        return preflight(*LAB_FEATURES, prefix=self.prefix)

    def info(self) -> IutInfo:
        nft = "nft not found"
        if shutil.which("nft"):
            proc = subprocess.run(["nft", "--version"], capture_output=True, text=True, check=False)
            nft = proc.stdout.strip() or proc.stderr.strip()
        o = self.options
        details = {
            "kernel": f"{platform.system()} {platform.release()} {platform.version()} {platform.machine()}",
            "nft": nft,
            "ruleset": o.config.ruleset(),
            "sysctls (proxy namespace)": ", ".join(f"{k}={v}" for k, v in
                                                   {"net.netfilter.nf_conntrack_tcp_loose": 0, **self.SYSCTLS}.items())
            + ", send_redirects=0 on both links (ICMP rate limits off and no redirects: lab hygiene, not the IUT)",
            "links": f"veth, MTU {LAB_MTU}, TX checksum offload off on the proxy's ends; IPv6 handshake packets "
                     "injected as CHECKSUM_PARTIAL (nft synproxy checks IPv6 checksums with the IPv4 helper)",
            "capture": f"fenced (ICMP echo after each injection), grace {o.grace * 1e3:g} ms, "
                       f"{o.short_grace * 1e3:g} ms when packets are missing, timeout {o.timeout:g} s",
            "splice state": "learnt per session from the handshakes: C.splice_iss = cookie ISN + 1, "
                            "D.splice_irs = server ISN + 1, C.splice_irs = D.splice_iss = client ISN + 1; "
                            "timestamps: its (proxy SYN-ACK TSval) and T (server SYN-ACK TSval)",
            "proxy ISNs": "placed where one client ISN can satisfy the scenario (proxy_isn_d = the client ISN; "
                          "proxy_isn_c via a probe SYN learning the cookie offset); otherwise UNSUPPORTED: "
                          + "; ".join((ISN_TIED, ISN_COOKIE)),
            "splicecheck": __version__,
        }
        for feature in sorted(self.unsupported):
            details[f"unsupported {feature.value}"] = UNSUPPORTED_REASONS[feature]
        return IutInfo(self.name, platform.release(),
                       f"Linux {platform.release()} nft SYNPROXY ({o.statement()}) in a network namespace: "
                       "a splice with an empty OK message and a SYN-cookie ISN", details)

    def _lab(self) -> tuple[Lab, int]:
        """The adapter's lab (built at first use) and the next client port."""
        if self.lab is None:
            lab = Lab(prefix=self.prefix, ipv6=True, mtu=LAB_MTU)
            lab.open()
            try:
                per_link = {f"net.ipv4.conf.{ifname}.send_redirects": 0
                            for ifname in (lab.names.proxy_client_if, lab.names.proxy_server_if)}
                lab.sysctl({**self.SYSCTLS, **per_link})
                load_synproxy(lab, self.options.config)
            except BaseException:
                lab.close()
                raise
            self.lab, self._ports = lab, itertools.cycle(self.client_ports)
            self.labs += 1
        return self.lab, next(self._ports)

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[SynproxySession]:
        """One fresh connection. The proxy's conntrack table is emptied first, so the session's splice
        is the only one in the IUT: a segment a case makes "foreign" (another port, say) cannot belong
        to an earlier session's connection, and a client port can be used again."""
        needed = scenario.needs() & self.unsupported
        if needed:
            raise UnsupportedError("; ".join(UNSUPPORTED_REASONS[f] for f in sorted(needed)))
        plan = isn_plan(scenario)
        lab, port = self._lab()
        try:
            lab.flush_conntrack()
        except OSError as exc:
            raise HarnessError(f"cannot flush the proxy's conntrack table: {exc}") from exc
        lab.flush()
        self.sessions += 1
        yield SynproxySession(lab, self.options, scenario, port, plan)

    def close(self) -> None:
        """Tear the lab down (idempotent); the next ``open`` builds a new one."""
        lab, self.lab = self.lab, None
        self._ports = iter(())
        if lab is not None:
            lab.close()

