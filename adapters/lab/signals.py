"""The lab's teardown on every exit path: SIGINT/SIGTERM/SIGHUP turned into exceptions while a lab is
open (the previous handlers restored when the last lab closes), and an ``atexit`` safety net. Which
exception, and why a signal inside a Hypothesis search is special, is :mod:`conformance.interrupts`'s. Only
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

from ...conformance import interrupts


class _Lab(Protocol):
    owner_pid: int

    def close(self) -> None: ...


LabSignalExit = interrupts.SignalExit  # SIGTERM/SIGHUP while a lab was open: like sys.exit(128 + signum)

_HANDLED = interrupts.HANDLED
_LIVE: dict[int, _Lab] = {}
_saved_handlers: dict[int, Any] = {}
state_lock = threading.RLock()
_atexit_registered = False
_process_holds = 0  # hold_process() scopes open (the CLI's, for a whole command)


def _on_signal(signum: int, frame: types.FrameType | None) -> None:
    previous = _saved_handlers.get(signum)
    if callable(previous) and previous is not signal.default_int_handler and previous is not _on_signal:
        previous(signum, frame)  # the application's own handler decides
        return
    interrupts.deliver(signum)  # recorded, then raised (see conformance.interrupts)


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal works only there; atexit and __exit__ still clean up
    for signum in _HANDLED:
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN or previous is _on_signal:
            continue  # ignored on purpose (e.g. nohup): keep ignoring; or ours already
        _saved_handlers[signum] = previous
        signal.signal(signum, _on_signal)
    interrupts.install_unraisable_hook()


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in list(_saved_handlers.items()):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        del _saved_handlers[signum]
    interrupts.restore_unraisable_hook()


@contextlib.contextmanager
def hold_process() -> Iterator[None]:
    """Turn SIGINT/SIGTERM/SIGHUP into exceptions for the whole block (the CLI wraps each command in
    it), so that set-up before any lab opens (preflight) and reporting after the last closes unwind
    too. Labs opened inside keep the same handlers."""
    global _process_holds
    with state_lock:
        if not _LIVE and not _process_holds:
            _install_handlers()
        _process_holds += 1
    try:
        yield
    finally:
        with state_lock:
            _process_holds -= 1
            if not _LIVE and not _process_holds:
                _restore_handlers()


def register(lab: _Lab) -> None:
    """``lab`` is open: the atexit safety net exists, and the handlers are installed while any lab is open."""
    global _atexit_registered
    with state_lock:
        if not _atexit_registered:
            atexit.register(_atexit_teardown)
            _atexit_registered = True
        if not _LIVE and not _process_holds:
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
        if not _LIVE and not _process_holds:
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
