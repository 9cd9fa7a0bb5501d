"""SIGINT/SIGTERM/SIGHUP as exceptions that nothing in the run mistakes for a failure.

A signal handler (the lab's, or the CLI's for a whole command) calls :func:`deliver`: the signal is
recorded (:func:`pending`) and an exception is raised at once. Which one depends on where the
handler interrupted the program:

* normally :class:`SignalExit` (``SystemExit(128 + signum)``) for SIGTERM/SIGHUP and
  ``KeyboardInterrupt`` for SIGINT, so an unhandled one ends the process with 143/129/130-like
  status, as ``sys.exit`` would;
* inside a Hypothesis search (:func:`hypothesis_scope`) :class:`SignalInterrupt`, a
  ``KeyboardInterrupt``: Hypothesis treats ``SystemExit`` as a test failure (it would shrink and
  replay it, and call the run "not deterministic"), but re-raises ``KeyboardInterrupt`` untouched.
  The scope turns it back into the normal exception once Hypothesis is out of the way.

A handler can also fire where Python ignores exceptions (a ``gc`` callback, a ``__del__``): the
signal stays recorded, and :func:`check` — called after every example, every injection and every
case — raises it there.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_pending: int | None = None
_hypothesis_depth = 0


class SignalExit(SystemExit):
    """SIGTERM/SIGHUP arrived: unwinds like ``sys.exit(128 + signum)``."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class SignalInterrupt(KeyboardInterrupt):
    """A signal that arrived inside a Hypothesis search (which re-raises ``KeyboardInterrupt``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_status(exc: BaseException) -> int:
    """The exit status of a process stopped by ``exc`` (a signal exception or KeyboardInterrupt)."""
    signum = getattr(exc, "signum", None)
    return 128 + signum if isinstance(signum, int) else 130


def interruption(exc: BaseException) -> str | None:
    """The name of the signal ``exc`` stands for (``"SIGTERM"``…), or None if it is no interruption."""
    signum = getattr(exc, "signum", None)
    if isinstance(exc, (SignalExit, SignalInterrupt)) and isinstance(signum, int):
        return signal_name(signum)
    if isinstance(exc, KeyboardInterrupt):
        return "SIGINT"
    return None


def _exception(signum: int) -> BaseException:
    if _hypothesis_depth:
        return SignalInterrupt(signum)
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return SignalExit(signum)


def _unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """``sys.unraisablehook`` while handlers are installed: a signal's exception raised where Python
    cannot propagate it (a gc callback) is not printed as a traceback — :func:`check` raises it again."""
    if _pending is not None and isinstance(unraisable.exc_value, (KeyboardInterrupt, SignalExit)):
        return
    _previous_hook(unraisable)


_previous_hook = sys.unraisablehook


def install_unraisable_hook() -> None:
    global _previous_hook
    if sys.unraisablehook is not _unraisable:
        _previous_hook = sys.unraisablehook
        sys.unraisablehook = _unraisable


def restore_unraisable_hook() -> None:
    if sys.unraisablehook is _unraisable:
        sys.unraisablehook = _previous_hook


def deliver(signum: int) -> None:
    """Record ``signum`` and raise its exception (call from a signal handler)."""
    global _pending
    _pending = signum
    raise _exception(signum)


def pending() -> int | None:
    """The signal recorded since the last :func:`clear`, if any."""
    return _pending


def clear() -> None:
    global _pending
    _pending = None


def check() -> None:
    """Raise the recorded signal's exception, if one arrived (e.g. while its first raise was swallowed)."""
    if _pending is not None:
        raise _exception(_pending)


@contextlib.contextmanager
def hypothesis_scope() -> Iterator[None]:
    """Run a Hypothesis search: a signal inside raises what Hypothesis re-raises; outside, the normal one."""
    global _hypothesis_depth
    _hypothesis_depth += 1
    try:
        try:
            yield
        finally:
            _hypothesis_depth -= 1
    except SignalInterrupt as exc:
        raise _exception(exc.signum) from None
    check()
