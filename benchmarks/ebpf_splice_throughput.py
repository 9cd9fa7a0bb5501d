"""Throughput and latency through the eBPF splice vs a user-space relay vs plain IP forwarding (issue 15).

Why one file of ~660 lines: a benchmark is one runnable script; its bench (the lab set up for kernel TCP),
the capture tap and the latency and offload helpers serve this measurement only.

Needs root, network namespaces, clang and libbpf (the ``ebpf-splice`` adapter's needs); prints why and
exits 0 otherwise.

One lab (docs/LAB.md), its end hosts given real addresses and kernel TCP for this measurement. The
server sends ``--mb`` megabytes to the client, the client checks every byte (a SHA-256 of the stream),
in three ways through the same namespaces:

* ``forward``: the client connects to the server's address; the proxy namespace routes (IP forwarding).
* ``relay``: a SOCKS-like proxy in the proxy namespace accepts the client, connects the server, writes
  a 3-byte OK message and copies server→client bytes with a read/write loop.
* ``splice``: the same proxy, but after the OK message is acknowledged it puts both sockets in repair
  mode (``TCP_REPAIR``: they send nothing more), reads the splice constants from them
  (``TCP_QUEUE_SEQ`` of the receive and send queues: rcv_nxt and snd_nxt; ``TCP_INFO``: window
  scales, SACK) and writes them into the datapath's map; the client's go-byte and the whole transfer
  then cross the proxy through the eBPF datapath only.

Measured per mode: megabytes per second (wall clock), the CPU time of the whole process (client,
server and proxy threads, and the softirq work the kernel does in their context) per megabyte, and the
proxy thread's own CPU time per megabyte. Timestamps are off in all three namespaces (the proxy cannot
read its sockets' last TSvals; every mode runs the same TCP); checksum offloads are off on the end
hosts' links both ways, so that every packet carries a full checksum, which the datapath updates
incrementally, and the receiving TCP verifies it (the end hosts' TcpInCsumErrors are printed).
``--offload`` leaves the end hosts' send checksum offload and TSO on (the datapath then sees partial
checksums and GSO packets of up to 64 KB), ``--gro`` turns GRO on on the proxy's veths (coalesced
segments, partial checksums too); the proxy's veths never offload send checksums, so the kernel completes
and segments what the datapath redirects before the client's TCP checks it (docs/LAB.md, "Offloads"). The machine is
shared: numbers vary from run to run, the ratios less.

Latency (``--rtts``, default 2000; 0 skips it): request/response round trips of ``--size`` bytes (default
64) between the same client and server, through each path: the client writes a message, the server echoes
it, the client reads it back whole (and checks it) before writing the next; TCP_NODELAY on every socket.
The relay copies both directions (one ``select`` loop, as a one-thread proxy does); the splice has both
directions in the map. Each round trip is timed on the client (``perf_counter_ns``), the first 100 are a
warm-up and not counted; median and 99th percentile per mode, their ratios, and what the relay and the
splice add to forwarding's median round trip (the proxy's own share of the latency) are printed. The client,
the server and the relay are threads of this process: while a message is in flight only one of them is
runnable, so they do not wait for each other's interpreter lock.

Forwarding latency (``--fwd-mb``, default 20; 0 skips it), the quantity of the paper's §4.3 (Table 1,
figure 12): during one more transfer per mode, packet sockets on both of the proxy's veths timestamp (in the
kernel, SO_TIMESTAMPNS) each segment the server sent as it enters the proxy, before tc ingress, and each
packet towards the client as it leaves; per server segment, the time until the packet carrying its last
byte leaves (first transmissions; stream positions counted back from the end of the transfer). Mean,
median and 99th percentile per mode, and the relay/splice ratio of the means. The relay's figure is mostly
queueing in its socket buffers (it reads up to 1 MB at a time), as in the paper; it is a thread of this
process, so it also shares the interpreter lock with the client, the server and the capture.

    .venv/bin/python benchmarks/ebpf_splice_throughput.py --mb 200 --runs 3 --rtts 5000 --fwd-mb 20

Why one script of some 670 lines: a benchmark here is one runnable file; its three paths share the lab,
the transfer and the measurements, printed side by side.
"""

