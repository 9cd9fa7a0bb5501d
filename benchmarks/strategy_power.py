"""How many examples the wrap-focused strategies need to kill a wrap bug, against uniform ones (issues 4 and 16).

Default (``--zoo``): every wrap-only mutant of ``adapters/mutants/wrap.py`` against the property case
that targets its requirement (``WRAP_TARGETS``), with the wrap-focused strategies against the
``uniform32`` baseline (bases and offsets uniform over 2^32), ``--seeds`` seeds each; one ratio
line per mutant. These mutants differ from the model only within one segment's length or 64 KiB of
the wrap, so the ratio measures what the strategies are for. With ``--adapter``/``--case`` the single
comparison below runs instead (three strategies against one IUT).

The bug is the ``plain-lt`` mutant (trimming decides "below the base" with a plain ``seq < splice_irs``
instead of Linux's ``before()``): it only shows when the splice's base and a segment lie on opposite
sides of 2^32. The property case ``prop/trim`` runs against it with three sources of numbers, the same
harness and the same example shapes otherwise (:class:`splicecheck.conformance.strategies.Numbers`):

- ``wrap``: the suite's strategies — bases near 0 and 2^32 - 1, offsets around the base and 2^31 away;
- ``uniform``: bases (ISNs) uniform over 2^32, offsets uniform within a receive window (±2^16);
- ``uniform32``: bases uniform, offsets uniform over all of 2^32.

For each of ``--seeds`` seeds the search stops at the first failing example (no shrinking) and reports
its index; a search that reaches ``--cap`` examples without a kill is *censored*. Medians count a
censored search as ``cap`` and are then printed as lower bounds ("≥"), and so is the ratio.

A uniform search almost never kills a wrap-only mutant, so its measured median is only ever a lower
bound of its cap. Two tighter bounds are printed beside it:

- pooled (:func:`pooled_bound`): all the uniform examples run without a kill bound the per-example
  kill chance by the rule of three, hence the median from below at 95% confidence. It treats the
  examples as independent trials, which Hypothesis' examples within one search only approximate
  (the seeds are independent). By default the baseline's cap is chosen per mutant, from its wrap
  median alone, so that this bound can reach the 100x target (:func:`auto_cap`);
- closed form (:func:`closed_form`): the chance ``p`` that one uniform example reaches the mutant's
  trigger window at all, bounded by a union over the values the trigger depends on; the median
  examples-to-kill is then at least ``1/(2p)``, with no independence assumed.

Run from the repository: ``.venv/bin/python benchmarks/strategy_power.py [--seeds 20] [--cap 2000]``.
The ``uniform32`` baseline kills ``plain-lt`` about as fast as ``wrap``: with offsets uniform over
2^32 the segment is "below" the base in one order and not the other about a quarter of the time. The
ratio that measures the strategies is against ``uniform``: traffic that looks like traffic.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from splicecheck.conformance.contract import Adapter, AdapterNotFound, load_adapter
from splicecheck.conformance.properties import BY_SLUG, Budget, search
from splicecheck.conformance.strategies import UNIFORM, UNIFORM32, WRAP, Numbers
from splicecheck.reference.relay import Direction, RelayResult, SpliceState, direction_of, relay
from splicecheck.reference.segment import Segment
from splicecheck.reference.seqspace import before, seq_add, seq_sub

STRATEGIES: dict[str, Numbers] = {"wrap": WRAP, "uniform": UNIFORM, "uniform32": UNIFORM32}

#: each wrap-only mutant and the property case that targets the requirement it breaks
WRAP_TARGETS: dict[str, str] = {
    "wrap-cross-dropped": "seq-ack",
    "wrap-trim-end": "trim",
    "wrap-urg-end": "urgent",
    "wrap-sack-edge": "sack",
    "wrap-tsecr": "timestamps",
    "wrap-seq-base": "seq-ack",
}


def plain_lt_equivalent(state: SpliceState, seg: Segment, now: float) -> RelayResult:
    """Stand-in for ``mutant:plain-lt`` when adapters/mutants.py is not there: the model run on legs
    shifted so that its ``before()`` answers what a plain ``seq < splice_irs`` answers, with the same
    sequence mapping (so only the trim decision differs)."""
    d = direction_of(state, seg)
    if d is None or seg.seg_len == 0:
        return relay(state, seg, now)
    leg_in, leg_out = state.legs(d)
    seq, irs = seg.tcp.seq, leg_in.splice_irs
    if (seq < irs) == bool(before(seq, irs)):
        return relay(state, seg, now)
    if seq < irs:  # plain < says below; irs - seq >= 2^31 > seg_len: the whole segment goes
        base = seq_add(seq, seg.seg_len)
        new_in, new_out = dataclasses.replace(leg_in, splice_irs=base), leg_out
    else:  # plain < says not below: nothing trimmed, seq mapped as it is
        new_in = dataclasses.replace(leg_in, splice_irs=seq)
        new_out = dataclasses.replace(leg_out, splice_iss=seq_add(seq_sub(seq, irs), leg_out.splice_iss))
    shifted = (dataclasses.replace(state, client=new_in, server=new_out) if d is Direction.C2S
               else dataclasses.replace(state, server=new_in, client=new_out))
    return relay(shifted, seg, now)


def make_adapter(spec: str) -> tuple[Adapter, str]:
    try:
        return load_adapter(spec), spec
    except AdapterNotFound:
        if spec != "mutant:plain-lt":
            raise
        from splicecheck.adapters.reference import ReferenceAdapter

        return ReferenceAdapter(relay_fn=plain_lt_equivalent), "plain-lt equivalent (adapters/mutants.py missing)"


def kill(spec: str, case_slug: str, strategy: str, seed: int, cap: int) -> int | None:
    """Index of the first failing example of one seeded search, or None if ``cap`` examples pass."""
    adapter, _ = make_adapter(spec)
    prop = BY_SLUG[case_slug]
    tally = search(adapter, prop.case(), prop.strategy(adapter.unsupported, STRATEGIES[strategy]), seed,
                   Budget(examples=cap, shrink=False))
    return tally.first_failure


def median_bound(kills: list[int | None], cap: int) -> tuple[float, bool]:
    """Median with censored searches counted as ``cap``; True if that makes it a lower bound."""
    values = sorted(k if k is not None else cap for k in kills)
    med = statistics.median(values)
    censored = sum(k is None for k in kills)
    # the censored values sort last; the median is exact only if it lies below all of them
    exact = censored == 0 or len(values) - censored > len(values) // 2
    return med, not exact


def pooled_bound(kills: list[int | None], cap: int) -> float | None:
    """When no search killed: a 95% lower bound on the median examples-to-kill from all the examples run.

    ``n`` examples without a kill bound the per-example kill probability by ``p < 3/n`` at 95%
    confidence (the rule of three); a geometric number of trials has median ``ln 2 / p`` or more, so
    the median is at least ``n ln 2 / 3``. Tighter than the censored median (``cap``) once there are
    more than ~4 searches; None when any search killed (the median is then measured)."""
    if any(k is not None for k in kills):
        return None
    return len(kills) * cap * math.log(2) / 3


#: the longest segment a strategy draws, in sequence numbers (1500 bytes of payload, SYN and FIN)
MAX_SEG_LEN = 1500 + 2
#: the most SACK right edges and TSecr values one segment carries (40 option bytes hold 4 SACK blocks
#: at most, in one option or two; one or two Timestamps options)
MAX_SACK_EDGES, MAX_TSECRS = 4, 2


def closed_form(mutant: str, segments: int) -> tuple[float, str]:
    """An upper bound on the chance that one example drawn with bases (ISNs, proxy ISNs, proxy TSvals)
    uniform over 2^32 reaches the mutant's trigger region, and how it follows.

    Every value a trigger depends on is a base plus an offset drawn independently of it, so it is
    uniform over 2^32 too; the trigger needs one of at most ``k`` such values (per example: two legs,
    or ``segments`` segments times their SACK edges / TSecr values / one seq) in a window of ``w``
    numbers, so ``p <= k w / 2^32`` (union bound). The number of examples to the first kill, ``K``,
    then has ``P(K <= m) <= m p`` (again a union bound, whatever the examples' dependence), so its
    median is at least ``1 / (2p)``. Assumes the adapter takes the bases the scenario asks for (the
    reference and the mutants do)."""
    if mutant == "wrap-cross-dropped":
        k, w, why = segments, MAX_SEG_LEN, f"a seq within {MAX_SEG_LEN} below 2^32, {segments} segments"
    elif mutant in ("wrap-trim-end", "wrap-urg-end"):
        k, w, why = 2, MAX_SEG_LEN, f"a leg's splice_irs within {MAX_SEG_LEN} of the wrap, 2 legs"
    elif mutant == "wrap-sack-edge":
        k, w = segments * MAX_SACK_EDGES, 1 << 16
        why = f"a SACK right edge in the top 2^16, {segments}x{MAX_SACK_EDGES} edges"
    elif mutant == "wrap-tsecr":
        k, w, why = segments * MAX_TSECRS, 1 << 16, f"a TSecr in the top 2^16, {segments}x{MAX_TSECRS} values"
    elif mutant == "wrap-seq-base":
        k, w, why = 2, 1 << 16, "a leg's splice_irs below 2^16, 2 legs"
    else:
        raise KeyError(mutant)
    return k * w / (1 << 32), why


#: the least baseline cap
MIN_BASELINE_CAP = 2000


def fmt(med: float, bound: bool) -> str:
    return f"{'≥' if bound else ''}{med:g}"


#: the ratio the issue asks for on every wrap-only mutant (issue 16, item 3)
TARGET_RATIO = 100


def auto_cap(wrap_median: float, seeds: int, floor: int) -> int:
    """The baseline cap at which, if no uniform search kills, the pooled bound alone shows the target:
    ``seeds * cap * ln 2 / 3 >= TARGET_RATIO * wrap_median`` (and never below ``floor``)."""
    return max(floor, math.ceil(TARGET_RATIO * wrap_median * 3 / (seeds * math.log(2))))


def zoo(seeds: int, cap: int, baseline: str, baseline_cap: int | None, jobs: int, only: list[str]) -> int:
    """The wrap-only mutants, each against its property: wrap strategies against ``baseline``.

    With ``baseline_cap`` None the baseline's cap is chosen per mutant once its wrap median is known
    (:func:`auto_cap`); the rule depends only on the wrap searches, never on the baseline's outcomes,
    so the baseline's bounds keep their meaning."""
    targets = {m: c for m, c in WRAP_TARGETS.items() if not only or m in only}
    chosen = f"cap {baseline_cap}" if baseline_cap else f"cap per mutant, >= {MIN_BASELINE_CAP}, auto"
    print(f"wrap-only mutants; {seeds} seeds each; strategies wrap (cap {cap}) and {baseline} ({chosen}); "
          f"target ratio >= {TARGET_RATIO}x")
    print("closed form: p = the chance one uniform example reaches the trigger region (union bound over the values "
          "it depends on, each uniform over 2^32);\n  the uniform median examples-to-kill is then >= 1/(2p) "
          "(P(kill within m) <= m p); the ratio divides that by the wrap median")
    t0 = time.perf_counter()
    head = ("mutant", "wrap median", f"{baseline} cap", f"{baseline} measured", "measured ratio",
            "pooled ratio (95%)", "closed-form median", "closed-form ratio")
    table: list[tuple[str, ...]] = [head]
    whys: list[str] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        wraps = {(m, s): pool.submit(kill, f"mutant:{m}", case, "wrap", s, cap)
                 for m, case in targets.items() for s in range(seeds)}
        bases = {}
        caps: dict[str, int] = {}
        wrap_kills: dict[str, list[int | None]] = {}
        for m, case in targets.items():  # the baseline's searches go in as soon as their cap is known
            wrap_kills[m] = [wraps[m, s].result() for s in range(seeds)]
            wm, wb = median_bound(wrap_kills[m], cap)
            caps[m] = baseline_cap or (MIN_BASELINE_CAP if wb else auto_cap(wm, seeds, MIN_BASELINE_CAP))
            for s in range(seeds):
                bases[m, s] = pool.submit(kill, f"mutant:{m}", case, baseline, s, caps[m])
        for m, case in targets.items():
            wrap_k, base_k = wrap_kills[m], [bases[m, s].result() for s in range(seeds)]
            (wm, wb), (bm, bb) = median_bound(wrap_k, cap), median_bound(base_k, caps[m])
            measured = "undetermined (wrap censored)" if wb else f"{'≥' if bb else ''}{bm / wm:.0f}×"
            pooled = pooled_bound(base_k, caps[m])
            pooled_note = ""
            if pooled is not None and not wb:
                pooled_note = f" (pooled: {baseline} median ≥{pooled:.0f} at 95%, ratio ≥{pooled / wm:.0f}×)"
            p, why = closed_form(m, BY_SLUG[case].focus.max_segments)
            cf = 1 / (2 * p)
            table.append((m, fmt(wm, wb), str(caps[m]), fmt(bm, bb), measured,
                          "-" if pooled is None or wb else f"≥{pooled / wm:,.0f}×", f"≥{cf:,.0f}",
                          "-" if wb else f"≥{cf / wm:,.0f}×"))
            whys.append(f"{m}: {why}")
            print(f"{m:>20} prop/{case:<11} wrap median {fmt(wm, wb):>6} "
                  f"(killed {sum(k is not None for k in wrap_k)}/{seeds})  {baseline} median {fmt(bm, bb):>7} "
                  f"(killed {sum(k is not None for k in base_k)}/{seeds}, cap {caps[m]})  "
                  f"ratio {measured}{pooled_note}", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)\n")
    widths = [max(len(t[i]) for t in table) for i in range(len(head))]
    for t in table:
        print("  ".join(c.rjust(wd) for c, wd in zip(t, widths, strict=True)))
    print("closed-form p per mutant: " + "; ".join(whys))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adapter", default=None, help="one IUT against three strategies (default: the wrap zoo)")
    p.add_argument("--case", default="trim", choices=sorted(BY_SLUG), help="property case (prop/SLUG)")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--cap", type=int, default=2000, help="examples per search before it counts as censored")
    p.add_argument("--baseline", default="uniform32", choices=("uniform", "uniform32"), help="zoo: the baseline")
    p.add_argument("--baseline-cap", type=int, default=None,
                   help=f"zoo: the baseline's cap (default: per mutant, enough for the pooled bound to show "
                        f"{TARGET_RATIO}x, at least {MIN_BASELINE_CAP})")
    p.add_argument("--only", action="append", default=[], choices=sorted(WRAP_TARGETS), help="zoo: these mutants")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    if args.adapter is None:
        return zoo(args.seeds, args.cap, args.baseline, args.baseline_cap, args.jobs, args.only)
    _, used = make_adapter(args.adapter)
    print(f"IUT: {used}; property prop/{args.case}; {args.seeds} seeds; cap {args.cap} examples per search")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {(name, s): pool.submit(kill, args.adapter, args.case, name, s, args.cap)
                   for name in STRATEGIES for s in range(args.seeds)}
        kills = {name: [futures[name, s].result() for s in range(args.seeds)] for name in STRATEGIES}
    medians: dict[str, tuple[float, bool]] = {}
    for name, ks in kills.items():
        med, bound = median_bound(ks, args.cap)
        medians[name] = (med, bound)
        done = [k for k in ks if k is not None]
        print(f"{name:>10}: killed in {len(done)}/{len(ks)} searches; examples to kill: median "
              f"{'≥' if bound else ''}{med:g}, min {min(done, default='-')}, max {max(done, default='-')}"
              f"{f', {len(ks) - len(done)} censored at {args.cap}' if len(done) < len(ks) else ''}")
    wrap, wrap_bound = medians["wrap"]
    for name in ("uniform", "uniform32"):
        med, bound = medians[name]
        if wrap_bound:
            print(f"ratio {name}/wrap: undetermined (the wrap searches were censored)")
            continue
        print(f"ratio {name}/wrap: {'≥' if bound else ''}{med / wrap:.1f}×")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
