"""The Linux lab: three network namespaces, client ─ proxy ─ server, with raw endpoints.

Theory of operation
-------------------
::

    client ns                     proxy ns                          server ns
    [<t>c] ──────── veth ──────── [<t>pc]  ip_forward  [<t>ps] ──────── veth ──────── [<t>s]
    raw socket                    198.18.0.1/24        198.19.0.1/24                  raw socket
    "198.18.0.2"                  2001:db8:0:1::1/64   2001:db8:0:2::1/64             "198.19.0.2"

The proxy namespace is an ordinary Linux router (the implementation under test is whatever
netfilter ruleset a caller loads into it). The endpoints are raw (docs/LAB.md, "The end hosts
are raw"): their veth ends have no IPv4 address and IPv6 disabled, so their kernels stay
silent, and the proxy reaches them through permanent neighbour entries. The endpoint addresses in
quotes exist only in the packets the caller crafts. Addresses are the benchmarking range
198.18.0.0/15 (RFC 2544 §12, RFC 6890) and the documentation prefix 2001:db8::/32 (RFC 3849).

Names are unique per run and per pytest-xdist worker: ``sc-[<worker>-]<pid>-<token>-<role>`` for
namespaces, so :func:`clean_stale` can tell a live lab (its pid runs) from a SIGKILLed one's
leftovers. Veth pairs are created directly inside the namespaces (``ip -n NS link add ... peer
name ... netns NS2``); the host (initial) namespace gets no link, address, route, rule or sysctl.
Deleting the three namespaces removes everything the lab made. The proxy's veth ends have TX
checksum offload off, so packets the proxy's kernel generates are captured with real checksums
(see :mod:`splicecheck.adapters.rawsock`).

Captures end on evidence, not on quiet periods: :meth:`Lab.exchange_fenced` follows the injected
packet with a *fence*, an ICMP echo request to the proxy on the same leg, and reads until the echo
reply is back (the proxy's kernel handles one CPU's backlog in order, so every direct answer to the
packet has been captured by then), plus a short grace period. :meth:`Lab.flush_conntrack` empties
the proxy's conntrack table through ctnetlink (``conntrack -F``) so that connections can be made
afresh without building a new lab.

Teardown runs on every exit path: ``__exit__`` (normal or exception), SIGINT/SIGTERM/SIGHUP turned
into exceptions while a lab is open (previous handlers restored when the last lab closes), and an
``atexit`` safety net (:mod:`.signals`). The fences and the conntrack flush are :mod:`.fence`'s.
Only SIGKILL escapes; ``clean_stale()`` is for that.
"""

from __future__ import annotations

import ipaddress
import os
import re
import select
import socket
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ...conformance import interrupts
from . import netns, signals
from .fence import FENCE_IDENT, LabFenceTimeout, flush_conntrack, icmp_echo, is_fence_reply, open_ctnetlink, this_cpu
from .rawsock import (
    Captured,
    RawLeg,
    collect,
    disable_tx_checksum_offload,
    open_offload_socket,
    open_packet_socket,
)

__all__ = [
    "ADDR",
    "PREFIX",
    "CleanReport",
    "Lab",
    "LabAddresses",
    "LabNames",
    "Side",
    "clean",
    "clean_stale",
    "lab_namespaces",
    "stale_labs",
]

PREFIX = "sc-"


class Side(StrEnum):
    """Which side of the proxy a lab endpoint (and its veth link) is on. Not a splice leg: that is
    :class:`splicecheck.reference.relay.Leg`."""

    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class LabAddresses:
    """Lab-only addresses and MACs (the same in every lab: namespaces keep labs apart)."""

    client4: str = "198.18.0.2"
    proxy_client4: str = "198.18.0.1"
    proxy_server4: str = "198.19.0.1"
    server4: str = "198.19.0.2"
    client6: str = "2001:db8:0:1::2"
    proxy_client6: str = "2001:db8:0:1::1"
    proxy_server6: str = "2001:db8:0:2::1"
    server6: str = "2001:db8:0:2::2"
    # Locally administered unicast MACs, 02:73:63 = "sc".
    client_mac: str = "02:73:63:00:00:01"
    proxy_client_mac: str = "02:73:63:00:00:02"
    proxy_server_mac: str = "02:73:63:00:00:03"
    server_mac: str = "02:73:63:00:00:04"


