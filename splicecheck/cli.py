"""The ``splicecheck`` command: one argparse tree, one handler per subcommand.

Subcommands:
  spec            the requirement catalogue as a table
  prove           the Z3 proofs of the model's wraparound invariants (exit 1 on any failure)
  run             the conformance suite against an adapter (exit 1 on FAIL or ERROR, 2 on usage errors)
  mutants         the suite against every mutant of the zoo: which case kills which bug
  report          re-render a run's reports from its results.jsonl; --matrix across runs
  trace           judge two captured legs of any splice box offline
  lab clean       remove what a killed lab run left behind (namespaces, veths named sc-*)
  report-kernel   the main job: a report on this machine's Linux kernel splices (--publish: on purpose)
  matrix          every adapter on every kernel (--kernel IMAGE, each booted in a VM), then the matrix

Every option is defined here, once: groups that several subcommands share come from the parent parsers
of :mod:`splicecheck.cli_options`. Each subcommand's handler is a plain function of the parsed
namespace (``args.func``, or the "module:function" that names it, imported when the subcommand runs), returning
the exit status: 0 success, 1 failure (FAIL/ERROR, a killed
proof, an unreadable input), 2 usage error or a fault outside any case (unusable output path, full disk,
an adapter that fails to load or whose ``info()``/``missing()``/``close()`` raises: one line on stderr,
never a traceback), 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP (labs torn down, results file
closed with a footer saying so). Generated output goes under ``out/``
(git-ignored) unless ``--out`` or ``--publish`` says otherwise.
"""

from __future__ import annotations

import signal as _signal
import threading as _threading


def _startup_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # nothing exists yet: leave quietly (no KeyboardInterrupt traceback)


# A signal during the imports below ends the process with 128 + signum and no traceback.
# main() installs the real handlers (adapters.lab.signals) before it does anything.
_STARTUP = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)
_before = {s: _signal.getsignal(s) for s in _STARTUP} if _threading.current_thread() is _threading.main_thread() \
    else {}
for _s, _h in _before.items():
    if _h in (_signal.SIG_DFL, _signal.default_int_handler):
        _signal.signal(_s, _startup_signal)

import argparse  # noqa: E402
import importlib  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from . import __version__  # noqa: E402
from . import cli_options as opt  # noqa: E402
from .adapters.lab import signals  # noqa: E402
from .conformance import interrupts  # noqa: E402

for _s, _h in _before.items():  # back to what they were: main() decides from here on
    if _signal.getsignal(_s) is _startup_signal:
        _signal.signal(_s, _h)

# Start-up imports only what parsing needs: a subcommand's module (and what it pulls in: the engine, Z3,
# Hypothesis, the lab, …) is imported when that subcommand runs, and the parser tree holds the options of the
# named subcommand only (see build_parser), so ``splicecheck trace`` does not pay for the fuzzer's imports.
# Each handler is "module:function", resolved in main().
_HANDLERS = {
    "spec": ".cli:cmd_spec", "prove": ".cli_prove:cmd_prove", "run": ".cli_vm:cmd_run",
    "mutants": ".cli_mutants:cmd_mutants", "report": ".cli_report:cmd_report", "compare": ".cli_compare:cmd_compare",
    "repro": ".cli_repro:cmd_repro", "trace": ".cli_trace:cmd_trace", "lab": ".cli:cmd_lab",
    "report-kernel": ".kernel_report:cmd_report_kernel", "matrix": ".cli_matrix:cmd_matrix",
}  # fuzz: cli_fuzz.register gives its parser its handler


def _resolve(func: Handler | str) -> Handler:
    """The handler a subcommand's parser names: a function, or "module:function" imported now."""
    if callable(func):
        return func
    module, _, name = func.partition(":")
    found: Handler = globals()[name] if module == ".cli" else getattr(importlib.import_module(module, __package__),
                                                                         name)
    return found


def _outside_fault(exc: BaseException) -> bool:
    """An adapter that fails to load or faults outside a case, or an OSError: one line and exit 2. The
    adapter exceptions' modules are looked up, not imported: an exception of a class not yet loaded is none."""
    if isinstance(exc, OSError):
        return True
    contract = sys.modules.get(f"{__package__}.conformance.contract")
    runner = sys.modules.get(f"{__package__}.conformance.runner")
    return (contract is not None and isinstance(exc, contract.AdapterNotFound)) or \
        (runner is not None and isinstance(exc, runner.AdapterFault))


