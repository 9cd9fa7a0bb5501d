"""What drawing an example costs: Hypothesis' engine per choice, and how many choices each property draws.

    .venv/bin/python benchmarks/generation_cost.py [--examples N]

A campaign's example costs the kernel exchange, the model and the diff, and its drawing by Hypothesis
(issue 16: live SYNPROXY campaigns at 500 examples/s on this machine's two CPUs leave 4 ms of CPU per example
for all of it). This script measures the drawing alone, side by side in one process:

1. each property's strategy (``properties.PROPERTIES``, as a campaign draws it for an adapter that lacks
   nothing): CPU per example, and the choices Hypothesis records for it (its choice sequence, what the engine
   stores, replays, mutates and shrinks) — with a test body that does nothing, so it is generation and the
   engine's bookkeeping only;
2. tuples of k plain ``st.integers`` for several k: the engine's cost per choice (the slope) and per example
   (the intercept), which no strategy design can go below.

The comparison says how far drawing fewer, wider choices could take the campaigns: the cost follows the number
of choices, not what the strategies do with them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from splicecheck.conformance.properties import PROPERTIES
from splicecheck.conformance.strategies import Example

FLAT = (5, 10, 35, 90)


def cost(strategy: st.SearchStrategy[object], n: int) -> tuple[float, list[int]]:
    """CPU seconds per example of drawing ``n`` examples of ``strategy``, and each one's number of choices."""
    choices: list[int] = []

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(_value: object) -> None:
        choices.append(len(current_build_context().data.choices))

    t0 = time.process_time()
    draw()
    return (time.process_time() - t0) / n, choices


def slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares: cost = a + b * choices."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--examples", type=int, default=1500, help="examples drawn per strategy (default 1500)")
    args = ap.parse_args()
    n = args.examples
    cost(st.tuples(st.integers(0, 1000)), 200)  # warm-up: the engine's first search pays for its imports
    print(f"drawing {n} examples per strategy, CPU time, a test body that does nothing\n")
    print("1. the property strategies (as a campaign draws them):")
    per_prop: list[tuple[float, float]] = []
    for prop in PROPERTIES:
        s: st.SearchStrategy[Example] = prop.strategy()
        seconds, choices = cost(s, n)
        per_prop.append((seconds, statistics.fmean(choices)))
        print(f"   {prop.id:16} {seconds * 1e3:6.3f} ms per example, {statistics.fmean(choices):5.1f} choices "
              f"(median {statistics.median(choices):g}, max {max(choices)})")
    mean_ms = statistics.fmean(p[0] for p in per_prop) * 1e3
    mean_choices = statistics.fmean(p[1] for p in per_prop)
    print(f"   all              {mean_ms:6.3f} ms per example, {mean_choices:5.1f} choices\n")
    print("2. tuples of k integers (the engine alone):")
    points: list[tuple[int, float]] = []
    for k in FLAT:
        seconds, _ = cost(st.tuples(*[st.integers(0, 1000)] * k), n)
        points.append((k, seconds * 1e3))
        print(f"   k = {k:3}          {seconds * 1e3:6.3f} ms per example")
    base, per_choice = slope(points)
    print(f"   fit: {base:.3f} ms per example + {per_choice * 1e3:.1f} us per choice\n")
    flat_same = base + per_choice * mean_choices
    print(f"the properties draw {mean_choices:.0f} choices in {mean_ms:.3f} ms; the engine alone takes "
          f"{flat_same:.3f} ms for as many plain integers ({mean_ms / flat_same:.2f}x)")
    for budget in (0.5, 1.0):
        print(f"   drawing within {budget:.1f} ms per example: at most {max(0.0, (budget - base) / per_choice):.0f} "
              f"choices")
    return 0


if __name__ == "__main__":
    sys.exit(main())