ADDR = LabAddresses()


def foreign_blackholes(proxy_addr: str, prefix: int) -> list[str]:
    """The link's addresses from host number 64 up (IPv4 .64–.255; IPv6 ::40–::ff), routed to a blackhole in
    the proxy's namespace. No lab host lives there (they are numbered 1 and 2); the cases name foreign hosts
    there (DIR-ONLY: 198.18.0.98, .99; the one-off address flips the last octet's top bit). Without the
    route, a foreign segment to such a host would be forwarded by the proxy's kernel (it is a router), whose
    neighbour lookup fails ~3 s later with an ICMP host unreachable — a packet that lands in a later case.
    Forwarding traffic not addressed to the splice is the host's routing, not the splice: the lab makes it
    silent and immediate. The proxy's own addresses (the local table, looked up first) are unaffected."""
    net = ipaddress.ip_network(f"{proxy_addr}/{prefix}", strict=False)
    base, width = int(net.network_address), net.max_prefixlen
    return [f"{ipaddress.ip_address(base + 64)}/{width - 6}", f"{ipaddress.ip_address(base + 128)}/{width - 7}"]


@dataclass(frozen=True, slots=True)
class LabNames:
    """Namespace and interface names of one lab run."""

    tag: str  # e.g. "sc-gw1-4242-9f3a"
    client_ns: str
    proxy_ns: str
    server_ns: str
    client_if: str
    proxy_client_if: str
    proxy_server_if: str
    server_if: str

    @classmethod
    def fresh(cls, prefix: str = PREFIX) -> LabNames:
        tag, token = netns.unique_tag(prefix)
        short = f"sc{token}"  # interface names: ≤15 chars (IFNAMSIZ-1), unique per run
        return cls(tag, f"{tag}-cli", f"{tag}-prx", f"{tag}-srv",
                   f"{short}c", f"{short}pc", f"{short}ps", f"{short}s")

    @property
    def namespaces(self) -> tuple[str, str, str]:
        return (self.client_ns, self.proxy_ns, self.server_ns)


def _name_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}(?:(?P<worker>[a-z][a-z0-9]*)-)?(?P<pid>\d+)-[0-9a-f]{{4}}-[a-z]{{3}}$")


def lab_namespaces(prefix: str = PREFIX) -> list[str]:
    """Namespaces whose names the lab (or preflight) made, live or stale."""
    pattern = _name_pattern(prefix)
    return [n for n in netns.list_netns() if pattern.match(n)]


@dataclass(frozen=True, slots=True)
class CleanReport:
    """What :func:`clean` did: namespaces removed, those it could not remove (and why), live ones spared."""

    removed: list[str]
    failed: list[str]
    live: list[str]
    reason: str = ""  # why ``failed`` could not be removed, when one reason explains all (not root)


def _tag_of(name: str) -> str:
    return name.rsplit("-", 1)[0]


def _run_is_alive(tag: str, pid: int) -> bool:
    """A lab run's liveness: its lock (:class:`netns.RunLock`, valid across PID namespaces); for a run
    that left no lock file (an older splicecheck), whether its pid runs in this PID namespace."""
    alive = netns.run_liveness(tag)
    return netns.process_alive(pid) if alive is None else alive


def _sorted_labs(prefix: str, include_live: bool) -> tuple[list[str], list[str]]:
    """The lab namespaces :func:`clean` would remove (those of dead runs; all with ``include_live``) and
    those it would spare."""
    mine = {n for lab in signals.live() if isinstance(lab, Lab) for n in lab.names.namespaces}
    pattern = _name_pattern(prefix)
    doomed: list[str] = []
    live: list[str] = []
    for name in netns.list_netns():
        m = pattern.match(name)
        if not m:
            continue
        pid = int(m["pid"])
        if name in mine:
            (doomed if include_live else live).append(name)
        elif include_live or not _run_is_alive(_tag_of(name), pid):
            doomed.append(name)
        else:
            live.append(name)
    return doomed, live


