"""``splicecheck trace``: judge a splice box offline from captures of its two legs.

    splicecheck trace client-leg.pcap server-leg.pcapng
    splicecheck trace c.pcap s.pcap --proxy 198.18.0.1 --proxy 198.19.0.1 --out /tmp/box
    splicecheck trace c.pcap s.pcap --params splice.json --conn 198.18.0.2:40000
    splicecheck trace c.pcap s.pcap --dump-params inferred.json

CLIENT_LEG is a capture of the link between the clients and the box, SERVER_LEG of the link between
the box and the servers (pcap or pcapng, optionally gzip-compressed; Ethernet with VLAN tags, Linux
cooked SLL/SLL2, BSD loopback or raw IP). Captures taken on the end hosts are fine: partial checksums
of offloading senders are completed and not graded (``--checksums``), TSO/GRO super-segments are judged
as the segments they stand for or, when the two captures cut the stream otherwise, counted as not
judged, and packets cut by the snap length are matched but not judged (docs/CAPTURES.md). Both captures
should share a clock (two interfaces of one host); ``--skew`` tolerates a small difference.

Every spliced connection is one result line in ``OUT/results.jsonl`` (default OUT:
``out/trace-<client capture name>/``, git-ignored) (``kind: "trace"``), streamed as
connections finish; none is kept in memory beyond what the reports list: the failing connections and
the first others (at most ``LISTED`` of each, with a note saying how many more there were), chosen as
the lines are written exactly as reading the file back would choose them; the counts are of all of
them. The splice parameters are inferred
from each connection's handshakes and first relayed segments (see ``splicecheck.conformance.trace.infer``)
unless ``--params`` gives them (format: ``splicecheck.conformance.trace.params``). Exit code: 0 with no
FAIL and no ERROR, 1 otherwise, 2 for unusable input (not a capture, a damaged gzip stream, unsupported
link type, a bad params file), bad options, or captures in which nothing was judged (no relayed
segment of a spliced connection: "N passed" would claim what was never checked; with ``--conn`` an
empty selection is said on stderr and exits 0); 130/143/129 when
SIGINT/SIGTERM/SIGHUP stopped it (the results file then ends with a footer saying so).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .cli_options import OUT
from .conformance import interrupts
from .conformance.results import CaseResult, RunFooter, RunHeader
from .conformance.runner import JsonlSink
from .conformance.trace.capture import TraceError
from .conformance.trace.engine import TraceConfig, TraceEngine, capture_details
from .conformance.trace.params import Params, ParamsDump, ParamsError, load_params, parse_address, parse_endpoint
from .conformance.trace.serial import case_json
from .reports.load import Run, RunCollector
from .reports.render import render_all, safe_name
from .reports.terminal import TerminalReporter

#: the reports list at most this many failing connections and this many others (plus, per requirement,
#: the first connection to give it each verdict); the counts are always those of every connection
LISTED = 500


class TraceSink(JsonlSink):
    """The results file of a trace: lines are handed to the operating system in batches, as soon as
    ``BATCH_BYTES`` are waiting or the oldest waiting line is ``BATCH_AGE`` seconds old (looked at as lines
    come), and by :meth:`flush` and :meth:`close` — a run stopped by a signal, or by an error, keeps every
    finished line; one killed outright loses at most the last batch. They are fsynced at most every
    ``SYNC_EVERY`` seconds and at the end. A write(2) per line cost a tenth of the time of a capture of short
    connections (one line each); an fsync per line, as a run of cases does, most of it."""

    SYNC_EVERY = 1.0
    BATCH_BYTES = 1 << 16
    BATCH_AGE = 0.2

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._synced = time.monotonic()
        # lines are written here, straight to the file descriptor, without the text and buffer layers
        # (nothing is ever left in them)
        self._fd = self._f.fileno() if self._f is not None else -1
        self._waiting: list[str] = []
        self._size = 0
        self._since = 0.0  # when the oldest waiting line came

    def write(self, line: str) -> None:
        if self._f is None:
            return
        waiting = self._waiting
        if not waiting:
            self._since = time.monotonic()
        waiting.append(line)
        self._size += len(line) + 1
        if self._size >= self.BATCH_BYTES or time.monotonic() - self._since >= self.BATCH_AGE:
            self.flush()

    def flush(self) -> None:
        """Hand every waiting line to the operating system (fsynced if ``SYNC_EVERY`` has passed)."""
        if self._f is None or not self._waiting:
            return
        data = ("\n".join(self._waiting) + "\n").encode()
        self._waiting.clear()
        self._size = 0
        while data:  # (a regular file takes it whole)
            data = data[os.write(self._fd, data):]
        if time.monotonic() - self._synced >= self.SYNC_EVERY:
            self._sync()

    def _sync(self) -> None:
        self._synced = time.monotonic()
        if self._f is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._f.fileno())

    def close(self) -> None:
        self.flush()
        self._sync()
        super().close()


def main(argv: Sequence[str] | None = None) -> int:
    """``splicecheck trace ARGV...`` (for tests and scripts): the same parse and handler as the command."""
    from .cli import main as cli_main  # a real cycle: splicecheck.cli imports this module's handler

    return cli_main(["trace", *(sys.argv[1:] if argv is None else argv)])


def default_out(client: Path) -> Path:
    stem = client.name.split(".")[0] or "capture"
    return OUT / ("trace-" + safe_name(stem))


def _repro(args: argparse.Namespace) -> str:
    cmd = f"splicecheck trace {args.client_leg} {args.server_leg}"
    for a in args.proxy:
        cmd += f" --proxy {a}"
    if args.params is not None:
        cmd += f" --params {args.params}"
    if args.checksums != "auto":
        cmd += f" --checksums {args.checksums}"
    return cmd


def _config(args: argparse.Namespace) -> TraceConfig:
    """The engine's configuration from the options; ParamsError for a bad params file or address."""
    params = load_params(args.params) if args.params is not None else Params()
    proxies = frozenset(parse_address(a, "--proxy") for a in args.proxy) | params.proxy
    only = frozenset(parse_endpoint(c, "--conn") for c in args.conn)
    return TraceConfig(params=params, proxies=proxies, match_timeout=args.timeout, skew=args.skew,
                       idle_timeout=args.idle, learn_packets=args.learn, fast=not args.no_fast_path,
                       verify_every=args.verify_fast, only=only, repro=_repro(args), checksums=args.checksums)


