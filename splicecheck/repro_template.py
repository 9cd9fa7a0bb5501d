#!/usr/bin/env python3
# ruff: noqa: E501
"""__TITLE__

A standalone reproducer written by ``splicecheck repro``: it needs Python 3, scapy, ``ip`` (iproute2) and
``nft``, and root. It builds a lab of three network namespaces (client - proxy - server, the host's own
namespace untouched), loads the recorded ruleset and sysctls into the proxy namespace, performs the
handshakes as the raw client and server (the proxy's SYN-cookie ISN and timestamps are learnt from its
answers), replays the case's packets with every number re-based on what it learnt, and compares what the
proxy emits with what a correct splice emits (the reference model of the paper, computed when this file
was written and re-based the same way): packet counts, flags, sequence and acknowledgment numbers,
payload, timestamps, SACK edges and the TCP checksum.

Exit status: 1 while the departure is present (the first differing step is printed), 0 when the proxy
behaves as a correct splice, 2 when the lab or the handshake cannot be set up. The namespaces are removed
on every exit path (normal end, error, SIGINT, SIGTERM, SIGHUP).
"""

from __future__ import annotations

import array
import atexit
import ctypes
import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any

DATA: dict[str, Any] = json.loads(r"""__DATA__""")

CLONE_NEWNET = 0x40000000
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17  # linux/sockios.h, linux/ethtool.h
PACKET_OUTGOING = 4  # linux/if_packet.h
MOD = 1 << 32
TAG = f"scr{os.getpid() % 100000}"
NS = {"client": f"{TAG}-c", "proxy": f"{TAG}-p", "server": f"{TAG}-s"}
IF = {"client": f"{TAG}c", "proxy_client": f"{TAG}pc", "proxy_server": f"{TAG}ps", "server": f"{TAG}s"}
MAC = {"client": "02:73:63:00:00:01", "proxy_client": "02:73:63:00:00:02",
       "proxy_server": "02:73:63:00:00:03", "server": "02:73:63:00:00:04"}
ADDR = {"client": "198.18.0.2", "proxy_client": "198.18.0.1", "proxy_server": "198.19.0.1",
        "server": "198.19.0.2"}
_built: list[str] = []


class SetupError(Exception):
    """The lab or the handshake could not be set up (exit 2): not the IUT's verdict."""


def _run(argv: list[str], stdin: str | None = None) -> None:
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SetupError(f"{' '.join(argv)}: {p.stderr.strip() or p.stdout.strip()}")


