"""``splicecheck matrix``: every adapter on every kernel, then the IUT × requirement matrix across kernels.

    splicecheck matrix --kernel host \\
        --kernel /var/cache/splicecheck/linux-6.1.0-47-amd64/boot/vmlinuz-6.1.0-47-amd64 \\
        --adapter synproxy --adapter seqadj-ftp

Each ``--kernel IMAGE`` is booted once, in one virtual machine that runs every adapter in turn
(:mod:`splicecheck.cli_vm`, :mod:`splicecheck.vm.qemu`); ``--kernel host`` runs them on this machine's kernel,
without a VM. Each run is reported into ``OUT/<release>/<adapter>/`` (default ``OUT`` = ``out/kernels/``),
``<release>`` being the kernel's ``uname -r``, and the matrix of all runs into ``OUT/matrix/``: one column per
adapter and kernel. Boot and run times are printed per kernel. A kernel whose guest fails is reported and
the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from .cli_compare import CompareInputError, closing, compare, load_side, render_md
from .cli_options import OUT, UsageError
from .cli_run import run_and_render
from .cli_vm import check_adapter, collect, guest_run_argv, timing_line, vm_options
from .conformance.catalog import UnknownCase, select
from .conformance.contract import load_adapter
from .conformance.results import Verdict
from .reports.load import ResultsError, load_run
from .reports.matrix import write_matrix
from .reports.render import render_all, safe_name
from .vm.kernel import KernelError
from .vm.qemu import GUEST_SHARE, Kernel, Step, VmError, run_in_vm

DEFAULT_ADAPTERS = ("synproxy", "seqadj-ftp")
COLUMNS = (Verdict.PASS, Verdict.FAIL, Verdict.NON_STRICT, Verdict.INFO, Verdict.UNSUPPORTED, Verdict.SKIPPED,
           Verdict.ERROR)
HOST = "host"


def matrix_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--adapter", action="append", default=None, metavar="NAME",
                   help=f"run this adapter on every kernel (repeatable; default: {', '.join(DEFAULT_ADAPTERS)})")
    vm_options(p, repeatable=True)


def resolve(kernels: list[list[str | None]]) -> list[Kernel | None]:
    """Each ``--kernel`` checked on the host (None for ``host``); two kernels of one release are refused, their
    report folders would be one."""
    if not kernels:
        raise UsageError("give at least one --kernel IMAGE (or --kernel host)")
    out: list[Kernel | None] = []
    seen: dict[str, str] = {}
    for image, modules in kernels:
        assert image is not None
        k = None if image == HOST else Kernel.resolve(Path(image), None if modules is None else Path(modules))
        release = platform.release() if k is None else k.release
        if release in seen:
            raise KernelError(f"--kernel {image}: the same release ({release}) as --kernel {seen[release]}")
        seen[release] = image
        out.append(k)
    return out


def _counts(folder: Path) -> tuple[int, ...] | None:
    try:
        run = load_run(folder / "results.jsonl")
    except (ResultsError, OSError):
        return None
    verdicts = [r.verdict for r in run.results]
    return tuple(verdicts.count(v) for v in COLUMNS)


@dataclass
class KernelRuns:
    """What :func:`run_on_kernel` did: one summary row per adapter (kernel, boot, adapter, run seconds, a count
    per verdict of ``COLUMNS``), the report folders that hold results, and whether every adapter produced them."""

    rows: list[tuple[object, ...]] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    ok: bool = True


def run_on_kernel(kernel: Kernel, where: dict[str, Path], args: argparse.Namespace,
                  prog: str = "splicecheck matrix") -> KernelRuns:
    """Each adapter of ``where`` (adapter -> report folder) in turn, in one virtual machine booted on ``kernel``,
    with the case selection, seed and evidence of ``args`` (and its ``accel``, ``vm_memory``, ``vm_timeout``);
    the results the guest wrote are copied into the folders and rendered there unless ``args.no_render``. The
    boot and run times are printed. Raises VmError when the guest could not be run at all."""
    adapters = list(where)
    for a in adapters:  # a guest that writes nothing must not leave an earlier run's results in place
        (where[a] / "results.jsonl").unlink(missing_ok=True)
    steps = [Step(a, guest_run_argv(a, f"{GUEST_SHARE}/out/{safe_name(a)}", args)) for a in adapters]
    boot = run_in_vm(kernel, steps, accel=args.accel, memory_mb=args.vm_memory, run_timeout=args.vm_timeout,
                     python=sys.executable, cwd=Path.cwd(), echo=print, note=lambda m: print(m, file=sys.stderr),
                     collect=functools.partial(collect, where={safe_name(a): where[a] for a in adapters}))
    print(timing_line(boot))
    timing = f"{boot.accel.upper()} boot {boot.boot_seconds:.1f} s"
    done = KernelRuns()
    for a, step in zip(adapters, steps, strict=True):
        counts = _counts(where[a]) if (where[a] / "results.jsonl").is_file() and step.rc is not None else None
        if counts is None:
            print(f"{prog}: {kernel.release}: {a} produced no results (exit status {step.rc})", file=sys.stderr)
            done.ok = False
            done.rows.append((kernel.release, timing, a, "-", *("-",) * len(COLUMNS)))
            continue
        if not args.no_render:
            render_all(load_run(where[a] / "results.jsonl"), where[a])
        seconds = step.seconds
        done.rows.append((kernel.release, timing, a, "-" if seconds is None else f"{seconds:.1f}", *counts))
        done.folders.append(where[a])
    return done


def cmd_matrix(args: argparse.Namespace) -> int:
    adapters = tuple(args.adapter) if args.adapter else DEFAULT_ADAPTERS
    try:
        cases = select(args.case, args.req, args.kind)
        kernels = resolve(args.kernels)
    except (UnknownCase, KernelError) as exc:
        print(f"splicecheck matrix: {exc.args[0]}", file=sys.stderr)
        return 2
    for a in adapters:
        problem = check_adapter(a)
        if problem is not None:
            print(f"splicecheck matrix: {problem}", file=sys.stderr)
            return 2
    root: Path = args.out or OUT / "kernels"
    rows: list[tuple[object, ...]] = []
    folders: list[Path] = []
    ok = True
    for kernel, (image, _) in zip(kernels, args.kernels, strict=True):
        release = platform.release() if kernel is None else kernel.release
        where = {a: root / release / safe_name(a) for a in adapters}
        print(f"\n=== {release} ({'this machine, no VM' if kernel is None else image}) " + "=" * 20)
        if kernel is None:
            for a in adapters:
                began = time.monotonic()
                run_and_render(load_adapter(a), a, cases, where[a], seed=args.seed, argv=["matrix"],
                               evidence=args.evidence, quiet=args.quiet, render=not args.no_render)
                seconds = time.monotonic() - began
                rows.append((release, "this machine", a, f"{seconds:.1f}",
                             *(_counts(where[a]) or ("-",) * len(COLUMNS))))
                folders.append(where[a])
            continue
        try:
            done = run_on_kernel(kernel, where, args)
        except VmError as exc:
            print(f"splicecheck matrix: {release}: {exc}", file=sys.stderr)
            ok = False
            continue
        rows += done.rows
        folders += done.folders
        ok &= done.ok
    print("\nSummary (cases per verdict; run seconds per adapter):")
    print(tabulate(rows, headers=["kernel", "boot", "adapter", "run s", *COLUMNS]))
    ok &= all(r[-1] in (0, "-") for r in rows) and all(r[3] != "-" for r in rows)
    if folders:
        written = write_matrix([f / "results.jsonl" for f in folders], root / "matrix")
        print(f"\nmatrix: {', '.join(str(p) for p in written.values())}")
        compare_kernels(folders, root)
    return 0 if ok else 1


def compare_kernels(folders: list[Path], root: Path) -> None:
    """Each adapter's run on every later kernel compared with its run on the first kernel (splicecheck
    compare): a regression or a fix between kernels is one line here, the detail in compare-*.md."""
    by_adapter: dict[str, list[Path]] = {}
    for f in folders:  # folders are root/<release>/<adapter>, in kernel order
        by_adapter.setdefault(f.name, []).append(f)
    lines = []
    for adapter, runs in by_adapter.items():
        first = runs[0]
        for later in runs[1:]:
            try:
                c = compare(load_side(first / "results.jsonl"), load_side(later / "results.jsonl"))
            except (CompareInputError, ResultsError) as exc:
                lines.append(f"  {adapter}: {first.parent.name} -> {later.parent.name}: not compared ({exc})")
                continue
            target = root / "matrix" / f"compare-{adapter}-{first.parent.name}-vs-{later.parent.name}.md"
            target.write_text(render_md(c), encoding="utf-8")
            lines.append(f"  {adapter}: {first.parent.name} -> {later.parent.name}: {closing(c)} ({target})")
    if lines:
        print("\nper-kernel comparison (splicecheck compare, first kernel -> each other):", *lines, sep="\n")
