"""Booting a kernel in QEMU over a view of the host's root, running commands in it, and powering it off.

Why QEMU directly rather than virtme-ng (which does the same thing, and more): the suite needs four things
a wrapper makes indirect — (1) to tell a KVM guest that never comes up from a slow one and fall back to
emulation, which needs the console as it arrives and a deadline of our own; (2) the QEMU process ended on
every exit path, signals included, which needs the process itself rather than a launcher's child; (3) the
modules of an unpacked kernel package, not of the running system or a kernel source tree; (4) the results
written into a folder the host reads back. The machine is small: ``-kernel``/``-initrd`` (no disk, no
firmware boot loader), one vCPU, virtio-9p shares for the host's root (read-only, a tmpfs overlay on top
in the guest), the kernel's modules (read-only) and the results (read-write), the serial console on a pipe,
no network device (the lab builds its own inside the guest's network namespaces).

KVM, where it works, is tried first; a guest that has not reached its initramfs within
:data:`KVM_BOOT_TIMEOUT` seconds is killed, and a QEMU that exits before (nested KVM may refuse the host
CPU's model-specific registers), is given up too: the boot is repeated under TCG emulation, saying so. On
machines where nested KVM hangs early in boot this costs that timeout once per boot: ``--accel tcg`` skips it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .kernel import KernelError, Modules, build_initramfs, find_busybox, find_modules, image_release

QEMU = "qemu-system-x86_64"
#: Seconds a KVM guest gets to reach its initramfs before it counts as hung (a working KVM takes ~1 s).
KVM_BOOT_TIMEOUT = 15.0
#: Seconds an emulated guest gets to reach the host's root.
TCG_BOOT_TIMEOUT = 180.0
#: Where the results share is mounted in the guest.
GUEST_SHARE = "/run/splicecheck"
#: Modules the kernel adapters use, loaded before the run (the kernel would also load them on demand).
LAB_MODULES = ("veth", "nf_tables", "nf_conntrack", "nf_synproxy", "nft_synproxy", "nf_nat", "nft_ct", "nft_nat",
               "nf_conntrack_ftp", "nf_nat_ftp", "nft_chain_nat", "nf_conntrack_netlink", "nfnetlink")
MARK = "splicecheck-vm: "
ACCELS = ("auto", "kvm", "tcg")


class VmError(Exception):
    """The virtual machine could not be started or did not finish: one line for the user."""


@dataclass(frozen=True)
class Kernel:
    """A kernel checked on the host: its image, release and modules folder."""

    image: Path
    release: str
    modules: Path

    @classmethod
    def resolve(cls, image: Path, modules: Path | None = None) -> Kernel:
        release = image_release(image)
        return cls(image, release, find_modules(image, release, modules))


@dataclass
class Step:
    """One command run in the guest: ``argv`` as the guest's ``python -m splicecheck`` arguments."""

    name: str
    argv: list[str]
    rc: int | None = None
    seconds: float | None = None


@dataclass
class Boot:
    """What one virtual machine did: the accelerator used, why KVM was given up (if it was), the seconds to
    reach the host's root and to run the steps, the guest's ``uname -r``."""

    accel: str = ""
    fallback: str = ""
    boot_seconds: float = 0.0
    run_seconds: float = 0.0
    guest_release: str = ""
    steps: list[Step] = field(default_factory=list)
    console_tail: list[str] = field(default_factory=list)


def kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def qemu_command(kernel: Kernel, initrd: Path, share: Path, accel: str, memory_mb: int = 1024,
                 qemu: str = QEMU) -> list[str]:
    """The QEMU command line for one boot (pure: no file is touched)."""
    if accel not in ("kvm", "tcg"):
        raise ValueError(f"accelerator {accel!r}")
    cmdline = "console=ttyS0 panic=-1 quiet loglevel=4 edd=off"

    def fs(tag: str, path: Path, readonly: bool) -> list[str]:
        ro = ",readonly=on" if readonly else ""
        return ["-fsdev", f"local,id={tag},path={path},security_model=none,multidevs=remap{ro}",
                "-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}"]

    return [qemu, "-accel", accel, "-cpu", "host" if accel == "kvm" else "max", "-smp", "1",
            "-m", str(memory_mb), "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-nic", "none", "-serial", "stdio", "-kernel", str(kernel.image), "-initrd", str(initrd),
            "-append", cmdline, *fs("hostroot", Path("/"), True), *fs("modules", kernel.modules, True),
            *fs("share", share, False)]


def guest_script(steps: Sequence[Step], python: str, cwd: Path, modules: Sequence[str] = LAB_MODULES) -> str:
    """The shell script the guest runs in the host's root: each step's splicecheck command, its exit status
    written beside its results, markers on the console for the host's timing."""
    q = shlex.quote
    lines = ["#!/bin/sh",
             "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb",
             "export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
             f"cd {q(str(cwd))} || exit 125",
             f"modprobe -a -q {' '.join(modules)} 2>/dev/null",
             f"echo '{MARK}ready'"]
    for k, s in enumerate(steps):
        lines += [f"echo '{MARK}step {k} start'",
                  " ".join([q(python), "-m", "splicecheck", *map(q, s.argv)]),
                  f"echo $? > {GUEST_SHARE}/step{k}.rc",
                  f"echo '{MARK}step {k} end'"]
    return "\n".join(lines) + "\n"