def in_netns(name: str, fn: Any) -> Any:
    """Run ``fn()`` in a thread that entered namespace ``name`` (setns(2) is per thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out: list[Any] = []
    err: list[BaseException] = []

    def body() -> None:
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            out.append(fn())
        except BaseException as exc:
            err.append(exc)
        finally:
            os.close(fd)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0] if out else None


def sysctls(ns: str, settings: dict[str, str]) -> None:
    def write() -> None:
        for key, value in settings.items():
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(str(value))
    in_netns(ns, write)


def teardown() -> None:
    while _built:
        subprocess.run(["ip", "netns", "del", _built.pop()], capture_output=True, check=False)


def _on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def build_lab() -> dict[str, socket.socket]:
    for role in ("client", "proxy", "server"):
        _run(["ip", "netns", "add", NS[role]])
        _built.append(NS[role])
    off = {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
    for role in ("client", "server", "proxy"):
        sysctls(NS[role], off)
    mtu = str(DATA["mtu"])
    for end, pend in (("client", "proxy_client"), ("server", "proxy_server")):
        _run(["ip", "-n", NS[end], "link", "add", IF[end], "address", MAC[end], "type", "veth", "peer", "name",
              IF[pend], "address", MAC[pend], "netns", NS["proxy"]])
        _run(["ip", "-n", NS[end], "link", "set", IF[end], "mtu", mtu, "up"])
    p = NS["proxy"]
    _run(["ip", "-n", p, "link", "set", "lo", "up"])
    for pend, end in (("proxy_client", "client"), ("proxy_server", "server")):
        _run(["ip", "-n", p, "link", "set", IF[pend], "mtu", mtu, "up"])
        _run(["ip", "-n", p, "addr", "add", ADDR[pend] + "/24", "dev", IF[pend]])
        _run(["ip", "-n", p, "neigh", "replace", ADDR[end], "lladdr", MAC[end], "nud", "permanent", "dev", IF[pend]])
    proxy_sysctls = {"net.ipv4.ip_forward": "1", **DATA["sysctls"],
                     f"net.ipv4.conf.{IF['proxy_client']}.send_redirects": "0",
                     f"net.ipv4.conf.{IF['proxy_server']}.send_redirects": "0"}
    sysctls(p, proxy_sysctls)

    def no_tx_offload() -> None:  # checksums completed in software: captured as a wire carries them
        for ifname in (IF["proxy_client"], IF["proxy_server"]):
            value = array.array("I", [ETHTOOL_STXCSUM, 0])
            ifreq = struct.pack("16sP", ifname.encode(), value.buffer_info()[0])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
    in_netns(p, no_tx_offload)
    _run(["ip", "netns", "exec", p, "nft", "-f", "-"], stdin=DATA["ruleset"])
    socks: dict[str, socket.socket] = {}
    for end in ("client", "server"):
        def opener(ifname: str = IF[end]) -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            s.bind((ifname, 0))
            s.setblocking(False)
            return s
        socks[end] = in_netns(NS[end], opener)
    return socks


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def send(socks: dict[str, socket.socket], side: str, packet: bytes) -> None:
    peer = "proxy_client" if side == "client" else "proxy_server"
    socks[side].send(_mac(MAC[peer]) + _mac(MAC[side]) + b"\x08\x00" + packet)


def collect(socks: dict[str, socket.socket], want: dict[str, int], timeout: float = 1.0,
            grace: float = 0.1) -> dict[str, list[bytes]]:
    """IPv4 packets the proxy sent to each side until ``want`` is met (then ``grace`` more), at most ``timeout``."""
    got: dict[str, list[bytes]] = {"client": [], "server": []}
    end = time.monotonic() + timeout
    met_at: float | None = None
    while True:
        now = time.monotonic()
        if met_at is None and all(len(got[s]) >= n for s, n in want.items()):
            met_at = now
        limit = min(end, met_at + grace) if met_at is not None else end
        if now >= limit:
            return got
        ready, _, _ = select.select(list(socks.values()), [], [], limit - now)
        for side, s in socks.items():
            if s in ready:
                while True:
                    try:
                        frame, addr = s.recvfrom(70000)
                    except BlockingIOError:
                        break
                    if addr[2] != PACKET_OUTGOING and frame[12:14] == b"\x08\x00":
                        ip = frame[14:]
                        got[side].append(ip[:int.from_bytes(ip[2:4], "big")])


def drain(socks: dict[str, socket.socket]) -> None:
    collect(socks, {}, timeout=0.05, grace=0.0)


# --- packets (scapy) -----------------------------------------------------------------------------------


def _scapy() -> Any:
    try:
        from scapy.layers.inet import IP, TCP  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as exc:
        raise SetupError(f"scapy is needed ({exc})") from exc
    return IP, TCP


def value(field: list[Any] | None, learnt: dict[str, int]) -> int | None:
    """``[base, dependency]``: the base value re-based on what was learnt (dependency None: a constant)."""
    if field is None:
        return None
    base, dep = field
    return int(base + (learnt[dep] - DATA["base"][dep] if dep else 0)) % MOD


def patch(hexed: str, fields: dict[str, Any], learnt: dict[str, int]) -> bytes:
    IP, TCP = _scapy()
    p = IP(bytes.fromhex(hexed))
    t = p[TCP]
    if "seq" in fields:
        t.seq = value(fields["seq"], learnt)
    if "ack" in fields:
        t.ack = value(fields["ack"], learnt)
    opts = []
    for name, v in t.options:
        if name == "Timestamp" and "tsval" in fields:
            v = (value(fields["tsval"], learnt), value(fields["tsecr"], learnt))
        elif name == "SAck" and "sack" in fields:
            v = tuple(value(edge, learnt) for block in fields["sack"] for edge in block)
        opts.append((name, v))
    t.options = opts
    del p.chksum
    del t.chksum
    return bytes(p)


def fields_of(raw: bytes) -> dict[str, Any]:
    IP, TCP = _scapy()
    p = IP(raw)
    if TCP not in p:
        return {"line": p.summary(), "tcp": False}
    t = p[TCP]
    ts = next((v for n, v in t.options if n == "Timestamp"), None)
    sack = next((v for n, v in t.options if n == "SAck"), None)
    check = IP(raw)
    del check[TCP].chksum
    valid = IP(bytes(check))[TCP].chksum == t.chksum
    payload = bytes(t.payload)
    flags = str(t.flags)
    line = (f"{p.src}.{t.sport} > {p.dst}.{t.dport}: Flags [{flags}], seq {t.seq}, ack {t.ack}, win {t.window}"
            + (f", TS val {ts[0]} ecr {ts[1]}" if ts else "") + (f", sack {list(sack)}" if sack else "")
            + f", cksum {'ok' if valid else 'BAD'}, length {len(payload)}")
    return {"tcp": True, "flags": "".join(sorted(flags)), "seq": t.seq, "ack": t.ack, "payload": payload.hex(),
            "ts": list(ts) if ts else None, "sack": list(sack) if sack else None, "csum": valid, "line": line}


# --- the handshakes ------------------------------------------------------------------------------------


def handshake(socks: dict[str, socket.socket]) -> dict[str, int]:
    """Client SYN, its ACK of the cookie, the server's SYN-ACK; returns the learnt numbers."""
    h = DATA["handshake"]
    drain(socks)
    send(socks, "client", bytes.fromhex(h["client_syn"]))
    synack = _first(collect(socks, {"client": 1}), "client", "SA", "the proxy's SYN-ACK to the client SYN")
    cookie, its = synack["seq"], (synack["ts"][0] if synack["ts"] else 0)
    send(socks, "client", patch(h["client_ack"], {"seq": [h["client_seq"], None], "ack": [cookie + 1, None],
                                                   **({"tsval": [h["client_tsval"], None], "tsecr": [its, None]}
                                                      if h["client_tsval"] is not None else {})}, {}))
    ssyn = _first(collect(socks, {"server": 1}), "server", "S", "the proxy's SYN to the server")
    ssyn_ts = ssyn["ts"][0] if ssyn["ts"] else 0
    send(socks, "server", patch(h["server_synack"], {"ack": [(ssyn["seq"] + 1) % MOD, None],
                                                     **({"tsval": [h["server_tsval"], None], "tsecr": [ssyn_ts, None]}
                                                        if h["server_tsval"] is not None else {})}, {}))
    got = collect(socks, {"server": 1}, grace=0.2)
    sack_ = _first(got, "server", "A", "the proxy's ACK to the server")
    update = next((f for f in map(fields_of, got["client"]) if f.get("flags") == "A"), None)
    c_ts = update["ts"][0] if update is not None and update["ts"] else its
    learnt = {"C_iss": (cookie + 1) % MOD, "C_ts": c_ts, "D_iss": (ssyn["seq"] + 1) % MOD,
              "D_ts": sack_["ts"][0] if sack_["ts"] else 0}
    print("handshake: " + ", ".join(f"{k} {v}" for k, v in learnt.items()))
    return learnt