def cmd_spec(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from .spec.requirements import REQUIREMENTS

    rows = [(r.id, r.level.value, r.group, r.source, r.text) for r in REQUIREMENTS]
    print(tabulate(rows, headers=["ID", "level", "group", "source", "requirement"], tablefmt=args.format,
                   maxcolwidths=[None, None, None, 28, 70]))
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from .adapters.lab import topology as lab
    from .adapters.lab.preflight import preflight

    if args.action == "clean":
        report = lab.clean(args.prefix)
        print(f"removed {len(report.removed)} leftover lab namespace(s)"
              + (": " + ", ".join(report.removed) if report.removed else "")
              + (f"; {len(report.live)} of live runs left alone" if report.live else ""))
        if report.failed:
            print(f"splicecheck lab clean: could not remove {len(report.failed)} leftover namespace(s)"
                  f" ({report.reason or 'ip netns del failed'}): {', '.join(report.failed)}", file=sys.stderr)
            return 1
        return 0
    problems = preflight()
    for p in problems:
        print(f"missing: {p}")
    print("lab ready" if not problems else "lab not available")
    return 1 if problems else 0


def finite_float(text: str) -> float:
    """An argparse type: a finite number (``nan`` and ``inf`` parse as floats and make no sense as times)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def _prefix(text: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*-", text):
        raise argparse.ArgumentTypeError(
            f"a lab prefix is lower-case letters, digits and dashes ending in '-': {text!r}")
    return text


def _check_output(args: argparse.Namespace) -> str | None:
    """What makes the output paths of ``args`` unusable, checked before any work: ``--out`` must be a
    folder (existing or creatable), ``--dump-params`` a file in an existing folder. None when fine."""
    out = getattr(args, "out", None)
    if isinstance(out, Path):
        existing = next((p for p in (out, *out.parents) if p.exists()), None)
        if out.exists() and not out.is_dir():
            return f"--out {out}: exists and is not a folder"
        if existing is not None and existing != out and not existing.is_dir():
            return f"--out {out}: {existing} is not a folder"
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            return f"--out {out}: {existing} is not writable"
    dump = getattr(args, "dump_params", None)
    if isinstance(dump, Path):
        if dump.is_dir():
            return f"--dump-params {dump}: is a folder; give a file name"
        parent = dump.parent
        if not parent.is_dir():
            return f"--dump-params {dump}: no such folder {parent}"
        if not os.access(parent, os.W_OK | os.X_OK) or (dump.exists() and not os.access(dump, os.W_OK)):
            return f"--dump-params {dump}: not writable"
    return None


def _one_line(exc: BaseException) -> str:
    if _outside_fault(exc) and not isinstance(exc, OSError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]  # what add_subparsers returns
Handler = Callable[[argparse.Namespace], int]


def _add(sub: Subparsers, name: str, func: Handler | str, help: str, parents: Sequence[argparse.ArgumentParser] = (),
         description: str | None = None, epilog: str | None = None) -> argparse.ArgumentParser:
    """One subcommand: its parser (which reports its own usage errors) and its handler."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=list(parents), description=description,
                                                epilog=epilog)
    p.set_defaults(func=func, subparser=p)
    return p


def _run(sub: Subparsers) -> None:
    from .cli_vm import vm_options

    p = _add(sub, "run", _HANDLERS["run"], "run the conformance suite against an adapter",
             [opt.selection(None), opt.output("out/<adapter>/"), opt.rendering(), opt.evidence(), opt.expect()],
             description="run the conformance suite against an adapter",
             epilog="exit status: 0 no FAIL and no ERROR (--strict: and no NON-STRICT; --expect: nothing "
                    "unexpected), 1 otherwise, 2 usage error")
    p.add_argument("--adapter", required=True, metavar="NAME",
                   help="reference, mutant:NAME, synproxy[:OPTS], seqadj-ftp, ebpf-splice, "
                        "or package.module:Class[:ARG]")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    _strict(p)
    vm_options(p, repeatable=False)


