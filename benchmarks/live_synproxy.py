"""Live conformance cases per second against Linux SYNPROXY, and whether repeated runs agree (issue 5, item 9).

Needs root, nftables and network namespaces (the Linux lab); prints why and exits 0 otherwise.

1. Same work, two codecs, one lab: per case a fresh connection (three handshake packets) and a data
   segment each way, every capture decoded. ``scapy``: packets built with scapy (``tcpview.craft``)
   and captures dissected with scapy (``tcpview.view``), the way the probe works; ``codec``: the
   adapter's own path (``SynproxyAdapter.open`` + ``Session.inject``, the project's ``encode``/``decode``).
   Both capture with the same fenced exchange, so the ratio is what scapy costs.
2. The catalogue (``conformance.catalog.all_cases()``) through the runner, model and diff engine
   included: named cases per second (target ≥ 300/s), property cases with their examples.
3. Flakiness: ``--runs`` full runs of the catalogue with one seed; the verdicts are compared case by case.
4. Campaign speed: one search per ``splicecheck fuzz`` target with the campaign's budget and an example
   database, judged IUT runs (generated and shrinking) per second and CPU time per run. As ``fuzz
   --expect`` does, with SYNPROXY's committed known findings (``--expect``, default
   ``expectations/synproxy.toml``; ``--expect none``: every failure ends its search, as before), so a
   search goes on past them and runs its whole budget unless it finds something the file does not mask.

``--section N`` runs one part alone (repeatable; 2 includes 3), e.g. ``--section 4``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib
import pkgutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # tcpview: a test helper

import splicecheck.conformance as pkg
from hypothesis.database import DirectoryBasedExampleDatabase
from splicecheck.adapters.lab.preflight import preflight
from splicecheck.adapters.lab.topology import Side
from splicecheck.adapters.synproxy import LAB_FEATURES, SynproxyAdapter, SynproxySession
from splicecheck.conformance import catalog
from splicecheck.conformance.case import Case, from_client, from_server
from splicecheck.conformance.contract import Observation, PeerPlan, Scenario
from splicecheck.conformance.results import CaseResult
from splicecheck.conformance.runner import run
from splicecheck.reference.codec import decode
from splicecheck.reference.segment import ACK, PSH
from tcpview import TcpView, craft, tcp_options, views

CAMPAIGN_TARGET = 500  # IUT runs per second of a live campaign (issue 16)
SCENARIO = Scenario(client=PeerPlan(isn=1_000_000, wscale=6, sack_permitted=True, tsval=100_000),
                    server=PeerPlan(isn=3_000_000_000, mss=1400, wscale=2, sack_permitted=True, tsval=4_000_000_000))
REQUEST, RESPONSE = b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n"


def catalogue() -> tuple[list[Case], str]:
    """Every case of the catalogue; while ``catalog.MODULES`` is still empty, the case modules found
    in the package (``cases_*``, ``properties``), said so in the second value."""
    cases = list(catalog.all_cases())
    if cases:
        return cases, "conformance.catalog.all_cases()"
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                   if m.name.startswith("cases_") or m.name == "properties")
    found, broken = [], []
    for name in names:
        try:
            module = importlib.import_module(f"splicecheck.conformance.{name}")
        except Exception as exc:  # a module being written right now
            broken.append(f"{name} ({type(exc).__name__}: {exc})")
            continue
        found.append(name)
        cases += getattr(module, "CASES", [])
    note = f"catalog.MODULES is empty: found {', '.join(found) or 'nothing'}"
    return cases, note + (f"; not importable: {', '.join(broken)}" if broken else "")


# --------------------------------------------------------------------------------------------------
# 1. scapy vs codec on the same live work
# --------------------------------------------------------------------------------------------------


def scapy_cases(adapter: SynproxyAdapter, n: int) -> float:
    """Cases/s with scapy building and dissecting every packet (handshakes + a data segment each way)."""
    lab, _ = adapter._lab()
    a, o, c, s = lab.addr, adapter.options, SCENARIO.client, SCENARIO.server
    sport = o.config.port

    def exchange(leg: Side, packet: bytes, want: dict[Side, int]) -> tuple[TcpView, ...]:
        got = lab.exchange_fenced(leg, packet, want, timeout=o.timeout, grace=o.grace, short_grace=o.short_grace)
        return views(got[Side.CLIENT] + got[Side.SERVER])

    t0 = time.perf_counter()
    for i in range(n):
        cport = 20000 + i
        syn = craft(a.client4, a.server4, cport, sport, "S", c.isn, window=65535,
                    options=tcp_options(mss=c.mss, wscale=c.wscale, sack_perm=c.sack_permitted, ts=(c.tsval or 0, 0)))
        synack = next(v for v in exchange(Side.CLIENT, syn, {Side.CLIENT: 1}) if v.flags == "SA")
        ack = craft(a.client4, a.server4, cport, sport, "A", c.isn + 1, synack.seq + 1, window=65535,
                    options=tcp_options(ts=(c.tsval or 0, synack.tsval or 0)))
        ssyn = next(v for v in exchange(Side.CLIENT, ack, {Side.SERVER: 1}) if v.flags == "S")
        sa = craft(a.server4, a.client4, sport, cport, "SA", s.isn, ssyn.seq + 1, window=65535,
                   options=tcp_options(mss=s.mss, wscale=s.wscale, sack_perm=True, ts=(s.tsval or 0, ssyn.tsval or 0)))
        exchange(Side.SERVER, sa, {Side.SERVER: 1, Side.CLIENT: 1})
        its = synack.tsval or 0
        cd = craft(a.client4, a.server4, cport, sport, "PA", c.isn + 1, synack.seq + 1, window=500,
                   options=tcp_options(ts=(c.tsval or 0, its)), payload=REQUEST)
        exchange(Side.CLIENT, cd, {Side.SERVER: 1})
        sd = craft(a.server4, a.client4, sport, cport, "PA", s.isn + 1, c.isn + 1 + len(REQUEST), window=1000,
                   options=tcp_options(ts=((s.tsval or 0) + 1, ssyn.tsval or 0)), payload=RESPONSE)
        exchange(Side.SERVER, sd, {Side.CLIENT: 1})
    return n / (time.perf_counter() - t0)


def codec_cases(adapter: SynproxyAdapter, n: int) -> float:
    """Cases/s through the adapter: the same handshakes and two data segments, built and decoded by the codec."""
    t0 = time.perf_counter()
    for _ in range(n):
        with adapter.open(SCENARIO) as session:
            st = session.state
            for seg, expect in ((from_client(st, 0, payload=REQUEST, flags=ACK | PSH, window=500), (0, 1)),
                                (from_server(st, 0, ack_off=len(REQUEST), payload=RESPONSE, flags=ACK | PSH,
                                             window=1000), (1, 0))):
                obs = session.inject(seg, expect=expect)
                for raw in obs.to_client + obs.to_server:
                    decode(raw)
    return n / (time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------
# 2 and 3. the catalogue, repeated
# --------------------------------------------------------------------------------------------------


def full_run(adapter: SynproxyAdapter, cases: list[Case], seed: int) -> tuple[list[CaseResult], dict[str, float]]:
    timing: dict[str, float] = {}
    results: list[CaseResult] = []
    for kind in dict.fromkeys(c.kind for c in cases):
        chosen = [c for c in cases if c.kind == kind]
        sessions = adapter.sessions
        t0 = time.perf_counter()
        results += run(adapter, chosen, adapter_spec=adapter.spec, seed=seed)
        timing[kind] = time.perf_counter() - t0
        timing[kind + " sessions"] = adapter.sessions - sessions
    return results, timing


def _timing_iut(adapter: SynproxyAdapter) -> list[float]:
    """Make ``adapter`` add the wall time its sessions spend with the IUT (opening: the conntrack flush and
    the handshakes; injecting) to the returned one-element list."""
    spent = [0.0]
    opener = adapter.open

    @contextlib.contextmanager
    def open_timed(scenario: Scenario) -> Iterator[SynproxySession]:
        t0 = time.perf_counter()
        with opener(scenario) as session:
            spent[0] += time.perf_counter() - t0
            inject = session.inject

            def inject_timed(*args: Any, **kwargs: Any) -> Observation:
                t = time.perf_counter()
                try:
                    return inject(*args, **kwargs)
                finally:
                    spent[0] += time.perf_counter() - t

            session.inject = inject_timed  # type: ignore[method-assign]
            yield session

    adapter.open = open_timed  # type: ignore[method-assign]
    return spent


def campaign_rates(adapter: SynproxyAdapter, seed: int, expect: str) -> None:
    """4. What a ``splicecheck fuzz`` campaign gets from SYNPROXY: one search per target with the campaign's
    budget and, as in a campaign, an example database (a fresh one, so nothing is replayed), every judged run
    of the IUT counted (generated examples and shrink runs alike: each is a fresh SYNPROXY connection and its
    segments; examples the IUT refused to set up never reached a verdict and are not); a search ends at its
    first failure once that is shrunk. CPU time is this process's, the kernel's work for its sends included;
    "IUT" is the wall time spent opening sessions (conntrack flush, handshakes) and injecting, the rest is
    Hypothesis (drawing, shrinking), the model and the diff. With ``expect`` (a file, or "none"), examples
    showing only the file's known findings are counted ("known") and the search goes on, as in ``fuzz
    --expect``."""
    from splicecheck.conformance import expectations as expect_mod
    from splicecheck.conformance.campaign import CHUNK, KeepFound, targets
    from splicecheck.conformance.properties import Budget

    known = None if expect == "none" else expect_mod.Known(expect, expect_mod.load(expect))
    print(f"\n4. campaign searches ({CHUNK} examples each, failures shrunk; known findings: "
          f"{expect if known else 'none, every failure ends its search'}), IUT runs per second "
          f"(target >= {CAMPAIGN_TARGET}/s):")
    budget = Budget(examples=CHUNK, programs=max(1, CHUNK // 10))
    iut = _timing_iut(adapter)
    total_runs, total_s, total_cpu = 0, 0.0, 0.0
    try:
        with tempfile.TemporaryDirectory(prefix="campaign-db-") as where:
            db = DirectoryBasedExampleDatabase(where)
            for target in targets(adapter):
                t0, c0, i0 = time.perf_counter(), time.process_time(), iut[0]
                tally = target.run(adapter, seed, budget, db if known is None else KeepFound(db),
                                   time.monotonic() + 120, known)
                took, cpu, with_iut = time.perf_counter() - t0, time.process_time() - c0, iut[0] - i0
                runs = tally.examples + tally.shrinking
                total_runs, total_s, total_cpu = total_runs + runs, total_s + took, total_cpu + cpu
                per = 1e3 / max(runs, 1)
                print(f"   {target.case.id:16} {tally.examples:4} examples ({tally.masked_examples:4} known) "
                      f"{tally.shrinking:4} shrink runs {tally.rejected:3} refused  {took:6.2f} s  "
                      f"{runs / took:6.0f} runs/s  per run: "
                      f"{took * per:5.2f} ms = IUT {with_iut * per:4.2f} + rest {(took - with_iut) * per:5.2f}, "
                      f"CPU {cpu * per:5.2f} ms{'  (failure found)' if tally.failure is not None else ''}")
    finally:
        del adapter.open  # the class's own again
    per = 1e3 / max(total_runs, 1)
    rate = total_runs / total_s
    print(f"   all targets: {rate:.0f} runs/s = {rate / CAMPAIGN_TARGET:.2f}x the target; per run: "
          f"{total_s * per:.2f} ms = IUT {iut[0] * per:.2f} + rest {(total_s - iut[0]) * per:.2f}, "
          f"CPU {total_cpu * per:.2f} ms")


def part1(adapter: SynproxyAdapter, n: int) -> None:
    print(f"1. the same live work per case (handshakes + a data segment each way), {n} cases each:")
    scapy = scapy_cases(adapter, n)
    codec = codec_cases(adapter, n)
    print(f"   scapy build + dissect : {scapy:8.0f} cases/s")
    print(f"   codec (the adapter)   : {codec:8.0f} cases/s   ({codec / scapy:.1f}x scapy)\n")


def parts23(adapter: SynproxyAdapter, n_runs: int, seed: int) -> list[str]:
    """2 and 3: the catalogue ``n_runs`` times; the cases whose verdicts differ between runs."""
    cases, source = catalogue()
    print(f"2. the catalogue ({source}): {len(cases)} cases, "
          f"{dict(collections.Counter(c.kind for c in cases))}")
    runs: list[dict[str, str]] = []
    for i in range(n_runs):
        results, timing = full_run(adapter, cases, seed)
        runs.append({r.case: r.verdict.value for r in results})
        counts = collections.Counter(r.verdict.value for r in results)
        rates = []
        for kind in dict.fromkeys(c.kind for c in cases):
            n = sum(c.kind == kind for c in cases)
            rates.append(f"{kind}: {n} cases in {timing[kind]:.2f} s = {n / timing[kind]:.0f} cases/s, "
                         f"{timing[kind + ' sessions']:.0f} sessions = "
                         f"{timing[kind + ' sessions'] / timing[kind]:.0f} sessions/s")
        print(f"   run {i + 1}: " + "; ".join(rates))
        print(f"          verdicts {dict(sorted(counts.items()))}")
    if not cases:
        return []
    print(f"\n3. {n_runs} full runs (seed {seed}), verdicts compared case by case:")
    differing = [cid for cid in runs[0] if len({r.get(cid) for r in runs}) > 1]
    for cid in differing:
        print(f"   DIFFERS {cid}: " + " / ".join(r.get(cid, "-") for r in runs))
    if differing:
        print(f"   {len(differing)} of {len(runs[0])} cases differ between runs")
    else:
        print(f"   identical: all {len(runs[0])} verdicts the same in all {n_runs} runs")
    return differing


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--adapter-arg", default="", help="the synproxy adapter's argument, e.g. 'grace=0.001'")
    ap.add_argument("--cases", type=int, default=300, help="cases per side in part 1")
    ap.add_argument("--runs", type=int, default=3, help="full catalogue runs in part 3")
    ap.add_argument("--seed", type=int, default=1, help="seed of the property cases (the same in every run)")
    ap.add_argument("--expect", default=str(Path(__file__).resolve().parent.parent / "expectations" / "synproxy.toml"),
                    help="part 4: known findings the searches go on past, as fuzz --expect (default the committed "
                         "expectations/synproxy.toml; 'none': every failure ends its search)")
    ap.add_argument("--section", type=int, choices=(1, 2, 4), action="append", default=[],
                    help="run only this part (repeatable; 2 includes 3); default all")
    args = ap.parse_args()
    sections = set(args.section) or {1, 2, 4}
    missing = preflight(*LAB_FEATURES)
    if missing:
        print("SKIPPED: the Linux lab is unavailable: " + "; ".join(missing))
        return 0
    adapter = SynproxyAdapter(args.adapter_arg)
    try:
        info = adapter.info()
        print(f"IUT: {info.description}\n")
        differing: list[str] = []
        if 1 in sections:
            part1(adapter, args.cases)
        if 2 in sections:
            differing = parts23(adapter, args.runs, args.seed)
        if 4 in sections:
            campaign_rates(adapter, args.seed, args.expect)
        return 1 if differing else 0
    finally:
        adapter.close()


if __name__ == "__main__":
    sys.exit(main())