from __future__ import annotations

import argparse
import array
import bisect
import contextlib
import fcntl
import functools
import hashlib
import os
import resource
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from splicecheck.adapters.ebpf_splice import EbpfSpliceAdapter, directions
from splicecheck.adapters.ebpf_splice.loader import Datapath
from splicecheck.adapters.lab import netns
from splicecheck.adapters.lab.rawsock import disable_tx_checksum_offload
from splicecheck.adapters.lab.topology import Lab
from splicecheck.reference.relay import Endpoint, Leg, SpliceState
from splicecheck.reference.segment import addr

TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2
TCPI_OPT_SACK, TCPI_OPT_WSCALE = 2, 4
SERVER_PORT, PROXY_PORT = 5001, 1080
OK = b"OK\n"
CHUNK = 1 << 16
WARMUP = 100  # round trips not counted
STALL = 10.0  # seconds without a byte: the transfer failed (reported, not waited out)


def _pattern(total: int) -> tuple[bytes, str]:
    block = bytes(range(256)) * (CHUNK // 256)
    h = hashlib.sha256()
    left = total
    while left:
        n = min(left, CHUNK)
        h.update(block[:n])
        left -= n
    return block, h.hexdigest()


@dataclass
class Result:
    mode: str
    seconds: float
    cpu: float  # the process's user+sys seconds
    proxy_cpu: float  # the proxy thread's user+sys seconds
    ok: bool


def _thread_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def _proc_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Bench:
    def __init__(self, lab: Lab, datapath: Datapath, total: int) -> None:
        self.lab, self.dp, self.total = lab, datapath, total
        self.block, self.digest = _pattern(total)
        self.socks: list[socket.socket] = []  # every socket made, shut down if a run is interrupted
        self.aborted = False

    def sock(self, role: str) -> socket.socket:
        s: socket.socket = self.lab.call(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), role)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socks.append(s)
        return s

    def abort(self) -> None:
        """Unblock every thread of an interrupted run (they are daemons: none keeps the process alive)."""
        self.aborted = True
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.socks.clear()

    def server(self, lsock: socket.socket) -> None:
        conn, _ = lsock.accept()
        conn.settimeout(STALL)
        with conn:
            if conn.recv(1) != b"G":  # the client's go-byte, through the proxy
                return
            left = self.total
            while left:  # whole chunks (the digest is of the pattern cut at CHUNK boundaries)
                n = min(left, CHUNK)
                conn.sendall(self.block[:n])
                left -= n

    def client(self, to: tuple[str, int], ready: threading.Event | None, out: list[bool]) -> None:
        c = self.sock("client")
        with c:
            c.connect(to)
            if ready is not None:  # through a proxy: its OK message, then the splice (or relay) is ready
                got = b""
                while len(got) < len(OK):
                    got += c.recv(len(OK) - len(got))
                if not ready.wait(10):
                    out.append(False)
                    return
            c.sendall(b"G")
            h, n = hashlib.sha256(), 0
            c.settimeout(STALL)
            try:
                while True:
                    data = c.recv(1 << 20)
                    if not data:
                        break
                    h.update(data)
                    n += len(data)
            except TimeoutError:
                print(f"  stalled: nothing received for {STALL:g} s after {n} bytes", file=sys.stderr)
            out.append(n == self.total and h.hexdigest() == self.digest)

    def echo(self, lsock: socket.socket) -> None:
        conn, _ = lsock.accept()
        conn.settimeout(STALL)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    return
                conn.sendall(data)

    def pinger(self, to: tuple[str, int], ready: threading.Event | None, n: int, size: int,
               out: list[list[int]]) -> None:
        """``n`` round trips of ``size`` bytes (after the warm-up), each checked; nanoseconds per trip."""
        c = self.sock("client")
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with c:
            c.connect(to)
            if ready is not None:
                got = b""
                while len(got) < len(OK):
                    got += c.recv(len(OK) - len(got))
                if not ready.wait(10):
                    return
            rtts: list[int] = []
            c.settimeout(STALL)
            for i in range(WARMUP + n):
                msg = bytes((i + k) & 0xFF for k in range(size))
                t0 = time.perf_counter_ns()
                c.sendall(msg)
                back = b""
                while len(back) < size:
                    try:
                        part = c.recv(size - len(back))
                    except TimeoutError:
                        print(f"  stalled: no echo for {STALL:g} s", file=sys.stderr)
                        return
                    if not part:
                        return
                    back += part
                rtts.append(time.perf_counter_ns() - t0)
                if back != msg:
                    return
            out.append(rtts[WARMUP:])

    def latency(self, mode: str, n: int, size: int) -> list[int] | None:
        """Round-trip times through ``mode`` (None: a message came back wrong or not at all)."""
        out: list[list[int]] = []
        self.exchange(mode, self.echo, mode + "-both", [],
                      lambda to, ready: self.thread(self.pinger, to, ready, n, size, out))
        return out[0] if out else None

    def run(self, mode: str) -> Result:
        proxy_cpu: list[float] = []
        ok: list[bool] = []
        seconds, cpu = self.exchange(mode, self.server, mode, proxy_cpu,
                                     lambda to, ready: self.thread(self.client, to, ready, ok))
        return Result(mode, seconds, cpu, proxy_cpu[0] if proxy_cpu else 0.0, ok == [True])

    def exchange(self, mode: str, serve: Callable[[socket.socket], None], proxy_mode: str, proxy_cpu: list[float],
                 client: Callable[[tuple[str, int], threading.Event | None], threading.Thread]) -> tuple[float, float]:
        """One client-server exchange through ``mode``: the server's listening socket served by ``serve``,
        unless ``mode`` is ``forward`` a proxy (in ``proxy_mode``) in between, and the client thread
        ``client(to, ready)`` makes; all run to their end (or the lab is aborted). Returns the wall time and
        the process's CPU time the exchange took."""
        a = self.lab.addr
        lsock = self.sock("server")
        lsock.bind((a.server4, SERVER_PORT))
        lsock.listen(1)
        psock = None
        ready = threading.Event() if mode != "forward" else None
        threads = [self.thread(serve, lsock)]
        if mode == "forward":
            to = (a.server4, SERVER_PORT)
        else:
            psock = self.sock("proxy")
            psock.bind((a.proxy_client4, PROXY_PORT))
            psock.listen(1)
            to = (a.proxy_client4, PROXY_PORT)
            threads.append(self.thread(self.proxy, psock, proxy_mode, ready, proxy_cpu))
        threads.append(client(to, ready))
        cpu0, t0 = _proc_cpu(), time.perf_counter()
        try:
            for t in threads:
                t.start()
            for t in threads:  # the server's loop (and the relay) end on the client's FIN
                t.join(120)
        except BaseException:
            self.abort()
            raise
        seconds, cpu = time.perf_counter() - t0, _proc_cpu() - cpu0
        lsock.close()
        if psock is not None:
            psock.close()
        return seconds, cpu

    def thread(self, target: Callable[..., None], *args: object) -> threading.Thread:
        """A daemon thread running ``target``; the socket errors an abort causes end it quietly."""
        def body() -> None:
            try:
                target(*args)
            except TimeoutError:  # a stalled peer: the client's check reports the failure
                return
            except OSError:
                if not self.aborted:
                    raise

        return threading.Thread(target=body, daemon=True)

    def proxy(self, psock: socket.socket, mode: str, ready: threading.Event, cpu: list[float]) -> None:
        a = self.lab.addr
        c0 = _thread_cpu()
        cconn, _ = psock.accept()
        d = self.sock("proxy")
        d.bind((a.proxy_server4, 0))
        d.connect((a.server4, SERVER_PORT))
        cconn.sendall(OK)
        if mode == "relay-both":  # the latency relay: both directions, one select loop
            for s in (cconn, d):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ready.set()
            peer = {cconn: d, d: cconn}
            with cconn, d:
                while True:
                    readable, _, _ = select.select(list(peer), [], [])
                    for s in readable:
                        data = s.recv(CHUNK)
                        if not data:
                            return
                        peer[s].sendall(data)
        if mode == "relay":
            ready.set()
            with cconn, d:
                d.sendall(cconn.recv(1))  # the go-byte
                while True:
                    data = d.recv(1 << 20)
                    if not data:
                        break
                    cconn.sendall(data)
            cpu.append(_thread_cpu() - c0)
            return
        while _unacked(cconn):  # the splice is made once the OK message is acknowledged (LIFE-COMPLETE)
            time.sleep(0.0005)
        state = _splice_state(cconn, d)
        entries = directions(state, self.lab, self.dp.ifindex)
        for e in entries:
            self.dp.add(e)
        ready.set()
        cpu.append(_thread_cpu() - c0)
        self._spliced = (cconn, d, entries)  # closed in repair mode after the run: no FIN, no RST

    def unsplice(self) -> None:
        cconn, d, entries = self._spliced
        for e in entries:
            self.dp.remove(e)
        cconn.close()
        d.close()


