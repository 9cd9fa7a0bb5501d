"""Building, loading and attaching the eBPF splice datapath (``splice.bpf.c``), and writing its map.

The loader is libbpf's C API called through :mod:`ctypes` (``libbpf.so.1``, Debian's ``libbpf1``,
installed with ``libbpf-dev``), chosen over the alternatives for what it leaves behind:

* **iproute2's ``tc ... bpf obj``** loads the object, but the proxy must then reach the maps through
  pins in a bpffs. bpffs is per mount namespace, not per network namespace: a pin outlives the lab's
  namespaces and any process that dies between pinning and unpinning leaves it behind.
* **A libbpf C loader process** avoids pins but adds a second program to build and a protocol to
  drive it over a pipe.
* **pyroute2** attaches filters but does not load ELF objects or create maps: libbpf would be needed
  anyway.

Through ctypes the maps and the program are file descriptors of the adapter's process and nothing
is pinned. The clsact qdisc and the two tc filters live in the proxy namespace: removing them (or the
namespace, on every exit path the lab covers) releases the program, and closing the object releases
the maps; a SIGKILLed process's descriptors are closed by the kernel and its namespaces are removed
by ``splicecheck lab clean``. :func:`live_programs` says which of the programs an adapter attached
are still in the kernel, which the tests check after every exit path.

The object is compiled by ``clang -target bpf`` into a private temporary directory, removed as soon
as the object is loaded (the kernel holds the program from then on), whatever happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("splice.bpf.c")
PROG_NAME = "sc_splice"
BPF_TC_INGRESS = 1
BPF_TC_EGRESS = 2
BPF_ANY = 0
ADVANCE_SLOTS = 1024
HOLD_MAX = 2048  # struct held_frame's data  # max_entries of the `advances` map
COUNTERS = ("relayed", "dropped malformed", "dropped ttl", "dropped below base", "dropped error", "passed",
            "dropped closed", "dropped too large", "held", "hold lost", "mss icmp")


class DatapathError(RuntimeError):
    """The datapath could not be built, loaded, attached or written (the harness's failure)."""


class _TcHook(ctypes.Structure):
    _fields_ = [("sz", ctypes.c_size_t), ("ifindex", ctypes.c_int), ("attach_point", ctypes.c_int),
                ("parent", ctypes.c_uint32)]


class _TcOpts(ctypes.Structure):
    _fields_ = [("sz", ctypes.c_size_t), ("prog_fd", ctypes.c_int), ("flags", ctypes.c_uint32),
                ("prog_id", ctypes.c_uint32), ("handle", ctypes.c_uint32), ("priority", ctypes.c_uint32)]


@functools.cache
def _libbpf() -> ctypes.CDLL:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    lib = ctypes.CDLL(name, use_errno=True)
    vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for fn, args, res in (
            ("bpf_object__open_file", [cp, vp], vp),
            ("bpf_object__load", [vp], i),
            ("bpf_object__close", [vp], None),
            ("bpf_object__find_program_by_name", [vp, cp], vp),
            ("bpf_object__find_map_fd_by_name", [vp, cp], i),
            ("bpf_program__fd", [vp], i),
            ("bpf_tc_hook_create", [vp], i),
            ("bpf_tc_hook_destroy", [vp], i),
            ("bpf_tc_attach", [vp, vp], i),
            ("bpf_map_update_elem", [i, vp, vp, ctypes.c_uint64], i),
            ("bpf_map_delete_elem", [i, vp], i),
            ("bpf_map_lookup_elem", [i, vp, vp], i),
            ("bpf_map_lookup_and_delete_elem", [i, vp, vp], i),
            ("libbpf_get_error", [vp], ctypes.c_long)):
        f = getattr(lib, fn)
        f.argtypes, f.restype = args, res
    return lib


def missing() -> list[str]:
    """Why this machine cannot run the datapath (empty: it can): clang, libbpf, and then whether the
    kernel takes the program, found by trying (built and loaded once per process, then unloaded)."""
    out = []
    if shutil.which("clang") is None:
        out.append("`clang` not found: install the Debian package clang (scripts/install-system-deps.sh)")
    try:
        _libbpf()
    except OSError as exc:
        out.append(f"libbpf not found ({exc}): install the Debian package libbpf-dev "
                   "(scripts/install-system-deps.sh)")
    if not Path("/usr/include/bpf/bpf_helpers.h").exists():
        out.append("libbpf headers not found: install the Debian package libbpf-dev (scripts/install-system-deps.sh)")
    return out or list(_load_probe())


@functools.cache
def _load_probe() -> tuple[str, ...]:
    """The reason the datapath cannot be built or loaded here (empty: it can); cached per process."""
    lib = _libbpf()
    try:
        obj = load_object(tempfile.mkdtemp(prefix="splicecheck-bpf-"))
    except DatapathError as exc:
        return (str(exc),)
    lib.bpf_object__close(obj)
    return ()


def load_object(build_dir: str) -> int:
    """``splice.bpf.c`` compiled in ``build_dir`` and loaded into the kernel; ``build_dir`` is removed
    whatever happens. Returns the libbpf object (close it with ``bpf_object__close``)."""
    lib = _libbpf()
    try:
        path = Path(build_dir) / "splice.bpf.o"
        path.write_bytes(_built(SOURCE))
        obj = lib.bpf_object__open_file(str(path).encode(), None)
        if not obj or lib.libbpf_get_error(obj):
            raise DatapathError(f"libbpf cannot open {path.name}")
        if lib.bpf_object__load(obj) != 0:
            errno = ctypes.get_errno()
            lib.bpf_object__close(obj)
            raise DatapathError(f"the kernel refused the datapath (verifier or BPF support): {os.strerror(errno)}")
        return int(obj)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


@functools.cache
def _built(source: Path) -> bytes:
    """The object of ``source`` (:data:`SOURCE`), compiled once per process (by :func:`compile_object`, in a
    private temporary directory removed at once): ``missing()``'s probe and every lab load the same one."""
    build_dir = tempfile.mkdtemp(prefix="splicecheck-bpf-")
    try:
        return compile_object(build_dir, source).read_bytes()
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def compile_object(outdir: str, source: Path | None = None) -> Path:
    """``source`` (default ``splice.bpf.c``) compiled into ``outdir``; :class:`DatapathError` with clang's
    first lines."""
    out = Path(outdir) / "splice.bpf.o"
    arch = f"/usr/include/{platform.machine()}-linux-gnu"
    cmd = ["clang", "-O2", "-g", "-target", "bpf", "-Wall", "-Werror", f"-I{arch}", "-c", str(source or SOURCE),
           "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DatapathError("clang could not build the datapath: " + " | ".join(proc.stderr.strip().splitlines()[:6]))
    return out


# --------------------------------------------------------------------------------------------------
# The map's entries
# --------------------------------------------------------------------------------------------------

#: struct splice_key: saddr, daddr (16 bytes each, an IPv4 address zero-padded), sport, dport (network order)
_KEY = struct.Struct("!16s16sHH")
#: struct splice_dir (native order for the numbers; addresses and ports as on the wire)
_DIR = struct.Struct("=6s6sI16s16s2s2sIIIIIIIIBBBBIIIIIIIIII")


_CLOSED = 21  # index of `closed` in _DIR's fields (then watch_ok, complete, fin_end, fin_seen, fin_acked, ok_una)


@dataclass(frozen=True, slots=True)
class EntryFlags:
    """What the datapath records in a direction's entry."""

    closed: bool  # a RST was relayed (or the proxy ended the splice)
    complete: bool  # client->server: the ACK of the whole OK message was relayed
    fin_seen: bool  # this direction relayed a FIN
    fin_acked: bool  # ... and the other end host acknowledged it
    ok_una: int  # client->server: the first OK-message byte the client has not acknowledged


@dataclass(frozen=True, slots=True)
class Direction:
    """One direction of a splice, as the datapath's map holds it (``struct splice_dir``)."""

    src: bytes  # the in leg's peer address, 4 or 16 bytes
    dst: bytes  # the in leg's local address
    sport: int
    dport: int
    out_dmac: bytes
    out_smac: bytes
    out_ifindex: int
    out_src: bytes  # the out leg's local address
    out_dst: bytes  # the out leg's peer address
    out_sport: int
    out_dport: int
    in_irs: int
    out_iss: int
    in_iss: int
    out_irs: int
    in_lastrecv_ts: int
    out_lastsent_ts: int
    in_lastsent_ts: int
    out_lastrecv_ts: int
    ts_map: bool
    sack_map: bool
    in_shift: int
    out_shift: int
    adv_slot: int
    back_slot: int
    watch_ok: bool = False  # client->server while the OK message is unacknowledged (sets `complete`)
    ok_una: int = 0  # with watch_ok: the OK message's first byte (moved by the client's ACKs)
    out_mss: int = 0  # the MSS the out peer announced (§3.4.4: larger segments answered with ICMP); 0: none

    def key(self) -> bytes:
        return _KEY.pack(self.src, self.dst, self.sport, self.dport)

    def value(self) -> bytes:
        return _DIR.pack(self.out_dmac, self.out_smac, self.out_ifindex, self.out_src, self.out_dst,
                         struct.pack("!H", self.out_sport), struct.pack("!H", self.out_dport),
                         self.in_irs, self.out_iss, self.in_iss, self.out_irs,
                         self.in_lastrecv_ts, self.out_lastsent_ts, self.in_lastsent_ts, self.out_lastrecv_ts,
                         int(self.ts_map), int(self.sack_map), self.in_shift, self.out_shift,
                         self.adv_slot, self.back_slot, 0, int(self.watch_ok), 0, 0, 0, 0, self.ok_una,
                         self.out_mss)


# --------------------------------------------------------------------------------------------------
# The datapath
# --------------------------------------------------------------------------------------------------


class Datapath:
    """The program loaded and attached to the clsact ingress of ``ifnames`` in a network namespace.

    ``call_in_ns(fn)`` runs ``fn`` in the proxy's namespace (the lab's ``call``): tc attachment is
    done over rtnetlink, which acts in the calling thread's namespace. Use as a context manager, or
    call :meth:`close` (idempotent) on every exit path."""

    def __init__(self, ifnames: tuple[str, ...], call_in_ns: Callable[[Callable[[], Any]], Any]) -> None:
        self.ifnames = ifnames
        self.call_in_ns = call_in_ns
        self.build_dir = ""  # where the object was built (removed once loaded)
        self._obj: int | None = None
        self.ifindex: dict[str, int] = {}
        self._hooked: list[int] = []
        self.maps: dict[str, int] = {}
        self.prog_ids: list[int] = []  # the kernel's ids of the attached program (one per interface)

    def __enter__(self) -> Datapath:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        lib = _libbpf()
        try:
            self.build_dir = tempfile.mkdtemp(prefix="splicecheck-bpf-")
            obj = self._obj = load_object(self.build_dir)
            prog = lib.bpf_object__find_program_by_name(obj, PROG_NAME.encode())
            prog_fd = lib.bpf_program__fd(prog) if prog else -1
            for name in ("splices", "advances", "counters", "holds", "held"):
                fd = lib.bpf_object__find_map_fd_by_name(obj, name.encode())
                if fd < 0:
                    raise DatapathError(f"the datapath object has no map {name!r}")
                self.maps[name] = fd
            if prog_fd < 0:
                raise DatapathError(f"the datapath object has no program {PROG_NAME!r}")
            self.call_in_ns(lambda: self._attach(prog_fd))
        except BaseException:
            self.close()
            raise

    def _attach(self, prog_fd: int) -> None:
        lib = _libbpf()
        for name in self.ifnames:
            index = socket.if_nametoindex(name)
            self.ifindex[name] = index
            hook = _TcHook(ctypes.sizeof(_TcHook), index, BPF_TC_INGRESS, 0)
            rc = lib.bpf_tc_hook_create(ctypes.byref(hook))
            if rc != 0 and rc != -17:  # -EEXIST: a clsact qdisc is there already
                raise DatapathError(f"cannot add a clsact qdisc on {name}: {os.strerror(-rc)}")
            self._hooked.append(index)
            opts = _TcOpts(ctypes.sizeof(_TcOpts), prog_fd, 0, 0, 1, 1)
            rc = lib.bpf_tc_attach(ctypes.byref(hook), ctypes.byref(opts))
            if rc != 0:
                raise DatapathError(f"cannot attach the datapath to {name}: {os.strerror(-rc)}")
            if opts.prog_id not in self.prog_ids:
                self.prog_ids.append(opts.prog_id)

    def _detach(self) -> None:
        lib = _libbpf()
        for index in self._hooked:
            # destroying the hook with both attach points removes the clsact qdisc and its filters
            hook = _TcHook(ctypes.sizeof(_TcHook), index, BPF_TC_INGRESS | BPF_TC_EGRESS, 0)
            lib.bpf_tc_hook_destroy(ctypes.byref(hook))
        self._hooked.clear()

    def close(self) -> None:
        """Detach (remove the qdiscs), close the object (maps, program)."""
        if self._hooked:
            try:
                self.call_in_ns(self._detach)
            except Exception:  # the namespace may be gone already, and with it the qdiscs
                self._hooked.clear()
        if self._obj is not None:
            _libbpf().bpf_object__close(self._obj)
            self._obj = None
        self.maps.clear()

    # -- the maps -------------------------------------------------------------------------------

    def _update(self, mapname: str, key: bytes, value: bytes) -> None:
        kb, vb = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value, len(value))
        if _libbpf().bpf_map_update_elem(self.maps[mapname], kb, vb, BPF_ANY) != 0:
            raise DatapathError(f"cannot write the {mapname} map: {os.strerror(ctypes.get_errno())}")

    def add(self, direction: Direction, advance: int = 0) -> None:
        """Install one direction of a splice (its advance reset to ``advance``)."""
        self._update("advances", struct.pack("=I", direction.adv_slot), struct.pack("=I", advance))
        self._update("splices", direction.key(), direction.value())

    def remove(self, direction: Direction) -> None:
        kb = ctypes.create_string_buffer(direction.key(), _KEY.size)
        _libbpf().bpf_map_delete_elem(self.maps["splices"], kb)

    def hold(self, src: bytes, dst: bytes, sport: int, dport: int, on: bool = True) -> None:
        """DONT_ACK for one 4-tuple (as it arrives): its segments occupying sequence space are queued in
        the datapath (``held``), neither delivered to the socket nor acknowledged; ``on=False`` lifts it."""
        key = _KEY.pack(src.ljust(16, b"\0"), dst.ljust(16, b"\0"), sport, dport)
        if on:
            self._update("holds", key, struct.pack("=I", 1))
        else:
            kb = ctypes.create_string_buffer(key, _KEY.size)
            _libbpf().bpf_map_delete_elem(self.maps["holds"], kb)

    def take_held(self) -> list[bytes]:
        """The held frames, in arrival order, removed from the queue."""
        out = []
        vb = ctypes.create_string_buffer(4 + HOLD_MAX)
        while _libbpf().bpf_map_lookup_and_delete_elem(self.maps["held"], None, vb) == 0:
            (n,) = struct.unpack_from("=I", vb.raw)
            out.append(vb.raw[4:4 + n])
        return out

    def entry(self, direction: Direction) -> EntryFlags:
        """The flags the datapath keeps in one direction's map entry."""
        f = self._fields(direction)
        return EntryFlags(bool(f[_CLOSED]), bool(f[_CLOSED + 2]), bool(f[_CLOSED + 4]), bool(f[_CLOSED + 5]),
                          int(f[_CLOSED + 6]))

    def _fields(self, direction: Direction) -> list[Any]:
        kb, vb = ctypes.create_string_buffer(direction.key(), _KEY.size), ctypes.create_string_buffer(_DIR.size)
        if _libbpf().bpf_map_lookup_elem(self.maps["splices"], kb, vb) != 0:
            raise DatapathError("the splice's map entry is gone")
        return list(_DIR.unpack(vb.raw))

    def end(self, direction: Direction) -> None:
        """Mark one direction closed (the datapath drops its segments from then on)."""
        f = self._fields(direction)
        f[_CLOSED] = 1
        self._update("splices", direction.key(), _DIR.pack(*f))

    def advance(self, slot: int) -> int:
        kb, vb = ctypes.create_string_buffer(struct.pack("=I", slot), 4), ctypes.create_string_buffer(4)
        if _libbpf().bpf_map_lookup_elem(self.maps["advances"], kb, vb) != 0:
            raise DatapathError(f"cannot read advance slot {slot}")
        return int(struct.unpack("=I", vb.raw)[0])

    def counters(self) -> dict[str, int]:
        """How many segments the datapath relayed, dropped (by reason) and passed to the stack."""
        out = {}
        for i, name in enumerate(COUNTERS):
            kb, vb = ctypes.create_string_buffer(struct.pack("=I", i), 4), ctypes.create_string_buffer(8)
            if _libbpf().bpf_map_lookup_elem(self.maps["counters"], kb, vb) == 0:
                out[name] = int(struct.unpack("=Q", vb.raw)[0])
        return out


def live_programs(ids: list[int]) -> list[int]:
    """Which of the program ``ids`` the kernel still has (``bpftool prog show``). Programs are freed
    after an RCU grace period, so callers allow a moment before concluding one was left behind."""
    if shutil.which("bpftool") is None:
        raise DatapathError("`bpftool` not found: install the Debian package bpftool")
    proc = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=False)
    try:
        progs = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise DatapathError(f"cannot read `bpftool prog show`: {exc}") from exc
    return [int(p["id"]) for p in progs if p.get("id") in ids and p.get("name") == PROG_NAME]
