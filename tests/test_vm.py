"""``splicecheck run --kernel`` and ``splicecheck matrix``, without booting anything: the kernel image's header,
the modules' load order, the initramfs archive, QEMU's command line, the guest's script, and the usage errors
(one line on stderr, exit 2, before any virtual machine starts). The boots are in tests/test_vm_boot.py."""

from __future__ import annotations

import gzip
import lzma
import re
import struct
import tempfile
import time
from pathlib import Path

import pytest

from splicecheck.cli import main
from splicecheck.vm import qemu
from splicecheck.vm.kernel import INIT, KernelError, Modules, build_initramfs, find_modules, image_release
from splicecheck.vm.qemu import GUEST_SHARE, MARK, Kernel, Step, VmError, guest_script, qemu_command


def fake_bzimage(path: Path, version: bytes = b"6.9.0-test (builder@host) #1 SMP") -> Path:
    """A file with an x86 boot-protocol setup header as the boot protocol lays it out: "HdrS" at 0x202, and at
    0x20E the offset (from 0x200) of the NUL-terminated version string."""
    data = bytearray(0x1000)
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x20E, 0x300 - 0x200)
    data[0x300:0x300 + len(version) + 1] = version + b"\0"
    path.write_bytes(bytes(data))
    return path


def fake_modules(root: Path, release: str = "6.9.0-test", builtin: str = "") -> Path:
    """A lib/modules/<release> folder: virtio_pci needs virtio_ring and virtio; 9p needs 9pnet and netfs."""
    d = root / "lib" / "modules" / release
    files = {"kernel/drivers/virtio/virtio.ko": [], "kernel/drivers/virtio/virtio_ring.ko": [],
             "kernel/drivers/virtio/virtio_pci.ko": ["kernel/drivers/virtio/virtio_ring.ko",
                                                     "kernel/drivers/virtio/virtio.ko"],
             "kernel/net/9p/9pnet.ko": [], "kernel/net/9p/9pnet_virtio.ko": ["kernel/net/9p/9pnet.ko"],
             "kernel/fs/netfs/netfs.ko": [],
             "kernel/fs/9p/9p.ko": ["kernel/fs/netfs/netfs.ko", "kernel/net/9p/9pnet.ko"],
             "kernel/fs/overlayfs/overlay.ko.xz": []}
    lines = []
    for f, deps in files.items():
        (d / f).parent.mkdir(parents=True, exist_ok=True)
        name = f.rsplit("/", 1)[-1]
        if f.endswith(".xz"):
            (d / f).write_bytes(lzma.compress(b"module " + name.encode()))
        else:
            (d / f).write_bytes(b"module " + name.encode())
        lines.append(f"{f}: {' '.join(deps)}")
    (d / "modules.dep").write_text("\n".join(lines) + "\n")
    (d / "modules.builtin").write_text(builtin)
    return d