def _unacked(s: socket.socket) -> int:
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("=I", info, 24)[0])


def _repair_leg(s: socket.socket) -> Leg:
    """Repair mode (the socket sends nothing from now on) and the leg's constants read from it."""
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    options, scales = info[5], info[6]
    snd_mss = struct.unpack_from("=I", info, 16)[0]  # tcpi_snd_mss: what the peer accepts, as this socket sends
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
    rcv_nxt = struct.unpack("=I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
    snd_nxt = struct.unpack("=I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    peer, local = s.getpeername(), s.getsockname()
    ws = bool(options & TCPI_OPT_WSCALE)
    return Leg(Endpoint(addr(peer[0]), peer[1]), Endpoint(addr(local[0]), local[1]), splice_irs=rcv_nxt,
               splice_iss=snd_nxt, sack=bool(options & TCPI_OPT_SACK),
               peer_wscale=scales & 15 if ws else None, local_wscale=scales >> 4 if ws else None,
               peer_mss=snd_mss)


def _splice_state(c: socket.socket, d: socket.socket) -> SpliceState:
    return SpliceState(_repair_leg(c), _repair_leg(d))


SO_TIMESTAMPNS, SO_RCVBUFFORCE, PACKET_OUTGOING = 35, 33, 4
TAP_SNAP = 128  # bytes of each captured frame read back (Ethernet, IPv4 and TCP headers)


class Tap:
    """Packet sockets on both of the proxy's veths, kernel-timestamped (SO_TIMESTAMPNS) where the packet
    enters the proxy (before tc ingress) and where it leaves (after the datapath's redirect, the relay's
    write or forwarding): the per-byte forwarding latency of the paper's §4.3."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.frames: dict[str, list[tuple[int, float, bytes]]] = {}
        self.socks: dict[str, socket.socket] = {}
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Tap:
        n = self.lab.names
        for ifname in (n.proxy_server_if, n.proxy_client_if):
            def make(ifname: str = ifname) -> socket.socket:
                t = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
                t.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 << 20)
                t.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                t.bind((ifname, 0))
                return t
            self.socks[ifname] = self.lab.call(make)
            self.frames[ifname] = []
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()
        return self

    def _drain(self) -> None:
        by_fd = {t.fileno(): (name, t) for name, t in self.socks.items()}
        while not self.stop.is_set():
            ready, _, _ = select.select(list(by_fd), [], [], 0.05)
            for fd in ready:
                name, t = by_fd[fd]
                data, anc, _flags, address = t.recvmsg(TAP_SNAP, 64)
                stamp = next((struct.unpack("=qq", d[:16]) for lvl, typ, d in anc
                              if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS), None)
                if stamp is not None:
                    self.frames[name].append((address[2], stamp[0] + stamp[1] / 1e9, data))

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # what is queued still counts
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5)
        for t in self.socks.values():
            t.close()


def _data_segments(frames: list[tuple[int, float, bytes]], outgoing: bool, sport: int | None,
                   dport: int | None) -> list[tuple[int, int, float]]:
    """(seq, payload length, time) of the TCP data segments among ``frames`` going the given way."""
    out = []
    for pkttype, t, f in frames:
        if (pkttype == PACKET_OUTGOING) != outgoing or len(f) < 14 + 40 or f[12:14] != b"\x08\x00" or f[23] != 6:
            continue
        ihl = (f[14] & 15) * 4
        total = struct.unpack_from("!H", f, 16)[0]
        tcp = 14 + ihl
        if len(f) < tcp + 20:
            continue
        sp, dp, seq = struct.unpack_from("!HHI", f, tcp)
        if (sport is not None and sp != sport) or (dport is not None and dp != dport):
            continue
        length = total - ihl - (f[tcp + 12] >> 4) * 4
        if length > 0:
            out.append((seq, length, t))
    return out


def forwarding_latency(bench: Bench, mode: str) -> list[float] | None:
    """Per-byte forwarding latency through ``mode`` during one transfer (paper §4.3, figure 12): for each
    segment the server's TCP sends, the time from its arrival at the proxy to the departure, towards the
    client, of the packet carrying its last byte (first transmissions only); microseconds. Stream
    positions are counted back from the stream's end, so the OK message ahead of the data does not
    matter. None: the transfer failed or the captures do not cover it."""
    n = bench.lab.names
    with Tap(bench.lab) as tap:
        r = bench.run(mode)
        if mode == "splice":
            bench.unsplice()
    if not r.ok:
        return None
    arrive = _data_segments(tap.frames[n.proxy_server_if], False, SERVER_PORT, None)
    leave = _data_segments(tap.frames[n.proxy_client_if], True, None, None)
    if not arrive or not leave:
        return None
    end_in = max((seq + ln) & 0xFFFFFFFF for seq, ln, _ in arrive[-50:])
    end_out = max((seq + ln) & 0xFFFFFFFF for seq, ln, _ in leave[-50:])

    def pos(end: int, seq: int) -> int:
        return bench.total - ((end - seq) & 0xFFFFFFFF)  # the byte's offset in the transfer

    first_out: dict[int, tuple[int, float]] = {}
    for seq, ln, t in leave:
        q0 = pos(end_out, seq)
        if 0 <= q0 < bench.total and q0 not in first_out:
            first_out[q0] = (q0 + ln, t)
    starts = sorted(first_out)
    seen: set[int] = set()
    lat: list[float] = []
    for seq, ln, t in arrive:
        last = pos(end_in, seq) + ln - 1
        if not 0 <= last < bench.total or last in seen:
            continue
        seen.add(last)
        i = bisect.bisect_right(starts, last) - 1
        if i < 0:
            continue
        q1, t_out = first_out[starts[i]]
        if last < q1:
            lat.append((t_out - t) * 1e6)
    return lat if len(lat) > len(arrive) // 2 else None


ETHTOOL_SRXCSUM, ETHTOOL_SGRO, SIOCETHTOOL = 0x15, 0x2C, 0x8946


def _ethtool_set(ifname: str, cmd: int, value: int) -> None:
    """One legacy ``struct ethtool_value`` ioctl, in the calling thread's namespace."""
    arg = array.array("I", [cmd, value])
    address, _ = arg.buffer_info()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack("16sP", ifname.encode(), address))


def _disable_rx_checksum(ifname: str) -> None:
    """``ethtool -K IF rx off`` (ETHTOOL_SRXCSUM): veth then stops marking received packets
    checksum-verified, so the end host's TCP checks every checksum the datapath wrote (TcpInCsumErrors
    counts what fails)."""
    _ethtool_set(ifname, ETHTOOL_SRXCSUM, 0)


def _enable_gro(ifname: str) -> None:
    """``ethtool -K IF gro on`` (ETHTOOL_SGRO): veth then receives through NAPI and coalesces the
    segments of a flow before tc ingress sees them (tcp_gro_complete leaves a GSO packet whose TCP
    checksum is CHECKSUM_PARTIAL: the field holds the pseudo-header sum only)."""
    _ethtool_set(ifname, ETHTOOL_SGRO, 1)


def csum_errors(lab: Lab) -> int:
    """TcpInCsumErrors of the two end hosts (per network namespace)."""
    total = 0
    for role in ("client", "server"):
        lines = [ln.split() for ln in lab.run(["cat", "/proc/net/snmp"], role).splitlines() if ln.startswith("Tcp:")]
        total += int(dict(zip(lines[0], lines[1], strict=True))["InCsumErrors"])
    return total


def _prepare(lab: Lab, offload: bool, gro: bool) -> None:
    """Real end hosts: addresses, routes, kernel TCP; no timestamps anywhere; receive checksum offload off
    on their links (every checksum verified on receipt); send checksum offload (and with it TSO) off too
    unless ``offload``; GRO on the proxy's two veths if ``gro``. The proxy's veths never offload send
    checksums (the lab's own setting), so a packet the datapath redirects with a partial checksum, or as
    one GSO packet, is completed and segmented in software before it leaves, and the end host checks it."""
    a, n = lab.addr, lab.names
    for leg in lab.legs.values():  # the raw capture sockets would copy every packet
        leg.close()
    lab.legs.clear()
    netns.ip_batch(n.client_ns, [f"addr add {a.client4}/24 dev {n.client_if}",
                                 f"route add default via {a.proxy_client4}"])
    netns.ip_batch(n.server_ns, [f"addr add {a.server4}/24 dev {n.server_if}",
                                 f"route add default via {a.proxy_server4}"])
    for role, ifname in (("client", n.client_if), ("server", n.server_if)):
        if not offload:
            lab.call(functools.partial(disable_tx_checksum_offload, ifname), role)
        lab.call(functools.partial(_disable_rx_checksum, ifname), role)
    if gro:
        for ifname in (n.proxy_client_if, n.proxy_server_if):
            lab.call(functools.partial(_enable_gro, ifname))
        lab.sysctl({"net.ipv4.tcp_timestamps": 0}, role)
    lab.sysctl({"net.ipv4.tcp_timestamps": 0, "net.ipv4.ip_forward": 1})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100, help="megabytes per transfer (default 100)")
    ap.add_argument("--runs", type=int, default=3, help="transfers per mode; the median is printed")
    ap.add_argument("--rtts", type=int, default=2000, help="round trips per mode for latency (0: none)")
    ap.add_argument("--size", type=int, default=64, help="bytes per latency message (default 64)")
    ap.add_argument("--fwd-mb", type=int, default=20,
                    help="megabytes of the transfer whose per-byte forwarding latency is captured (0: none)")
    ap.add_argument("--offload", action="store_true",
                    help="leave the end hosts' send checksum offload and TSO on (partial checksums, GSO packets)")
    ap.add_argument("--gro", action="store_true", help="GRO on the proxy's veths (coalesced segments)")
    args = ap.parse_args()
    if args.mb < 1 or args.runs < 1 or args.rtts < 0 or args.fwd_mb < 0 or not 1 <= args.size <= CHUNK:
        print("ebpf_splice_throughput: --mb and --runs must be positive, --rtts and --fwd-mb not negative, "
              f"--size 1..{CHUNK}", file=sys.stderr)
        return 2
    missing = EbpfSpliceAdapter().missing()
    if missing:
        print("skipped: " + "; ".join(missing))
        return 0
    try:
        return _measure(args.mb, args.runs, args.rtts, args.size, args.offload, args.gro, args.fwd_mb)
    except KeyboardInterrupt:
        print("ebpf_splice_throughput: interrupted (the lab is torn down)", file=sys.stderr)
        return 130


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e3  # microseconds