def _same_capture(a: Path, b: Path) -> bool:
    """Whether two paths are one file, or two files with the same bytes (never raises: an unreadable file is
    the capture reader's to report)."""
    try:
        if os.path.samefile(a, b):
            return True
        if a.stat().st_size != b.stat().st_size:
            return False
        with a.open("rb") as fa, b.open("rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def cmd_trace(args: argparse.Namespace) -> int:
    if args.timeout <= 0 or args.skew < 0 or args.idle <= 0 or args.learn < 4:
        print("splicecheck trace: --timeout and --idle must be positive, --skew not negative, --learn at least 4",
              file=sys.stderr)
        return 2
    try:
        config = _config(args)
    except ParamsError as exc:
        print(f"splicecheck trace: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out or default_out(args.client_leg)
    results_path = out / "results.jsonl"
    reporter = TerminalReporter(sys.stdout, progress="off" if args.quiet else "auto")
    progress = not args.quiet  # (with progress off, a case adds nothing to the terminal until the listing)
    sink: TraceSink | None = None
    dump = ParamsDump(args.dump_params) if args.dump_params is not None else None

    collector: RunCollector | None = None  # the reports' run, built as the lines are written

    def on_result(result: CaseResult) -> None:
        assert sink is not None and collector is not None
        line = case_json(result)
        sink.write(line)
        collector.add(result)
        if progress:
            reporter.case(result)

    try:
        engine = TraceEngine(args.client_leg, args.server_leg, config, on_result=on_result, dump=dump,
                             keep_results=False)
    except TraceError as exc:
        print(f"splicecheck trace: {exc}", file=sys.stderr)
        if dump is not None:
            dump.close()
        return 2
    if _same_capture(args.client_leg, args.server_leg):  # (after the captures were found readable)
        for r in engine.readers:
            r.close()
        if dump is not None:
            dump.close()
        print(f"splicecheck trace: {args.client_leg} and {args.server_leg} are the same capture: give the capture "
              "of the client side and the capture of the server side of the box", file=sys.stderr)
        return 2
    header = RunHeader(iut=f"splice box traced in {args.client_leg.name} + {args.server_leg.name}", iut_version="",
                       iut_description="a splice box judged offline from captures of both its legs",
                       splicecheck_version=__version__, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       adapter="trace", argv=args.argv, details=capture_details(engine))
    sink = TraceSink(results_path)
    sink.write(header.to_json())
    # every line names its connection's case ID, and those are unique (flows.CaseIds): no line repeats
    collector = RunCollector(Run(header, path=results_path), keep=LISTED, unique=True)
    reporter.start(header)
    try:
        engine.run()
    except (KeyboardInterrupt, SystemExit) as exc:
        name = interrupts.interruption(exc)
        if name is None:
            raise
        sink.write(RunFooter(time.strftime("%Y-%m-%dT%H:%M:%S%z"), engine.wall, dict(engine.counts),
                             interrupted=name).to_json())
        sink.close()
        print(f"\ninterrupted ({name}): the finished connections are in {results_path}", file=sys.stderr)
        return interrupts.exit_status(exc)
    except TraceError as exc:
        sink.close()
        print(f"splicecheck trace: {exc}", file=sys.stderr)
        return 2
    finally:
        sink.flush()  # (an unexpected error keeps the finished connections' lines too)
        if dump is not None:
            dump.close()
    # The captures are read: a full collection before the reports are made. The run leaves next to no
    # cyclic garbage (20 objects), yet resident memory drops from 88 to 68 MB after 20,000 short
    # connections (it empties the interpreter's free lists, most likely releasing the arenas they held),
    # and rendering no longer raises the peak (by 6 to 9 MB before).
    gc.collect()
    footer = RunFooter(time.strftime("%Y-%m-%dT%H:%M:%S%z"), engine.wall, dict(engine.counts))
    sink.write(footer.to_json())
    sink.close()
    print(engine.summary())
    run = collector.finish()
    run.footer = footer
    nothing = ("nothing was judged: " + ("no relayed segment of the --conn selection" if args.conn else
               "the captures hold no relayed segment of a spliced connection")
               + f" ({engine.stats.pairs} connection pair(s) found)") if engine.judged == 0 else ""
    if nothing:  # the cases are notes (INFO), counted as passed: say there is no verdict, in every report
        run.warnings.append(nothing + "; the counts below are of notes, not of judged connections")
    hint = swapped_hint(engine)
    if hint:
        run.warnings.append(hint)
    reporter.finish(run)
    if not args.no_render:
        print("reports: " + ", ".join(str(p) for p in render_all(run, out).values()))
    print(f"results: {results_path}")
    code = collector.tally.exit_code(strict=args.strict)
    if hint:
        print(f"splicecheck trace: {hint}", file=sys.stderr)
    if code == 0 and nothing:
        print(f"splicecheck trace: {nothing}", file=sys.stderr)
        return 0 if args.conn else 2  # an empty --conn selection is an answer; an empty capture is unusable
    return code


def swapped_hint(engine: TraceEngine) -> str:
    """A hint when the captures look given in the wrong order: most connections opened on the server leg
    before the client leg (a proxy connects upstream after it accepted a client)."""
    st = engine.stats
    if st.reversed_opens and st.reversed_opens * 2 >= st.pairs + st.reversed_opens:
        return (f"hint: {st.reversed_opens} connection(s) open on the server leg before the client leg (a proxy "
                "connects upstream after its client connected): are CLIENT_LEG and SERVER_LEG given in the wrong "
                "order?")
    return ""
