"""What grading several legitimate outcomes costs, side by side in one run (issue 17).

The named cases without a custom execute, against the reference, three ways:

- single: as catalogued — cases without alternatives take the runner's single-outcome path;
- declared: every case given one alternative (supply-timestamps) that the model's outcome makes
  unnecessary — the cost of recording the IUT's packets for a second judgement that never happens;
- rejudged: every case given a first alternative that never matches (the model's relay with one payload
  byte changed) and then the model's own relay as the second, run against an IUT that relays a wrong
  TTL — the model differs, both alternatives are judged again from the recorded packets.

Prints the time per case of each and its ratio to single (the median of ``--repeat`` interleaved runs,
after one warm-up pass).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from splicecheck.adapters.reference import ReferenceAdapter
from splicecheck.conformance.alternatives import SUPPLY_TS
from splicecheck.conformance.case import Alternative, Case
from splicecheck.conformance.catalog import all_cases
from splicecheck.conformance.results import CaseKind
from splicecheck.conformance.runner import run_case
from splicecheck.reference.relay import RelayResult, SpliceState, relay
from splicecheck.reference.segment import IPv4Header, IPv6Header, Segment
from tabulate import tabulate


def never(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    r = relay(state, seg, now)
    return dataclasses.replace(r, emitted=tuple(dataclasses.replace(e, payload=e.payload + b"!")
                                                if isinstance(e, Segment) else e for e in r.emitted))


def ttl_off(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    r = relay(state, seg, now)

    def bump(e: Segment) -> Segment:
        ip = e.ip
        ip = dataclasses.replace(ip, ttl=ip.ttl ^ 1) if isinstance(ip, IPv4Header) else \
            dataclasses.replace(ip, hop_limit=ip.hop_limit ^ 1) if isinstance(ip, IPv6Header) else ip
        return dataclasses.replace(e, ip=ip)

    return dataclasses.replace(r, emitted=tuple(bump(e) if isinstance(e, Segment) else e for e in r.emitted))


def timed(adapter: ReferenceAdapter, cases: list[Case], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for c in cases:
            run_case(adapter, c, "bench")
        runs.append((time.perf_counter() - t0) / len(cases))
    return statistics.median(runs)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    plain = [c for c in all_cases() if c.kind is CaseKind.NAMED and c.execute is None and not c.alternatives]
    declared = [dataclasses.replace(c, alternatives=(SUPPLY_TS,)) for c in plain]
    both = (Alternative("never", never, "bench"), Alternative("model", relay, "bench"))
    rejudged = [dataclasses.replace(c, alternatives=both) for c in plain]
    ways = (("single", ReferenceAdapter(), plain), ("declared", ReferenceAdapter(), declared),
            ("rejudged", ReferenceAdapter(relay_fn=ttl_off), rejudged))
    for _, adapter, cases in ways:  # warm-up: the first pass over the catalogue pays for caches and imports
        timed(adapter, cases, 1)
    times: dict[str, list[float]] = {name: [] for name, _, _ in ways}
    for _ in range(args.repeat):  # interleaved, so that a drift in the machine's load hits all three
        for name, adapter, cases in ways:
            times[name].append(timed(adapter, cases, 1))
    single = statistics.median(times["single"])
    rows = [(name, statistics.median(ts) * 1e3, statistics.median(ts) / single) for name, ts in times.items()]
    print(f"{len(plain)} named cases, median of {args.repeat} runs")
    print(tabulate(rows, headers=("path", "ms per case", "ratio to single"), floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
