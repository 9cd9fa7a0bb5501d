"""Named network namespaces: create, delete, list, and act inside one without moving the caller.

Theory of operation
-------------------
A named namespace is a bind mount of a ``nsfs`` inode at ``/run/netns/NAME``, exactly what
``ip netns add`` makes, so the lab's namespaces are visible to ``ip netns list`` and to any
operator with ``ip -n NAME ...``.

Work *inside* a namespace happens in one of two ways, and the calling thread never changes
namespace in either:

* :func:`call_in_netns` runs a Python callable in a short-lived helper thread that first calls
  ``setns(2)`` (through ctypes, as Python 3.11 has no ``os.setns``). ``setns(CLONE_NEWNET)``
  affects only the calling thread, and the thread ends right after, so nothing leaks. Objects
  the callable creates keep the namespace they were created in: a socket opened there stays
  bound to that namespace for its whole life, and ``/proc/sys/net/*`` opened there is that
  namespace's view (the sysctl tree is looked up through ``current->nsproxy``, i.e. per thread).
* :func:`run_in_netns` runs a program with ``ip netns exec`` (used for ``nft``, which has no
  namespace option).

Nothing here touches the initial network namespace: ``ip netns add`` unshares a *new* one,
and every other command is addressed with ``ip -n NAME`` or runs inside NAME.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import secrets
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


class LabCommandError(RuntimeError):
    """A lab set-up command failed (the harness failed, not the implementation under test)."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(f"{' '.join(self.argv)} exited {returncode}: {self.stderr}")


def run(argv: Sequence[str], *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command with captured text output; raise :class:`LabCommandError` on failure if ``check``."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise LabCommandError(argv, proc.returncode, proc.stderr or proc.stdout)
    return proc


def unique_tag(prefix: str) -> tuple[str, str]:
    """A run tag ``<prefix>[<xdist worker>-]<pid>-<token>`` and its 4-hex token.

    The pid lets a cleaner tell a live run from a dead one; the worker id (``PYTEST_XDIST_WORKER``)
    only helps a human; the random token separates several labs of one process.
    """
    worker = re.sub(r"[^a-z0-9]", "", os.environ.get("PYTEST_XDIST_WORKER", "").lower())
    if worker and not worker[0].isalpha():
        worker = "w" + worker
    token = secrets.token_hex(2)
    return f"{prefix}{worker + '-' if worker else ''}{os.getpid()}-{token}", token


def netns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


def list_netns() -> list[str]:
    """Names of the named network namespaces (``ip netns list`` without the ``(id: N)`` suffix)."""
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def add_netns(*names: str) -> None:
    """Create named namespaces with one ``ip -batch`` call. Each is new; none is the host's."""
    if names:
        run(["ip", "-batch", "-"], input="".join(f"netns add {n}\n" for n in names))


def del_netns(*names: str) -> list[str]:
    """Delete named namespaces, ignoring those already gone; return the ones that could not be deleted.

    Deleting the name drops the bind mount; the kernel destroys the namespace (and with it every
    veth end, address, route, nft table and conntrack entry in it) once no socket or process
    holds it any more, so callers close their sockets first.
    """
    failed: list[str] = []
    for name in names:
        if not os.path.exists(netns_path(name)):
            continue
        proc = run(["ip", "netns", "del", name], check=False)
        if proc.returncode != 0 and os.path.exists(netns_path(name)):
            failed.append(name)
    return failed


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET): {os.strerror(err)}")


def call_in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn()`` in a helper thread that has entered namespace ``name``; return its result.

    Exceptions raised by ``fn`` (or by ``setns``) are re-raised in the caller.
    """
    fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            _setns(fd)
            result.append(fn())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    try:
        thread = threading.Thread(target=body, name=f"netns:{name}", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    if failure:
        raise failure[0]
    return result[0]


def _sysctl_path(key: str) -> str:
    # Dotted keys as sysctl(8) writes them; interface names in the lab contain no dots.
    return "/proc/sys/" + key.replace(".", "/")


def write_sysctls(name: str, settings: dict[str, str | int]) -> None:
    """Set sysctls inside namespace ``name`` (only ``net.*`` keys are per namespace; others refused)."""
    for key in settings:
        if not key.startswith("net."):
            raise ValueError(f"{key} is not a per-namespace sysctl; the lab never writes host sysctls")

    def body() -> None:
        for key, value in settings.items():
            with open(_sysctl_path(key), "w") as f:
                f.write(f"{value}\n")

    call_in_netns(name, body)


def read_sysctl(name: str, key: str) -> str:
    """Read one sysctl as namespace ``name`` sees it."""

    def body() -> str:
        with open(_sysctl_path(key)) as f:
            return f.read().strip()

    return call_in_netns(name, body)


def run_in_netns(name: str, argv: Sequence[str], *, input: str | None = None,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a program inside namespace ``name`` (``ip netns exec``)."""
    return run(["ip", "netns", "exec", name, *argv], input=input, check=check)


def ip_batch(name: str, commands: Sequence[str]) -> None:
    """Run ``ip`` sub-commands (one per line, without the leading ``ip``) inside namespace ``name``."""
    if commands:
        run(["ip", "-n", name, "-batch", "-"], input="".join(c + "\n" for c in commands))


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (used to tell a live lab from a SIGKILLed one's leftovers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError as exc:
        return exc.errno != errno.ESRCH
    return True


# --------------------------------------------------------------------------------------------------
# Liveness across PID namespaces: a lock file per run tag
# --------------------------------------------------------------------------------------------------

#: Where a lab run's lock files live. ``/run`` is shared by everything that shares ``/run/netns``
#: (the namespaces' bind mounts are there too), so a cleaner sees the locks of every lab it could delete.
LOCK_DIR = os.environ.get("SPLICECHECK_LOCK_DIR", "/run/splicecheck")


def lock_path(tag: str) -> str:
    return os.path.join(LOCK_DIR, tag + ".lock")


class RunLock:
    """An exclusive ``flock`` on ``LOCK_DIR/<tag>.lock``, held while the run's namespaces may exist.

    The kernel drops a flock when the last descriptor of its open file goes away, i.e. when the holder
    dies by any means, SIGKILL included; and whether a flock is held is visible to every process that
    can open the file, whatever its PID namespace. So a cleaner that can take the lock knows the run is
    gone — unlike ``kill(pid, 0)``, which asks about a pid *in the cleaner's own* PID namespace.
    """

    def __init__(self, tag: str) -> None:
        self.path = lock_path(tag)
        os.makedirs(LOCK_DIR, mode=0o755, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd

    def release(self) -> None:
        """Unlink the lock file and drop the lock (call once the namespaces are gone)."""
        if self._fd is None:
            return
        if self.path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


def run_liveness(tag: str) -> bool | None:
    """Whether the run ``tag`` holds its lock (True), is gone (False), or left no lock file (None:
    a run of an older splicecheck, or one that died before it made any namespace)."""
    try:
        fd = os.open(lock_path(tag), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return True  # cannot tell: assume alive, never delete on a guess
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def remove_lock(tag: str) -> None:
    """Remove a dead run's lock file (after its namespaces were deleted)."""
    with contextlib.suppress(OSError):
        os.unlink(lock_path(tag))
