"""Fuzz campaigns: the property and stateful searches run for a length of time, by several workers,
sharing one Hypothesis example database (``splicecheck fuzz``).

Theory of operation
-------------------
The engine is Hypothesis itself, the same searches a run makes (:func:`~splicecheck.conformance.
properties.search`, :func:`~splicecheck.conformance.stateful.search_machine`), given a time budget
instead of an example budget: each worker takes the targets in turn (every property case, then the
stateful ones the adapter supports), runs one search of ``CHUNK`` examples with a fresh seed, and
goes on until the time is up or a failure is found. A failing example is shrunk as in a run and
Hypothesis saves it — the shrunk example included — in the shared **example database** under a key
per adapter and case (:func:`~splicecheck.conformance.properties.database_key`); every search, in
any worker on any machine, replays the database's examples for its key before generating new ones.
``splicecheck run`` does the same when ``SPLICECHECK_DB`` names the database, so a failure once
found is replayed first by the next run.

Databases (:func:`open_database`): a directory (``dir:PATH`` or a plain path) for the workers of one
machine; Redis (``redis://host:port/N``, Hypothesis' ``RedisExampleDatabase``) for workers on
several machines.

Known findings (``splicecheck fuzz --expect FILE``, :class:`~splicecheck.conformance.expectations.Known`):
against an IUT with known bugs every search would end within a few examples on one of them. With an
expectations file, a failing example is first graded into findings exactly as a run's result is
(:func:`~splicecheck.conformance.properties.example_result`, :func:`~splicecheck.conformance.findings.
findings`); when the file masks every one of them (``expectations`` module docstring: by finding ID,
signature or requirement, not by case) the example is counted per finding (:class:`~splicecheck.
conformance.expectations.Sighting`) and the search goes on. An example with any unmasked finding is a
failure as without the file, and the shrink predicate is the same (an unmasked finding, as bad a verdict),
so the minimal example does not fall back onto a known finding. Hypothesis forgets a saved example that
no longer fails; a masked one still fails the IUT, so with known findings the campaign's database is
:class:`KeepFound`: nothing that was in it before is deleted (``splicecheck run`` still replays it).

Why not HypoFuzz: it schedules pytest-collected Hypothesis tests, while these searches carry their
own grading, shrink budget and coverage (:class:`~splicecheck.conformance.properties.SearchTally`)
that a run's results come from; driving them directly keeps one engine for runs and campaigns, and
the shared database is the same Hypothesis database HypoFuzz would use.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from .case import Case
from .contract import Adapter, UnsupportedError, drawable_avoid
from .coverage import Coverage
from .expectations import Known, Sighting
from .interrupts import interruption
from .properties import PROPERTIES, Budget, Property, SearchTally, example_result, search
from .results import case_verdict
from .runner import fault_reason
from .stateful import CASES as STATEFUL_CASES
from .stateful import LifecycleAgreement, RelayAgreement, SpliceAgreement, search_machine

ENV_DB = "SPLICECHECK_DB"
CHUNK = 200  # examples (programs) per search before the worker moves to the next target
#: searches of one target in a row that end in a harness or adapter fault before it leaves the rotation
MAX_FAULTS = 3


class BadDatabase(ValueError):
    """A database URL that names no database splicecheck can open (usage error, exit 2)."""


def open_database(url: str) -> ExampleDatabase:
    """The example database ``url`` names: ``redis://…`` (a Redis server), ``dir:PATH`` or ``PATH`` (a
    directory, created if missing)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError as exc:  # pragma: no cover - redis is a declared dependency
            raise BadDatabase(f"a Redis database needs the redis package: {exc}") from None
        try:
            client = redis.Redis.from_url(url)
            client.ping()
        except (redis.RedisError, ValueError) as exc:
            raise BadDatabase(f"cannot reach the Redis database {url}: {exc}") from None
        return RedisExampleDatabase(client, key_prefix=b"splicecheck:")
    path = url.removeprefix("dir:")
    if not path:
        raise BadDatabase("an empty database path")
    if os.path.exists(path) and not os.path.isdir(path):
        raise BadDatabase(f"the database path {path} is not a directory")
    return DirectoryBasedExampleDatabase(path)


