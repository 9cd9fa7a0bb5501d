"""A real capture for ``splicecheck trace``: Linux sockets talking through nft SYNPROXY, taken with tcpdump
on the end hosts, offloads left on — what a user's first capture looks like.

:func:`real_synproxy_capture` builds a lab (:class:`~splicecheck.adapters.lab.topology.Lab`) and then
undoes what makes the lab's captures clean: the proxy's veth ends get TX checksum offload back on
(the lab turns it off), the end hosts get addresses and routes so their own kernels speak TCP. tcpdump
runs in the client and in the server namespace, on the end host's veth — the client leg and the server
leg as seen by the end hosts, not by the box. Then:

* the client connects to the server's port 8080 through SYNPROXY and writes ``client_bytes`` in one
  call (on veth, with TSO and checksum offload on, the sending host's capture shows super-segments
  larger than the MSS, with partial checksums);
* the server reads ``rst_after`` bytes, writes ``server_bytes`` back in one call, and closes with
  ``SO_LINGER`` zero while data is unread: a RST after data, which SYNPROXY relays to the client at
  its cookie ISN rather than at its place in the stream (expectations/synproxy.toml, SEQ-MAP).

Needs root, ``tcpdump`` and what the lab needs (``splicecheck lab check``).
"""

from __future__ import annotations

import array
import fcntl
import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

from splicecheck.adapters.lab import netns
from splicecheck.adapters.lab.rawsock import ETHTOOL_STXCSUM, SIOCETHTOOL
from splicecheck.adapters.lab.rulesets import SynproxyConfig, load_synproxy
from splicecheck.adapters.lab.topology import ADDR, Lab

PORT = 8080


def _set_tx_checksum(ifname: str, on: bool) -> None:
    """``ethtool -K IF tx on|off`` (ETHTOOL_STXCSUM), in the calling thread's namespace."""
    value = array.array("I", [ETHTOOL_STXCSUM, 1 if on else 0])
    address, _ = value.buffer_info()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack("16sP", ifname.encode(), address))


def _tcpdump(ns: str, ifname: str, path: Path, snaplen: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "-s", str(snaplen), "-U", "-n",
                             "-w", str(path), "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "tcpdump: listening on …" once the socket is open
    if b"listening" not in line:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"tcpdump did not start: {line.decode(errors='replace').strip()}")
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def real_synproxy_capture(directory: Path, *, client_bytes: int = 30_000, server_bytes: int = 20_000,
                          rst_after: int = 1000, snaplen: int = 262144,
                          proxy_offload: bool = True) -> tuple[Path, Path]:
    """Two captures (client leg, server leg) of one real connection through SYNPROXY; see the module.
    ``proxy_offload`` False keeps the lab's own setting (TX checksum offload off on the proxy's veth ends):
    then only the end hosts' own packets carry partial checksums in their captures."""
    client_pcap, server_pcap = directory / "client.pcap", directory / "server.pcap"
    with Lab(ipv6=False, mtu=1500) as lab:
        n = lab.names
        load_synproxy(lab, SynproxyConfig(port=PORT))

        def offload_on() -> None:
            for ifname in (n.proxy_client_if, n.proxy_server_if):
                _set_tx_checksum(ifname, True)

        if proxy_offload:
            lab.call(offload_on)
        netns.ip_batch(n.client_ns, [f"addr add {ADDR.client4}/24 dev {n.client_if}",
                                     f"route add default via {ADDR.proxy_client4}"])
        netns.ip_batch(n.server_ns, [f"addr add {ADDR.server4}/24 dev {n.server_if}",
                                     f"route add default via {ADDR.proxy_server4}"])
        dumps = [_tcpdump(n.client_ns, n.client_if, client_pcap, snaplen),
                 _tcpdump(n.server_ns, n.server_if, server_pcap, snaplen)]
        try:
            listener: socket.socket = lab.call(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), "server")
            client: socket.socket = lab.call(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), "client")
            with listener, client:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((ADDR.server4, PORT))
                listener.listen(1)
                listener.settimeout(10)
                errors: list[BaseException] = []

                def serve() -> None:
                    try:
                        conn, _ = listener.accept()
                        with conn:
                            conn.settimeout(10)
                            got = b""
                            while len(got) < rst_after:
                                chunk = conn.recv(rst_after - len(got))
                                if not chunk:
                                    break
                                got += chunk
                            conn.sendall(random.Random(2).randbytes(server_bytes))
                            time.sleep(0.3)  # the client reads it (and acks) before the RST
                            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    except BaseException as exc:  # reported by the caller
                        errors.append(exc)

                server = threading.Thread(target=serve, daemon=True)
                server.start()
                client.settimeout(10)
                client.connect((ADDR.server4, PORT))
                client.sendall(random.Random(1).randbytes(client_bytes))  # no repeats: one place per piece
                # the RST comes at the cookie ISN, outside the client's window: the client ignores it
                # (RFC 5961 §3.2), so reading ends on a quiet second rather than on the reset
                client.settimeout(1.0)
                try:
                    while client.recv(65536):
                        pass
                except (ConnectionResetError, TimeoutError):
                    pass
                server.join(10)
                if errors:
                    raise errors[0]
            time.sleep(0.3)  # the last packets reach tcpdump's file
        finally:
            for p in dumps:
                _stop(p)
    for p in (client_pcap, server_pcap):
        os.chmod(p, 0o644)
    return client_pcap, server_pcap
