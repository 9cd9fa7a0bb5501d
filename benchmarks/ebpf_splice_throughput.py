"""Throughput through the eBPF splice vs a user-space relay vs plain IP forwarding (issue 15, item 5).

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
incrementally, and the receiving TCP verifies it (the end hosts' TcpInCsumErrors are printed). The machine is
shared: numbers vary from run to run, the ratios less.

    .venv/bin/python benchmarks/ebpf_splice_throughput.py --mb 200 --runs 3
"""

from __future__ import annotations

import argparse
import array
import contextlib
import fcntl
import functools
import hashlib
import os
import resource
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
        with conn:
            if conn.recv(1) != b"G":  # the client's go-byte, through the proxy
                return
            left = self.total
            while left:
                n = conn.send(self.block[:min(left, CHUNK)])
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
            while True:
                data = c.recv(1 << 20)
                if not data:
                    break
                h.update(data)
                n += len(data)
            out.append(n == self.total and h.hexdigest() == self.digest)

    def thread(self, target: Callable[..., None], *args: object) -> threading.Thread:
        """A daemon thread running ``target``; the socket errors an abort causes end it quietly."""
        def body() -> None:
            try:
                target(*args)
            except OSError:
                if not self.aborted:
                    raise

        return threading.Thread(target=body, daemon=True)

    def run(self, mode: str) -> Result:
        a = self.lab.addr
        lsock = self.sock("server")
        lsock.bind((a.server4, SERVER_PORT))
        lsock.listen(1)
        psock = None
        ready = threading.Event() if mode != "forward" else None
        proxy_cpu: list[float] = []
        threads = [self.thread(self.server, lsock)]
        if mode == "forward":
            to = (a.server4, SERVER_PORT)
        else:
            psock = self.sock("proxy")
            psock.bind((a.proxy_client4, PROXY_PORT))
            psock.listen(1)
            to = (a.proxy_client4, PROXY_PORT)
            threads.append(self.thread(self.proxy, psock, mode, ready, proxy_cpu))
        ok: list[bool] = []
        threads.append(self.thread(self.client, to, ready, ok))
        cpu0, t0 = _proc_cpu(), time.perf_counter()
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        except BaseException:
            self.abort()
            raise
        seconds, cpu = time.perf_counter() - t0, _proc_cpu() - cpu0
        lsock.close()
        if psock is not None:
            psock.close()
        return Result(mode, seconds, cpu, proxy_cpu[0] if proxy_cpu else 0.0, ok == [True])

    def proxy(self, psock: socket.socket, mode: str, ready: threading.Event, cpu: list[float]) -> None:
        a = self.lab.addr
        c0 = _thread_cpu()
        cconn, _ = psock.accept()
        d = self.sock("proxy")
        d.bind((a.proxy_server4, 0))
        d.connect((a.server4, SERVER_PORT))
        cconn.sendall(OK)
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
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
    rcv_nxt = struct.unpack("=I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
    snd_nxt = struct.unpack("=I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    peer, local = s.getpeername(), s.getsockname()
    ws = bool(options & TCPI_OPT_WSCALE)
    return Leg(Endpoint(addr(peer[0]), peer[1]), Endpoint(addr(local[0]), local[1]), splice_irs=rcv_nxt,
               splice_iss=snd_nxt, sack=bool(options & TCPI_OPT_SACK),
               peer_wscale=scales & 15 if ws else None, local_wscale=scales >> 4 if ws else None)


def _splice_state(c: socket.socket, d: socket.socket) -> SpliceState:
    return SpliceState(_repair_leg(c), _repair_leg(d))


ETHTOOL_SRXCSUM, SIOCETHTOOL = 0x15, 0x8946


def _disable_rx_checksum(ifname: str) -> None:
    """``ethtool -K IF rx off`` (legacy ETHTOOL_SRXCSUM ioctl), in the calling thread's namespace: veth
    then stops marking received packets checksum-verified, so the end host's TCP checks every
    checksum the datapath wrote (TcpInCsumErrors counts what fails)."""
    value = array.array("I", [ETHTOOL_SRXCSUM, 0])
    address, _ = value.buffer_info()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack("16sP", ifname.encode(), address))


def csum_errors(lab: Lab) -> int:
    """TcpInCsumErrors of the two end hosts (per network namespace)."""
    total = 0
    for role in ("client", "server"):
        lines = [ln.split() for ln in lab.run(["cat", "/proc/net/snmp"], role).splitlines() if ln.startswith("Tcp:")]
        total += int(dict(zip(lines[0], lines[1], strict=True))["InCsumErrors"])
    return total


def _prepare(lab: Lab) -> None:
    """Real end hosts: addresses, routes, kernel TCP; no timestamps anywhere; checksum offloads off on
    their links both ways (full checksums on the wire, and every one verified on receipt)."""
    a, n = lab.addr, lab.names
    for leg in lab.legs.values():  # the raw capture sockets would copy every packet
        leg.close()
    lab.legs.clear()
    netns.ip_batch(n.client_ns, [f"addr add {a.client4}/24 dev {n.client_if}",
                                 f"route add default via {a.proxy_client4}"])
    netns.ip_batch(n.server_ns, [f"addr add {a.server4}/24 dev {n.server_if}",
                                 f"route add default via {a.proxy_server4}"])
    for role, ifname in (("client", n.client_if), ("server", n.server_if)):
        lab.call(functools.partial(disable_tx_checksum_offload, ifname), role)
        lab.call(functools.partial(_disable_rx_checksum, ifname), role)
        lab.sysctl({"net.ipv4.tcp_timestamps": 0}, role)
    lab.sysctl({"net.ipv4.tcp_timestamps": 0, "net.ipv4.ip_forward": 1})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100, help="megabytes per transfer (default 100)")
    ap.add_argument("--runs", type=int, default=3, help="transfers per mode; the median is printed")
    args = ap.parse_args()
    if args.mb < 1 or args.runs < 1:
        print("ebpf_splice_throughput: --mb and --runs must be positive", file=sys.stderr)
        return 2
    missing = EbpfSpliceAdapter().missing()
    if missing:
        print("skipped: " + "; ".join(missing))
        return 0
    try:
        return _measure(args.mb, args.runs)
    except KeyboardInterrupt:
        print("ebpf_splice_throughput: interrupted (the lab is torn down)", file=sys.stderr)
        return 130


def _measure(mb: int, runs: int) -> int:
    total = mb * 1_000_000
    lab = Lab(ipv6=False)
    results: dict[str, list[Result]] = {"forward": [], "relay": [], "splice": []}
    with lab:
        _prepare(lab)
        with Datapath((lab.names.proxy_client_if, lab.names.proxy_server_if), lab.call) as dp:
            bench = Bench(lab, dp, total)
            for _ in range(runs):
                for mode in results:
                    r = bench.run(mode)
                    if mode == "splice":
                        bench.unsplice()
                    results[mode].append(r)
            counters = dp.counters()
            errors = csum_errors(lab)

    def median(mode: str, key: Callable[[Result], float]) -> float:
        values = sorted(key(r) for r in results[mode])
        return values[len(values) // 2]

    print(f"{mb} MB server→client, {runs} run(s) per mode, median; kernel {os.uname().release}")
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
    print(f"datapath counters: {counters}; TCP checksum errors at the end hosts: {errors}")
    return 0 if all(r.ok for rs in results.values() for r in rs) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
