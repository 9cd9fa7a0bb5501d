"""The ``seqadj-ftp`` adapter: Linux's NAT-helper sequence adjustment (conntrack seqadj), driven as a splice.

Theory of operation
-------------------
The IUT is the proxy namespace of a :class:`~splicecheck.adapters.lab.topology.Lab` with the FTP
helper ruleset of docs/LAB.md: the conntrack FTP helper on port 21 and masquerade on the server-side
veth. Per session the raw client opens an FTP control connection to the raw server through it::

    client 198.18.0.2:40000 ──SYN/SYN-ACK/ACK──▶ (NAT) ──▶ 198.19.0.254:M ─▶ server 198.19.0.2:21
    [server: optional banner of Scenario.server_presplice bytes; client ACKs it]
    client: "USER a\\r\\n"  (a line first: the helper parses a command only right after a '\\n')
    client: "PORT 198,18,0,2,39,16\\r\\n"  at seq P (= correction_pos), L bytes
    proxy → server: "PORT 198,19,0,254,39,16\\r\\n"  still at seq P, L' = L + δ bytes
    server: ACK of P + L'  → client sees the ACK of P + L

Kernel facts (net/netfilter/, Linux 6.x): ``nf_conntrack_ftp.c help()`` parses only segments that
start at a remembered "sequence number after a newline" of their direction and whose address equals
the connection's source; ``nf_nat_ftp.c`` formats the replacement with ``%u`` (the masquerade
address, the same port if free); ``nf_nat_helper.c`` mangles the payload and calls
``nf_ct_seqadj_set(ct, ctinfo, th->seq, L' − L)``, which for the first change of a direction sets
``correction_pos = P``, ``offset_before = 0``, ``offset_after = δ``. From then on
``nf_conntrack_seqadj.c nf_ct_seq_adjust()`` rewrites every segment of the connection:

* client→server: ``seq' = seq + (after(seq, P) ? δ : 0)`` — the reply direction has no offsets,
  so client acks and SACK blocks pass unchanged;
* server→client (ACK set only): ``ack' = ack − (after(ack − 0, P) ? δ : 0)``, and each SACK edge
  likewise (``nf_ct_sack_block_adjust``); server seqs pass unchanged;
* nothing else: no timestamp, window or option rewriting (masquerade rewrites addresses and ports;
  forwarding decrements the TTL); checksums are updated incrementally (``inet_proto_csum_replace4``).

The splice this is
------------------
With ``Q`` the server's next sequence number when the PORT line is acknowledged, the learnt
:class:`~splicecheck.reference.relay.SpliceState` is (every number read off the wire, not assumed):

* leg C: peer = client, local = the server's address and port 21 (NAT is transparent towards the
  client); ``splice_irs = P + L`` (the client's first byte after the PORT line);
  ``splice_iss = Q`` as the client saw it;
* leg D: peer = server, local = the masquerade address and port M (learnt from the relayed SYN);
  ``splice_irs = Q``; ``splice_iss = P + L'`` (the relayed PORT segment's seq plus its length), so
  ``D.splice_iss − C.splice_irs = δ``;
* timestamps, SACK and window scales as the end hosts negotiated them *with each other*: leg C has
  (peer, local) shifts (client, server) and leg D (server, client), so the model's window rescaling
  is the identity; ``C.lastrecv_ts`` is the TSval of the client's PORT segment and
  ``D.lastsent_ts`` the TSval of its relayed copy (equal: seqadj leaves TS alone), likewise
  ``D.lastrecv_ts``/``C.lastsent_ts`` for the server's ACK, so the TS mapping is the identity too;
  MSS per leg is what each end host announced.

The scenario's ISNs, options and pre-splice byte counts are honoured (the USER line is sized so
that USER + PORT = ``client_presplice``, the server greets with ``server_presplice`` bytes), so the
bases land where the reference model puts them; a ``client_presplice`` too short for a line and the
PORT line is UNSUPPORTED.

The model's ``seq' = seq − C.splice_irs + D.splice_iss = seq + δ`` then equals the kernel's for
every client seq in ``[P + L, P + 2^31]``, its ``ack' = ack − δ`` equals the kernel's for every
server ack in ``[P + 1, P + 2^31]`` (SACK edges too), and the reply direction is the identity in
both at and above ``Q``.

Where seqadj is not a splice (BELOW_BASE)
-----------------------------------------
seqadj is a *continuous NAT mapping*, not a splice with a base. The paper's splice trims sequence
numbers below ``splice_irs`` (TRIM-*, SACK-CLIP); seqadj never trims: a client segment starting at
or before ``P`` (e.g. a retransmission of USER or of the PORT line itself, which the helper
rewrites again) keeps ``offset_before = 0``, one starting inside the PORT line gets ``δ`` whole,
server acks at or below ``P`` pass unchanged, and server segments below ``Q`` pass unchanged. Both
behaviours are right for what each is; they are different contracts. The cases run all the same
(a segment below the base is a precondition the harness can create, so it is never UNSUPPORTED) and
the report shows the differences, graded by the requirements' levels: evidence of the semantic gap,
not a kernel bug. (``below-base`` is accepted for old command lines and changes nothing.)

Findings (observed on Linux 6.18; see tests/test_seqadj_adapter.py)
-------------------------------------------------------------------
* The helper keeps parsing the control stream after the splice: a client segment that starts right
  after a ``\\n`` the helper saw and begins with ``PORT``/``EPRT`` (any case, or a prefix of either:
  ``"P"``, ``"po"``, ``"Portable\\r\\n"``) but is not a complete command is **dropped** ("partial
  matching", ``NF_DROP``); a complete one is rewritten. Server lines beginning with ``227 ``/``229 ``
  (or a prefix: ``"22"``) likewise, once the server has sent a ``\\n`` (with ``server_presplice = 0``
  it has not, at first). Cases' payloads should avoid this; one that looks like a command shows up
  as a missing packet.
* A segment whose TCP option area is malformed (an option running past the header, length < 2)
  is dropped when it carries ACK: ``nf_ct_sack_adjust`` fails on it and ``nf_confirm`` drops.
* seqadj compares with the fixed ``correction_pos`` on the circle (``after(seq, P)``), so 2 GiB past
  the PORT line client sequence numbers fall "before" it again and revert to ``offset_before = 0``
  (acks likewise): the mapping of a long-lived connection breaks where a splice's must not.
* As an IPv4 router the proxy forwards IPv4 options (filling in Record Route with the masquerade
  address) where the splice strips them (IPOPT-STRIP), answers an expiring TTL with ICMP Time
  Exceeded (TTL-EXPIRE wants silence), and drops a packet with a bad IP header checksum in
  ``ip_rcv`` (CSUM-FAILSAFE wants it passed on).
* Conntrack runs before seqadj. In ``strict`` mode (kernel defaults plus ``ct state invalid drop``)
  out-of-window segments, acks of unsent data and bad checksums are dropped; in ``plain`` mode (the
  ruleset without its invalid-drop line) they are forwarded *without* NAT or seqadj — the client's address leaks
  onto leg D and the server's answer reaches the proxy's own stack, which resets it. The default
  ``liberal`` mode turns the window and checksum checks off (``nf_conntrack_tcp_be_liberal=1``,
  ``nf_conntrack_checksum=0``) so that cases reach seqadj itself; bad flag combinations (data without
  ACK) stay INVALID and are dropped there too.

Adapter argument (``seqadj-ftp:ARG``, comma-separated): ``grow`` (δ = +2, the default), ``shrink``
(δ = −4), ``delta=N`` (N ≤ 2: the client zero-pads its PORT numbers, which the helper's ``%u``
drops); ``liberal`` (default), ``strict``, ``plain``; ``below-base``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from .. import __version__
from ..conformance.contract import (
    Feature,
    HarnessError,
    IutInfo,
    Observation,
    Scenario,
    UnsupportedError,
)
from ..conformance.model import OptionLayout, offer_of, syn_options
from ..reference.arith import MASK32
from ..reference.codec import decode, encode
from ..reference.errors import MalformedSegment
from ..reference.lifecycle import Event
from ..reference.relay import Endpoint, Leg, SpliceState, StripStyle
from ..reference.segment import (
    ACK,
    IP_DF,
    NOP,
    PSH,
    SYN,
    IPv4Header,
    Segment,
    TcpHeader,
    TcpOption,
    Timestamps,
    addr,
    addr_text,
    flags_text,
    pad_options,
)
from ..reference.seqspace import seq_add
from .lab.preflight import preflight
from .lab.rulesets import FTP_CONTROL_PORT, ftp_helper_ruleset, ftp_helper_sysctls
from .lab.topology import PREFIX, Lab, LabAddresses, Side

__all__ = [
    "FTP_ADDR",
    "MODES",
    "UNSUPPORTED_REASONS",
    "SeqadjConfig",
    "SeqadjFtpAdapter",
    "SeqadjRecord",
    "SeqadjSession",
    "port_command",
]

#: The lab's addresses with the proxy's server-side (masquerade) address at .254, so that the
#: helper's rewrite of "198,18,0,2" into "198,19,0,254" grows the line by 2 (the default lab's
#: .1 would keep its length, and seqadj would never engage).
FTP_ADDR = LabAddresses(proxy_server4="198.19.0.254")
SERVER_PORT = FTP_CONTROL_PORT
CLIENT_PORT = 40000
DATA_PORT = 10000  # the port the PORT command announces ("39,16"); the NAT keeps it when free
MODES = ("liberal", "strict", "plain")
LAB_FEATURES = ("root", "ip", "nft", "netns", "veth", "packet", "ftp-helper")
MIN_DELTA = -400  # zero-padding beyond this makes the PORT line needlessly long

#: Preconditions this IUT cannot give a case. Not listed, because they are graded instead: MSS-ICMP (the crafted
#: server announces the small MSS; the NAT relays the oversized segment), foreign segments (another 4-tuple is
#: injected; the NAT routes it as a connection of its own, which DIR-ONLY grades) and segments below the base
#: (seqadj keeps its old offset there and trims nothing, which TRIM-*, SACK-CLIP grade).
UNSUPPORTED_REASONS: dict[Feature, str] = {
    Feature.IPV6: "the ruleset is IPv4 only (`table ip`, helper `l3proto ip`); EPRT over NAT66 is not set up",
    Feature.OK_MESSAGE: "a NAT box writes no bytes of its own to the client: there is no OK message",
    Feature.CHOOSE_PROXY_ISN: "one end-to-end connection: both legs carry the end hosts' ISNs, the proxy has none",
    Feature.CHOOSE_PROXY_TS: "timestamps pass end to end untouched; the proxy has no clock of its own",
    Feature.LIFECYCLE: "no proxy application or sockets: the 'splice' is made implicitly by the helper's PORT rewrite",
    Feature.STRIP_REMOVE: "seqadj strips no option at all, so there is no stripping style to choose",
}


# --------------------------------------------------------------------------------------------------
# Configuration: the ruleset, the sysctls, the PORT line
# --------------------------------------------------------------------------------------------------


def _rewritten_numbers(proxy4: str, port: int) -> str:
    """What ``nf_nat_ftp_fmt_cmd`` writes for NF_CT_FTP_PORT: ``"%u,%u,%u,%u,%u,%u"``."""
    return ",".join([*proxy4.split("."), str(port >> 8), str(port & 0xFF)])


def natural_delta(client4: str = FTP_ADDR.client4, proxy4: str = FTP_ADDR.proxy_server4,
                  port: int = DATA_PORT) -> int:
    """The length change of a PORT line written without leading zeros (the largest δ possible)."""
    return len(_rewritten_numbers(proxy4, port)) - len(_rewritten_numbers(client4, port))


def port_command(delta: int, client4: str = FTP_ADDR.client4, proxy4: str = FTP_ADDR.proxy_server4,
                 port: int = DATA_PORT) -> tuple[bytes, bytes]:
    """``(sent, rewritten)``: the client's PORT line naming ``client4:port`` and what the helper makes of
    it. The helper's ``try_number`` accepts leading zeros and its replacement has none, so padding the
    first number with ``natural_delta − δ`` zeros makes the rewrite change the length by exactly δ."""
    pad = natural_delta(client4, proxy4, port) - delta
    if pad < 0:
        most = natural_delta(client4, proxy4, port)
        raise ValueError(f"δ = {delta} is larger than this address pair allows ({most})")
    numbers = _rewritten_numbers(client4, port)
    sent = b"PORT " + b"0" * pad + numbers.encode() + b"\r\n"
    return sent, b"PORT " + _rewritten_numbers(proxy4, port).encode() + b"\r\n"


@dataclass(frozen=True, slots=True)
class SeqadjConfig:
    """What the adapter sets up: the PORT rewrite's length change, conntrack's filtering, the waits."""

    delta: int = 2
    mode: str = "liberal"
    below_base: bool = False
    timeout: float = 1.0  # longest wait for a fence's reply (Lab.exchange_fenced)
    grace: float = 0.0001  # capture time after the fence's reply
    short_grace: float = 0.002  # the same when fewer packets came than the model expects

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}: {self.mode!r}")
        if not MIN_DELTA <= self.delta <= natural_delta():
            raise ValueError(f"delta must be in {MIN_DELTA}..{natural_delta()}: {self.delta}")

    @classmethod
    def parse(cls, arg: str) -> SeqadjConfig:
        """``"grow"``, ``"shrink,strict"``, ``"delta=-9,below-base"``, ... (see the module docstring)."""
        delta, mode, below = 2, "liberal", False
        for token in filter(None, (t.strip() for t in arg.split(","))):
            if token == "grow":
                delta = 2
            elif token == "shrink":
                delta = -4
            elif token.startswith("delta="):
                delta = int(token.partition("=")[2])
            elif token in MODES:
                mode = token
            elif token == "below-base":
                below = True
            else:
                raise ValueError(f"seqadj-ftp: unknown argument {token!r}; use grow, shrink, delta=N, "
                                 f"{', '.join(MODES)}, below-base")
        return cls(delta, mode, below)

    def sysctls(self) -> dict[str, int]:
        """Per-namespace conntrack settings of the proxy."""
        return ftp_helper_sysctls(liberal=self.mode == "liberal")

    def ruleset(self, server_if: str) -> str:
        """``liberal``/``strict`` also drop what conntrack finds INVALID; ``plain`` forwards it."""
        return ftp_helper_ruleset(server_if, drop_invalid=self.mode != "plain")


# --------------------------------------------------------------------------------------------------
# Crafting
# --------------------------------------------------------------------------------------------------


def _segment(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"",
             options: Sequence[TcpOption] = (), window: int = 8192) -> Segment:
    ip = IPv4Header(addr(src), addr(dst), ident=0x5343, flags=IP_DF)
    tcp = TcpHeader(sport, dport, seq & MASK32, ack & MASK32, flags, window, 0, pad_options(tuple(options)))
    return Segment(ip, tcp, payload)


@dataclass(slots=True)
class _End:
    """One raw end host's side of the control connection: what it sends next."""

    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int = 0
    tsval: int | None = None  # None: no timestamps on this connection
    tsecr: int = 0

    def make(self, flags: int, payload: bytes = b"") -> Segment:
        opts: list[TcpOption] = []
        if self.tsval is not None:
            self.tsval = seq_add(self.tsval, 1)
            opts = [NOP, NOP, Timestamps(self.tsval, self.tsecr)]
        seg = _segment(self.src, self.dst, self.sport, self.dport, self.seq, self.ack, flags, payload, opts)
        self.seq = seq_add(self.seq, len(payload))
        return seg


