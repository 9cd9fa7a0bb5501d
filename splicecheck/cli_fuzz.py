"""``splicecheck fuzz``: a campaign of property and stateful searches for a length of time
(:mod:`~splicecheck.conformance.campaign`).

    splicecheck fuzz --adapter mutant:wrap-trim-end --time 2m
    splicecheck fuzz --adapter reference --time 8h --workers 2 --db dir:out/fuzz-db
    splicecheck fuzz --adapter synproxy --time 1h --db redis://fuzz-host:6379/0   # on every machine

    splicecheck fuzz --adapter synproxy --time 8h --expect expectations/synproxy.toml   # past known bugs

Live progress on stderr (examples per second, wrap regions hit, failures). The campaign stops at its
time or at the first failure, which is shrunk and saved in the database; ``SPLICECHECK_DB=URL
splicecheck run …`` replays it first. With ``--expect FILE`` (the format ``run --expect`` reads) an
example whose findings the file all masks is counted, not failed (``conformance.campaign``, "Known
findings"): the progress line counts them, the summary lists each such finding with its count and first
example, and a failure lists its findings, each classified. No file is read unless given: a live adapter's
committed file is named in a hint. Exit status: 0 the time ran out without a failure, 1 a failure (with
``--expect``: an example with an unmasked finding) was found, 2 usage error (or no search could run: each
ended in a harness or adapter fault), 130/143 interrupted by SIGINT/SIGTERM. A search a harness or adapter
fault ends is listed in the summary and the campaign goes on (a target leaves the rotation after
``MAX_FAULTS`` such searches in a row), as a run grades that case ERROR and goes on.
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_options import committed_expectations, positive_int
from .conformance import expectations as expect_mod
from .conformance import interrupts
from .conformance.campaign import ENV_DB, BadDatabase, Found, Progress, Totals, open_database, targets, work
from .conformance.contract import load_adapter
from .conformance.interrupts import pending as interrupted

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

DEFAULT_DB = "dir:out/fuzz-db"
DEFAULT_FAULT_LOG = "out/fuzz-faults.log"
CLEANUP = 5.0  # seconds the workers get to close their adapters once told to stop, before SIGKILL
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h30m``, ``1.5h`` → seconds (argparse type: a bad one is a usage error)."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        seconds = float(t)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", t)
        if not parts or "".join(n + u for n, u in parts) != t:
            raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90, 90s, 2m, 1h30m)")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a campaign lasts more than 0 s, not {text!r}")
    return seconds


def register(sub: Subparsers, add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add(sub, "fuzz", cmd_fuzz, "run a fuzz campaign of the property and stateful searches",
            description="a campaign of the property and stateful searches for a length of time, by several "
                        "workers sharing one example database (failures are shrunk, saved and replayed first)",
            epilog="exit status: 0 the time ran out without a failure, 1 a failure was found (--expect: an example "
                   "with a finding the file does not mask), 2 usage error or no search could run (harness faults), "
                   "130/143 interrupted")
    p.add_argument("--adapter", required=True, metavar="NAME", help="as for run: reference, mutant:NAME, synproxy, …")
    p.add_argument("--time", type=duration, default=60.0, metavar="DURATION",
                   help="how long to run: 90, 90s, 2m, 1h30m (default 60 s)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument("--db", default=DEFAULT_DB, metavar="URL",
                   help=f"example database: dir:PATH or PATH (one machine), redis://HOST:PORT/N (several); "
                        f"default {DEFAULT_DB}")
    p.add_argument("--case", action="append", default=[], metavar="ID",
                   help="only this property or stateful case (repeatable), e.g. prop/trim")
    p.add_argument("--seed", type=int, default=None, help="seed of the workers' seed sequence (default: random)")
    p.add_argument("--expect", type=Path, default=None, metavar="FILE",
                   help="known findings (TOML, as for run --expect): an example showing only findings the file "
                        "masks is counted and the search goes on; the summary lists them with their counts")
    p.add_argument("--fault-log", type=Path, default=Path(DEFAULT_FAULT_LOG), metavar="FILE",
                   help=f"where the whole message of each harness or adapter fault is appended (the summary shows "
                        f"first lines; default {DEFAULT_FAULT_LOG})")
    p.add_argument("--chunk", type=positive_int, default=200, metavar="N",
                   help="examples per search before a worker moves on to the next target (default 200)")


def _child(spec: str, worker: int, stop_at: float, url: str, out: Any, seed: int | None, chunk: int,
           only: list[str], known: expect_mod.Known | None) -> None:
    """A worker process: SIGINT is the parent's to handle (it terminates its workers); SIGTERM unwinds it,
    so that its adapter is closed (a live adapter's lab torn down) before it exits.
    ``stop_at``: the parent's ``time.monotonic()`` deadline (one clock for every process of a machine)."""
    def stop(signum: int, frame: object) -> None:
        interrupts.deliver(signum)  # what a search lets through untouched (interrupts.hypothesis_scope)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop)
    interrupts.install_unraisable_hook()  # a stop raised in a gc callback is raised again, not printed
    adapter = load_adapter(spec)
    adapter.spec = spec  # type: ignore[attr-defined]  # names the database key as the parent does
    try:
        work(adapter, worker, stop_at, open_database(url), out.put,
             None if seed is None else seed + worker, chunk, only, known)
    except BaseException as exc:
        if interrupts.interruption(exc) is None:
            raise
        sys.exit(interrupts.exit_status(exc))  # told to stop: quietly, once the adapter is closed
    finally:
        adapter.close()


class _Line:
    """The live progress line: redrawn in place on a terminal, a line every 10 s otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.text = ""  # the last text printed (a line not yet due is not: the final one must still be)

    def show(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if text == self.text and not (final and self.tty):
            return
        if self.tty:
            print(f"\r\x1b[Kfuzz: {text}", end="\n" if final else "", file=sys.stderr, flush=True)
            self.text = text
        elif final or now - self.last >= 10:
            print(f"fuzz: {text}", file=sys.stderr, flush=True)
            self.last, self.text = now, text


def load_known(path: Path | None) -> expect_mod.Known | None:
    """``--expect``'s file as a campaign uses it (ExpectationsError: unusable, a usage error)."""
    return None if path is None else expect_mod.Known(str(path), expect_mod.load(path))


def cmd_fuzz(args: argparse.Namespace) -> int:
    try:
        known = load_known(args.expect)
    except expect_mod.ExpectationsError as exc:
        print(f"splicecheck fuzz: --expect: {exc}", file=sys.stderr)
        return 2
    try:
        db = open_database(args.db)
    except BadDatabase as exc:
        print(f"splicecheck fuzz: --db {args.db}: {exc}", file=sys.stderr)
        return 2
    adapter = load_adapter(args.adapter)
    adapter.spec = args.adapter  # type: ignore[attr-defined]
    names = {t.case.id for t in targets(adapter)}
    unknown = sorted(set(args.case) - names)
    if unknown:
        print(f"splicecheck fuzz: no such target for this adapter: {', '.join(unknown)}; "
              f"known: {', '.join(sorted(names))}", file=sys.stderr)
        adapter.close()
        return 2
    totals, line = Totals(expecting=known is not None), _Line()
    print(f"fuzz: {args.adapter}, {args.time:g} s, {args.workers} worker{'s' if args.workers > 1 else ''}, "
          f"database {args.db}; targets: {', '.join(sorted(set(args.case) or names))}"
          + (f"; known findings: {args.expect}" if known is not None else ""), file=sys.stderr)
    hint = committed_expectations(args.adapter) if known is None else None
    if hint is not None:
        print(f"fuzz: the first failure ends the campaign; to go on past the known findings of {args.adapter}: "
              f"--expect {hint}", file=sys.stderr)

    def report(p: Progress) -> None:
        totals.add(p)
        line.show(totals.line())

    if args.workers == 1:
        try:
            work(adapter, 0, time.monotonic() + args.time, db, report, args.seed, args.chunk, args.case, known)
        finally:
            adapter.close()
    else:
        adapter.close()
        _pool(args, report, line, totals, known)
    line.show(totals.line(), final=True)
    return _conclude(args, totals)


def _pool(args: argparse.Namespace, report: Callable[[Progress], None], line: _Line, totals: Totals,
          known: expect_mod.Known | None) -> None:
    ctx = multiprocessing.get_context("spawn")
    inbox = ctx.Queue()
    stop_at = time.monotonic() + args.time
    procs = [ctx.Process(target=_child, args=(args.adapter, w, stop_at, args.db, inbox, args.seed, args.chunk,
                                               args.case, known), daemon=True) for w in range(args.workers)]
    for p in procs:
        p.start()
    running = len(procs)
    try:
        while running:
            try:
                msg: Progress = inbox.get(timeout=0.5)
            except queue.Empty:
                line.show(totals.line())
                if not any(p.is_alive() for p in procs):
                    break
                continue
            report(msg)
            if msg.done:
                running -= 1
            if msg.found is not None:  # the campaign stops at its first failure: end the other workers
                for p in procs:
                    if p.is_alive():
                        p.terminate()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        end = time.monotonic() + CLEANUP  # a worker's SIGTERM closes its adapter: a lab takes a moment
        for p in procs:
            p.join(timeout=max(0.0, end - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(timeout=0.5)
        while True:  # what the workers reported before they ended
            try:
                report(inbox.get_nowait())
            except queue.Empty:
                break
        inbox.close()
        inbox.cancel_join_thread()  # nothing of ours is left to send: exit at once
        ended = (0, None, -signal.SIGTERM, -signal.SIGKILL, 128 + signal.SIGTERM)  # finished or ended by us
        bad = [p.exitcode for p in procs if p.exitcode not in ended]
        if bad and not totals.found and not interrupted():
            print(f"splicecheck fuzz: {len(bad)} worker(s) failed (exit {bad})", file=sys.stderr)


def _conclude(args: argparse.Namespace, totals: Totals) -> int:
    print(f"wrap regions reached: {', '.join(totals.coverage.reached) or 'none'}")
    if totals.coverage.missed:
        print(f"wrap regions not reached: {', '.join(totals.coverage.missed)}")
    if totals.expecting:
        _print_masked(args, totals)
    if totals.faults:
        log = _write_fault_log(args.fault_log, totals.faults)
        print(f"harness or adapter faults ({len(totals.faults)}; each ended its search, graded ERROR, not a "
              f"failure of the IUT{'; whole messages in ' + log if log else ''}):")
        for text in totals.faults:
            print(f"  {text.splitlines()[0]}")
    if not totals.found:
        if totals.faults and not totals.examples:
            print("splicecheck fuzz: no search ran: every one ended in a harness or adapter fault", file=sys.stderr)
            return 2
        print(f"no failure in {totals.examples} examples")
        return 0
    for f in totals.found:
        _print_found(args, f)
    return 1


def _write_fault_log(path: Path, faults: list[str]) -> str:
    """Every fault's whole message (an adapter's exchange log, say: the summary shows first lines) in ``path``,
    appended with the time; the path written, or "" when it cannot be (said on stderr, the campaign's answer
    stands)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            for text in faults:
                f.write(f"--- {stamp} {text}\n")
    except OSError as exc:
        print(f"splicecheck fuzz: cannot write the fault log {path}: {exc.strerror or exc}", file=sys.stderr)
        return ""
    return str(path)


def _print_masked(args: argparse.Namespace, totals: Totals) -> None:
    """The known findings the campaign went on past: each with its count and first example (nothing hidden)."""
    if not totals.masked:
        print(f"known findings seen: none ({args.expect})")
        return
    n = len(totals.masked)
    print(f"known findings seen ({args.expect}): {n} finding{'s' if n != 1 else ''} in {totals.expected} "
          f"example{'s' if totals.expected != 1 else ''}, each not a failure of this campaign")
    for m in sorted(totals.masked.values(), key=lambda m: (-m.examples, m.finding)):
        print(f"  {m.finding} {m.verdict or '-'} expected ({m.klass}): {m.title}")
        print(f"    {m.examples} example{'s' if m.examples != 1 else ''}; first: {m.case} seed {m.seed}: "
              f"{m.description}")


def _print_found(args: argparse.Namespace, f: Found) -> None:
    replay = " (replayed from the database)" if f.replayed else ""
    print(f"FAILURE {f.case}: {f.verdict} at example {f.first_failure}{replay}, seed {f.seed}")
    print(f"  minimal example: {f.description}")
    for fid, verdict, title, classified in f.findings:
        print(f"  finding {fid} {verdict or '-'} {classified}: {title}")
    print(f"  saved in {args.db}; replay it first with: {ENV_DB}={args.db} splicecheck run --adapter {args.adapter} "
          f"--case {f.case}")


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - the CLI's main is splicecheck.cli.main
    from .cli import main as cli_main

    return cli_main(["fuzz", *(argv or [])])