class KeepFound(ExampleDatabase):
    """``inner``, except that what was in it before (what this process fetched and did not save itself) is
    never deleted: a campaign with known findings does not make Hypothesis forget a saved failure it now
    goes on past (module docstring). Moves (a replayed failure shrunk further) go through."""

    def __init__(self, inner: ExampleDatabase) -> None:
        super().__init__()
        self.inner = inner
        self.found: set[tuple[bytes, bytes]] = set()
        self.saved: set[tuple[bytes, bytes]] = set()

    def __repr__(self) -> str:
        return f"KeepFound({self.inner!r})"

    def fetch(self, key: bytes) -> Iterable[bytes]:
        for value in self.inner.fetch(key):
            if (key, value) not in self.saved:
                self.found.add((key, value))
            yield value

    def save(self, key: bytes, value: bytes) -> None:
        self.saved.add((key, value))
        self.inner.save(key, value)

    def delete(self, key: bytes, value: bytes) -> None:
        if (key, value) not in self.found:
            self.inner.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.saved.add((dest, value))
        self.inner.move(src, dest, value)


def database_from_env() -> ExampleDatabase | None:
    """The database ``SPLICECHECK_DB`` names (replayed first by a run), or None."""
    url = os.environ.get(ENV_DB, "").strip()
    return open_database(url) if url else None


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One search a campaign runs over and over: a property or a stateful case."""

    case: Case
    run: Run


#: one search of a target: adapter, seed, budget, database, deadline, known findings (or None), and where its
#: tally goes as soon as it is made (or None)
Run = Callable[[Adapter, int, Budget, ExampleDatabase | None, float, Known | None, list[SearchTally] | None],
               SearchTally]


def _property_run(prop: Property) -> Run:
    def run(a: Adapter, seed_: int, budget: Budget, db: ExampleDatabase | None, stop_at: float,
            known: Known | None = None, tallies: list[SearchTally] | None = None) -> SearchTally:
        return search(a, prop.case(), prop.strategy(drawable_avoid(a)), seed_, budget, db, stop_at, known, tallies)

    return run


def _machine_run(case: Case, machine: type[SpliceAgreement]) -> Run:
    def run(a: Adapter, seed_: int, budget: Budget, db: ExampleDatabase | None, stop_at: float,
            known: Known | None = None, tallies: list[SearchTally] | None = None) -> SearchTally:
        return search_machine(a, case, machine, seed_, budget, db, stop_at, known, tallies)[0]

    return run


def targets(adapter: Adapter) -> list[Target]:
    """Every property case, then the stateful cases ``adapter`` can run (it lacks none of their needs)."""
    out = [Target(p.case(), _property_run(p)) for p in PROPERTIES if not p.needs & adapter.unsupported]
    machines: dict[str, type[SpliceAgreement]] = {"state/relay": RelayAgreement, "state/lifecycle": LifecycleAgreement}
    out += [Target(c, _machine_run(c, machines[c.id])) for c in STATEFUL_CASES
            if c.id in machines and not c.all_needs() & adapter.unsupported]
    return out


# --------------------------------------------------------------------------------------------------
# One worker
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Found:
    """A failure a campaign found: the case, its verdict, the minimal example and the seed."""

    case: str
    verdict: str
    description: str
    seed: int
    first_failure: int | None
    replayed: bool  # the very first example of its search failed: most likely a saved one replayed
    #: with known findings: the minimal example's findings as (ID, verdict, title, classification), the
    #: classification ``unexpected (WHY)`` or ``expected (CLASS)`` (every finding shown, then classified)
    findings: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Progress:
    """What a worker reports after each search (or at the end)."""

    worker: int
    examples: int
    coverage: dict[str, int] = field(default_factory=dict)
    found: Found | None = None
    done: bool = False
    masked: list[Sighting] = field(default_factory=list)  # findings the search went on past (fuzz --expect)
    expected: int = 0  # examples (programs) that showed only those
    #: harness or adapter faults that ended a search (graded ERROR): a first line, then the rest of the message
    faults: list[str] = field(default_factory=list)


def work(adapter: Adapter, worker: int, stop_at: float, db: ExampleDatabase | None,
         report: Callable[[Progress], None], seed_: int | None = None, chunk: int = CHUNK,
         only: list[str] | None = None, known: Known | None = None) -> Found | None:
    """Run the targets in turn until ``stop_at`` (``time.monotonic()``) or a failure; report after each
    search. A target whose search raises :class:`UnsupportedError` (the adapter cannot set it up at
    all, e.g. a mutant without a session before the splice) leaves the rotation. With ``known``, examples
    showing only masked findings are counted and the search goes on (module docstring). Returns the
    failure found, if any."""
    if known is not None and db is not None and not isinstance(db, KeepFound):
        db = KeepFound(db)
    rng = random.Random(seed_)
    todo = [t for t in targets(adapter) if not only or t.case.id in only]
    if not todo:
        report(Progress(worker, 0, done=True))
        return None
    budget = Budget(examples=chunk, programs=max(1, chunk // 10))
    faults: dict[str, int] = {}  # per target: searches in a row that ended in a fault
    i = 0
    while todo and time.monotonic() < stop_at:
        target = todo[i % len(todo)]
        s = rng.randrange(1 << 32)
        started: list[SearchTally] = []
        try:
            tally = target.run(adapter, s, budget, db, stop_at, known, started)
        except UnsupportedError:  # the adapter cannot set this target up at all (a run grades it UNSUPPORTED)
            todo.remove(target)
            continue
        except (Exception, SystemExit) as exc:  # a harness or adapter fault (an adapter's sys.exit included): a
            if interruption(exc) is not None:  # run grades the case ERROR and goes on, and so does this; a signal
                raise  # (SIGTERM/SIGHUP arrive as a SystemExit) stops the campaign
            n = faults[target.case.id] = faults.get(target.case.id, 0) + 1
            reason = fault_reason(exc).splitlines() or [type(exc).__name__]
            text = f"{target.case.id} seed {s}: {reason[0]}"  # as a run's ERROR says it
            if n >= MAX_FAULTS:
                todo.remove(target)
                text += f" ({n} searches in a row: {target.case.id} leaves the rotation)"
            else:
                i += 1
            text = "\n".join([text, *reason[1:]])  # the rest (an adapter's exchange log, say) for the fault log
            # the examples judged before a fault in an example's check count: not the one it ended (counted when
            # it began, before any failure), nor the wrap regions (that one's segments were counted as they were
            # built). A fault that escaped the check (a SystemExit through Hypothesis, which may run the example
            # again) leaves the count unknown: none is added
            seen = started[0] if started else None
            judged = 0 if seen is None or seen.error is None else \
                max(0, seen.examples - (seen.first_failure is None))
            report(Progress(worker, judged, faults=[text]))
            continue
        faults.pop(target.case.id, None)
        i += 1
        found = None
        if tally.failure is not None:
            description, ex = tally.failure
            verdict = case_verdict(list(target.case.reqs), ex.differing())
            found = Found(target.case.id, verdict.value, description, s, tally.first_failure,
                          tally.first_failure == 1)
            if known is not None:
                found.findings = [(f.id, f.verdict, f.title,
                                   f"unexpected ({why})" if e is None else f"expected ({e.klass})")
                                  for f, e, why in known.classify(example_result(target.case, adapter, s, ex))]
        report(Progress(worker, tally.examples, dict(tally.coverage.hits), found, masked=list(tally.masked.values()),
                        expected=tally.masked_examples))
        if found is not None:
            report(Progress(worker, 0, done=True))
            return found
    report(Progress(worker, 0, done=True))
    return None


@dataclass(slots=True)
class Totals:
    """A campaign's running totals, merged from its workers' reports."""

    started: float = field(default_factory=time.monotonic)
    examples: int = 0
    coverage: Coverage = field(default_factory=Coverage)
    found: list[Found] = field(default_factory=list)
    masked: dict[str, Sighting] = field(default_factory=dict)  # per finding ID, first reported first
    expected: int = 0  # examples that showed only known findings (gone on past)
    expecting: bool = False  # the campaign has known findings: the line counts the examples gone on past
    faults: list[str] = field(default_factory=list)  # searches a harness or adapter fault ended

    def add(self, p: Progress) -> None:
        self.examples += p.examples
        self.coverage.merge(p.coverage)
        self.expected += p.expected
        self.faults += p.faults
        if p.found is not None:
            self.found.append(p.found)
        for m in p.masked:
            seen = self.masked.get(m.finding)
            if seen is None:
                self.masked[m.finding] = dataclasses.replace(m)
            else:
                seen.merge(m)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        n = len(self.masked)
        known = (f"  {self.expected} expected ({n} known finding{'s' if n != 1 else ''})" if self.expecting else "")
        return (f"{elapsed:6.0f} s  {self.examples} examples ({self.examples / elapsed:.0f}/s)  "
                f"{self.coverage.summary()} hit  {len(self.found)} failure{'s' if len(self.found) != 1 else ''}"
                f"{known}" + (f"  {len(self.faults)} harness fault{'s' if len(self.faults) != 1 else ''}"
                              if self.faults else ""))


__all__ = ["CHUNK", "ENV_DB", "MAX_FAULTS", "BadDatabase", "Found", "KeepFound", "Progress", "Target", "Totals",
           "database_from_env", "open_database", "targets", "work"]
