"""Booting a real kernel: ``splicecheck run --kernel`` end to end, and a SIGTERM during the boot.

Opt-in (``SPLICECHECK_VM_TESTS=1``): under TCG emulation a boot takes 6–10 s, the guest's Python start and one
live synproxy case another 20–40 s on a loaded two-CPU machine, which CI's time budget does not need to pay
on every run. Needs root (the lab in the guest), ``qemu-system-x86_64``, a static busybox and a kernel image
with modules: ``SPLICECHECK_VM_KERNEL`` or the newest one ``scripts/fetch-kernel.sh`` put in the cache.
Each test says which of these it lacks when it skips.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splicecheck.vm.kernel import KernelError, find_busybox, image_release

CACHE = Path(os.environ.get("SPLICECHECK_KERNEL_CACHE", "/var/cache/splicecheck"))


def _kernel() -> Path | None:
    given = os.environ.get("SPLICECHECK_VM_KERNEL")
    if given:
        return Path(given)
    images = sorted(CACHE.glob("linux-*/boot/vmlinuz-*"))
    return images[-1] if images else None


def _why_not() -> str | None:
    if os.environ.get("SPLICECHECK_VM_TESTS") != "1":
        return "booting a kernel under emulation takes 30-60 s: opt in with SPLICECHECK_VM_TESTS=1"
    if os.geteuid() != 0:
        return "the lab in the guest needs root"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 missing (scripts/install-system-deps.sh --vm)"
    try:
        find_busybox()
    except KernelError as exc:
        return str(exc)
    image = _kernel()
    if image is None or not image.is_file():
        return f"no kernel image (SPLICECHECK_VM_KERNEL, or scripts/fetch-kernel.sh into {CACHE})"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.live, pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))]


def _splicecheck(*argv: str) -> list[str]:
    return [sys.executable, "-m", "splicecheck", *argv]


def test_one_case_in_a_guest_names_the_guest_kernel(tmp_path: Path) -> None:
    image = _kernel()
    assert image is not None
    release = image_release(image)
    proc = subprocess.run(_splicecheck("run", "--kernel", str(image), "--adapter", "synproxy", "--accel", "tcg",
                                       "--case", "ADDR-REWRITE/c2s-data", "--out", str(tmp_path / "out")),
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    assert f"kernel {release} under TCG: boot " in proc.stdout
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    assert header["iut_version"] == release  # the guest's uname -r, not the host's
    assert header["details"]["kernel"].split()[1] == release
    cases = [json.loads(line) for line in lines if '"type":"case"' in line]
    assert [c["case"] for c in cases] == ["ADDR-REWRITE/c2s-data"]
    assert cases[0]["verdict"] not in ("SKIPPED", "ERROR"), cases[0]["reason"]
    assert (tmp_path / "out" / "report.html").is_file()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def test_sigterm_during_boot_kills_qemu_and_removes_the_temporary_folder(tmp_path: Path) -> None:
    image = _kernel()
    assert image is not None
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("splicecheck-vm-*"))
    proc = subprocess.Popen(_splicecheck("run", "--kernel", str(image), "--adapter", "synproxy", "--accel", "tcg",
                                         "--case", "ADDR-REWRITE/c2s-data", "--out", str(tmp_path / "out")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    qemu: list[int] = []
    deadline = time.monotonic() + 60
    while not qemu and time.monotonic() < deadline and proc.poll() is None:
        qemu = [c for c in _children(proc.pid) if "qemu" in Path(f"/proc/{c}/comm").read_text()]
        time.sleep(0.1)
    assert qemu, "QEMU never started"
    time.sleep(1.0)  # inside the boot
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 2.0
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert not Path(f"/proc/{qemu[0]}").exists() or "qemu" not in Path(f"/proc/{qemu[0]}/comm").read_text()
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("splicecheck-vm-*")) <= before
