"""``splicecheck run --kernel IMAGE``: the suite against an adapter on another kernel, in a virtual machine.

    splicecheck run --kernel arch/x86/boot/bzImage --modules /tmp/mods --adapter synproxy
    splicecheck run --kernel /var/cache/splicecheck/linux-6.1.0-47-amd64/boot/vmlinuz-6.1.0-47-amd64 \\
        --adapter seqadj-ftp --expect expectations/seqadj-ftp.toml

The image and its modules are checked on the host first (:mod:`splicecheck.vm.kernel`; a bad path is one
line and exit 2, before anything boots). The guest (:mod:`splicecheck.vm.qemu`) runs this same splicecheck,
from this same virtualenv, over a read-only view of the host's root, so the adapter's ``info()`` — and with
it the results header and every report — names the guest's kernel (its ``uname -r``), not the host's. The
guest writes results.jsonl only; the host copies it into ``--out`` (default ``out/vm/<release>/<adapter>/``),
renders the reports, judges ``--expect`` and decides the exit code exactly as ``splicecheck run`` does.
Boot time (QEMU start to the host's root mounted) and run time are printed. The virtual machine and its
temporary folder are gone when the command ends, however it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

from . import cli_run
from .cli_options import OUT
from .conformance import expectations as expect_mod
from .conformance import interrupts
from .conformance.catalog import UnknownCase, select
from .conformance.contract import AdapterNotFound, load_adapter
from .conformance.findings import findings
from .conformance.runner import exit_code, fault_reason
from .reports.load import ResultsError, load_run
from .reports.render import render_all, safe_name
from .vm.kernel import KernelError
from .vm.qemu import ACCELS, GUEST_SHARE, Boot, Kernel, Step, VmError, run_in_vm


def vm_options(p: argparse.ArgumentParser, *, repeatable: bool) -> None:
    """The options that put a run in a virtual machine: ``--kernel``/``--modules`` (repeatable and paired,
    the ``--modules`` after a ``--kernel`` being that kernel's, for the matrix), ``--accel``, ``--vm-memory``,
    ``--vm-timeout``."""
    g = p.add_argument_group("kernel in a virtual machine (docs/KERNELS.md)")
    if repeatable:
        g.add_argument("--kernel", action=_KernelAction, dest="kernels", default=[], metavar="IMAGE",
                       help="a bzImage to boot, or 'host' for this machine's kernel without a VM (repeatable)")
        g.add_argument("--modules", action=_ModulesAction, dest="kernels", metavar="DIR",
                       help="the modules of the --kernel before it (lib/modules/<release> or a root holding it)")
    else:
        g.add_argument("--kernel", type=Path, default=None, metavar="IMAGE",
                       help="boot this x86 bzImage in a virtual machine and run the adapter there")
        g.add_argument("--modules", type=Path, default=None, metavar="DIR",
                       help="its modules: lib/modules/<release> or a root holding it (default: beside the image, "
                            "then /lib/modules/<release>)")
    g.add_argument("--accel", choices=ACCELS, default="auto",
                   help="auto: KVM if /dev/kvm works, TCG emulation if the KVM guest does not come up (default)")
    g.add_argument("--vm-memory", type=int, default=1024, metavar="MIB", help="guest memory (default 1024)")
    g.add_argument("--vm-timeout", type=float, default=3600.0, metavar="SEC",
                   help="kill a guest running longer than this (default 3600)")


class _KernelAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        kernels = list(getattr(ns, self.dest) or [])
        kernels.append([str(values), None])
        setattr(ns, self.dest, kernels)


class _ModulesAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        kernels = list(getattr(ns, self.dest) or [])
        if not kernels or kernels[-1][1] is not None or kernels[-1][0] == "host":
            parser.error("--modules must follow the --kernel IMAGE it belongs to (one per kernel)")
        kernels[-1] = [kernels[-1][0], str(values)]
        setattr(ns, self.dest, kernels)


def guest_run_argv(adapter: str, out: str, args: argparse.Namespace) -> list[str]:
    """The ``splicecheck`` arguments the guest runs for ``adapter``: the host's case selection and seed, results
    only (the host renders), into ``out`` on the share."""
    argv = ["run", "--adapter", adapter, "--out", out, "--no-render", "--evidence", args.evidence]
    for flag, values in (("--case", args.case), ("--req", args.req), ("--kind", args.kind)):
        for v in values:
            argv += [flag, v]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    if args.quiet:
        argv.append("-q")
    return argv


def check_adapter(spec: str) -> str | None:
    """Why ``spec`` names no usable adapter (checked on the host, before a boot), or None."""
    try:
        adapter = load_adapter(spec)
    except AdapterNotFound as exc:
        return str(exc)
    except Exception as exc:
        return f"adapter {spec!r} could not be loaded: {fault_reason(exc)}"
    with contextlib.suppress(Exception):  # nothing was opened: close() of a fresh adapter has nothing to say
        adapter.close()
    return None


def collect(shared: Path, where: dict[str, Path]) -> list[Path]:
    """Copy each ``shared/<name>/results.jsonl`` the guest wrote to ``where[name]/results.jsonl``; returns the
    copies made."""
    made = []
    for name, folder in where.items():
        produced = shared / name / "results.jsonl"
        if produced.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(produced, folder / "results.jsonl")
            made.append(folder / "results.jsonl")
    return made


def timing_line(boot: Boot) -> str:
    fell = f" — {boot.fallback}" if boot.fallback else ""
    return (f"kernel {boot.guest_release or '?'} under {boot.accel.upper()}: boot {boot.boot_seconds:.1f} s, "
            f"run {boot.run_seconds:.1f} s{fell}")


def cmd_run(args: argparse.Namespace) -> int:
    """``splicecheck run``: on this machine's kernel (:func:`splicecheck.cli_run.cmd_run`), or with
    ``--kernel`` in a virtual machine."""
    if args.kernel is None:
        if args.modules is not None:
            print("splicecheck run: --modules needs --kernel", file=sys.stderr)
            return 2
        return cli_run.cmd_run(args)
    if args.list:
        return cli_run.cmd_run(args)
    try:
        select(args.case, args.req, args.kind)
        kernel = Kernel.resolve(args.kernel, args.modules)
    except (UnknownCase, KernelError) as exc:
        print(f"splicecheck run: {exc.args[0]}", file=sys.stderr)
        return 2
    known: list[expect_mod.Expectation] | None = None
    if args.expect is not None:
        try:
            known = expect_mod.load(args.expect)
        except expect_mod.ExpectationsError as exc:
            print(f"splicecheck run: --expect: {exc}", file=sys.stderr)
            return 2
    problem = check_adapter(args.adapter)
    if problem is not None:
        print(f"splicecheck run: {problem}", file=sys.stderr)
        return 2
    out: Path = args.out or OUT / "vm" / kernel.release / safe_name(args.adapter)
    step = Step(args.adapter, guest_run_argv(args.adapter, f"{GUEST_SHARE}/out/run", args))
    print(f"booting {kernel.image} ({kernel.release}, modules {kernel.modules}) to run {args.adapter}")
    copied: list[Path] = []
    try:
        boot = run_in_vm(kernel, [step], accel=args.accel, memory_mb=args.vm_memory, run_timeout=args.vm_timeout,
                         python=sys.executable, cwd=Path.cwd(), echo=print, note=lambda m: print(m, file=sys.stderr),
                         collect=lambda shared: copied.extend(collect(shared, {"run": out})))
    except VmError as exc:
        print(f"splicecheck run: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, SystemExit) as exc:
        if interrupts.interruption(exc) is None:
            raise
        if copied:
            print(f"\ninterrupted ({interrupts.interruption(exc)}): the guest's finished cases are in {copied[0]}; "
                  f"re-render with: splicecheck report {copied[0]}", file=sys.stderr)
        return interrupts.exit_status(exc)
    print(timing_line(boot))
    return finish(args, out if copied else None, step, boot, known)


def finish(args: argparse.Namespace, out: Path | None, step: Step, boot: Boot,
           known: list[expect_mod.Expectation] | None) -> int:
    """Render the results the guest wrote into ``out`` (None: it wrote none) and decide the exit status as
    ``splicecheck run`` does."""
    if out is None or step.rc is None:
        print(f"splicecheck run: the guest wrote no results (its splicecheck exit status: {step.rc}); "
              "see its output above", file=sys.stderr)
        return 2
    try:
        run = load_run(out / "results.jsonl")
    except ResultsError as exc:
        print(f"splicecheck run: {exc}", file=sys.stderr)
        return 2
    recorded = str(run.header.details.get("kernel", ""))
    if recorded and boot.guest_release not in recorded.split():
        print(f"splicecheck run: note: the results name the kernel {recorded!r}, the guest ran "
              f"{boot.guest_release!r}", file=sys.stderr)
    if not args.no_render:
        written = render_all(run, out)
        print(f"reports: {', '.join(str(p) for p in written.values())}")
    if step.rc == 2 and not run.results:
        return 2  # the guest's splicecheck failed outside any case (it said why above)
    if known is not None:
        outcome = expect_mod.judge(findings(run.results), run.results, known)
        for line in outcome.lines():
            print(line)
        return 0 if outcome.ok else 1
    return exit_code(run.results, strict=args.strict)