def stale_labs(prefix: str = PREFIX) -> list[str]:
    """Lab namespaces left by runs that are gone: what ``lab clean`` would remove, without removing them."""
    return _sorted_labs(prefix, include_live=False)[0]


def clean(prefix: str = PREFIX, *, include_live: bool = False) -> CleanReport:
    """Delete lab namespaces left behind by dead runs (e.g. SIGKILLed ones) and their lock files.

    A namespace belongs to a dead run when nobody holds its run's lock (see :class:`netns.RunLock`:
    this holds across PID namespaces, which share ``/run/netns``), or when it is this process's and no
    open :class:`Lab` owns it. Labs of running processes (a parallel pytest worker, a run in a
    container) are left alone unless ``include_live``. Only names matching the lab's pattern are
    touched.
    """
    doomed, live = _sorted_labs(prefix, include_live)
    failed = netns.del_netns(*doomed)
    removed = [n for n in doomed if n not in failed]
    gone = {_tag_of(n) for n in removed} - {_tag_of(n) for n in failed} - {_tag_of(n) for n in live}
    for tag in sorted(gone):
        netns.remove_lock(tag)
    reason = ""
    if failed and os.geteuid() != 0:
        reason = "not root: deleting a network namespace needs root (CAP_SYS_ADMIN)"
    return CleanReport(removed, failed, live, reason)


def clean_stale(prefix: str = PREFIX, *, include_live: bool = False) -> list[str]:
    """:func:`clean`, returning the names it removed."""
    return clean(prefix, include_live=include_live).removed


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


# --------------------------------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------------------------------


