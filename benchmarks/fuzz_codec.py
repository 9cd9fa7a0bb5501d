"""Fuzz the wire codec: random and mutated packets must give a Segment or a MalformedSegment, fast.

Feeds ``--count`` inputs to :func:`splicecheck.reference.codec.decode`: pure random bytes, and
mutations (bit flips, byte sets, truncations, extensions, insertions, deletions, IP-length edits, IHL
and data-offset edits, option-kind and option-length edits, with or without repairing the IP length
field afterwards) of a handful of valid IPv4/IPv6 packets with options, built by scapy. It counts
outcomes per :class:`Malformation` reason and successful decodes, checks that every decoded input
re-encodes to the same bytes, and counts

* crashes: any exception other than ``MalformedSegment`` (the first few printed with tracebacks),
* hangs: an input that took longer than ``--hang-seconds`` (a SIGALRM watchdog also interrupts a
  decode that never returns).

Exit status 1 on any crash, hang or round-trip mismatch. Usage::

    .venv/bin/python benchmarks/fuzz_codec.py --count 1000000 --seed 1
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from scapy.layers.inet import IP, TCP, IPOption_NOP, IPOption_RR
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw
from splicecheck.reference.codec import decode, encode
from splicecheck.reference.errors import Malformation, MalformedSegment

BATCH = 10_000
INTERESTING = (0, 1, 2, 3, 4, 5, 6, 8, 10, 0x0F, 0x10, 0x1E, 0x22, 0x40, 0x45, 0x4F, 0x50, 0x60, 0x7F, 0x80,
               0xF0, 0xFD, 0xFE, 0xFF)


@dataclass(frozen=True)
class Seed:
    data: bytes
    ip_len: int  # IP header length
    opt_start: int  # first byte of the TCP option area
    opt_end: int
    kind_offsets: tuple[int, ...]  # offsets of multi-byte option kinds (their length octet follows)


def _seed(pkt: object) -> Seed:
    data = bytes(pkt)  # type: ignore[call-overload]
    ip_len = (data[0] & 0x0F) * 4 if data[0] >> 4 == 4 else 40
    opt_start = ip_len + 20
    opt_end = ip_len + (data[ip_len + 12] >> 4) * 4
    kinds = []
    i = opt_start
    while i < opt_end:
        if data[i] == 0:
            break
        if data[i] == 1:
            i += 1
            continue
        kinds.append(i)
        i += data[i + 1]
    decode(data)  # the seeds themselves must be valid
    return Seed(data, ip_len, opt_start, opt_end, tuple(kinds))


def make_seeds() -> list[Seed]:
    syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456789, 0)), ("NOP", None), ("WScale", 7)]
    ack_opts = [("NOP", None), ("NOP", None), ("Timestamp", (0xFFFFFFF0, 77)), ("NOP", None), ("NOP", None),
                ("SAck", (1, 2, 0xFFFFFF00, 0xFFFFFFFF))]
    return [
        _seed(IP(src="192.0.2.1", dst="198.51.100.2", flags="DF") / TCP(flags="S", options=syn_opts)),
        _seed(IP(src="192.0.2.1", dst="198.51.100.2", options=[IPOption_RR(routers=["192.0.2.9", "192.0.2.10"])])
              / TCP(flags="PA", options=ack_opts) / Raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
        _seed(IP(src="10.0.0.1", dst="10.0.0.2", options=[IPOption_NOP()] * 4)
              / TCP(flags="A", options=[(30, b"\x00\x81\x01\x02\x03\x04"), (34, b"cookie"), ("EOL", None)])
              / Raw(b"\x00" * 3)),
        _seed(IPv6(src="2001:db8::1", dst="2001:db8::2", tc=0xB8, fl=0x12345)
              / TCP(flags="SA", options=syn_opts)),
        _seed(IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(flags="FPAU", urgptr=3, options=ack_opts)
              / Raw(bytes(range(200)))),
        _seed(IPv6(src="::1", dst="::1") / TCP(flags="R", options=[(2, b"\x05\xb4\x00\x00"), (253, b"\x12\x34")])),
    ]


# --------------------------------------------------------------------------------------------------
# Mutations: each returns new bytes; cheap, driven by one random.Random
# --------------------------------------------------------------------------------------------------


def fix_length(b: bytearray) -> None:
    """Make the IP length field agree with the byte count (so that the mutation reaches TCP)."""
    n = len(b)
    if n >= 20 and b[0] >> 4 == 4 and n <= 0xFFFF:
        b[2], b[3] = n >> 8, n & 0xFF
    elif n >= 40 and b[0] >> 4 == 6 and n - 40 <= 0xFFFF:
        b[4], b[5] = (n - 40) >> 8, (n - 40) & 0xFF


def m_flip(r: random.Random, s: Seed, b: bytearray) -> None:
    for _ in range(r.randint(1, 4)):
        i = r.randrange(len(b) * 8)
        b[i >> 3] ^= 1 << (i & 7)


def m_set(r: random.Random, s: Seed, b: bytearray) -> None:
    for _ in range(r.randint(1, 3)):
        b[r.randrange(len(b))] = r.choice(INTERESTING) if r.random() < 0.7 else r.randrange(256)


def m_truncate(r: random.Random, s: Seed, b: bytearray) -> None:
    del b[r.randrange(len(b)):]


def m_extend(r: random.Random, s: Seed, b: bytearray) -> None:
    b += r.randbytes(r.randint(1, 40))


def m_insert(r: random.Random, s: Seed, b: bytearray) -> None:
    i = r.randrange(len(b) + 1)
    b[i:i] = r.randbytes(r.randint(1, 12))


def m_delete(r: random.Random, s: Seed, b: bytearray) -> None:
    i = r.randrange(len(b))
    del b[i:i + r.randint(1, 12)]


def m_length_field(r: random.Random, s: Seed, b: bytearray) -> None:
    if len(b) < 6:
        return m_set(r, s, b)
    n = len(b) if b[0] >> 4 == 4 else len(b) - 40
    v = r.choice((n + r.randint(-8, 8), r.randrange(0x10000), 0, 0xFFFF, n)) & 0xFFFF
    o = 2 if b[0] >> 4 == 4 else 4
    b[o], b[o + 1] = v >> 8, v & 0xFF


def m_ihl(r: random.Random, s: Seed, b: bytearray) -> None:
    if b[0] >> 4 == 4:
        b[0] = 0x40 | r.randrange(16)
    else:
        b[0] = (r.choice((0, 4, 5, 6, 7, 15)) << 4) | (b[0] & 0x0F)


def m_data_offset(r: random.Random, s: Seed, b: bytearray) -> None:
    """Mutators after the first may run on bytes already shortened: offsets past the end fall back."""
    o = s.ip_len + 12
    if o >= len(b):
        return m_set(r, s, b)
    b[o] = (r.randrange(16) << 4) | (b[o] & 0x0F)


def m_option_length(r: random.Random, s: Seed, b: bytearray) -> None:
    if not s.kind_offsets:
        return m_set(r, s, b)
    o = r.choice(s.kind_offsets) + 1
    if o >= len(b):
        return m_set(r, s, b)
    b[o] = r.choice((0, 1, 2, 3, 4, 10, 40, 255, (b[o] + r.choice((-1, 1, 2, 8))) & 0xFF, r.randrange(256)))


def m_option_kind(r: random.Random, s: Seed, b: bytearray) -> None:
    o = r.randrange(s.opt_start, s.opt_end) if s.opt_end > s.opt_start else r.randrange(len(b))
    if o >= len(b):
        return m_set(r, s, b)
    b[o] = r.choice((0, 1, 2, 3, 4, 5, 8, 30, 34, 253, 254, 255, r.randrange(256)))


def m_option_area(r: random.Random, s: Seed, b: bytearray) -> None:
    """Replace the option area with random bytes of the same length."""
    b[s.opt_start:s.opt_end] = bytes(r.choice((0, 1, 2, 3, 4, 5, 8, r.randrange(256)))
                                     for _ in range(s.opt_end - s.opt_start))


MUTATORS: dict[str, Callable[[random.Random, Seed, bytearray], None]] = {
    "flip": m_flip, "set": m_set, "truncate": m_truncate, "extend": m_extend, "insert": m_insert,
    "delete": m_delete, "length-field": m_length_field, "ihl/version": m_ihl, "data-offset": m_data_offset,
    "option-length": m_option_length, "option-kind": m_option_kind, "option-area": m_option_area,
}
MUTATOR_ITEMS = list(MUTATORS.items())


def generate(r: random.Random, seeds: list[Seed]) -> tuple[str, bytes]:
    roll = r.random()
    if roll < 0.08:  # pure random bytes
        data = bytearray(r.randbytes(r.randrange(81)))
        if data and r.random() < 0.5:
            data[0] = r.choice((0x45, 0x46, 0x4F, 0x60))
            fix_length(data)
        return "random", bytes(data)
    s = r.choice(seeds)
    b = bytearray(s.data)
    if roll < 0.75:  # one mutation
        name, fn = r.choice(MUTATOR_ITEMS)
        fn(r, s, b)
    else:  # a few mutations stacked
        name = "stacked"
        for _ in range(r.randint(2, 4)):
            if b:
                r.choice(MUTATOR_ITEMS)[1](r, s, b)
    if b and name not in ("length-field",) and r.random() < 0.6:
        fix_length(b)
    return name, bytes(b)


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------


class _Watchdog(BaseException):
    """Raised by SIGALRM inside a decode that does not return."""


def _alarm(signum: int, frame: object) -> None:
    raise _Watchdog


def print_summary(args: argparse.Namespace, seeds: int, done: int, outcomes: Counter[str],
                  by_generator: Counter[str], decoded_by_generator: Counter[str],
                  times: tuple[float, float, float, float]) -> None:
    """The outcome and generator tables and the rates (times: generation, decoding, total, slowest)."""
    gen_time, decode_time, total, slowest = times
    print(f"splicecheck codec fuzz: {done} inputs, seed {args.seed}, {seeds} seed packets")
    print()
    print(f"{'outcome':<28}{'count':>10}{'share':>9}")
    for reason in [*(m.value for m in Malformation), "decoded", "CRASH", "HANG"]:
        c = outcomes.get(reason, 0)
        print(f"{reason:<28}{c:>10}{100 * c / max(done, 1):>8.2f}%")
    print()
    print(f"{'generator':<28}{'inputs':>10}{'decoded':>10}")
    for name in ["random", *MUTATORS, "stacked"]:
        print(f"{name:<28}{by_generator.get(name, 0):>10}{decoded_by_generator.get(name, 0):>10}")
    print()
    print(f"generation {done / gen_time:,.0f} inputs/s; decode+check {done / decode_time:,.0f} inputs/s; "
          f"overall {done / total:,.0f} inputs/s ({total:.1f} s); slowest input {slowest * 1e3:.3f} ms")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000, help="number of inputs (default 1000000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--hang-seconds", type=float, default=0.1, help="per-input time counted as a hang")
    ap.add_argument("--show", type=int, default=3, help="crashes/hangs to print in full")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    r = random.Random(args.seed)
    seeds = make_seeds()
    outcomes: Counter[str] = Counter()
    by_generator: Counter[str] = Counter()
    decoded_by_generator: Counter[str] = Counter()
    crashes: list[tuple[bytes, str]] = []
    hangs: list[tuple[bytes, float]] = []
    mismatches: list[bytes] = []
    slowest = 0.0
    gen_time = 0.0
    decode_time = 0.0
    watchdog = hasattr(signal, "setitimer")
    if watchdog:
        signal.signal(signal.SIGALRM, _alarm)
    clock = time.perf_counter
    start = clock()

    done = 0
    while done < args.count:
        n = min(BATCH, args.count - done)
        t0 = clock()
        batch = [generate(r, seeds) for _ in range(n)]
        t1 = clock()
        gen_time += t1 - t0
        if watchdog:  # a generous per-batch deadline; the per-input clock below is the real measure
            signal.setitimer(signal.ITIMER_REAL, max(5.0, 50 * args.hang_seconds))
        for name, data in batch:
            by_generator[name] += 1
            a = clock()
            try:
                seg = decode(data)
            except MalformedSegment as e:
                outcomes[e.reason.value] += 1
            except _Watchdog:
                hangs.append((data, clock() - a))
                outcomes["HANG"] += 1
                if watchdog:
                    signal.setitimer(signal.ITIMER_REAL, max(5.0, 50 * args.hang_seconds))
                continue
            except Exception:
                crashes.append((data, traceback.format_exc()))
                outcomes["CRASH"] += 1
            else:
                outcomes["decoded"] += 1
                decoded_by_generator[name] += 1
                try:
                    if encode(seg) != data:
                        mismatches.append(data)
                except Exception:
                    crashes.append((data, traceback.format_exc()))
                    outcomes["CRASH"] += 1
            elapsed = clock() - a
            if elapsed > slowest:
                slowest = elapsed
            if elapsed > args.hang_seconds:
                hangs.append((data, elapsed))
        if watchdog:
            signal.setitimer(signal.ITIMER_REAL, 0)
        decode_time += clock() - t1
        done += n

    total = clock() - start
    print_summary(args, len(seeds), done, outcomes, by_generator, decoded_by_generator,
                  (gen_time, decode_time, total, slowest))
    for data, tb in crashes[:args.show]:
        print(f"\nCRASH on {data.hex()}\n{tb}", file=sys.stderr)
    for data, secs in hangs[:args.show]:
        print(f"\nHANG ({secs:.3f} s) on {data.hex()}", file=sys.stderr)
    for data in mismatches[:args.show]:
        print(f"\nROUND-TRIP MISMATCH on {data.hex()}", file=sys.stderr)
    print(f"round-trip mismatches: {len(mismatches)}")
    print(f"crashes: {len(crashes)}  hangs: {len(hangs)}  inputs: {done}")
    return 1 if crashes or hangs or mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