def _strict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true",
                   help="NON-STRICT (a SHOULD missed) fails the run too: exit 1 (like h2spec's strict mode)")


def _mutants(sub: Subparsers) -> None:
    p = _add(sub, "mutants", _HANDLERS["mutants"], "measure the suite's power on the mutant zoo",
             [opt.selection(0), opt.table_format()],
             description="run the suite against every mutant: which case kills which bug",
             epilog="exit status: 0 every mutant killed, 1 one survived, 2 usage error")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="this mutant only (repeatable)")
    p.add_argument("--all", action="store_true", help="run every case against every mutant and list all killers")
    p.add_argument("--budget", type=int, default=None, metavar="N",
                   help="Hypothesis examples per property case (default: SPLICECHECK_EXAMPLES or the cases' own)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)")
    p.add_argument("--no-control", action="store_true",
                   help="do not check that the reference model passes each killing case")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")


def _report(sub: Subparsers) -> None:
    from .reports.render import FORMATS

    p = _add(sub, "report", _HANDLERS["report"], "re-render reports from a results.jsonl, or a matrix of runs",
             [opt.output("the results file's folder, or out/matrix/"), opt.expect()],
             description="Render a splicecheck results file into reports, or a matrix of several runs.",
             epilog="exit status: 0 reports written (--expect: and nothing unexpected), 1 unreadable input "
                    "(--expect: or something unexpected), 2 usage error")
    p.add_argument("results", nargs="?", metavar="RESULTS.jsonl", help="the results file of a run (partial or not)")
    p.add_argument("--matrix", nargs="+", metavar="DIR",
                   help="report folders (index.json) or results files: write the IUT x requirement matrix")
    p.add_argument("--formats", nargs="+", metavar="FORMAT",
                   help=f"formats to write, space- or comma-separated (default all: {','.join(FORMATS)})")
    p.add_argument("--finding", metavar="ID",
                   help="print this finding of the run as plain text for a maintainer (IUT, configuration, "
                        "packets with the wrong fields marked, expected vs actual with its paper/RFC section)")


def _compare(sub: Subparsers) -> None:
    p = _add(sub, "compare", _HANDLERS["compare"],
             "what changed between two runs: new and fixed findings, case verdicts",
             description="Compare two runs (results files or report folders; other kernels or IUTs too).",
             epilog="exit status: 1 on a regression (a new finding, a finding or case that got worse), 0 otherwise, "
                    "2 unreadable input or usage error")
    p.add_argument("old", type=Path, metavar="OLD", help="the earlier run: results.jsonl or a report folder")
    p.add_argument("new", type=Path, metavar="NEW", help="the later run: results.jsonl or a report folder")
    p.add_argument("--format", choices=["text", "md"], default="text", help="plain text (default) or Markdown")
    p.add_argument("--out", dest="out_file", type=Path, default=None, metavar="FILE",
                   help="write the comparison to FILE instead of the terminal")