def read_newc(archive: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, data) of a newc cpio archive (parsed independently of the writer: 110-byte ASCII headers,
    names and data each padded to 4 bytes)."""
    out: dict[str, tuple[int, bytes]] = {}
    at = 0
    while True:
        assert archive[at:at + 6] == b"070701"
        fields = [int(archive[at + 6 + 8 * k: at + 14 + 8 * k], 16) for k in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = archive[at + 110: at + 110 + namesize - 1].decode()
        at += 110 + namesize
        at += -at % 4
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, archive[at:at + size])
        at += size
        at += -at % 4


# --- the kernel image ---------------------------------------------------------------------------------------

def test_release_is_read_from_the_setup_header(tmp_path: Path) -> None:
    assert image_release(fake_bzimage(tmp_path / "bzImage")) == "6.9.0-test"


@pytest.mark.parametrize(("content", "message"), [
    (b"\x7fELF" + b"\0" * 0x300, "not an x86 bzImage (an ELF vmlinux: give arch/x86/boot/bzImage)"),
    (b"just text", "not an x86 bzImage"),
])
def test_not_a_bzimage(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "img").write_bytes(content)
    with pytest.raises(KernelError, match=re.escape(message)):
        image_release(tmp_path / "img")


def test_missing_image_and_folder(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match="no such file"):
        image_release(tmp_path / "nope")
    with pytest.raises(KernelError, match="is a folder"):
        image_release(tmp_path)


# --- the modules ----------------------------------------------------------------------------------------------

def test_modules_found_beside_an_unpacked_package_and_given_either_way(tmp_path: Path) -> None:
    mods = fake_modules(tmp_path)
    (tmp_path / "boot").mkdir()
    image = fake_bzimage(tmp_path / "boot" / "vmlinuz-6.9.0-test")
    assert find_modules(image, "6.9.0-test", None) == mods
    assert find_modules(image, "6.9.0-test", tmp_path) == mods  # a root holding lib/modules/<release>
    assert find_modules(image, "6.9.0-test", mods) == mods  # the folder itself
    with pytest.raises(KernelError, match=re.escape("modules of 6.9.0-test, but the image is 7.0")):
        find_modules(image, "7.0", mods)


def test_load_order_puts_dependencies_first_and_skips_builtins(tmp_path: Path) -> None:
    m = Modules.load(fake_modules(tmp_path, builtin="kernel/fs/netfs/netfs.ko\n"))
    order = m.load_order(("virtio_pci", "9pnet_virtio", "9p", "overlay"))
    assert sorted(order) == sorted(["virtio", "virtio_ring", "virtio_pci", "9pnet", "9pnet_virtio", "9p", "overlay"])
    for before, after in [("virtio", "virtio_pci"), ("virtio_ring", "virtio_pci"), ("9pnet", "9pnet_virtio"),
                          ("9pnet", "9p")]:
        assert order.index(before) < order.index(after)
    with pytest.raises(KernelError, match="no module virtiofs and it is not built in"):
        m.load_order(("virtiofs",))


def test_no_modules_dep_says_how_to_make_one(tmp_path: Path) -> None:
    (tmp_path / "6.9").mkdir()
    with pytest.raises(KernelError, match=r"no modules\.dep.*depmod -b"):
        Modules.load(tmp_path / "6.9")


def test_initramfs_holds_init_busybox_console_and_decompressed_modules(tmp_path: Path) -> None:
    m = Modules.load(fake_modules(tmp_path))
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF static")
    order = build_initramfs(m, busybox, tmp_path / "initrd")
    files = read_newc(gzip.decompress((tmp_path / "initrd").read_bytes()))
    assert files["init"] == (0o100755, INIT.encode())
    assert files["bin/busybox"] == (0o100755, b"\x7fELF static")
    assert files["dev/console"][0] == 0o020600
    assert files["modules.order"][1].decode().split() == order
    assert files["modules/overlay.ko"][1] == b"module overlay.ko.xz"  # the .xz was decompressed
    assert files["modules/9p.ko"][1] == b"module 9p.ko"


# --- QEMU and the guest -------------------------------------------------------------------------------------

def test_qemu_command_one_vcpu_readonly_root_and_writable_share(tmp_path: Path) -> None:
    k = Kernel(tmp_path / "bzImage", "6.9.0-test", tmp_path / "mods")
    cmd = qemu_command(k, tmp_path / "initrd", tmp_path / "share", "tcg", 512)
    assert cmd[cmd.index("-smp") + 1] == "1" and cmd[cmd.index("-accel") + 1] == "tcg"
    assert cmd[cmd.index("-m") + 1] == "512" and cmd[cmd.index("-kernel") + 1] == str(tmp_path / "bzImage")
    fsdevs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-fsdev"]
    assert [f.split(",")[1:3] for f in fsdevs] == [["id=hostroot", "path=/"], ["id=modules", f"path={tmp_path}/mods"],
                                                  ["id=share", f"path={tmp_path}/share"]]
    assert [f.endswith("readonly=on") for f in fsdevs] == [True, True, False]
    assert cmd[cmd.index("-nic") + 1] == "none" and "-no-reboot" in cmd
    assert qemu_command(k, tmp_path / "i", tmp_path / "s", "kvm")[3:5] == ["-cpu", "host"]
    with pytest.raises(ValueError):
        qemu_command(k, tmp_path / "i", tmp_path / "s", "auto")


def test_guest_script_runs_each_step_and_records_its_status() -> None:
    steps = [Step("a", ["run", "--adapter", "synproxy", "--case", "it's"]), Step("b", ["run", "--adapter", "x"])]
    text = guest_script(steps, "/v env/bin/python", Path("/repo"))
    assert "cd /repo || exit 125" in text
    assert "'/v env/bin/python' -m splicecheck run --adapter synproxy --case 'it'\"'\"'s'" in text
    assert f"echo $? > {GUEST_SHARE}/step0.rc" in text and f"echo $? > {GUEST_SHARE}/step1.rc" in text
    assert text.index("step 0 start") < text.index("step 0 end") < text.index("step 1 start")


# --- usage errors: one line, exit 2, nothing booted -----------------------------------------------------------

def _one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 or err.splitlines()[-1].startswith("splicecheck")


def test_run_with_a_missing_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_exit_2(capsys, ["run", "--kernel", str(tmp_path / "bzImage"), "--adapter", "synproxy"],
                     f"splicecheck run: --kernel {tmp_path / 'bzImage'}: no such file")


def test_run_with_a_vmlinux(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vmlinux").write_bytes(b"\x7fELF" + b"\0" * 1024)
    _one_line_exit_2(capsys, ["run", "--kernel", str(tmp_path / "vmlinux"), "--adapter", "synproxy"],
                     "give arch/x86/boot/bzImage")


def test_run_without_modules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = fake_bzimage(tmp_path / "bzImage")
    _one_line_exit_2(capsys, ["run", "--kernel", str(image), "--adapter", "synproxy"], "give --modules DIR")
    _one_line_exit_2(capsys, ["run", "--kernel", str(image), "--modules", str(tmp_path / "m"), "--adapter",
                              "synproxy"], "no such folder")


def test_run_modules_without_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_exit_2(capsys, ["run", "--modules", str(tmp_path), "--adapter", "reference"], "--modules needs --kernel")


def test_run_unknown_adapter_is_refused_before_booting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "boot").mkdir()
    image = fake_bzimage(tmp_path / "boot" / "bzImage")
    fake_modules(tmp_path)
    _one_line_exit_2(capsys, ["run", "--kernel", str(image), "--adapter", "nonesuch"], "unknown adapter 'nonesuch'")


def test_matrix_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--adapter", "synproxy"]) == 2
    assert "give at least one --kernel" in capsys.readouterr().err
    assert main(["matrix", "--modules", str(tmp_path), "--kernel", "host"]) == 2
    assert "--modules must follow the --kernel IMAGE" in capsys.readouterr().err
    _one_line_exit_2(capsys, ["matrix", "--kernel", "host", "--kernel", "host"], "the same release")
    _one_line_exit_2(capsys, ["matrix", "--kernel", str(tmp_path / "nope")], "no such file")


# --- the boot loop, with a stand-in for QEMU (a shell script printing what a guest prints) --------------------

GUEST_OK = f"""
echo 'early console line'
echo '{MARK}initramfs 6.9.0-test'
echo '{MARK}up 6.9.0-test'
echo '{MARK}ready'
echo '{MARK}step 0 start'
sleep 0.3
echo 'guest splicecheck output'
mkdir -p "$SHARE/out/a" && echo '{{}}' > "$SHARE/out/a/results.jsonl" && echo 0 > "$SHARE/step0.rc"
echo '{MARK}step 0 end'
echo '{MARK}done'
echo '[   51.5] reboot: Power down'
"""


def _fake_vm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kvm_script: str, tcg_script: str) -> Kernel:
    """run_in_vm with QEMU replaced by ``sh -c SCRIPT`` (per accelerator; $SHARE is the share folder). Its
    temporary folders go under ``tmp_path`` (tests running in parallel would see each other's in /tmp)."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "boot").mkdir()
    kernel = Kernel.resolve(fake_bzimage(tmp_path / "boot" / "bzImage"), fake_modules(tmp_path))
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF static")

    def command(k: Kernel, initrd: Path, share: Path, accel: str, memory_mb: int = 1024) -> list[str]:
        assert initrd.is_file()
        return ["sh", "-c", f"SHARE={share}\n" + (kvm_script if accel == "kvm" else tcg_script)]

    monkeypatch.setattr(qemu, "qemu_command", command)
    monkeypatch.setattr(qemu, "find_busybox", lambda: busybox)
    monkeypatch.setattr(qemu, "kvm_usable", lambda: True)
    monkeypatch.setattr(qemu.shutil, "which", lambda name: "/bin/true")
    monkeypatch.setattr(qemu, "KVM_BOOT_TIMEOUT", 1.0)
    monkeypatch.setattr(qemu, "_die_with_parent", lambda: None)
    return kernel


def _tmp_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("splicecheck-vm-*"))


