"""A kernel to boot: its image, its release, its modules, and the initramfs that mounts the host's root.

Everything here is checked on the host before a virtual machine starts, so that a wrong path or a kernel
that cannot mount the host's root is one line on stderr (:class:`KernelError`), not a guest that hangs.

The image is an x86 ``bzImage``: its setup header (the Linux x86 boot protocol, ``Documentation/arch/x86/
boot.rst``) starts with the magic ``HdrS`` at offset 0x202, and the 16-bit field at 0x20E points (plus 0x200)
at a NUL-terminated version string whose first word is the release ``uname -r`` will print. The modules are
a ``lib/modules/<release>`` folder as ``make modules_install`` or ``depmod`` leave it: ``modules.dep`` lists
every loadable module with its dependencies, ``modules.builtin`` the ones compiled in.

The initramfs is a ``newc`` cpio archive (the format the kernel unpacks, ``Documentation/driver-api/
early-userspace/buffer-format.rst``) with a static busybox, the modules needed to reach the host's root over
virtio-9p, and :data:`INIT`, the script that mounts it and runs the guest's command in it.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: What the guest needs to mount the host's root: the virtio PCI transport, 9p over virtio, overlayfs.
ROOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
#: Where a Debian-style kernel's static busybox lives (the Debian package busybox-static).
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class KernelError(Exception):
    """The kernel, its modules or the initramfs's tools are unusable: one line for the user, exit 2."""


def image_release(image: Path) -> str:
    """The release (``uname -r``) written in a bzImage's setup header. Raises :class:`KernelError` when
    ``image`` is missing, unreadable or not a bzImage."""
    try:
        with image.open("rb") as f:
            head = f.read(0x10000)
    except IsADirectoryError:
        raise KernelError(f"--kernel {image}: is a folder, not a kernel image") from None
    except FileNotFoundError:
        raise KernelError(f"--kernel {image}: no such file") from None
    except OSError as exc:
        raise KernelError(f"--kernel {image}: {exc.strerror or exc}") from None
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        hint = " (an ELF vmlinux: give arch/x86/boot/bzImage)" if head[:4] == b"\x7fELF" else ""
        raise KernelError(f"--kernel {image}: not an x86 bzImage{hint}")
    (pointer,) = struct.unpack_from("<H", head, 0x20E)
    start = pointer + 0x200
    if pointer == 0 or start >= len(head):
        raise KernelError(f"--kernel {image}: its setup header has no version string")
    text = head[start:head.find(b"\0", start)].decode("ascii", "replace")
    release = text.split(" ", 1)[0]
    if not release:
        raise KernelError(f"--kernel {image}: its setup header has an empty version string")
    return release


def _module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in (".xz", ".gz", ".zst"):
        base = base.removesuffix(suffix)
    return base.removesuffix(".ko").replace("-", "_")


