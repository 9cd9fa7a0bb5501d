"""Probe Linux SYNPROXY as a splice: drive one connection through it with crafted packets.

Theory of operation
-------------------
SYNPROXY is a splice with an empty OK message (docs/LAB.md, "SYNPROXY"): the proxy answers
the client's SYN itself with a SYN-cookie ISN, validates the cookie on the client's ACK, opens the
server leg with the client's own ISN, and from the server's SYN-ACK on rewrites every segment with
conntrack's seqadj. With ``C`` the cookie ISN the client was given and ``S`` the server's ISN:

* server→client: ``seq' = seq + (C − S) mod 2^32``; client→server: ``ack' = ack − (C − S)``
  (and SACK blocks likewise); client→server sequence numbers pass unchanged (same ISN both legs).
* timestamps: the proxy's SYN-ACK carries its own TSval ``its``; with ``T`` the server's SYN-ACK
  TSval, server→client ``TSval' = TSval + (its − T)`` and client→server ``TSecr' = TSecr − (its − T)``
  (kernel ``synproxy->tsoff = T − its``, net/netfilter/nf_synproxy_core.c ``synproxy_tstamp_adjust``).

:func:`probe_handshake` injects, step by step, SYN → (SYN-ACK) → ACK → (server SYN) → server
SYN-ACK → (ACK to server, window update to client) → client data → server data → client SACK →
an optional RST, and captures everything the proxy emits on both legs after each step. It returns
a :class:`SynproxyRecord` with what was learnt (``C``, ``S``, ``its``, ``T``, options per leg) and
every step's evidence; it does not judge, later conformance code does.

Observed on Linux 6.18 (the reasons later verdicts will cite):

* The SYN-ACK to the client advertises window 0 and the configured MSS/wscale/SACK-permitted,
  whatever the server will say; the client learns the real window from an ACK the proxy sends
  after the server's SYN-ACK, whose window is the server's SYN-ACK window >> the server's wscale.
* Window scale, SACK-permitted (and ECN) travel in the low bits of the proxy's TSval; a client
  without timestamps is offered MSS only and the server's SYN carries MSS only. The server's SYN
  carries the client's wscale and an MSS rounded down to the cookie's MSS table, its window field
  is the client ACK's raw (scaled) window, and its ack field holds the cookie ISN (no ACK flag).
* Data-phase windows pass unchanged in both directions: with server wscale ≠ configured wscale the
  client misreads every server window (RFC 7323 §2.3 scaling is not re-applied).
* The proxy's ACK to the server echoes ``TSecr = T + (T − its)`` instead of ``T``: the echo is
  adjusted a second time on its way out.
* SACK blocks in client ACKs are mapped like acks; RSTs without ACK are relayed with seq mapped.
* IPv6: nft ``synproxy`` verifies checksums with the IPv4-only ``nf_ip_checksum``, so IPv6 SYNs
  arriving with ``CHECKSUM_NONE`` are dropped silently (``syn_received`` stays 0); use
  ``ProbePlan(offload=True)`` to inject as a local stack would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Literal

from splicecheck.adapters.lab.rawsock import collect
from splicecheck.adapters.lab.rulesets import SynproxyConfig, load_synproxy
from splicecheck.adapters.lab.topology import Lab, Side
from splicecheck.reference.seqspace import MOD32
from tcpview import TcpView, craft, tcp_options, view, views


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """What the crafted endpoints choose. ISNs and TSvals near 2^32−1 exercise wrap-around."""

    client_isn: int = 1_000_000
    server_isn: int = 3_000_000_000
    client_tsval: int = 100_000
    server_tsval: int = 4_000_000_000
    client_port: int = 40_000
    client_mss: int = 1460
    client_wscale: int | None = 6
    client_sack_perm: bool = True
    client_timestamps: bool = True
    server_mss: int = 1400
    server_wscale: int | None = 2
    server_sack_perm: bool = True
    server_timestamps: bool = True
    client_window: int = 501
    server_window: int = 1000
    client_data: bytes = b"GET / HTTP/1.0\r\n\r\n"
    server_data: bytes = b"HTTP/1.0 200 OK\r\n\r\n"
    ipv6: bool = False
    # Inject as CHECKSUM_PARTIAL (like a local TCP stack) instead of CHECKSUM_NONE; needed for IPv6
    # through nft synproxy, which checks IPv6 checksums with the IPv4 helper (see rawsock).
    offload: bool = False
    finish: Literal["server-rst", "client-rst", "none"] = "server-rst"

    def __post_init__(self) -> None:
        for name in ("client_isn", "server_isn", "client_tsval", "server_tsval"):
            if not 0 <= getattr(self, name) < MOD32:
                raise ValueError(f"{name} must be a 32-bit unsigned value")


@dataclass(frozen=True, slots=True)
class ProbeStep:
    """One injection and what the proxy emitted on each leg in answer."""

    name: str
    sent: TcpView
    client: tuple[TcpView, ...]
    server: tuple[TcpView, ...]

    def on(self, leg: Side) -> tuple[TcpView, ...]:
        return self.client if leg is Side.CLIENT else self.server


@dataclass(frozen=True, slots=True)
class SynproxyRecord:
    """What the probe learnt. Offsets are mod 2^32 and are *observed*, i.e. derived from the numbers
    on the wire (``seq_offset = cookie_isn − server_isn``), not from any model."""

    config: SynproxyConfig
    plan: ProbePlan
    client_isn: int
    cookie_isn: int  # the ISN the proxy gave the client in its SYN-ACK
    server_syn_isn: int  # the ISN of the proxy's SYN on the server leg (SYNPROXY: the client's)
    server_isn: int
    proxy_tsval: int | None  # "its": the proxy's TSval in the SYN-ACK to the client
    server_syn_tsval: int | None  # TSval of the proxy's SYN on the server leg
    server_synack_tsval: int | None
    seq_offset: int  # added to server→client seq, subtracted from client→server ack
    ts_offset: int | None  # added to server→client TSval, subtracted from client→server TSecr
    synack_options: tuple[str, ...]  # option kinds the proxy offered the client
    synack_wscale: int | None
    synack_mss: int | None
    server_syn_options: tuple[str, ...]  # option kinds the proxy sent the server
    server_syn_wscale: int | None
    server_syn_mss: int | None
    server_ack: TcpView  # the proxy's ACK completing the server-side handshake
    window_update: TcpView | None  # the proxy's ACK to the client after the server's SYN-ACK
    steps: tuple[ProbeStep, ...] = field(repr=False)

    def step(self, name: str) -> ProbeStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def transcript(self) -> str:
        """Human-readable dump of every step, for evidence and debugging."""
        lines = []
        for s in self.steps:
            lines.append(f"{s.name}: sent {s.sent.brief()}")
            lines += [f"    got {v.brief()}" for v in (*s.client, *s.server)]
        return "\n".join(lines)


class ProbeError(RuntimeError):
    """The proxy did not emit what the probe needs to go on (carries the steps so far)."""

    def __init__(self, message: str, steps: list[ProbeStep]) -> None:
        super().__init__(message + "\n" + "\n".join(f"{s.name}: {[v.brief() for v in (*s.client, *s.server)]}"
                                                    for s in steps))
        self.steps = tuple(steps)


class _Driver:
    """Injects crafted segments and records the proxy's answers as :class:`ProbeStep` s."""

    def __init__(self, lab: Lab, timeout: float, quiet: float, offload: bool) -> None:
        self.lab, self.timeout, self.quiet, self.offload = lab, timeout, quiet, offload
        self.steps: list[ProbeStep] = []

    def step(self, name: str, leg: Side, packet: bytes, expect: Side | None) -> ProbeStep:
        """Inject on ``leg``; wait for one segment on ``expect`` (if any) plus a quiet period on both legs."""
        want: dict[Side, int | None] = {Side.CLIENT: None, Side.SERVER: None}
        got = self.lab.exchange(leg, packet, want if expect is None else {**want, expect: 1},
                                timeout=self.timeout, quiet=self.quiet, offload=self.offload)
        sent = view(leg.value, packet, time.time())
        assert sent is not None, "the probe only injects TCP"
        s = ProbeStep(name, sent, views(got[Side.CLIENT]), views(got[Side.SERVER]))
        self.steps.append(s)
        if expect is not None and not s.on(expect):
            raise ProbeError(f"step {name}: nothing on the {expect} leg", self.steps)
        return s


