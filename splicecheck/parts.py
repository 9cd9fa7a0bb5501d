"""A command's parts run as child ``splicecheck`` processes, a few at a time (the main job: the Z3 proofs and
each adapter's run side by side).

Why processes: the parts are independent, most of a live adapter's time is spent waiting for its lab, and
the proofs are CPU-bound inside Z3, where a Python signal handler does not run until a solver call returns.
Each child is an ordinary ``splicecheck`` command with its own signal handling and lab teardown; its standard
output goes to a temporary file and is shown whole when the part ends (the parts' sections do not
interleave), its standard error passes through as it happens.

Signals: the children run in sessions of their own, so a terminal's Ctrl-C reaches only this process, which
forwards the signal it got to every running child once (kills a child with nothing to tear down), waits at
most :data:`STOP_WAIT` seconds for them to tear their labs down, kills what is left and removes the labs of
runs that are gone
(:func:`~splicecheck.adapters.lab.topology.clean_stale`). Should this process die without that (SIGKILL),
the kernel sends each child SIGTERM (``PR_SET_PDEATHSIG``), so the children still tear down.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from .conformance import interrupts

STOP_WAIT = 0.8  # seconds the children get to stop after a forwarded signal (the run stops within a second)
POLL = 0.05  # seconds between looks at the children


@dataclass
class Part:
    """One child command: ``argv`` after ``splicecheck``; ``teardown``: it has something to tear down when
    stopped (a lab), else it is killed at once (the proofs: Z3 would take the signal only when its current
    solver call returns). Once it ended: its exit status, its standard output and its wall-clock time."""

    name: str
    argv: list[str]
    teardown: bool = True
    rc: int | None = None
    output: str = ""
    seconds: float = 0.0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _out: IO[bytes] | None = field(default=None, repr=False)
    _t0: float = field(default=0.0, repr=False)


def _child_setup() -> None:
    """In the child before exec: SIGTERM when this process dies (Linux ``PR_SET_PDEATHSIG``)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _start(part: Part) -> None:
    part._out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _finish or _stop, when the child ends)
    part._t0 = time.monotonic()
    part._proc = subprocess.Popen([sys.executable, "-m", "splicecheck", *part.argv], stdin=subprocess.DEVNULL,
                                  stdout=part._out, start_new_session=True, preexec_fn=_child_setup)


def _finish(part: Part) -> None:
    assert part._proc is not None and part._out is not None
    part.rc = part._proc.returncode
    part.seconds = time.monotonic() - part._t0
    part._out.seek(0)
    part.output = part._out.read().decode("utf-8", "replace")
    part._out.close()


def _stop(running: list[Part], signum: int) -> None:
    """Forward ``signum`` to the running children, give them :data:`STOP_WAIT` seconds, then kill the rest
    (their whole session) and remove the labs they leave."""
    for part in running:
        assert part._proc is not None
        with contextlib.suppress(ProcessLookupError):
            part._proc.send_signal(signum if part.teardown else signal.SIGKILL)
    deadline = time.monotonic() + STOP_WAIT
    while any(p._proc is not None and p._proc.poll() is None for p in running) and time.monotonic() < deadline:
        time.sleep(0.02)
    killed = False
    for part in running:
        assert part._proc is not None
        if part._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(part._proc.pid, signal.SIGKILL)
            part._proc.wait()
            killed = killed or part.teardown
        if part._out is not None:
            part._out.close()
    if killed:
        from .adapters.lab.topology import clean_stale  # only when a child could not tear its lab down

        with contextlib.suppress(Exception):
            clean_stale()


def run_parts(parts: Sequence[Part], jobs: int, done: Callable[[Part], None] | None = None) -> None:
    """Run ``parts`` as child processes, at most ``jobs`` at once, in the given order; ``done`` is called
    as each one ends (in the order they end). A signal (SIGINT/SIGTERM/SIGHUP, turned into an exception by
    the CLI's handlers) is forwarded to the running children before it propagates (module docstring)."""
    pending = list(parts)
    running: list[Part] = []
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                part = pending.pop(0)
                _start(part)
                running.append(part)
            for part in list(running):
                assert part._proc is not None
                if part._proc.poll() is not None:
                    running.remove(part)
                    _finish(part)
                    if done is not None:
                        done(part)
            if running:
                time.sleep(POLL)
    except BaseException as exc:
        name = interrupts.interruption(exc)
        _stop(running, signal.Signals[name] if name is not None else signal.SIGTERM)
        raise
