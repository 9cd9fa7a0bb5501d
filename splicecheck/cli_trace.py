"""``splicecheck trace``: judge a splice box offline from captures of its two legs.

    splicecheck trace client-leg.pcap server-leg.pcapng
    splicecheck trace c.pcap s.pcap --proxy 198.18.0.1 --proxy 198.19.0.1 --out reports/box
    splicecheck trace c.pcap s.pcap --params splice.json --conn 198.18.0.2:40000
    splicecheck trace c.pcap s.pcap --dump-params inferred.json

CLIENT_LEG is a capture of the link between the clients and the box, SERVER_LEG of the link between
the box and the servers (pcap or pcapng, optionally gzip-compressed; Ethernet with VLAN tags, Linux
cooked SLL/SLL2, BSD loopback or raw IP). Capture with the full snap length and, on Linux, with
GRO/TSO/LRO off on the capturing interfaces (``ethtool -K IF gro off tso off lro off``): coalesced or
segmented packets do not correspond one to one across the box. Both captures should share a clock
(two interfaces of one host); ``--skew`` tolerates a small difference.

Every spliced connection is one result line in ``OUT/results.jsonl`` (``kind: "trace"``), streamed as
connections finish; the reports are rendered from it at the end. The splice parameters are inferred
from each connection's handshakes and first relayed segments (see ``splicecheck.conformance.trace.infer``)
unless ``--params`` gives them (format: ``splicecheck.conformance.trace.params``). Exit code: 0 with no
FAIL and no ERROR, 1 otherwise, 2 for unusable input (not a capture, unsupported link type, a bad
params file) or bad options.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .conformance.results import CaseResult, RunFooter, RunHeader
from .conformance.runner import JsonlSink
from .conformance.trace.capture import TraceError
from .conformance.trace.engine import TraceConfig, TraceEngine, capture_details
from .conformance.trace.params import Params, ParamsDump, ParamsError, load_params, parse_address, parse_endpoint


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="splicecheck trace",
                                description="check captured traffic of a splice box against the reference model")
    p.add_argument("client_leg", type=Path, metavar="CLIENT_LEG", help="capture of the client ⇄ box link")
    p.add_argument("server_leg", type=Path, metavar="SERVER_LEG", help="capture of the box ⇄ server link")
    p.add_argument("--proxy", action="append", default=[], metavar="ADDR",
                   help="an address of the box itself (repeatable); tells end hosts from the box without handshakes")
    p.add_argument("--params", type=Path, default=None, metavar="FILE",
                   help="splice parameters to use instead of inferring them (JSON; see --dump-params)")
    p.add_argument("--dump-params", type=Path, default=None, metavar="FILE",
                   help="write the parameters used for each connection, in the --params format")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="report directory (default reports/trace-<client capture name>)")
    p.add_argument("--conn", action="append", default=[], metavar="CLIENT:PORT",
                   help="judge only the connections of this client endpoint (repeatable)")
    p.add_argument("--timeout", type=float, default=1.0, metavar="SEC",
                   help="an input with no output this long after it was captured was dropped (default 1)")
    p.add_argument("--skew", type=float, default=0.005, metavar="SEC",
                   help="how far the two captures' clocks may disagree (default 0.005)")
    p.add_argument("--idle", type=float, default=300.0, metavar="SEC",
                   help="a connection idle this long is finished (default 300)")
    p.add_argument("--learn", type=int, default=64, metavar="N",
                   help="packets per connection kept to infer its parameters (default 64)")
    p.add_argument("--no-fast-path", action="store_true",
                   help="judge every segment with the full model (slow; the fast path is checked against it)")
    p.add_argument("--verify-fast", type=int, default=4096, metavar="N",
                   help="re-judge every N-th fast-path segment with the full model (0: never; default 4096)")
    p.add_argument("--no-render", action="store_true", help="write results.jsonl only")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-connection progress")
    return p


def default_out(client: Path) -> Path:
    stem = client.name.split(".")[0] or "capture"
    return Path("reports") / ("trace-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-"))


def _repro(args: argparse.Namespace) -> str:
    cmd = f"splicecheck trace {args.client_leg} {args.server_leg}"
    for a in args.proxy:
        cmd += f" --proxy {a}"
    if args.params is not None:
        cmd += f" --params {args.params}"
    return cmd


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if args.timeout <= 0 or args.skew < 0 or args.idle <= 0 or args.learn < 4:
        print("splicecheck trace: --timeout and --idle must be positive, --skew not negative, --learn at least 4",
              file=sys.stderr)
        return 2
    try:
        params = load_params(args.params) if args.params is not None else Params()
        proxies = frozenset(parse_address(a, "--proxy") for a in args.proxy) | params.proxy
        only = frozenset(parse_endpoint(c, "--conn") for c in args.conn)
    except ParamsError as exc:
        print(f"splicecheck trace: {exc}", file=sys.stderr)
        return 2
    config = TraceConfig(params=params, proxies=proxies, match_timeout=args.timeout, skew=args.skew,
                         idle_timeout=args.idle, learn_packets=args.learn, fast=not args.no_fast_path,
                         verify_every=args.verify_fast, only=only, repro=_repro(args))
    out: Path = args.out or default_out(args.client_leg)
    results_path = out / "results.jsonl"

    reporter = None
    try:
        from .reports.terminal import TerminalReporter

        reporter = TerminalReporter(sys.stdout, progress="off" if args.quiet else "auto")
    except ImportError:  # the reports package is optional for the checker itself
        pass
    sink: JsonlSink | None = None
    dump = ParamsDump(args.dump_params) if args.dump_params is not None else None

    def on_result(result: CaseResult) -> None:
        assert sink is not None
        sink.write(result.to_json())
        if reporter is not None:
            reporter.case(result)

    try:
        engine = TraceEngine(args.client_leg, args.server_leg, config, on_result=on_result, dump=dump)
    except TraceError as exc:
        print(f"splicecheck trace: {exc}", file=sys.stderr)
        if dump is not None:
            dump.close()
        return 2
    header = RunHeader(iut=f"splice box traced in {args.client_leg.name} + {args.server_leg.name}", iut_version="",
                       iut_description="a splice box judged offline from captures of both its legs",
                       splicecheck_version=__version__, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       adapter="trace", argv=["trace", *(argv if argv is not None else sys.argv[2:])],
                       details=capture_details(engine))
    sink = JsonlSink(results_path)
    sink.write(header.to_json())
    if reporter is not None:
        reporter.start(header)
    try:
        results = engine.run()
    except KeyboardInterrupt:
        sink.close()
        print(f"\ninterrupted: the finished connections are in {results_path}", file=sys.stderr)
        return 130
    except TraceError as exc:
        sink.close()
        print(f"splicecheck trace: {exc}", file=sys.stderr)
        return 2
    finally:
        if dump is not None:
            dump.close()
    sink.write(RunFooter(time.strftime("%Y-%m-%dT%H:%M:%S%z"), engine.wall, dict(engine.counts)).to_json())
    sink.close()
    print(engine.summary())
    rendered = _render(results_path, out, reporter, args.no_render)
    if rendered:
        print(rendered)
    print(f"results: {results_path}")
    return 1 if any(r.verdict.bad for r in results) else 0


def _render(results_path: Path, out: Path, reporter: object, no_render: bool) -> str:
    """Finish the terminal report and render the others, with what the reports package has."""
    try:
        from .reports.load import load_run
    except ImportError:
        return "reports: the reports package is not available; results.jsonl only"
    run = load_run(results_path)
    finish = getattr(reporter, "finish", None)
    if callable(finish):
        finish(run)
    if no_render:
        return ""
    try:
        from .reports.render import render_all
    except ImportError:
        return "reports: no renderer available yet; results.jsonl only"
    written = render_all(run, out)
    return "reports: " + ", ".join(str(p) for p in written.values())