@pytest.mark.parametrize(("kvm", "why"), [
    ("echo 'Probing EDD'; exec sleep 30", "not up within 1 s"),
    ("echo 'failed to set MSR 0x10a' >&2; exit 3", "QEMU exited with status 3 first: failed to set MSR 0x10a"),
])
def test_a_kvm_guest_that_does_not_come_up_falls_back_to_tcg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             kvm: str, why: str) -> None:
    kernel = _fake_vm(monkeypatch, tmp_path, kvm, GUEST_OK)
    before = _tmp_folders()
    echoed: list[str] = []
    notes: list[str] = []
    collected: list[bytes] = []
    steps = [Step("a", ["run"])]
    started = time.monotonic()
    boot = qemu.run_in_vm(kernel, steps, python="py", cwd=tmp_path, echo=echoed.append, note=notes.append,
                          collect=lambda out: collected.append((out / "a" / "results.jsonl").read_bytes()))
    assert time.monotonic() - started < 10
    assert boot.accel == "tcg" and why in boot.fallback and "fell back to TCG" in notes[0]
    assert boot.guest_release == "6.9.0-test" and steps[0].rc == 0
    assert steps[0].seconds is not None and steps[0].seconds >= 0.3 and boot.run_seconds >= steps[0].seconds
    assert 0 < boot.boot_seconds < boot.boot_seconds + boot.run_seconds
    assert "guest splicecheck output" in echoed and not any(e.startswith(MARK + "step") for e in echoed)
    assert not any("Power down" in e for e in echoed)
    assert collected == [b"{}\n"]
    assert _tmp_folders() <= before


