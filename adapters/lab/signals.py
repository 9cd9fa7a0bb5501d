"""The lab's teardown on every exit path: SIGINT/SIGTERM/SIGHUP turned into exceptions while a lab is
open (the previous handlers restored when the last lab closes), and an ``atexit`` safety net. Only
SIGKILL escapes; :func:`~splicecheck.adapters.lab.topology.clean_stale` is for that."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import types
from collections.abc import Iterator
from typing import Any, Protocol


class _Lab(Protocol):
    owner_pid: int

    def close(self) -> None: ...


class LabSignalExit(SystemExit):
    """SIGTERM/SIGHUP arrived while a lab was open: unwinds like ``sys.exit(128 + signum)``."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


_HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_LIVE: dict[int, _Lab] = {}
_saved_handlers: dict[int, Any] = {}
state_lock = threading.RLock()
_atexit_registered = False


def _on_signal(signum: int, frame: types.FrameType | None) -> None:
    previous = _saved_handlers.get(signum)
    if callable(previous) and previous is not signal.default_int_handler:
        previous(signum, frame)  # the application's own handler decides
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise LabSignalExit(signum)


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal works only there; atexit and __exit__ still clean up
    for signum in _HANDLED:
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN:
            continue  # the process chose to ignore it (e.g. nohup): keep ignoring
        _saved_handlers[signum] = previous
        signal.signal(signum, _on_signal)


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in list(_saved_handlers.items()):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        del _saved_handlers[signum]


def register(lab: _Lab) -> None:
    """``lab`` is open: the atexit safety net exists, and the handlers are installed while any lab is open."""
    global _atexit_registered
    with state_lock:
        if not _atexit_registered:
            atexit.register(_atexit_teardown)
            _atexit_registered = True
        if not _LIVE:
            _install_handlers()
        _LIVE[id(lab)] = lab


def live() -> list[_Lab]:
    """The labs open in this process."""
    with state_lock:
        return list(_LIVE.values())


def unregister(lab: _Lab) -> None:
    """``lab`` is torn down: the previous handlers come back when the last lab is gone."""
    with state_lock:
        _LIVE.pop(id(lab), None)
        if not _LIVE:
            _restore_handlers()


def _atexit_teardown() -> None:
    for lab in list(_LIVE.values()):
        if lab.owner_pid == os.getpid():  # never tear down a parent's lab from a forked child
            lab.close()


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP during teardown; a pending one is delivered after, to the restored handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