def _first(seq: tuple[TcpView, ...], flags: str, name: str, steps: list[ProbeStep]) -> TcpView:
    for v in seq:
        if v.flags == flags:
            return v
    raise ProbeError(f"expected a {flags} segment in step {name}", steps)


def probe_handshake(lab: Lab, config: SynproxyConfig | None = None, plan: ProbePlan | None = None, *,
                    load: bool = True, timeout: float = 1.0, quiet: float = 0.03) -> SynproxyRecord:
    """Drive one connection through SYNPROXY in ``lab``; return what was learnt and all captures.

    The crafted endpoints behave like RFC-conforming TCPs: an option is used after the handshake
    only if both SYNs carried it (RFC 7323 §2.2, §3.2; RFC 2018 §2), and the server's SYN-ACK only
    answers options the proxy's SYN offered. With ``load`` the ruleset is installed first
    (:func:`load_synproxy`); pass ``load=False`` to probe several connections (distinct
    ``plan.client_port``) through one loaded proxy. Raises :class:`ProbeError` if the proxy stays
    silent where the handshake cannot go on without it.
    """
    config = config or SynproxyConfig()
    plan = plan or ProbePlan()
    if load:
        load_synproxy(lab, config)
    conn = _Probe(lab, config, plan, timeout, quiet)
    conn.handshakes()
    conn.data()
    conn.sack()
    conn.finish()
    return conn.record()