def _measure(mb: int, runs: int, rtts: int, size: int, offload: bool, gro: bool, fwd_mb: int) -> int:
    total = mb * 1_000_000
    lab = Lab(ipv6=False)
    results: dict[str, list[Result]] = {"forward": [], "relay": [], "splice": []}
    with lab:
        _prepare(lab, offload, gro)
        with Datapath((lab.names.proxy_client_if, lab.names.proxy_server_if), lab.call) as dp:
            bench = Bench(lab, dp, total)
            for _ in range(runs):
                for mode in results:
                    r = bench.run(mode)
                    if mode == "splice":
                        bench.unsplice()
                    results[mode].append(r)
            trips: dict[str, list[int] | None] = {}
            for mode in results if rtts else ():
                trips[mode] = bench.latency(mode, rtts, size)
                if mode == "splice":
                    bench.unsplice()
            fwd: dict[str, list[float] | None] = {}
            if fwd_mb:
                fbench = Bench(lab, dp, fwd_mb * 1_000_000)
                for mode in results:
                    fwd[mode] = forwarding_latency(fbench, mode)
            counters = dp.counters()
            errors = csum_errors(lab)

    def median(mode: str, key: Callable[[Result], float]) -> float:
        values = sorted(key(r) for r in results[mode])
        return values[len(values) // 2]

    print(f"{mb} MB server→client, {runs} run(s) per mode, median; kernel {os.uname().release}; end hosts' send "
          f"offloads {'on' if offload else 'off'}, GRO on the proxy's veths {'on' if gro else 'off'}")
    print(f"{'mode':8} {'MB/s':>9} {'CPU ms/MB':>10} {'proxy CPU ms/MB':>16} {'bytes ok':>9}")
    rate = {m: mb / median(m, lambda r: r.seconds) for m in results}
    cpu = {m: 1e3 * median(m, lambda r: r.cpu) / mb for m in results}
    pcpu = {m: 1e3 * median(m, lambda r: r.proxy_cpu) / mb for m in results}
    for m in results:
        ok = all(r.ok for r in results[m])
        print(f"{m:8} {rate[m]:9.1f} {cpu[m]:10.3f} {pcpu[m]:16.4f} {ok!s:>9}")
    print(f"ratios: splice/relay throughput {rate['splice'] / rate['relay']:.2f}x, "
          f"splice/forward {rate['splice'] / rate['forward']:.2f}x; "
          f"CPU per MB splice/relay {cpu['splice'] / cpu['relay']:.2f}, "
          f"splice/forward {cpu['splice'] / cpu['forward']:.2f}")
    lat_ok = True
    if trips:
        print(f"latency: {rtts} round trips of {size} bytes per mode (after {WARMUP} warm-up), microseconds")
        print(f"{'mode':8} {'median':>9} {'p99':>9} {'bytes ok':>9}")
        med = {m: _percentile(t, 0.5) if t else float("nan") for m, t in trips.items()}
        p99 = {m: _percentile(t, 0.99) if t else float("nan") for m, t in trips.items()}
        for m, t in trips.items():
            print(f"{m:8} {med[m]:9.1f} {p99[m]:9.1f} {t is not None!s:>9}")
        lat_ok = all(t is not None for t in trips.values())
        print(f"ratios: relay/splice round trip median {med['relay'] / med['splice']:.2f}x, "
              f"p99 {p99['relay'] / p99['splice']:.2f}x; splice/forward median {med['splice'] / med['forward']:.2f}x, "
              f"p99 {p99['splice'] / p99['forward']:.2f}x")
        # the proxy's own share: what each path adds to forwarding's round trip (two crossings of the proxy)
        print(f"added to forwarding's median round trip: relay {med['relay'] - med['forward']:+.1f} us, "
              f"splice {med['splice'] - med['forward']:+.1f} us")
    if fwd:
        print(f"forwarding latency (paper §4.3): {fwd_mb} MB server→client, per segment the server sent, from its "
              "arrival at the proxy to the departure of its last byte towards the client, microseconds")
        print(f"{'mode':8} {'mean':>9} {'median':>9} {'p99':>9} {'samples':>8}")
        mean: dict[str, float] = {}
        for m, v in fwd.items():
            if not v:
                print(f"{m:8} {'failed':>9}")
                continue
            mean[m] = sum(v) / len(v)
            ordered = sorted(v)
            med, p99 = ordered[len(v) // 2], ordered[min(len(v) - 1, int(0.99 * len(v)))]
            print(f"{m:8} {mean[m]:9.1f} {med:9.1f} {p99:9.1f} {len(v):8}")
        lat_ok = lat_ok and all(fwd.values())
        if len(mean) == 3:
            print(f"ratios: relay/splice mean forwarding latency {mean['relay'] / mean['splice']:.1f}x, "
                  f"splice/forward {mean['splice'] / mean['forward']:.2f}x")
    print(f"datapath counters: {counters}; TCP checksum errors at the end hosts: {errors}")
    return 0 if all(r.ok for rs in results.values() for r in rs) and lat_ok and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