def _first(got: dict[str, list[bytes]], side: str, flags: str, what: str) -> dict[str, Any]:
    for raw in got[side]:
        f = fields_of(raw)
        if f.get("flags") == "".join(sorted(flags)):
            return f
    raise SetupError(f"no {what} (got {[fields_of(r)['line'] for r in got[side]]})")


# --- the case ------------------------------------------------------------------------------------------


def compare(exp: dict[str, Any], act: dict[str, Any], learnt: dict[str, int]) -> list[str]:
    if not act.get("tcp"):
        return [f"not a TCP segment: {act['line']}"]
    bad = []
    if act["flags"] != exp["flags"]:
        bad.append(f"flags: expected {exp['flags']}, actual {act['flags']}")
    for name in ("seq", "ack"):
        want = value(exp[name], learnt)
        if act[name] != want:
            bad.append(f"{name}: expected {want}, actual {act[name]} ({(act[name] - want) % MOD - (MOD if (act[name] - want) % MOD >= MOD // 2 else 0):+d})")
    if act["payload"] != exp["payload"]:
        bad.append(f"payload: expected {len(exp['payload']) // 2} bytes, actual {len(act['payload']) // 2}")
    if exp.get("tsval") is not None:
        want_ts = [value(exp["tsval"], learnt), value(exp["tsecr"], learnt)]
        if act["ts"] != want_ts:
            bad.append(f"timestamps: expected TS val {want_ts[0]} ecr {want_ts[1]}, actual {act['ts']}")
    elif act["ts"] is not None:
        bad.append(f"timestamps: expected none, actual {act['ts']}")
    if exp.get("sack") is not None:
        want_sack = [value(edge, learnt) for block in exp["sack"] for edge in block]
        if act["sack"] != want_sack:
            bad.append(f"SACK: expected {want_sack}, actual {act['sack']}")
    if not act["csum"]:
        bad.append("TCP checksum: invalid")
    return bad


def replay(socks: dict[str, socket.socket], learnt: dict[str, int]) -> int:
    for k, step in enumerate(DATA["steps"]):
        drain(socks)
        packet = patch(step["input"], step["input_fields"], learnt)
        print(f"step {k}: from the {step['from']}: {fields_of(packet)['line']}")
        want = {side: len(step["expected"][side]) for side in ("client", "server")}
        send(socks, step["from"], packet)
        got = collect(socks, want, timeout=1.0, grace=0.1)
        problems: list[str] = []
        for side in ("client", "server"):
            acts = [fields_of(raw) for raw in got[side]]
            for a in acts:
                print(f"    to the {side}: {a['line']}")
            exps = step["expected"][side]
            if len(acts) != len(exps):
                problems.append(f"to the {side}: {len(acts)} packet(s), a correct splice sends {len(exps)}")
            for i, (e, a) in enumerate(zip(exps, acts, strict=False)):
                problems += [f"to the {side} #{i}: {x}" for x in compare(e, a, learnt)]
        if problems:
            print(f"DEPARTURE at step {k} (a correct splice: {step['expectation']}):")
            for p in problems:
                print("    " + p)
            print(f"the departure is present: {DATA['finding']}")
            return 1
    print(f"no departure: {DATA['case']} behaves as a correct splice")
    return 0


def main() -> int:
    if os.geteuid() != 0:
        print("run as root (it builds network namespaces)", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    atexit.register(teardown)
    print(f"{DATA['case']}: {DATA['description']}")
    print(f"recorded on: {DATA['iut']}; here: Linux {os.uname().release}")
    try:
        socks = build_lab()
        learnt = handshake(socks)
        return replay(socks, learnt)
    except (SetupError, OSError) as exc:
        print(f"cannot reproduce here: {exc}", file=sys.stderr)
        return 2
    finally:
        teardown()


if __name__ == "__main__":
    sys.exit(main())
