"""Broken adapters for tests/test_robustness.py: the reference model, failing on purpose where ARG says.

    tests.robust_adapters:Broken:init        __init__ raises
    tests.robust_adapters:Broken:info        info() raises
    tests.robust_adapters:Broken:missing     missing() raises
    tests.robust_adapters:Broken:close       close() raises (after a normal run)
    tests.robust_adapters:Broken:exit        inject() raises SystemExit(3)
    tests.robust_adapters:Broken:sigterm     the 3rd inject() sends this process SIGTERM (a signal mid-search)
    tests.robust_adapters:Broken:gc-sigterm  the same, delivered while a gc callback runs (the raise is swallowed)
    tests.robust_adapters:Broken:setup       every open() raises HarnessError (a box whose set-up always fails)
    tests.robust_adapters:Broken:setup-flaky every 25th open() raises HarnessError (a set-up that fails now and then)
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from splicecheck.adapters.reference import ReferenceAdapter, ReferenceSession
from splicecheck.conformance.contract import HarnessError, IutInfo, Scenario


class _Session:
    def __init__(self, inner: ReferenceSession, owner: Broken) -> None:
        self._inner = inner
        self._owner = owner
        self.state = inner.state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def inject(self, *args: Any, **kwargs: Any) -> Any:
        self._owner.injections += 1
        if self._owner.mode == "exit":
            raise SystemExit(3)
        if self._owner.mode in ("sigterm", "gc-sigterm") and self._owner.injections == 3:
            if self._owner.mode == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                def kill_in_gc(phase: str, info: dict[str, int]) -> None:
                    gc.callbacks.remove(kill_in_gc)
                    os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here; Python ignores its raise

                gc.callbacks.append(kill_in_gc)
                gc.collect()
        return self._inner.inject(*args, **kwargs)


class Broken(ReferenceAdapter):
    name = "broken"

    def __init__(self, arg: str = "") -> None:
        if arg == "init":
            raise RuntimeError("cannot start the box")
        super().__init__()
        self.mode = arg
        self.injections = 0

    def info(self) -> IutInfo:
        if self.mode == "info":
            raise RuntimeError("no info today")
        return IutInfo(self.name, "0", "the reference model, broken on purpose")

    def missing(self) -> list[str]:
        if self.mode == "missing":
            raise OSError(5, "Input/output error")
        return []

    @contextmanager
    def open(self, scenario: Scenario) -> Iterator[_Session]:  # type: ignore[override]
        self.opened = getattr(self, "opened", 0) + 1
        if self.mode == "setup" or (self.mode == "setup-flaky" and self.opened % 25 == 0):
            raise HarnessError(f"set-up {self.opened}: no SYN-ACK on the client leg\nclient SYN: sent ...")
        with super().open(scenario) as inner:
            yield _Session(inner, self)

    def close(self) -> None:
        if self.mode == "close":
            raise RuntimeError("teardown failed")