def _tsval(seg: Segment) -> int:
    ts = seg.tcp.option(Timestamps)
    return ts.tsval if isinstance(ts, Timestamps) else 0


# --------------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeqadjRecord:
    """What the set-up learnt, for tests and evidence: the helper's rewrite and seqadj's constants."""

    correction_pos: int  # P: the seq of the client's PORT segment
    port_sent: bytes
    port_relayed: bytes
    masquerade: Endpoint  # leg D's local end

    @property
    def delta(self) -> int:
        return len(self.port_relayed) - len(self.port_sent)


class SeqadjSession:
    """One FTP control connection through the helper, driven to the PORT rewrite; then a splice."""

    def __init__(self, lab: Lab, config: SeqadjConfig, scenario: Scenario) -> None:
        self.lab = lab
        self.config = config
        self._transcript: list[str] = []
        self.record, self._state = self._setup(scenario)

    @property
    def state(self) -> SpliceState:
        return self._state

    # -- set-up ---------------------------------------------------------------------------------

    def _step(self, name: str, leg: Side, seg: Segment, to: Side, flags: int) -> Segment:
        """Inject ``seg`` on ``leg``; exactly one segment with ``flags`` must come out on ``to``, and
        nothing else on either leg (the capture sockets are armed since the lab was built)."""
        self._transcript.append(f"{name}: sent [{leg}] {seg.summary()}")
        got = self.lab.exchange_fenced(leg, encode(seg), {to: 1}, timeout=self.config.timeout,
                                       grace=self.config.grace, short_grace=self.config.short_grace)
        out: list[Segment] = []
        for where in (Side.CLIENT, Side.SERVER):
            for c in got[where]:
                try:
                    s = decode(c.data)
                except MalformedSegment as exc:
                    self._transcript.append(f"    got [{where}] not TCP: {exc}")
                    continue
                self._transcript.append(f"    got [{where}] {s.summary()} {s.payload[:40]!r}")
                if where is to:
                    out.append(s)
        if len(got[to]) != 1 or len(out) != 1 or out[0].tcp.flags & ~PSH != flags or \
                sum(len(v) for v in got.values()) != 1:
            raise HarnessError(f"seqadj-ftp set-up step {name!r}: expected one {flags_text(flags)} segment on "
                               f"the {to} leg and nothing else\n" + "\n".join(self._transcript))
        return out[0]

    def _setup(self, sc: Scenario) -> tuple[SeqadjRecord, SpliceState]:
        if sc.family != 4:
            raise UnsupportedError(UNSUPPORTED_REASONS[Feature.IPV6])
        a, cfg = self.lab.addr, self.config
        port_line, _ = port_command(cfg.delta, a.client4, a.proxy_server4)
        user = _user_line(sc.client_presplice, len(port_line))
        banner = _banner(sc.server_presplice)
        c, s = sc.client, sc.server
        ts = c.tsval is not None and s.tsval is not None
        cli = _End(a.client4, a.server4, CLIENT_PORT, SERVER_PORT, c.isn)
        srv = _End(a.server4, a.proxy_server4, SERVER_PORT, 0, s.isn)

        syn = _segment(cli.src, cli.dst, cli.sport, cli.dport, c.isn, 0, SYN,
                       options=syn_options(c, layout=OptionLayout.PLAIN))
        relayed_syn = self._step("client SYN", Side.CLIENT, syn, Side.SERVER, SYN)
        masq = Endpoint(relayed_syn.ip.src, relayed_syn.tcp.sport)
        srv.dst, srv.dport = addr_text(masq.addr), masq.port
        synack = _segment(srv.src, srv.dst, srv.sport, srv.dport, s.isn, seq_add(c.isn, 1), SYN | ACK,
                          options=syn_options(s, answer_to=offer_of(c), tsecr=c.tsval or 0,
                                              layout=OptionLayout.PLAIN))
        relayed_synack = self._step("server SYN-ACK", Side.SERVER, synack, Side.CLIENT, SYN | ACK)
        cli.seq, cli.ack = seq_add(c.isn, 1), seq_add(s.isn, 1)
        srv.seq, srv.ack = seq_add(s.isn, 1), seq_add(c.isn, 1)
        if ts:  # each end echoes the TSval it *received* (the relayed copy), keeps counting its own
            cli.tsval, cli.tsecr = c.tsval, _tsval(relayed_synack)
            srv.tsval, srv.tsecr = s.tsval, _tsval(relayed_syn)
        self._step("client ACK", Side.CLIENT, cli.make(ACK), Side.SERVER, ACK)

        def exchange(name: str, sender: _End, leg: Side, payload: bytes, receiver: _End) -> tuple[Segment, Segment]:
            """``sender`` sends a line, the other end acknowledges what it got; both relayed copies returned."""
            other = Side.SERVER if leg is Side.CLIENT else Side.CLIENT
            data_out = self._step(name, leg, sender.make(ACK | PSH, payload), other, ACK)
            receiver.ack = seq_add(data_out.tcp.seq, len(data_out.payload))
            receiver.tsecr = _tsval(data_out)
            ack_out = self._step(name + " ACK", other, receiver.make(ACK), leg, ACK)
            sender.tsecr = _tsval(ack_out)
            return data_out, ack_out

        if banner:
            exchange("server banner", srv, Side.SERVER, banner, cli)
        exchange("client USER", cli, Side.CLIENT, user, srv)
        correction_pos = cli.seq
        port_out, ack_out = exchange("client PORT", cli, Side.CLIENT, port_line, srv)
        if port_out.payload == port_line or not port_out.payload.startswith(b"PORT "):
            raise HarnessError("the FTP NAT helper did not rewrite the PORT command (is nf_nat_ftp there?)\n"
                               + "\n".join(self._transcript))
        if port_out.tcp.seq != correction_pos:
            raise HarnessError(f"the PORT segment left at seq {port_out.tcp.seq}, not at its own {correction_pos}")
        record = SeqadjRecord(correction_pos, port_line, port_out.payload, masq)

        ws = c.wscale is not None and s.wscale is not None
        sack = c.sack_permitted and s.sack_permitted
        leg_c = Leg(Endpoint(addr(a.client4), CLIENT_PORT), Endpoint(addr(a.server4), SERVER_PORT),
                          splice_irs=cli.seq, splice_iss=ack_out.tcp.seq, timestamps=ts,
                          lastrecv_ts=cli.tsval if ts and cli.tsval is not None else 0,
                          lastsent_ts=_tsval(ack_out) if ts else 0, sack=sack,
                          peer_wscale=c.wscale if ws else None, local_wscale=s.wscale if ws else None,
                          peer_mss=c.mss or 536)
        leg_d = Leg(Endpoint(addr(a.server4), SERVER_PORT), masq,
                          splice_irs=srv.seq, splice_iss=seq_add(port_out.tcp.seq, len(port_out.payload)),
                          timestamps=ts, lastrecv_ts=srv.tsval if ts and srv.tsval is not None else 0,
                          lastsent_ts=_tsval(port_out) if ts else 0, sack=sack,
                          peer_wscale=s.wscale if ws else None, local_wscale=c.wscale if ws else None,
                          peer_mss=s.mss or 536)
        # The set-up must end quiet, or the first case would see its leftovers. Every step was fenced and
        # checked for strays, and the NAT answers inline (no timer of its own sends anything), so what is
        # already queued is all there can be: read it without waiting (a quiet period here cost half of
        # every property example's time).
        late = self.lab.collect({Side.CLIENT: None, Side.SERVER: None}, timeout=0.0)
        if any(late.values()):
            raise HarnessError("seqadj-ftp set-up: late packets after the PORT exchange\n"
                               + "\n".join(self._transcript + [c.data.hex() for v in late.values() for c in v]))
        return record, SpliceState(leg_c, leg_d, StripStyle.NOP)

    # -- the contract ---------------------------------------------------------------------------

    def inject(self, segment: Segment, *, raw: bytes | None = None,
               expect: tuple[int, int] | None = None) -> Observation:
        """Send on the server leg if ``segment`` comes from the server's address, else on the client leg,
        then a fence (``Lab.exchange_fenced``): what the proxy emits in answer is captured when the
        fence's reply is, the helper and seqadj rewriting inline in the same softirq; then ``grace``
        (``short_grace`` when fewer packets came than ``expect`` says)."""
        wire = raw if raw is not None else encode(segment)
        leg = Side.SERVER if segment.ip.src == self._state.server.peer.addr else Side.CLIENT
        t0 = time.monotonic()
        counts = None if expect is None else {Side.CLIENT: expect[0], Side.SERVER: expect[1]}
        got = self.lab.exchange_fenced(leg, wire, counts, timeout=self.config.timeout, grace=self.config.grace,
                                       short_grace=self.config.short_grace)
        return Observation(tuple(p.data for p in got[Side.CLIENT]), tuple(p.data for p in got[Side.SERVER]),
                           time.monotonic() - t0)

    def event(self, event: Event) -> Observation:
        raise UnsupportedError(UNSUPPORTED_REASONS[Feature.LIFECYCLE])