class _Probe:
    """One probed connection: the crafted ends' state between the steps of :func:`probe_handshake`."""

    def __init__(self, lab: Lab, config: SynproxyConfig, plan: ProbePlan, timeout: float, quiet: float) -> None:
        self.config, self.plan = config, plan
        a = lab.addr
        self.cli, self.srv = (a.client6, a.server6) if plan.ipv6 else (a.client4, a.server4)
        self.cp, self.sp = plan.client_port, config.port
        self.d = _Driver(lab, timeout, quiet, plan.offload)
        self.clock = {"client": plan.client_tsval, "server": plan.server_tsval}  # TS clocks, one tick per segment

    def tick(self, who: str, on: bool, ecr: int | None) -> tuple[int, int] | None:
        if not on:
            return None
        now = self.clock[who]
        self.clock[who] = (now + 1) % MOD32
        return now, (ecr or 0)

    def handshakes(self) -> None:
        plan, d, cli, srv, cp, sp = self.plan, self.d, self.cli, self.srv, self.cp, self.sp
        # 1. client SYN → the proxy's SYN-ACK with a cookie ISN, nothing towards the server.
        syn = craft(cli, srv, cp, sp, "S", plan.client_isn, window=plan.client_window,
                    options=tcp_options(mss=plan.client_mss, wscale=plan.client_wscale, sack_perm=plan.client_sack_perm,
                                        ts=self.tick("client", plan.client_timestamps, 0)))
        s1 = d.step("client-syn", Side.CLIENT, syn, Side.CLIENT)
        self.synack = _first(s1.client, "SA", s1.name, d.steps)
        self.cookie = self.synack.seq
        self.its = its = self.synack.tsval
        self.client_ts = plan.client_timestamps and its is not None
        self.client_sack = plan.client_sack_perm and self.synack.option("SAckOK") is not None

        # 2. client ACK of the cookie → the proxy's SYN to the server.
        ack = craft(cli, srv, cp, sp, "A", plan.client_isn + 1, self.cookie + 1, window=plan.client_window,
                    options=tcp_options(ts=self.tick("client", self.client_ts, its)))
        s2 = d.step("client-ack", Side.CLIENT, ack, Side.SERVER)
        self.ssyn = ssyn = _first(s2.server, "S", s2.name, d.steps)
        self.server_ts = plan.server_timestamps and ssyn.tsval is not None
        server_ws = plan.server_wscale if ssyn.option("WScale") is not None else None
        server_sack = plan.server_sack_perm and ssyn.option("SAckOK") is not None

        # 3. server SYN-ACK with the server's ISN → ACK to the server (and a window update to the client).
        sa = craft(srv, cli, sp, cp, "SA", plan.server_isn, ssyn.seq + 1, window=plan.server_window,
                   options=tcp_options(mss=plan.server_mss, wscale=server_ws, sack_perm=server_sack,
                                       ts=self.tick("server", self.server_ts, ssyn.tsval)))
        s3 = d.step("server-synack", Side.SERVER, sa, Side.SERVER)
        self.synack_t = s3.sent.tsval
        self.server_ack = _first(s3.server, "A", s3.name, d.steps)
        self.window_update = wu = next((v for v in s3.client if v.flags == "A"), None)
        # Latest TSvals each endpoint has seen from the proxy, to echo in its next segment.
        self.seen_by_client = wu.tsval if wu and wu.tsval is not None else its
        self.seen_by_server = self.server_ack.tsval if self.server_ack.tsval is not None else ssyn.tsval

    def data(self) -> None:
        plan, d, cli, srv, cp, sp = self.plan, self.d, self.cli, self.srv, self.cp, self.sp
        # 4. client data (acks the cookie) → relayed with the ack mapped into the server's space.
        c_next = (plan.client_isn + 1) % MOD32
        cd = craft(cli, srv, cp, sp, "PA", c_next, self.cookie + 1, window=plan.client_window,
                   options=tcp_options(ts=self.tick("client", self.client_ts, self.seen_by_client)),
                   payload=plan.client_data)
        s4 = d.step("client-data", Side.CLIENT, cd, Side.SERVER)
        self.c_next = c_next = (c_next + len(plan.client_data)) % MOD32
        self.seen_by_server = next((v.tsval for v in s4.server if v.tsval is not None), self.seen_by_server)

        # 5. server data (acks the client's data) → relayed with seq mapped into the cookie space.
        s_next = (plan.server_isn + 1) % MOD32
        sd = craft(srv, cli, sp, cp, "PA", s_next, c_next, window=plan.server_window,
                   options=tcp_options(ts=self.tick("server", self.server_ts, self.seen_by_server)),
                   payload=plan.server_data)
        s5 = d.step("server-data", Side.SERVER, sd, Side.CLIENT)
        self.s_next = (s_next + len(plan.server_data)) % MOD32
        self.seen_by_client = next((v.tsval for v in s5.client if v.tsval is not None), self.seen_by_client)

    def sack(self) -> None:
        """6. client ACK of part of the server data, with a SACK block for the tail if SACK was agreed
        (cookie space). The block must lie within data the server sent: conntrack takes the highest
        SACK edge as the ack, and an ack above what the server sent is INVALID (nf_conntrack_proto_tcp)."""
        plan = self.plan
        self.seq_offset = seq_offset = (self.cookie - plan.server_isn) % MOD32
        n = len(plan.server_data)
        c_ack = (plan.server_isn + 1 + n // 3 + seq_offset) % MOD32
        sack_block = ((plan.server_isn + 1 + 2 * n // 3 + seq_offset) % MOD32, (self.s_next + seq_offset) % MOD32)
        sk = craft(self.cli, self.srv, self.cp, self.sp, "A", self.c_next, c_ack, window=plan.client_window,
                   options=tcp_options(ts=self.tick("client", self.client_ts, self.seen_by_client),
                                       sack=[sack_block] if self.client_sack else ()))
        self.d.step("client-sack", Side.CLIENT, sk, Side.SERVER)

    def finish(self) -> None:
        """7. optionally a RST without ACK from one side (RFC 9293 §3.10.7: acceptable if in window)."""
        cli, srv, cp, sp = self.cli, self.srv, self.cp, self.sp
        if self.plan.finish == "server-rst":
            self.d.step("server-rst", Side.SERVER, craft(srv, cli, sp, cp, "R", self.s_next, window=0), None)
        elif self.plan.finish == "client-rst":
            self.d.step("client-rst", Side.CLIENT, craft(cli, srv, cp, sp, "R", self.c_next, window=0), None)

    def record(self) -> SynproxyRecord:
        plan, synack, ssyn, its, synack_t = self.plan, self.synack, self.ssyn, self.its, self.synack_t
        return SynproxyRecord(
            config=self.config, plan=plan, client_isn=plan.client_isn, cookie_isn=self.cookie,
            server_syn_isn=ssyn.seq, server_isn=plan.server_isn, proxy_tsval=its, server_syn_tsval=ssyn.tsval,
            server_synack_tsval=synack_t, seq_offset=self.seq_offset,
            ts_offset=None if its is None or synack_t is None else (its - synack_t) % MOD32,
            synack_options=synack.option_names, synack_wscale=synack.option("WScale"),
            synack_mss=synack.option("MSS"), server_syn_options=ssyn.option_names,
            server_syn_wscale=ssyn.option("WScale"), server_syn_mss=ssyn.option("MSS"),
            server_ack=self.server_ack, window_update=self.window_update, steps=tuple(self.d.steps))


def plan_for_cookie(record: SynproxyRecord, target: int) -> ProbePlan:
    """A plan whose SYN should earn the cookie ISN ``target`` — to put the *client-side* sequence
    space (which the proxy chooses) next to the 2^32 wrap.

    A SYN cookie is ``hash(addresses, ports, minute) + client ISN + (minute counter << 24)`` plus
    the MSS index (RFC 4987 §3.6; Linux ``__cookie_v4_init_sequence``), so for the same 4-tuple and
    MSS within the same minute it moves one-for-one with the client ISN. The secret is global, so
    this also holds in a fresh lab. Across a minute boundary the prediction misses; check
    ``record.cookie_isn`` and retry.
    """
    shift = (target - record.cookie_isn) % MOD32
    return replace(record.plan, client_isn=(record.client_isn + shift) % MOD32)


def exchange_rate(lab: Lab, record: SynproxyRecord, count: int = 500, *, timeout: float = 1.0) -> float:
    """Measure spliced exchanges per second: ``count`` times inject a 1-byte client data segment and
    wait for its relayed copy on the server leg. Packets are crafted beforehand, so this times the
    lab (injection, the kernel's splice, capture), not scapy. The connection must still be open
    (probe it with ``finish="none"``)."""
    plan, a = record.plan, lab.addr
    cli, srv = (a.client6, a.server6) if plan.ipv6 else (a.client4, a.server4)
    last = record.steps[-1]
    c_next = (last.sent.seq + len(last.sent.payload)) % MOD32 if last.sent.leg == Side.CLIENT.value else None
    if c_next is None:
        raise ValueError("the probe's last step was not the client's; probe with finish='none'")
    ack = last.sent.ack
    packets = [craft(cli, srv, plan.client_port, record.config.port, "PA", c_next + i, ack,
                     window=plan.client_window, payload=b"x") for i in range(count)]
    lab.flush()
    server = lab.legs[Side.SERVER]
    start = time.perf_counter()
    for packet in packets:
        lab.inject(Side.CLIENT, packet, offload=plan.offload)
        if not collect({server: 1}, timeout=timeout)[server.name]:
            raise ProbeError("a data segment was not relayed during the rate measurement", list(record.steps))
    return count / (time.perf_counter() - start)


@dataclass(frozen=True, slots=True)
class RealStacks:
    """What :func:`real_stacks_through_synproxy` saw: a Linux client and server talking through SYNPROXY."""

    rejected: int | None  # the server's TcpExtTSEcrRejected after the connection (None: the kernel has no such counter)
    banner_after: float  # seconds from the client's connect() returning to the server's first bytes arriving
    banner: bytes


_SERVER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(); s.settimeout(15)
c, _ = s.accept(); c.sendall(b"BANNER\\r\\n"); time.sleep(0.5)
"""
_CLIENT = """
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10); t0 = time.monotonic()
data = c.recv(100); print(repr(data)); print(time.monotonic() - t0)
"""


def real_stacks_through_synproxy(lab: Lab, config: SynproxyConfig | None = None) -> RealStacks:
    """Give the lab's end namespaces real IPv4 stacks (addresses, routes via the proxy), load SYNPROXY,
    and let a Linux client connect to a Linux server that speaks first (a banner on accept), with
    timestamps on both sides (the kernels' default). Returns the server's TcpExtTSEcrRejected count and
    how long the banner took: a server that rejects the proxy's ACK to it (TSecr = T + (T − its))
    establishes only when its SYN-ACK retransmission (after 1 s) is relayed to the client and acknowledged.
    The lab must be fresh (its endpoints raw so far) and is not usable as a raw lab afterwards."""
    import ast
    import subprocess
    import sys
    cfg = config or SynproxyConfig()
    load_synproxy(lab, cfg)
    n, a = lab.names, lab.addr
    for role, ifname, me, via in (("client", n.client_if, a.client4, a.proxy_client4),
                                  ("server", n.server_if, a.server4, a.proxy_server4)):
        lab.run(["ip", "addr", "add", f"{me}/24", "dev", ifname], role)
        lab.run(["ip", "link", "set", "lo", "up"], role)
        lab.run(["ip", "route", "add", "default", "via", via], role)
    lab.run(["nstat", "-n"], "server")  # start the counters' history now
    server = subprocess.Popen(["ip", "netns", "exec", lab.ns("server"), sys.executable, "-c", _SERVER, a.server4,
                               str(cfg.port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # the listener is up
        out = lab.run([sys.executable, "-c", _CLIENT, a.server4, str(cfg.port)], "client").split("\n")
    finally:
        server.wait(timeout=20)
    counters = lab.run(["nstat", "-az", "TcpExtTSEcrRejected"], "server")
    rejected = next((int(line.split()[1]) for line in counters.splitlines() if line.startswith("TcpExtTSEcrRejected")),
                    None)
    return RealStacks(rejected, float(out[1]), ast.literal_eval(out[0]))