def test_a_guest_that_stops_early_is_an_error_and_its_results_are_still_collected(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = GUEST_OK.split("echo '" + MARK + "step 0 end'")[0]  # no "done": the guest died in the run
    kernel = _fake_vm(monkeypatch, tmp_path, "exit 1", script)
    collected: list[Path] = []
    with pytest.raises(VmError, match=r"the guest stopped before finishing .*last console line: guest splicecheck"):
        qemu.run_in_vm(kernel, [Step("a", ["run"])], accel="tcg", python="py", cwd=tmp_path, echo=lambda _: None,
                       collect=lambda out: collected.extend(out.rglob("results.jsonl")))
    assert [p.name for p in collected] == ["results.jsonl"]


def test_a_signal_while_the_guest_runs_kills_it_and_removes_the_folder(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    guest = f"echo '{MARK}up 6.9.0-test'; echo 'guest output'; exec sleep 60"
    kernel = _fake_vm(monkeypatch, tmp_path, "exit 1", guest)
    before = _tmp_folders()
    seen: list[str] = []

    def interrupt(line: str) -> None:
        seen.append(line)
        raise KeyboardInterrupt  # as the CLI's signal handler raises in the main thread

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        qemu.run_in_vm(kernel, [Step("a", ["run"])], accel="tcg", python="py", cwd=tmp_path, echo=interrupt,
                       note=interrupt)
    assert time.monotonic() - started < 5
    assert _tmp_folders() <= before


# --- report-kernel --kernel: the model here, the kernel adapters in the guest ----------------------------------

def test_report_kernel_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_exit_2(capsys, ["report-kernel", "--kernel", str(tmp_path / "bzImage")], "no such file")
    _one_line_exit_2(capsys, ["report-kernel", "--modules", str(tmp_path)], "--modules needs --kernel")
    (tmp_path / "boot").mkdir()
    image = fake_bzimage(tmp_path / "boot" / "bzImage")
    modules = fake_modules(tmp_path)
    _one_line_exit_2(capsys, ["report-kernel", "--kernel", str(image), "--modules", str(modules), "--publish"],
                     "make publish-kernels")
    _one_line_exit_2(capsys, ["report-kernel", "--kernel", str(image), "--modules", str(modules),
                              "--adapter", "nonesuch"], "unknown adapter 'nonesuch'")


def test_report_kernel_on_another_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from splicecheck import kernel_report

    case = "ADDR-REWRITE/c2s-data"
    made = tmp_path / "made"  # a real results file for the stand-in guest to hand back as synproxy's
    assert main(["run", "--adapter", "reference", "--case", case, "--out", str(made), "--no-render", "-q"]) == 0
    guest = GUEST_OK.replace('mkdir -p "$SHARE/out/a" && echo \'{}\' > "$SHARE/out/a/results.jsonl"',
                             f'mkdir -p "$SHARE/out/synproxy" && cp {made}/results.jsonl "$SHARE/out/synproxy/"')
    assert guest != GUEST_OK
    kernel = _fake_vm(monkeypatch, tmp_path, "exit 1", guest)
    monkeypatch.setattr(kernel_report, "_proofs_part", _no_proofs)
    out = tmp_path / "out"
    capsys.readouterr()
    rc = main(["report-kernel", "--kernel", str(kernel.image), "--modules", str(kernel.modules), "--accel", "tcg",
               "--adapter", "reference", "--adapter", "synproxy", "--case", case, "--out", str(out), "-q"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "report on Linux 6.9.0-test" in printed
    assert "kernel 6.9.0-test under TCG: boot" in printed
    summary = printed.split("Summary (cases):")[1]
    assert summary.index("\nreference ") < summary.index("\nsynproxy ")  # the adapters' order, not the run's
    assert (out / "reference" / "results.jsonl").is_file()  # the model ran here
    assert (out / "synproxy" / "results.jsonl").read_bytes() == (made / "results.jsonl").read_bytes()
    assert (out / "synproxy" / "report.md").is_file()
    matrix = (out / "matrix" / "matrix.md").read_text()
    assert "2 run(s)" in matrix  # the guest's file is the reference's: the columns are named alike
    assert "(../reference/report.html)" in matrix and "(../synproxy/report.html)" in matrix


def test_report_kernel_guest_without_results_fails_the_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from splicecheck import kernel_report

    guest = GUEST_OK.replace('mkdir -p "$SHARE/out/a" && echo \'{}\' > "$SHARE/out/a/results.jsonl" && ', "")
    kernel = _fake_vm(monkeypatch, tmp_path, "exit 1", guest)
    monkeypatch.setattr(kernel_report, "_proofs_part", _no_proofs)
    rc = main(["report-kernel", "--kernel", str(kernel.image), "--modules", str(kernel.modules), "--accel", "tcg",
               "--adapter", "synproxy", "--case", "ADDR-REWRITE/c2s-data", "--out", str(tmp_path / "out"), "-q"])
    assert rc == 1
    assert "synproxy produced no results" in capsys.readouterr().err


def _no_proofs() -> object:
    """A stand-in for the job's proofs part: a child that exits 0 at once."""
    from splicecheck.parts import Part

    return Part("Z3 proofs", ["--version"], teardown=False)


@pytest.mark.parametrize(("arg", "message"), [("foo", "neither a kernel ABI"),
                                              ("6.1.0-47;x", "not a Debian package name")])
def test_fetch_kernel_refuses_a_malformed_version(arg: str, message: str) -> None:
    import subprocess

    script = Path(__file__).resolve().parent.parent / "scripts" / "fetch-kernel.sh"
    proc = subprocess.run(["bash", str(script), arg], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.splitlines()) == 1