def _user_line(presplice: int, port_len: int) -> bytes:
    """The client's line before PORT, sized so USER + PORT = ``presplice`` bytes (0: the model's
    choice is free, "USER a"). The helper only needs *a* line: anything ending in '\\n'."""
    if not presplice:
        return b"USER a\r\n"
    size = presplice - port_len
    if size < 1:
        raise UnsupportedError(f"seqadj-ftp needs at least {port_len + 1} client bytes before the splice "
                               f"(a line, then the {port_len}-byte PORT line); the scenario asks for {presplice}")
    if size < 8:
        return b"\r\n"[-size:] if size <= 2 else b"a" * (size - 2) + b"\r\n"
    return b"USER " + b"a" * (size - 7) + b"\r\n"


def _banner(presplice: int) -> bytes:
    """The server's greeting of ``presplice`` bytes (none when 0)."""
    if presplice <= 0:
        return b""
    if presplice < 6:
        return b"2" * (presplice - 1) + b"\n"
    return b"220 " + b"x" * (presplice - 6) + b"\r\n"


# --------------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------------


class SeqadjFtpAdapter:
    """Linux conntrack seqadj behind the FTP NAT helper: one lab for the adapter's life, its conntrack
    table emptied before each session."""

    name = "seqadj-ftp"

    def __init__(self, arg: str = "", *, prefix: str = PREFIX) -> None:
        self.config = SeqadjConfig.parse(arg)
        self.prefix = prefix
        self.unsupported: frozenset[Feature] = frozenset(UNSUPPORTED_REASONS)
        self.lab: Lab | None = None
        self.labs = 0  # built so far

    def missing(self) -> list[str]:
        """Why this machine cannot run the adapter (empty: it can): root, iproute2, nft, namespaces,
        veth, packet sockets, and the FTP conntrack helper with NAT, probed by preflight."""
        return preflight(*LAB_FEATURES, prefix=self.prefix)

    def info(self) -> IutInfo:
        sent, rewritten = port_command(self.config.delta)
        details = {
            "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
            "ruleset": self.config.ruleset("<proxy's server-side veth>"),
            "sysctls (proxy namespace)": ", ".join(f"{k}={v}" for k, v in self.config.sysctls().items()),
            "mode": self.config.mode,
            "PORT rewrite": f"{sent!r} -> {rewritten!r} (delta {len(rewritten) - len(sent):+d})",
            "splice state": "C.splice_irs = P + L (after the PORT line), D.splice_iss = P + L' "
                            "(seqadj offset_after = L' - L from correction_pos P); server->client identity",
            "splicecheck": __version__,
        }
        for feature in sorted(self.unsupported):
            details[f"unsupported {feature.value}"] = UNSUPPORTED_REASONS[feature]
        return IutInfo(self.name, platform.release(),
                       "Linux conntrack FTP helper + masquerade: nf_nat_ftp rewrites PORT to another length, "
                       "seqadj shifts client seq / server ack from correction_pos on", details)

    def _lab(self) -> Lab:
        """The adapter's lab, built (and its sysctls and ruleset loaded) at first use and kept until
        :meth:`close`: building and tearing down namespaces, veths and the ruleset costs ~0.35 s, more
        than a whole session's traffic."""
        if self.lab is None:
            lab = Lab(prefix=self.prefix, ipv6=False, mtu=65535)  # room for the largest cases (64 KiB segments)
            lab.addr = FTP_ADDR  # set before open(): the masquerade address decides the rewrite's length
            lab.open()
            try:
                lab.sysctl(self.config.sysctls())
                lab.nft(self.config.ruleset(lab.names.proxy_server_if))
            except BaseException:
                lab.close()
                raise
            self.lab = lab
            self.labs += 1
        return self.lab

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[SeqadjSession]:
        """One fresh FTP control connection. The proxy's conntrack table is emptied first (with it the
        helper's expectations and the masquerade mapping of the last session), and whatever the legs
        captured since is discarded, so each session meets the helper as a new connection would."""
        needed = scenario.needs() & self.unsupported
        if needed:
            raise UnsupportedError("; ".join(UNSUPPORTED_REASONS[f] for f in sorted(needed)))
        lab = self._lab()
        try:
            lab.flush_conntrack()
        except OSError as exc:
            raise HarnessError(f"cannot flush the proxy's conntrack table: {exc}") from exc
        lab.flush()
        yield SeqadjSession(lab, self.config, scenario)

    def close(self) -> None:
        """Tear the lab down (idempotent); the next ``open`` builds a new one."""
        lab, self.lab = self.lab, None
        if lab is not None:
            lab.close()