@dataclass(frozen=True)
class Modules:
    """A ``lib/modules/<release>`` folder: which modules it can load (name → path relative to it, and each
    one's dependencies) and which are built into the kernel."""

    root: Path
    dep: dict[str, tuple[str, list[str]]]
    builtin: frozenset[str]

    @classmethod
    def load(cls, root: Path) -> Modules:
        dep_file = root / "modules.dep"
        try:
            lines = dep_file.read_text().splitlines()
        except OSError:
            raise KernelError(f"{root}: no modules.dep (run `depmod -b BASE {root.name}`, or give the folder "
                              "`make modules_install INSTALL_MOD_PATH=...` made)") from None
        dep: dict[str, tuple[str, list[str]]] = {}
        for line in lines:
            if ":" not in line:
                continue
            path, _, deps = line.partition(":")
            dep[_module_name(path)] = (path.strip(), [_module_name(d) for d in deps.split()])
        try:
            builtin = frozenset(_module_name(p) for p in (root / "modules.builtin").read_text().split())
        except OSError:
            builtin = frozenset()
        return cls(root, dep, builtin)

    def load_order(self, names: tuple[str, ...]) -> list[str]:
        """The loadable modules ``names`` need, dependencies first; built-in ones are left out. Raises
        :class:`KernelError` for a module that is neither loadable nor built in."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order or name in self.builtin:
                return
            if name not in self.dep:
                raise KernelError(f"{self.root}: this kernel has no module {name} and it is not built in "
                                  "(the guest needs virtio PCI, 9p over virtio and overlayfs)")
            for d in self.dep[name][1]:
                visit(d)
            order.append(name)

        for n in names:
            visit(n)
        return order

    def read(self, name: str) -> bytes:
        """A module's object file, decompressed (busybox's insmod takes plain ``.ko`` files)."""
        path = self.root / self.dep[name][0]
        data = path.read_bytes()
        if path.suffix == ".xz":
            return lzma.decompress(data)
        if path.suffix == ".gz":
            return gzip.decompress(data)
        if path.suffix == ".zst":
            if shutil.which("zstd") is None:
                raise KernelError(f"{path}: zstd-compressed module and no zstd command to decompress it")
            return subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
        return data


def find_modules(image: Path, release: str, given: Path | None) -> Path:
    """The ``lib/modules/<release>`` folder for ``image``: ``given`` (that folder itself, or a root holding
    ``lib/modules/<release>``), else the one beside the image (``ROOT/boot/vmlinuz-*`` and
    ``ROOT/lib/modules/<release>``, the layout of an unpacked Debian package), else ``/lib/modules/<release>``."""
    if given is not None:
        if not given.is_dir():
            raise KernelError(f"--modules {given}: no such folder")
        for candidate in (given, given / "lib" / "modules" / release):
            if (candidate / "modules.dep").is_file() or (candidate / "modules.order").is_file():
                if candidate.name != release:
                    raise KernelError(f"--modules {given}: modules of {candidate.name}, but the image is {release}")
                return candidate
        raise KernelError(f"--modules {given}: neither a lib/modules/{release} folder nor a root holding one")
    for candidate in (image.resolve().parent.parent / "lib" / "modules" / release, Path("/lib/modules") / release):
        if candidate.is_dir():
            return candidate
    raise KernelError(f"--kernel {image}: no modules for {release} beside it or in /lib/modules; give --modules DIR")


def find_busybox() -> Path:
    """A statically linked busybox (the initramfs has no C library)."""
    for c in BUSYBOX_CANDIDATES:
        p = Path(c)
        if p.is_file():
            head = p.read_bytes()[:4096]
            if head[:4] == b"\x7fELF" and b"ld-linux" not in head:
                return p
    raise KernelError("no static busybox (Debian package busybox-static): the guest's initramfs needs one")


#: PID 1 of the guest. It loads the modules listed in /modules.order, mounts the host's root read-only over
#: 9p with a tmpfs overlay on top (the guest may write anywhere; nothing reaches the host), the results share
#: read-write and the kernel's modules at /lib/modules/<release>, then runs /run/splicecheck/guest.sh in that
#: root and powers off. The kernel runs its module loader (kernel.modprobe) in PID 1's root, the initramfs,
#: so the loader is pointed at a wrapper that runs the host's modprobe in the host's root. Markers on the
#: console let the host time the boot and see how far the guest got.
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /lower /upper /newroot
mount -t proc proc /proc
mount -t devtmpfs dev /dev
echo "splicecheck-vm: initramfs $(uname -r)"
for m in $(cat /modules.order); do insmod /modules/$m.ko || echo "splicecheck-vm: insmod $m failed"; done
fail() { echo "splicecheck-vm: $1"; poweroff -f; }
p9=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o $p9,ro,cache=loose hostroot /lower || fail "cannot mount the host's root"
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot \
    || fail "cannot mount the overlay"
for d in proc sys dev tmp run; do mkdir -p /newroot/$d; done
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/splicecheck /newroot/run/netns /newroot/lib/modules/$(uname -r)
mount -t 9p -o $p9 share /newroot/run/splicecheck || fail "cannot mount the share"
mount -t 9p -o $p9,ro,cache=loose modules /newroot/lib/modules/$(uname -r) || fail "cannot mount the modules"
printf '#!/bin/busybox sh\nexec chroot /newroot /sbin/modprobe "$@"\n' > /bin/modprobe-in-root
chmod 755 /bin/modprobe-in-root
echo /bin/modprobe-in-root > /proc/sys/kernel/modprobe
echo "splicecheck-vm: up $(uname -r)"
chroot /newroot /bin/sh /run/splicecheck/guest.sh
echo $? > /newroot/run/splicecheck/rc
sync
echo "splicecheck-vm: done"
poweroff -f
"""


def _cpio_entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0), ino: int = 0) -> bytes:
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0)
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = header + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4) + data
    return out + b"\0" * (-len(out) % 4)


def build_initramfs(modules: Modules, busybox: Path, dest: Path) -> list[str]:
    """Write the guest's initramfs (gzip'd newc cpio) to ``dest``; returns the modules it loads, in order."""
    order = modules.load_order(ROOT_MODULES)
    parts: list[bytes] = []
    ino = 1

    def add(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        nonlocal ino
        parts.append(_cpio_entry(name, mode, data, rdev, ino))
        ino += 1

    for d in ("bin", "dev", "modules", "proc", "sys"):
        add(d, 0o040755)
    add("dev/console", 0o020600, rdev=(5, 1))
    add("bin/busybox", 0o100755, busybox.read_bytes())
    add("init", 0o100755, INIT.encode())
    add("modules.order", 0o100644, "".join(m + "\n" for m in order).encode())
    for m in order:
        add(f"modules/{m}.ko", 0o100644, modules.read(m))
    parts.append(_cpio_entry("TRAILER!!!", 0))
    dest.write_bytes(gzip.compress(b"".join(parts), compresslevel=1))
    os.chmod(dest, 0o600)
    return order