def _die_with_parent() -> None:
    """In the child before exec: lower our priority (the machine is shared) and have the kernel kill QEMU
    if splicecheck dies without cleaning up (SIGKILL)."""
    os.nice(10)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill QEMU (its own process group: anything it started goes too) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


class _Hung(Exception):
    """The guest did not come up: no boot marker in time, or QEMU exited before it."""


def _boot_once(cmd: list[str], boot_marker: str, boot_timeout: float, run_timeout: float, boot: Boot,
               echo: Callable[[str], None]) -> None:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=_die_with_parent, start_new_session=True)
    try:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buf = b""
        booted_at: float | None = None
        step_start: dict[int, float] = {}
        ready_at: float | None = None
        done = False
        while True:
            now = time.monotonic()
            if booted_at is None and now - start > boot_timeout:
                raise _Hung(f"not up within {boot_timeout:g} s")
            if booted_at is not None and now - booted_at > run_timeout:
                raise VmError(f"the guest ran longer than {run_timeout:g} s; killed")
            if not sel.select(timeout=0.2):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                boot.console_tail = [*boot.console_tail[-19:], line]
                at = time.monotonic()
                if line.startswith(MARK):
                    what = line[len(MARK):]
                    if what.startswith(boot_marker) and booted_at is None:
                        booted_at = at
                    if what.startswith("up "):
                        boot.guest_release = what[3:].strip()
                        boot.boot_seconds = at - start
                    elif what.startswith("step "):
                        _, k, edge = what.split()
                        if edge == "start":
                            step_start[int(k)] = at
                        elif int(k) in step_start:
                            boot.steps[int(k)].seconds = at - step_start[int(k)]
                    elif what == "ready":
                        ready_at = at
                    elif what == "done":
                        done = True
                        boot.run_seconds = at - (ready_at or at)
                    else:
                        echo(line)
                elif not done:  # after "done" only the kernel's power-off message follows
                    echo(line)
        proc.wait(timeout=10)
        if booted_at is None:
            tail = next((t for t in reversed(boot.console_tail) if t.strip()), "no console output")
            raise _Hung(f"QEMU exited with status {proc.returncode} first: {tail}")
        if not done:
            tail = next((t for t in reversed(boot.console_tail) if t.strip()), "no console output")
            raise VmError(f"the guest stopped before finishing (QEMU exit {proc.returncode}); last console "
                          f"line: {tail}")
    finally:
        _stop(proc)


def run_in_vm(kernel: Kernel, steps: list[Step], *, accel: str = "auto", memory_mb: int = 1024,
              run_timeout: float = 3600.0, echo: Callable[[str], None] = print,
              note: Callable[[str], None] = print, python: str, cwd: Path,
              collect: Callable[[Path], object] | None = None) -> Boot:
    """Boot ``kernel``, run ``steps`` in it (each step writes under ``GUEST_SHARE/out``), power it off, and
    return what happened. ``collect`` is called with the host folder the guest's ``out`` is in once QEMU is
    dead — after a normal power-off and after an error or a signal too, so that an interrupted run keeps the
    cases it finished. QEMU is dead and the temporary folder removed when this returns or raises."""
    if accel not in ACCELS:
        raise VmError(f"unknown accelerator {accel!r} (auto, kvm or tcg)")
    if shutil.which(QEMU) is None:
        raise VmError(f"{QEMU} not found (Debian package qemu-system-x86)")
    busybox = find_busybox()
    modules = Modules.load(kernel.modules)
    tmp = Path(tempfile.mkdtemp(prefix="splicecheck-vm-"))
    try:
        share = tmp / "share"
        (share / "out").mkdir(parents=True)
        initrd = tmp / "initramfs.cpio.gz"
        build_initramfs(modules, busybox, initrd)
        (share / "guest.sh").write_text(guest_script(steps, python, cwd))
        boot = Boot(steps=steps)
        order = ["kvm", "tcg"] if accel == "auto" and kvm_usable() else ["tcg" if accel == "auto" else accel]
        for k, acc in enumerate(order):
            boot.accel = acc
            boot.console_tail = []
            marker = "initramfs" if acc == "kvm" and k + 1 < len(order) else "up "
            timeout = KVM_BOOT_TIMEOUT if marker == "initramfs" else TCG_BOOT_TIMEOUT
            try:
                _boot_once(qemu_command(kernel, initrd, share, acc, memory_mb), marker, timeout, run_timeout,
                           boot, echo)
                break
            except _Hung as exc:
                if k + 1 == len(order):
                    raise VmError(f"the guest did not come up under {acc.upper()}: {exc}") from None
                boot.fallback = f"the KVM guest did not come up ({exc}); fell back to TCG emulation"
                note(f"splicecheck: {boot.fallback}")
        for k, s in enumerate(steps):
            try:
                s.rc = int((share / f"step{k}.rc").read_text().strip())
            except (OSError, ValueError):
                s.rc = None
        return boot
    except KernelError as exc:
        raise VmError(str(exc)) from None
    finally:
        try:
            if collect is not None and (tmp / "share" / "out").is_dir():
                collect(tmp / "share" / "out")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