class Lab:
    """Three namespaces joined by two veth pairs, with raw client and server endpoints.

    Use as a context manager::

        with Lab() as lab:
            lab.nft(RULESET)
            lab.inject(Side.CLIENT, syn_bytes)
            got = lab.collect({Side.CLIENT: 1})

    ``ipv6`` adds the IPv6 addresses, routes and neighbours (IPv4 is always there). ``mtu`` sets the
    MTU of all four veth ends (default: the kernel's 1500), e.g. 65535 so that no injected segment is
    too large for the link, whatever its MSS and options.
    """

    def __init__(self, *, prefix: str = PREFIX, ipv6: bool = True, ready_timeout: float = 3.0,
                 mtu: int | None = None) -> None:
        if mtu is not None and not 1280 <= mtu <= 65535:
            raise ValueError(f"mtu {mtu} out of range 1280..65535")
        self.names = LabNames.fresh(prefix)
        self.addr = ADDR
        self.ipv6 = ipv6
        self.mtu = mtu
        self.ready_timeout = ready_timeout
        self.owner_pid = os.getpid()
        self.legs: dict[Side, RawLeg] = {}
        self._open = False
        self._fence_seq = 0
        self._ctnetlink: socket.socket | None = None
        self._ctnetlink_seq = 0
        self._lock: netns.RunLock | None = None

    # -- life cycle -----------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: types.TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Build the lab; on any failure (or a signal) during set-up, tear down what exists and re-raise."""
        with signals.state_lock:
            signals.register(self)
            self._open = True
        try:
            with signals.signals_blocked():  # the lock exists whenever the namespaces do
                self._lock = netns.RunLock(self.names.tag)
            self._build()
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Tear down (idempotent): close the raw sockets, delete the namespaces, restore signal handlers."""
        with signals.signals_blocked(), signals.state_lock:
            for leg in self.legs.values():
                leg.close()
            self.legs.clear()
            if self._ctnetlink is not None:
                self._ctnetlink.close()
                self._ctnetlink = None
            if self._open:
                failed = netns.del_netns(*self.names.namespaces)
                self._open = False
                if self._lock is not None:
                    if failed:  # keep the file: the cleaner must see this run is gone, not that it never was
                        self._lock.path = ""
                    self._lock.release()
                    self._lock = None
                signals.unregister(self)
                if failed:
                    raise RuntimeError(f"could not delete lab namespaces {failed}; run clean_stale()")

    # -- set-up ---------------------------------------------------------------------------------

    def _build(self) -> None:
        n, a = self.names, self.addr
        netns.add_netns(*n.namespaces)
        for ns in (n.client_ns, n.server_ns):
            # New links inherit "default": the endpoint veths are born with IPv6 off (no ND, no MLD).
            netns.write_sysctls(ns, {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1})
        netns.write_sysctls(n.proxy_ns, {
            "net.ipv4.ip_forward": 1,
            "net.ipv6.conf.all.forwarding": 1,
            "net.ipv6.conf.default.accept_dad": 0,
            "net.ipv6.conf.default.addr_gen_mode": 1,  # no link-local: static neighbours make ND moot
            "net.ipv6.conf.default.disable_ipv6": 0 if self.ipv6 else 1,
        })
        mtu = f" mtu {self.mtu}" if self.mtu is not None else ""
        netns.ip_batch(n.client_ns, [
            f"link add {n.client_if} address {a.client_mac} type veth"
            f" peer name {n.proxy_client_if} address {a.proxy_client_mac} netns {n.proxy_ns}",
            f"link set {n.client_if}{mtu} up",
        ])
        netns.ip_batch(n.server_ns, [
            f"link add {n.server_if} address {a.server_mac} type veth"
            f" peer name {n.proxy_server_if} address {a.proxy_server_mac} netns {n.proxy_ns}",
            f"link set {n.server_if}{mtu} up",
        ])
        proxy = [
            "link set lo up",
            *([f"link set {n.proxy_client_if}{mtu}", f"link set {n.proxy_server_if}{mtu}"] if mtu else []),
            f"link set {n.proxy_client_if} up",
            f"link set {n.proxy_server_if} up",
            f"addr add {a.proxy_client4}/24 dev {n.proxy_client_if}",
            f"addr add {a.proxy_server4}/24 dev {n.proxy_server_if}",
            f"neigh replace {a.client4} lladdr {a.client_mac} nud permanent dev {n.proxy_client_if}",
            f"neigh replace {a.server4} lladdr {a.server_mac} nud permanent dev {n.proxy_server_if}",
        ]
        proxy += [f"route add blackhole {net}" for net in foreign_blackholes(a.proxy_client4, 24)
                  + foreign_blackholes(a.proxy_server4, 24)]
        if self.ipv6:
            proxy += [f"route add blackhole {net}" for net in foreign_blackholes(a.proxy_client6, 64)
                      + foreign_blackholes(a.proxy_server6, 64)]
            proxy += [
                f"addr add {a.proxy_client6}/64 dev {n.proxy_client_if} nodad",
                f"addr add {a.proxy_server6}/64 dev {n.proxy_server_if} nodad",
                f"neigh replace {a.client6} lladdr {a.client_mac} nud permanent dev {n.proxy_client_if}",
                f"neigh replace {a.server6} lladdr {a.server_mac} nud permanent dev {n.proxy_server_if}",
            ]
        netns.ip_batch(n.proxy_ns, proxy)

        def no_offload() -> None:
            for ifname in (n.proxy_client_if, n.proxy_server_if):
                disable_tx_checksum_offload(ifname)

        netns.call_in_netns(n.proxy_ns, no_offload)
        for leg, ns, ifname, mac, own in (
                (Side.CLIENT, n.client_ns, n.client_if, a.proxy_client_mac, a.client_mac),
                (Side.SERVER, n.server_ns, n.server_if, a.proxy_server_mac, a.server_mac)):
            def sockets(ifname: str = ifname) -> tuple[socket.socket, socket.socket]:
                rx = open_packet_socket(ifname)
                try:
                    return rx, open_offload_socket(ifname)
                except BaseException:
                    rx.close()
                    raise

            rx, tx = netns.call_in_netns(ns, sockets)
            self.legs[leg] = RawLeg(leg.value, rx, ifname, _mac(mac), tx, _mac(own))

    def _wait_ready(self) -> None:
        """Echo the proxy on each leg (and family) until it answers: carrier, qdisc and routes are up."""
        a = self.addr
        probes = [(Side.CLIENT, icmp_echo(a.client4, a.proxy_client4, 1)),
                  (Side.SERVER, icmp_echo(a.server4, a.proxy_server4, 2))]
        if self.ipv6:
            probes += [(Side.CLIENT, icmp_echo(a.client6, a.proxy_client6, 3)),
                       (Side.SERVER, icmp_echo(a.server6, a.proxy_server6, 4))]
        deadline = time.monotonic() + self.ready_timeout
        retried = False
        for leg, packet in probes:
            while True:
                self.legs[leg].send(packet)
                if collect({self.legs[leg]: 1}, timeout=0.05)[leg.value]:
                    break
                retried = True
                if time.monotonic() > deadline:
                    raise RuntimeError(f"lab {self.names.tag}: proxy does not answer on the {leg} leg")
        if retried:  # a late answer to an earlier attempt must not pollute the caller's first capture
            collect({leg: None for leg in self.legs.values()}, timeout=1.0, quiet=0.2)
        self.flush()

    # -- use ------------------------------------------------------------------------------------

    def ns(self, role: str) -> str:
        """Namespace name of ``"client"``, ``"proxy"`` or ``"server"``."""
        return {"client": self.names.client_ns, "proxy": self.names.proxy_ns, "server": self.names.server_ns}[role]

    def nft(self, ruleset: str, role: str = "proxy") -> None:
        """Load an nft ruleset (``nft -f -``) into a lab namespace, the proxy's by default."""
        netns.run_in_netns(self.ns(role), ["nft", "-f", "-"], input=ruleset)

    def sysctl(self, settings: Mapping[str, str | int], role: str = "proxy") -> None:
        """Set ``net.*`` sysctls inside a lab namespace."""
        netns.write_sysctls(self.ns(role), dict(settings))

    def run(self, argv: list[str], role: str = "proxy", *, check: bool = True) -> str:
        """Run a command inside a lab namespace and return its stdout."""
        return netns.run_in_netns(self.ns(role), argv, check=check).stdout

    def call(self, fn: Callable[[], Any], role: str = "proxy") -> Any:
        """Run a Python callable in a thread inside a lab namespace."""
        return netns.call_in_netns(self.ns(role), fn)

    def inject(self, leg: Side, packet: bytes, *, offload: bool = False) -> None:
        """Send one bare IP packet from the ``leg`` endpoint towards the proxy (``offload``: see
        :meth:`RawLeg.send <splicecheck.adapters.rawsock.RawLeg.send>`)."""
        interrupts.check()
        self.legs[leg].send(packet, offload=offload)

    def collect(self, expect: Mapping[Side, int | None], *, timeout: float = 1.0,
                quiet: float = 0.05) -> dict[Side, list[Captured]]:
        """Capture what the proxy emits on the given legs (see :func:`rawsock.collect` for the rules)."""
        got = collect({self.legs[leg]: n for leg, n in expect.items()}, timeout=timeout, quiet=quiet)
        return {leg: got[leg.value] for leg in expect}

    def exchange(self, leg: Side, packet: bytes, expect: Mapping[Side, int | None], *, timeout: float = 1.0,
                 quiet: float = 0.05, offload: bool = False) -> dict[Side, list[Captured]]:
        """Inject ``packet`` on ``leg`` and capture the proxy's answer. The capture sockets exist before
        the injection, so nothing can be missed."""
        self.inject(leg, packet, offload=offload)
        return self.collect(expect, timeout=timeout, quiet=quiet)

    def flush(self) -> int:
        """Discard everything captured so far on both legs; return how many lab packets were dropped."""
        return sum(leg.flush() for leg in self.legs.values())

    def flush_conntrack(self) -> None:
        """Empty the proxy namespace's conntrack table, like ``conntrack -F``: one ctnetlink
        IPCTNL_MSG_CT_DELETE without a tuple (``ctnetlink_del_conntrack`` then flushes every family,
        synchronously, before it acknowledges). The netlink socket is opened in the proxy namespace
        at first use and kept until :meth:`close`."""
        if self._ctnetlink is None:
            self._ctnetlink = self.call(open_ctnetlink)
        self._ctnetlink_seq += 1
        flush_conntrack(self._ctnetlink, self._ctnetlink_seq, self.names.proxy_ns)

    def fence(self, leg: Side) -> tuple[bytes, int]:
        """The next fence for ``leg``: an ICMP echo request from the leg's endpoint to the proxy's own
        IPv4 address on that leg, and its sequence number."""
        self._fence_seq = self._fence_seq % 0xFFFF + 1
        a = self.addr
        src, dst = (a.client4, a.proxy_client4) if leg is Side.CLIENT else (a.server4, a.proxy_server4)
        return icmp_echo(src, dst, FENCE_IDENT, self._fence_seq), self._fence_seq

    def exchange_fenced(self, leg: Side, packet: bytes, expect: Mapping[Side, int] | None = None, *,
                        timeout: float = 1.0, grace: float = 0.0, short_grace: float = 0.002,
                        offload: bool = False, ethertype: int | None = None) -> dict[Side, list[Captured]]:
        """Inject ``packet`` on ``leg``, then a fence; capture on both legs until the fence's reply.

        A packet sent on a packet socket enters the backlog of the sending CPU, and the proxy's
        kernel takes one CPU's backlog in order: everything it emits in direct answer to a packet (a
        forwarded copy, a SYN-ACK, an ICMP error) is queued behind it before the next packet is
        taken. (Normally all of it even happens inside ``send``: the softirq runs when the send path
        re-enables bottom halves.) So when the echo reply to the fence is captured, every such
        answer to ``packet`` has been captured too: the capture ends on evidence, not on a guessed
        quiet period. Capturing then goes on for ``grace`` seconds (polling, not sleeping: a sleep
        that short oversleeps on a busy machine), or ``short_grace`` when fewer
        packets came than ``expect`` says (or ``expect`` is None), or when the thread moved to
        another CPU between the two sends (the order argument then does not hold). Fence replies are
        left out of the result. Raises :class:`LabFenceTimeout` if no reply comes within ``timeout``.
        """
        interrupts.check()  # a signal whose raise was swallowed (gc callback) stops the next exchange
        fence, seq = self.fence(leg)
        sender = self.legs[leg]
        cpu = this_cpu()
        sender.send(packet, offload=offload, ethertype=ethertype)
        sender.send(fence)
        moved = this_cpu() != cpu
        out: dict[Side, list[Captured]] = {lg: [] for lg in self.legs}
        socks = list(self.legs.items())
        deadline = time.monotonic() + timeout
        fenced = spin = False
        stop_at: float | None = None  # set once the fence is back; one more full read pass always follows
        while True:
            for lg, rx in socks:
                for c in rx.read_ready():
                    if is_fence_reply(c.data):
                        fenced = fenced or (lg is leg and is_fence_reply(c.data, seq))
                        continue  # this fence's reply, or a stale one's
                    out[lg].append(c)
            now = time.monotonic()
            if stop_at is None and fenced:
                met = not moved and expect is not None and all(len(out[lg]) >= n for lg, n in expect.items())
                spin = met  # a short grace is polled (a sleep that short oversleeps on a busy machine)
                stop_at = now + (grace if met else short_grace)
                continue
            limit = deadline if stop_at is None else stop_at
            if now >= limit:
                if stop_at is None:
                    raise LabFenceTimeout(f"lab {self.names.tag}: no reply to fence {seq} on the {leg} leg "
                                          f"within {timeout} s")
                return out
            if not spin:
                select.select([rx for _, rx in socks], [], [], limit - now)
