"""``splicecheck trace`` memory and speed against the number of connections in a capture.

    .venv/bin/python benchmarks/trace_connections.py                        # 20,000 and 100,000 connections
    .venv/bin/python benchmarks/trace_connections.py --counts 20000 --compare-ref d1ef1c3

Two kinds of capture pairs, each with 20,000 and 100,000 short connections one after the other:

* **syn**: the client's SYN on the client leg and the proxy's SYN on the server leg, nothing more
  (a scan, or a server that never answers): each pair is learned, judged empty and idles out;
* **data**: a whole short splice (handshakes on both legs, a few data segments relayed each way,
  FINs), as the reference adapter relays it.

One connection of each kind is made by the reference adapter (``tests/trace_synth``) in a child
process; the captures repeat it with other client addresses and ports, checksums updated, written as
raw pcap records (generation is a few seconds and is not measured); overlapping connections interleave in
time order. Connections start ``--gap`` ms
apart; ``--idle`` is passed to ``splicecheck trace`` so that the unanswered SYNs idle out within the
capture (the default, 300 s, is longer than these captures: every connection would be open at once).

Each capture pair is checked by ``splicecheck trace`` in a child process; the script prints the
child's peak resident memory (``ru_maxrss``) and TCP segments per second (every TCP packet of both
legs, imports and report rendering included) over its wall-clock time and over its CPU time (user +
system), with the targets (at most 100 MB, at least 100,000 segments per CPU-second: what one core does,
which a machine busy with other work does not distort as it does the wall-clock rate) and whether they
are met. The code is compiled
beforehand, as an installed package's is (a first, unmeasured run writes its bytecode under the
captures' folder, whatever ``PYTHONDONTWRITEBYTECODE`` says). ``--compare-ref REF`` runs the
same on the code of a git revision (exported to a temporary folder and imported from there).
"""

from __future__ import annotations

import argparse
import heapq
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEM_TARGET_MB = 100
RATE_TARGET = 100_000
SUBPACKAGES = ("reference", "spec", "conformance", "adapters", "reports")


# -- generation (in a child process) ------------------------------------------------------------------