def _repro(sub: Subparsers) -> None:
    p = _add(sub, "repro", _HANDLERS["repro"], "write a standalone reproducer of one case (Python + scapy + ip/nft)",
             description="Write a self-contained script that builds the lab, replays CASE and exits 1 while the "
                         "IUT departs from the model (0 when fixed, 2 when it cannot set up). Opens one live "
                         "session of the adapter to learn what the case needs.",
             epilog="exit status: 0 written, 2 usage error or a case that cannot be made standalone")
    p.add_argument("case", metavar="CASE", help="a named or vector case ID (splicecheck run --list)")
    p.add_argument("--adapter", required=True, metavar="NAME", help="synproxy[:OPTS] (the lab the script rebuilds)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="where to write the script")


def _trace(sub: Subparsers) -> None:
    p = _add(sub, "trace", _HANDLERS["trace"], "check captured traffic of a splice box offline (two pcaps)",
             [opt.output("out/trace-<client capture name>/"), opt.rendering()],
             description="check captured traffic of a splice box against the reference model",
             epilog="exit status: 0 no FAIL and no ERROR (--strict: and no NON-STRICT), 1 otherwise, 2 unusable "
                    "input (nothing judged included) or usage error, 130/143/129 interrupted")
    p.add_argument("client_leg", type=Path, metavar="CLIENT_LEG", help="capture of the client ⇄ box link")
    p.add_argument("server_leg", type=Path, metavar="SERVER_LEG", help="capture of the box ⇄ server link")
    p.add_argument("--proxy", action="append", default=[], metavar="ADDR",
                   help="an address of the box itself (repeatable); tells end hosts from the box without handshakes")
    p.add_argument("--params", type=Path, default=None, metavar="FILE",
                   help="splice parameters to use instead of inferring them (JSON; see --dump-params)")
    p.add_argument("--dump-params", type=Path, default=None, metavar="FILE",
                   help="write the parameters used for each connection, in the --params format")
    p.add_argument("--conn", action="append", default=[], metavar="CLIENT:PORT",
                   help="judge only the connections of this client endpoint (repeatable)")
    p.add_argument("--timeout", type=finite_float, default=1.0, metavar="SEC",
                   help="an input with no output this long after it was captured was dropped (default 1)")
    p.add_argument("--skew", type=finite_float, default=0.005, metavar="SEC",
                   help="how far the two captures' clocks may disagree (default 0.005)")
    p.add_argument("--idle", type=finite_float, default=300.0, metavar="SEC",
                   help="a connection idle this long is finished (default 300)")
    p.add_argument("--learn", type=int, default=64, metavar="N",
                   help="packets per connection kept to infer its parameters (default 64)")
    p.add_argument("--no-fast-path", action="store_true",
                   help="judge every segment with the full model (slow; the fast path is checked against it)")
    p.add_argument("--verify-fast", type=int, default=4096, metavar="N",
                   help="re-judge every N-th fast-path segment with the full model (0: never; default 4096)")
    p.add_argument("--checksums", choices=("auto", "verify", "ignore"), default="auto",
                   help="TCP checksums: auto (default) leaves ungraded those a capture shows partial because the "
                        "sender offloads them (docs/CAPTURES.md); verify grades every one as captured; ignore none")
    _strict(p)


def _prove(sub: Subparsers) -> None:
    p = _add(sub, "prove", _HANDLERS["prove"], "run the Z3 proofs of the model (exit 1 on any failure)",
             description="Z3 proofs of the TCP Splice model's invariants")
    p.add_argument("--timeout-ms", type=int, default=None,
                   help="Z3 timeout per query (default: spec.proofs.DEFAULT_TIMEOUT_MS, 60000)")
    p.add_argument("--regressions", "--regressions-dir", dest="regressions", default="out/regressions",
                   help="folder for counterexample regression vectors (default out/regressions; '' for none)")
    p.add_argument("--vectors", default=None, metavar="PATH",
                   help="also write Z3-generated boundary vectors for every property as JSON to PATH")
    p.add_argument("--only", action="append", default=None, metavar="PROOF-ID",
                   help="run only this property (repeatable)")
    p.add_argument("--list", action="store_true", help="list the properties with their statements and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="table only, no counterexample details")


def _report_kernel(sub: Subparsers) -> None:
    from .cli_vm import vm_options
    from .kernel_report import ADAPTERS, JOBS

    p = _add(sub, "report-kernel", _HANDLERS["report-kernel"],
             f"report on this machine's Linux ({platform.release()}) splices",
             [opt.selection(1), opt.output("out/kernel/, one folder per adapter and matrix/"), opt.rendering(),
              opt.evidence()],
             description="the main job (make report): the Z3 proofs, then the suite against each adapter and "
                         "the matrix of those runs",
             epilog="exit status: 0 report produced (the kernel's departures are findings), 1 a proof failed, "
                    "the reference model failed its own suite, or a case ended in ERROR")
    p.add_argument("--adapter", action="append", default=None, metavar="NAME",
                   help="only this adapter (repeatable; default: " + ", ".join(ADAPTERS) + ")")
    p.add_argument("--publish", action="store_true",
                   help="publish on purpose: render into the committed reports/published/ (model/<adapter>/ for "
                        "reference and mutants, linux-<version>/<adapter>/ and linux-<version>/matrix/ for the "
                        "kernel's) instead of out/; not with --out")
    p.add_argument("--jobs", type=opt.positive_int, default=JOBS, metavar="N",
                   help=f"parts (the proofs, each adapter's run) run side by side in child processes, at most N "
                        f"at once (default {JOBS}; 1: one after another)")
    p.add_argument("--part", action="store_true", help=argparse.SUPPRESS)  # a child's share of the job
    vm_options(p, repeatable=False)


def _spec(sub: Subparsers) -> None:
    _add(sub, "spec", _HANDLERS["spec"], "print the requirement catalogue", [opt.table_format()])


def _lab(sub: Subparsers) -> None:
    from .adapters.lab import topology as lab

    s = _add(sub, "lab", _HANDLERS["lab"], "the Linux network-namespace lab",
             epilog="lab clean: exit status 0 when every leftover of a dead run was removed (or there was none), "
                    "1 when some could not be removed (e.g. not root)")
    s.add_argument("action", choices=["clean", "check"])
    s.add_argument("--prefix", default=lab.PREFIX, type=_prefix,
                   help=f"clean only labs whose names start with this (default {lab.PREFIX})")


def _matrix(sub: Subparsers) -> None:
    from .cli_matrix import matrix_parser

    matrix_parser(_add(sub, "matrix", _HANDLERS["matrix"], "every adapter on every kernel (VMs), then the matrix",
                       [opt.selection(1), opt.output("out/kernels/"), opt.rendering(), opt.evidence()],
                       description="run each adapter on each kernel, each kernel in one virtual machine "
                                   "(docs/KERNELS.md), then the IUT x requirement matrix across kernels",
                       epilog="exit status: 0 every run produced results without ERROR, 1 a case ended in "
                              "ERROR or a guest produced no results, 2 usage error"))


def _fuzz(sub: Subparsers) -> None:
    from .cli_fuzz import register

    register(sub, _add)


# The subcommands in the order --help lists them.
_SUBCOMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "spec": _spec, "prove": _prove, "run": _run, "mutants": _mutants, "report": _report, "compare": _compare,
    "repro": _repro, "trace": _trace, "lab": _lab, "report-kernel": _report_kernel, "matrix": _matrix,
    "fuzz": _fuzz,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser tree. With ``command`` (the subcommand a command line names first), only that subcommand's
    parser gets its options and help, and only its modules are imported; the others are bare names, which
    parse and print nothing that way: the tree's own usage and errors list names only, and its --help (which
    lists each subcommand's help) is given by a command line that names no subcommand first, parsed by the
    whole tree."""
    p = argparse.ArgumentParser(prog="splicecheck", description="TCP Splice specification and conformance suite")
    p.add_argument("--version", action="version", version=f"splicecheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, build in _SUBCOMMANDS.items():
        if command is None or name == command:
            build(sub)
        else:
            sub.add_parser(name)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's) and run the subcommand's handler; returns the exit status
    (argparse's own exits, ``--help`` 0 and usage errors 2, become return values too)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    interrupts.clear()
    try:
        with signals.hold_process():  # SIGINT/SIGTERM/SIGHUP unwind (and tear labs down) from here on
            named = argv[0] if argv and argv[0] in _SUBCOMMANDS else None
            args = build_parser(named).parse_args(argv)
            args.argv = argv  # the command line as given, for the repro lines and run headers
            problem = _check_output(args)
            if problem is not None:
                print(f"splicecheck {args.command}: {problem}", file=sys.stderr)
                return 2
            try:
                rc: int = _resolve(args.func)(args)
            except opt.UsageError as exc:
                args.subparser.error(str(exc))  # exits 2 after printing usage and the message
            except Exception as exc:
                if not _outside_fault(exc):
                    raise
                # outside a case: one line, exit 2 (a case's fault is that case's ERROR, see the runner)
                print(f"splicecheck {args.command}: {_one_line(exc)}", file=sys.stderr)
                return 2
    except (KeyboardInterrupt, SystemExit) as exc:
        name = interrupts.interruption(exc)
        if name is not None:
            print(f"splicecheck: interrupted ({name})", file=sys.stderr)
            return interrupts.exit_status(exc)
        code = exc.code if isinstance(exc, SystemExit) else None
        return code if isinstance(code, int) else 0 if code is None else 2
    finally:
        interrupts.clear()
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