def _template(kind: str, where: Path) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """One connection's packets per leg as (ns since its first packet, IP packet)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from splicecheck.conformance.trace.capture import open_capture
    from trace_synth import ConnPlan, default_scenario, synth_pair

    plan = ConnPlan(default_scenario(), client_port=40000, segments=6, urgent=False, sack=False, max_payload=200)
    c, s = where / "tc.pcap", where / "ts.pcap"
    synth_pair(c, s, [plan], seed=7, gap_us=100, latency_us=40)
    legs = []
    for p in (c, s):
        with open_capture(p) as r:
            recs = [(ts, frame) for batch in r.batches() for ts, _lt, frame, _orig in batch]
        legs.append(recs)
    t0 = min(legs[0][0][0], legs[1][0][0])
    out = tuple([(ts - t0, ip) for ts, ip in leg] for leg in legs)
    if kind == "syn":
        out = tuple([pkt for pkt in leg if pkt[1][33] & 0x12 == 0x02][:1] for leg in out)
    return out  # type: ignore[return-value]


def _fold(x: int) -> int:
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def _adjust(ck: int, old: bytes, new: bytes) -> int:
    """RFC 1624 incremental checksum update: ``old`` words replaced by ``new`` ones."""
    s = (~ck) & 0xFFFF
    for i in range(0, len(old), 2):
        s += ((~((old[i] << 8) | old[i + 1])) & 0xFFFF) + ((new[i] << 8) | new[i + 1])
    return (~_fold(s)) & 0xFFFF


def _rewrite(ip: bytes, subs: dict[tuple[int, bytes], bytes]) -> bytes:
    """IPv4 ``ip`` with (offset, old bytes) → new bytes substitutions at the address and port offsets,
    IP and TCP checksums updated."""
    b = bytearray(ip)
    ihl = (b[0] & 15) * 4
    ipck, tcpck = (b[10] << 8) | b[11], (b[ihl + 16] << 8) | b[ihl + 17]
    for (off, old), new in subs.items():
        if bytes(b[off:off + len(old)]) != old:
            continue
        b[off:off + len(old)] = new
        if off < ihl:  # an address: in the IP header and the TCP pseudo-header
            ipck = _adjust(ipck, old, new)
        tcpck = _adjust(tcpck, old, new)
    b[10:12] = ipck.to_bytes(2, "big")
    b[ihl + 16:ihl + 18] = tcpck.to_bytes(2, "big")
    return bytes(b)


def generate(kind: str, count: int, gap_ms: float, where: Path) -> None:
    tmpl = _template(kind, where)
    client = bytes([198, 18, 0, 2])
    proxy_s = bytes([198, 19, 0, 1])
    cport, pport = (40000).to_bytes(2, "big"), (50000).to_bytes(2, "big")
    start = 1_700_000_000 * 10**9
    gap = int(gap_ms * 1e6)
    head = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101)  # nanosecond pcap, raw IP
    files = [open(where / "client.pcap", "wb"), open(where / "server.pcap", "wb")]  # noqa: SIM115
    try:
        for f in files:
            f.write(head)
        pending: tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]] = ([], [])  # heaps, per leg
        for i in range(count + 1):
            t0 = start + i * gap
            for leg, f in enumerate(files):  # what starts before this connection is complete: written in order
                heap, out = pending[leg], []
                while heap and (heap[0][0] < t0 or i == count):
                    ts, pkt = heapq.heappop(heap)
                    out.append(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(pkt), len(pkt)) + pkt)
                f.write(b"".join(out))
            if i == count:
                break
            host = bytes([198, 18, 1 + (i >> 14) % 200, 1 + (i >> 8) % 64])  # 64 ports a host, new hosts
            port = (10000 + i % 50000).to_bytes(2, "big")
            paddr = bytes([198, 19, 1 + (i >> 16), 1])
            for leg in (0, 1):
                for dt, ip in tmpl[leg]:
                    ihl = (ip[0] & 15) * 4
                    if leg == 0:
                        subs = {(12, client): host, (16, client): host, (ihl, cport): port, (ihl + 2, cport): port}
                    else:
                        subs = {(12, proxy_s): paddr, (16, proxy_s): paddr, (ihl, pport): port,
                                (ihl + 2, pport): port}
                    heapq.heappush(pending[leg], (t0 + dt, _rewrite(ip, subs)))
    finally:
        for f in files:
            f.close()


# -- measurement --------------------------------------------------------------------------------------

def ref_tree(ref: str, where: Path) -> Path:
    """The code of git revision ``ref`` arranged as the installed package, for ``PYTHONPATH``."""
    src = where / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    tree = where / "tree" / "splicecheck"
    tree.mkdir(parents=True)
    for f in sorted((src / "splicecheck").iterdir()):  # its modules and subpackages (vm/, …)
        if f.suffix == ".py" or (f.is_dir() and (f / "__init__.py").exists()):
            (tree / f.name).symlink_to(f, target_is_directory=f.is_dir())
    for name in SUBPACKAGES:
        (tree / name).symlink_to(src / name, target_is_directory=True)
    return tree.parent


def measure(client: Path, server: Path, out: Path, idle: float,
            pythonpath: Path | None) -> tuple[float, float, int, float]:
    """Peak RSS (MB) and wall time of ``splicecheck trace`` in a child, its exit code and its CPU time."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    # compiled once, as an installed package is (bytecode under the output folder, not in the worktree):
    # compiling every module at each start would be measured as the checker's time
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(out.parent.parent / "pycache" / ("this" if pythonpath is None else "ref"))
    # the editable install's finder would import this worktree's code whatever PYTHONPATH says: dropped
    # when another revision's code is measured
    drop = ("sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in repr(f)]; "
            if pythonpath is not None else "")
    code = (f"import sys; {drop}from splicecheck.cli import main; "
            "sys.exit(main(['trace', *sys.argv[1:]]))")
    argv = [sys.executable, "-c", code, str(client), str(server), "--out", str(out), "--idle", str(idle),
            "--quiet"]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(out.parent)  # not the worktree: its splicecheck/ folder would shadow PYTHONPATH's
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execve(argv[0], argv, env)
    _pid, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return usage.ru_maxrss / 1024, wall, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def segments_in(path: Path) -> int:
    n, data = 0, path.read_bytes()
    off = 24
    while off + 16 <= len(data):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", type=int, nargs="+", default=[20_000, 100_000])
    p.add_argument("--kinds", nargs="+", choices=("syn", "data"), default=["syn", "data"])
    p.add_argument("--gap", type=float, default=1.0, help="ms between connection starts")
    p.add_argument("--idle", type=float, default=5.0, help="--idle passed to splicecheck trace")
    p.add_argument("--compare-ref", default=None, metavar="REF", help="also measure the code of this git revision")
    p.add_argument("--keep", type=Path, default=None, help="where to keep (and find) the captures")
    p.add_argument("--generate", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.generate:
        kind, count, gap, where = args.generate
        generate(kind, int(count), float(gap), Path(where))
        return 0
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    tmp = tempfile.TemporaryDirectory(prefix="trace-conns-")
    base = (args.keep or Path(tmp.name)).resolve()
    ref = ref_tree(args.compare_ref, Path(tmp.name) / "ref") if args.compare_ref else None
    print(f"targets: peak RSS <= {MEM_TARGET_MB} MB, >= {RATE_TARGET:,} segments per CPU-second; connections "
          f"{args.gap:g} ms apart, --idle {args.idle:g}")
    print("seg/s: over the child's wall-clock time; seg/CPU-s: over its CPU time (user + system), what a loaded "
          "machine does not distort")
    print(f"{'capture':<14} {'segments':>9} {'code':<10} {'peak RSS':>10} {'seg/s':>9} {'seg/CPU-s':>9} {'exit':>4}  "
          "targets")
    warmed: set[str] = set()
    for kind in args.kinds:
        for n in args.counts:
            where = base / f"{kind}-{n}"
            if not (where / "server.pcap").exists():
                where.mkdir(parents=True, exist_ok=True)
                subprocess.run([sys.executable, __file__, "--generate", kind, str(n), str(args.gap), str(where)],
                               check=True)
            segs = segments_in(where / "client.pcap") + segments_in(where / "server.pcap")
            for label, path in [("this", None)] + ([(f"ref {args.compare_ref}"[:10], ref)] if ref else []):
                if label not in warmed:  # a first run, not measured, compiles the code's bytecode
                    warmed.add(label)
                    measure(where / "client.pcap", where / "server.pcap", where / "out", args.idle, path)
                mb, wall, code, cpu = measure(where / "client.pcap", where / "server.pcap", where / "out", args.idle,
                                              path)
                rate, cpu_rate = segs / wall, segs / cpu if cpu else 0.0
                ok = f"memory {'met' if mb <= MEM_TARGET_MB else 'NOT met'}, speed " \
                     f"{'met' if cpu_rate >= RATE_TARGET else 'NOT met'}"
                print(f"{kind + ' ' + format(n, ','):<14} {segs:>9,} {label:<10} {mb:>7,.0f} MB {rate:>9,.0f} "
                      f"{cpu_rate:>9,.0f} {code:>4}  {ok}", flush=True)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
