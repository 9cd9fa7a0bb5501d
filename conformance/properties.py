"""Property cases: Hypothesis searches of the relay, one per requirement group (IDs ``prop/<slug>``).

Theory of operation
-------------------
A property case is a :class:`~splicecheck.conformance.case.Case` whose ``execute`` hook runs a
Hypothesis search. Each example is an :class:`~splicecheck.conformance.plans.Example` — a
scenario with its bases near the wrap and a few segments relative to its splice — drawn so that it
only asks for features the adapter has. For each example a session is opened and the segments
injected exactly as for a named case (:func:`splicecheck.conformance.runner.execute` on a one-off
case); the example *fails* when a difference attributed to one of the case's requirements grades
FAIL or NON-STRICT. Hypothesis then shrinks it to a minimal counterexample, whose checks, steps and
description become the case's result, with ``splicecheck run --adapter A --case ID --seed N``.

Determinism: the search is seeded (``hypothesis.seed``) with the run's ``--seed``, or with a fresh
random seed that the result records; ``database=None``, so nothing from an earlier run is replayed
and the same seed draws the same examples and shrinks to the same counterexample. (Hypothesis also
mixes in integer constants found in the loaded modules, so reproduce with the same command, not from
a different program that has imported other code.)

Budget (:class:`Budget`): examples per property case, programs and steps per stateful case; defaults
below, overridden by ``SPLICECHECK_EXAMPLES``, ``SPLICECHECK_PROGRAMS``, ``SPLICECHECK_STEPS``. The
result's ``examples`` and ``first_failure`` say how many examples ran and which one failed first
(the mutant table's "examples needed to kill").
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, Phase, Verbosity, given, reject, seed, settings
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.errors import Unsatisfiable

try:  # private, pinned below (module_constants_ignored); a Hypothesis without them has nothing to pin
    from hypothesis.internal.conjecture import providers as _providers
    from hypothesis.internal.constants_ast import Constants as _Constants
except ImportError:  # pragma: no cover
    _providers = _Constants = None  # type: ignore[assignment,misc]

from ..reference.relay import SpliceState
from ..reference.segment import Segment
from ..reference.seqspace import MOD32
from . import interrupts
from .alternatives import FOREIGN, UNWALKABLE
from .case import Case, Injection
from .contract import Feature, UnsupportedError, drawable_avoid
from .coverage import Coverage, observing
from .diff import lines
from .expectations import Known, Sighting
from .plans import Example
from .results import CaseKind, CaseResult, Verdict, case_verdict
from .runner import Executed, execute, repro_command
from .strategies import WRAP, Focus, Numbers, examples

if TYPE_CHECKING:
    from .contract import Adapter

DEFAULT_EXAMPLES = 200
DEFAULT_PROGRAMS = 50
DEFAULT_STEPS = 30
DEFAULT_SHRINK_RUNS = 500
ENV_EXAMPLES, ENV_PROGRAMS, ENV_STEPS = "SPLICECHECK_EXAMPLES", "SPLICECHECK_PROGRAMS", "SPLICECHECK_STEPS"
ENV_SHRINK_RUNS = "SPLICECHECK_SHRINK_RUNS"

#: the grades that make an example a counterexample (a MUST or a SHOULD missed)
FAILING = (Verdict.FAIL, Verdict.NON_STRICT)


@dataclass(frozen=True, slots=True)
class Budget:
    """How hard a search tries. ``shrink=False`` stops at the first failing example (benchmarks).

    ``shrink_runs`` bounds shrinking by a number of runs, not by time, so that a seed always ends in
    the same counterexample: once spent, the search stops and the smallest counterexample found so far
    (the last that failed: every failing shrink candidate is smaller than the one before) is kept."""

    examples: int = DEFAULT_EXAMPLES  # property cases: examples per case
    programs: int = DEFAULT_PROGRAMS  # stateful cases: programs (rule sequences) per case
    steps: int = DEFAULT_STEPS  # stateful cases: rules per program
    shrink_runs: int = DEFAULT_SHRINK_RUNS  # runs of the IUT spent on shrinking, at most
    shrink: bool = True

    def __post_init__(self) -> None:
        if min(self.examples, self.programs, self.steps) < 1 or self.shrink_runs < 0:
            raise ValueError("a budget is at least one example, one program and one step")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Budget:
        """The defaults, overridden by ``SPLICECHECK_EXAMPLES``/``_PROGRAMS``/``_STEPS``/``_SHRINK_RUNS``."""
        env = os.environ if env is None else env

        def get(name: str, default: int) -> int:
            text = env.get(name, "").strip()
            try:
                return int(text) if text else default
            except ValueError:
                raise ValueError(f"{name} must be a positive integer, not {text!r}") from None

        return cls(get(ENV_EXAMPLES, DEFAULT_EXAMPLES), get(ENV_PROGRAMS, DEFAULT_PROGRAMS),
                   get(ENV_STEPS, DEFAULT_STEPS), get(ENV_SHRINK_RUNS, DEFAULT_SHRINK_RUNS))


def hypothesis_settings(max_examples: int, budget: Budget, steps: int | None = None,
                        database: ExampleDatabase | None = None) -> settings:
    """Settings for every splicecheck search: no database unless one is given (runs are reproduced from
    their seed; a campaign's database, :mod:`~splicecheck.conformance.campaign`, replays its saved
    failures first), no deadline (live IUTs are slow), quiet, one bug reported; only the speed health
    check silenced. ``steps``: the stateful step count."""
    phases: tuple[Phase, ...] = (Phase.generate, Phase.shrink) if budget.shrink else (Phase.generate,)
    if database is not None:
        phases = (Phase.reuse, *phases)
    return settings(database=database, deadline=None, max_examples=max_examples, phases=phases, derandomize=False,
                    report_multiple_bugs=False, print_blob=False, verbosity=Verbosity.quiet,
                    suppress_health_check=(HealthCheck.too_slow, HealthCheck.filter_too_much),
                    stateful_step_count=steps or budget.steps)


def fresh_seed() -> int:
    """A seed for a run that was given none (recorded in the result, so the run can be repeated)."""
    return random.SystemRandom().randrange(MOD32)


def adapter_spec(adapter: Adapter) -> str:
    """How the repro command names the adapter: its ``spec`` if it keeps the one it was loaded by,
    else its name (``execute`` hooks are not told the spec the run was started with)."""
    spec = getattr(adapter, "spec", None)
    return spec if isinstance(spec, str) and spec else adapter.name


# --------------------------------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------------------------------


class Counterexample(AssertionError):
    """Raised inside Hypothesis for a failing example (the message holds its differing fields)."""


class _Aborted(Exception):
    """Raised inside Hypothesis after a harness error, so the search stops without blaming the IUT."""


class _ShrinkBudgetSpent(KeyboardInterrupt):
    """Ends the search from inside a run once shrinking spent its budget. Hypothesis lets an interrupt
    through untouched; anything else raised early would make the run draw less than the run it was
    shrunk from, which Hypothesis rightly reports as inconsistent data generation. Caught at once by
    :func:`run_search` — it never reaches the user."""


@dataclass(slots=True)
class SearchTally:
    """What one search saw, filled in by the test body. After the search ``failure`` is the last
    failing run: Hypothesis' final replay of its minimal example, or, when the shrink budget ran out,
    the smallest failing candidate so far (each one the shrinker accepts is smaller than the last)."""

    shrink_runs: int = DEFAULT_SHRINK_RUNS
    examples: int = 0
    first_failure: int | None = None
    grade: Verdict | None = None  # the first counterexample's verdict
    shrinking: int = 0  # runs since the first failure
    checked: int = 0
    failure: tuple[str, Executed] | None = None  # (description, checks) of the minimal failing example
    evidence: Executed | None = None  # the first passing example with collateral differences
    error: BaseException | None = None  # the harness failed (re-raised after the search)
    flaky: bool = False  # the failure did not reproduce on replay (a non-deterministic IUT)
    rejected: int = 0  # examples the IUT could not set up (UnsupportedError): not judged, not counted
    unsupported: str = ""  # the last such reason
    coverage: Coverage = field(default_factory=Coverage)  # wrap regions the examples' segments reached
    stop_at: float | None = None  # time.monotonic() after which no new example starts (a campaign's end)
    #: a campaign's known findings (``fuzz --expect``): the result of a failing example (description,
    #: checks) is screened, and one whose findings are all masked is counted in ``masked``, not failed
    screen: Callable[[str, Executed], list[tuple[str, str, str, str]] | None] | None = None
    seed: int = 0  # the search's seed (recorded with a masked finding's first example)
    case: str = ""
    masked: dict[str, Sighting] = field(default_factory=dict)  # per finding ID: the examples that showed it
    masked_examples: int = 0  # examples (programs) that failed with masked findings only, while generating

    def begin(self) -> None:
        """At the start of every run: count it, or cut shrinking short (see :class:`Budget`)."""
        interrupts.check()  # a signal whose first raise was swallowed (a gc callback) stops the search here
        if self.error is not None:
            raise _Aborted
        if self.first_failure is None:
            if self.stop_at is not None and time.monotonic() >= self.stop_at:
                raise _ShrinkBudgetSpent  # the campaign's time is up: stop quietly (a shrink in progress ends)
            self.examples += 1
            return
        self.shrinking += 1
        if self.shrinking > self.shrink_runs:
            raise _ShrinkBudgetSpent

    def fails(self, verdict: Verdict) -> bool:
        """Whether an example graded ``verdict`` is a counterexample: a FAIL or NON-STRICT until the
        first one is found; then (while shrinking) one at least as bad as that first one, so that a
        MUST violation does not shrink into a mere SHOULD one."""
        if self.grade is not None:
            return verdict.rank >= self.grade.rank
        return verdict in FAILING

    def expected(self, description: str, ex: Executed, counted: set[str] | None = None) -> bool:
        """Whether a failing example shows only known findings (``screen``): then it is not a failure — the
        search goes on, and while it generates (not while it shrinks) each of its findings is counted once
        per example (``counted``: the IDs this example, a stateful program, was already counted under)."""
        if self.screen is None:
            return False
        masked = self.screen(description, ex)
        if masked is None:
            return False
        if self.first_failure is None:
            if not counted:  # a program is counted at its first masked step
                self.masked_examples += 1
            for fid, verdict, title_, klass in masked:
                if counted is not None:
                    if fid in counted:
                        continue
                    counted.add(fid)
                seen = self.masked.get(fid)
                if seen is None:
                    self.masked[fid] = Sighting(fid, verdict, title_, klass, self.case, 1, self.seed, description)
                else:
                    seen.examples += 1
        return True

    def fail(self, verdict: Verdict, description: str, ex: Executed, message: str) -> Counterexample:
        if self.first_failure is None:
            self.first_failure, self.grade = self.examples, verdict
        self.failure = (description, ex)
        return Counterexample(message)

    def judge(self, reqs: list[str], description: str, ex: Executed) -> None:
        """Record one example's checks; raise :class:`Counterexample` if it fails."""
        self.checked += ex.checked
        bad = ex.differing()
        verdict = case_verdict(reqs, bad)
        if self.fails(verdict) and not self.expected(description, ex):
            raise self.fail(verdict, description, ex, "\n".join(lines([d for d in bad if d.req in reqs])))
        if bad and self.evidence is None:
            self.evidence = ex

    def harness(self, exc: BaseException) -> _Aborted:
        self.error = exc
        return _Aborted()


@contextlib.contextmanager
def module_constants_ignored() -> Iterator[None]:
    """Hypothesis mixes into its draws, now and then, constants it mines from the source of every *local*
    module loaded so far (``hypothesis.internal.conjecture.providers._get_local_constants``; local: not
    under site-packages, as an editable install of this project is). Which modules a command happens to
    have imported would then decide the examples a seed gives: a case's repro line could shrink to another
    counterexample than the run it came from, and a change to what the command line imports changed the
    published examples. Inside this block that pool is empty (Hypothesis' own global constants stay), so a
    seed gives the same examples from any entry point — ``splicecheck run``, the main job, the pytest plugin,
    a campaign. A private hook: where a Hypothesis version has none, there is nothing to pin."""
    hook = getattr(_providers, "_get_local_constants", None)
    cache = getattr(_providers, "CONSTANTS_CACHE", None)
    if hook is None or cache is None or _Constants is None:
        yield
        return
    empty = _Constants()
    cache.cache.clear()  # permitted-value tuples computed with whatever pool came before
    _providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        _providers._get_local_constants = hook
        cache.cache.clear()


def run_search(test: Callable[[], None], tally: SearchTally) -> SearchTally:
    """Run a prepared Hypothesis test; sort its outcome into the tally. Harness errors are re-raised
    (the runner grades them ERROR or UNSUPPORTED), counterexamples are not."""
    try:
        with interrupts.hypothesis_scope(), module_constants_ignored():  # a signal stops the search, not fails it
            test()
    except (Counterexample, _Aborted, _ShrinkBudgetSpent):
        pass
    except Unsatisfiable as exc:  # every drawn example needed something the IUT cannot do
        raise UnsupportedError(f"no drawn example could be set up ({tally.rejected} tried): {tally.unsupported}") \
            from exc
    except Exception:  # Hypothesis' own (a flaky failure, say): keep what was seen if it was a failure
        if tally.failure is None and tally.error is None:
            raise
        tally.flaky = tally.failure is not None
    if tally.error is not None:
        raise tally.error
    return tally


#: the legitimate outcomes of a drawn example besides the model's, each step by step
EXAMPLE_ALTERNATIVES = FOREIGN + UNWALKABLE


def example_case(case: Case, example: Example, coverage: Coverage | None = None) -> Case:
    """The one-off named case of one example (the runner's ``execute`` runs it); with ``coverage``, its
    segments' wrap regions are counted there as they are built. Its foreign segments (the strategies draw
    some) may be answered by the proxy host's own TCP, as in the named DIR-ONLY cases (``FOREIGN``), and its
    segments with an option area that cannot be walked relayed, as in the named OPT-PASS ones (``UNWALKABLE``)."""
    if coverage is None:
        return dataclasses.replace(case, scenario=example.scenario, build=example.build, execute=None,
                                   alternatives=EXAMPLE_ALTERNATIVES)
    counter = coverage

    def counted(state: SpliceState) -> list[Injection | Segment]:
        return observing(counter, example.build(state), state)

    return dataclasses.replace(case, scenario=example.scenario, build=counted, execute=None,
                               alternatives=EXAMPLE_ALTERNATIVES)


def search(adapter: Adapter, case: Case, strategy: st.SearchStrategy[Example], seed_: int,
           budget: Budget, database: ExampleDatabase | None = None, stop_at: float | None = None,
           known: Known | None = None, tallies: list[SearchTally] | None = None) -> SearchTally:
    """Run ``case``'s property on examples drawn from ``strategy`` against ``adapter``; the tally's
    ``coverage`` counts the wrap regions its segments reached. With ``database``, the failures saved
    there for this adapter and case are replayed first and new ones saved (:func:`database_key`). With
    ``known`` (a campaign's ``--expect``), an example showing only masked findings is counted in the tally's
    ``masked`` and the search goes on; the failure it finds and shrinks is one with an unmasked finding.
    ``tallies``: the tally is appended there before the search starts (what a campaign counts of a search
    that a harness fault ended, when nothing is returned)."""
    tally = SearchTally(budget.shrink_runs, stop_at=stop_at, seed=seed_, case=case.id,
                        screen=None if known is None else screening(known, case, adapter, seed_))
    if tallies is not None:
        tallies.append(tally)
    reqs = list(case.reqs)

    def check(example: Example) -> None:
        tally.begin()
        try:
            ex = execute(adapter, example_case(case, example, tally.coverage))
        except UnsupportedError as exc:  # this example only (a scenario the IUT cannot make): draw another
            tally.rejected += 1
            tally.unsupported = str(exc)
            if tally.first_failure is None:
                tally.examples -= 1
            reject()
        except Exception as exc:
            raise tally.harness(exc) from exc
        tally.judge(reqs, example.describe(), ex)

    test = hypothesis_settings(budget.examples, budget, database=database)(seed(seed_)(given(strategy)(check)))
    test._hypothesis_internal_database_key = database_key(adapter, case)  # type: ignore[attr-defined]
    return run_search(test, tally)


def database_key(adapter: Adapter, case: Case) -> bytes:
    """Where a property's failures are saved in an example database: one key per adapter and case (the
    search's test function is the same for every case, so Hypothesis' own key would mix them)."""
    return f"splicecheck:{adapter_spec(adapter)}:{case.id}".encode()


def example_result(case: Case, adapter: Adapter, seed_: int, ex: Executed, **more: object) -> CaseResult:
    """The result of ``case`` whose example had the checks ``ex``: what a run records for its minimal
    counterexample (:func:`conclude`), and what a campaign with known findings screens each failing example by
    (:func:`screening`); ``more``: the search's other fields (its size, coverage, reason)."""
    return _result(case, adapter, seed_, None, ex, **more)


def _result(case: Case, adapter: Adapter, seed_: int, verdict: Verdict | None, ex: Executed | None,
            **more: object) -> CaseResult:
    """``case``'s result with the checks and steps of ``ex`` (none without it), graded ``verdict`` or, if
    None, by its differing checks."""
    bad = ex.differing() if ex else []
    if verdict is None:
        verdict = case_verdict(list(case.reqs), bad)
    return CaseResult(case=case.id, reqs=list(case.reqs), verdict=verdict,
                      description=case.description, expectation=case.expectation, seed=seed_, kind=case.kind,
                      repro=repro_command(adapter_spec(adapter), case.id, seed_), diffs=bad,
                      steps=ex.steps if ex else [], geometry=ex.geometry if ex else [], **more)  # type: ignore[arg-type]


def screening(known: Known, case: Case, adapter: Adapter, seed_: int
              ) -> Callable[[str, Executed], list[tuple[str, str, str, str]] | None]:
    """A tally's ``screen`` for a campaign with known findings: a failing example's findings, computed from its
    :func:`example_result` as a run's are, as (ID, verdict, title, class) when every one is masked, else None."""
    def screen(description: str, ex: Executed) -> list[tuple[str, str, str, str]] | None:
        masked = known.screen(example_result(case, adapter, seed_, ex))
        return None if masked is None else [(f.id, f.verdict, f.title, e.klass) for f, e in masked]

    return screen


def conclude(case: Case, adapter: Adapter, tally: SearchTally, seed_: int, budget_size: int, started: float,
             unit: str = "example") -> CaseResult:
    """The case's result: the minimal counterexample's checks and steps, or a PASS with the search's
    size (and the first passing example with collateral differences as evidence)."""
    searched: dict[str, object] = {"checked": tally.checked, "examples": tally.examples,
                                   "first_failure": tally.first_failure, "coverage": tally.coverage.as_dict()}
    duration = time.perf_counter() - started
    if tally.failure is not None:
        description, ex = tally.failure
        flaky = " (it did not fail again when replayed: the IUT is not deterministic)" if tally.flaky else ""
        reason = (f"falsified by {unit} {tally.first_failure} of at most {budget_size} (seed {seed_}){flaky}; "
                  f"minimal {unit}: {description}")
        return example_result(case, adapter, seed_, ex, reason=reason, duration=duration, **searched)
    return _result(case, adapter, seed_, Verdict.PASS, tally.evidence, duration=duration, **searched)


# --------------------------------------------------------------------------------------------------
# The properties
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Property:
    """One property case: the requirements it targets and what its examples concentrate on."""

    slug: str
    reqs: tuple[str, ...]
    description: str
    expectation: str
    focus: Focus = field(default_factory=Focus)
    needs: frozenset[Feature] = frozenset()

    @property
    def id(self) -> str:
        return f"prop/{self.slug}"

    def strategy(self, avoid: frozenset[Feature] = frozenset(), numbers: Numbers = WRAP) -> st.SearchStrategy[Example]:
        return examples(self.focus, avoid, numbers)

    def case(self) -> Case:
        return Case(self.id, self.reqs, self.description, self.expectation, build=_searched, needs=self.needs,
                    kind=CaseKind.PROPERTY, execute=partial(execute_property, self))


def _searched(state: SpliceState) -> list[Injection]:
    """Property cases have no fixed injections: their examples are drawn by the search."""
    return []


def execute_property(prop: Property, adapter: Adapter, case: Case, seed_: int | None) -> CaseResult:
    """The ``execute`` hook of a property case."""
    started = time.perf_counter()
    seed_ = fresh_seed() if seed_ is None else seed_
    budget = Budget.from_env()
    from .campaign import database_from_env  # the campaign module imports this one

    tally = search(adapter, case, prop.strategy(drawable_avoid(adapter)), seed_, budget, database_from_env())
    return conclude(case, adapter, tally, seed_, budget.examples, started)


PROPERTIES: tuple[Property, ...] = (
    Property("seq-ack", ("SEQ-MAP", "ACK-MAP", "ACK-NOACK"),
             "segments at and above the base, near the wrap, with any flags and ack numbers",
             "seq and ack mapped modulo 2^32; the ack field of a segment without ACK unchanged",
             Focus(below=False, urgent=0, ts=1, sack=0, odd_options=0, flags=4, windows=1)),
    Property("trim", ("TRIM-REST", "TRIM-SOUND", "TRIM-COMPLETE", "TRIM-BELOW", "SEQ-MAP", "PAYLOAD-KEEP"),
             "segments straddling, ending at, below and 2^31 away from splice_irs, which sits near the wrap",
             "exactly the bytes before splice_irs are trimmed (Linux before()), the rest relayed from the base",
             Focus(below=True, urgent=0, ts=1, sack=0, odd_options=0, flags=3, windows=0)),
    Property("urgent", ("URG-KEEP", "URG-SHIFT", "URG-CLEAR"),
             "URG segments, some straddling the base, with pointers inside and outside the trimmed prefix",
             "the pointer is kept, reduced by the trimmed amount, or cleared with URG when its octet went",
             Focus(below=True, urgent=8, ts=1, sack=0, odd_options=0, flags=2, windows=0)),
    Property("timestamps", ("TS-VAL", "TS-ECR", "TS-STRIP"),
             "Timestamps options (one or two) with values near the last ones seen and 2^31 away, any negotiation",
             "TSval and TSecr mapped by the §3.4.1 equations modulo 2^32, or stripped unless both legs use TS",
             Focus(below=False, urgent=0, ts=7, sack=1, odd_options=1, flags=1, windows=0)),
    Property("sack", ("SACK-MAP", "SACK-CLIP", "SACK-STRIP"),
             "SACK blocks straddling, below and far from splice_iss, any negotiation",
             "edges mapped like acks, blocks clipped at splice_iss or dropped, the option stripped when unused",
             Focus(below=False, urgent=0, ts=2, sack=7, odd_options=1, flags=1, windows=0)),
    Property("window", ("WS-SAFE", "WS-EXACT", "WS-STRIP"),
             "windows from 0 to 65535 between legs with any window scales, stray Window Scale options",
             "the real window rescaled, rounded down and clamped; Window Scale stripped from non-SYNs",
             Focus(below=False, urgent=0, ts=1, sack=0, odd_options=4, flags=1, windows=8)),
    Property("options", ("OPT-PASS", "TS-STRIP", "SACK-STRIP", "WS-STRIP", "STRIP-STYLE"),
             "option mixes: MSS, WS, SACK-permitted, unknown kinds, known kinds at wrong lengths, malformed areas",
             "unmapped options passed unchanged, unusable ones stripped, malformed segments not relayed",
             Focus(below=False, urgent=0, ts=3, sack=3, odd_options=7, malformed=3, flags=1, windows=0)),
    Property("checksums", ("TCPCSUM-VALID", "IPCSUM-VALID", "CSUM-FAILSAFE", "CSUM-CORRUPT-RELAY"),
             "good and corrupted TCP/IP checksums, payloads tuned to relay with checksum 0x0000, odd-length trims, "
             "IPv4 options",
             "valid checksums stay valid after every rewrite, wrong ones stay wrong",
             Focus(below=True, urgent=1, ts=2, sack=2, odd_options=2, corrupt=3, ip_options=2, flags=2, windows=1,
                   csum_corner=4)),
)

BY_SLUG: dict[str, Property] = {p.slug: p for p in PROPERTIES}

CASES: list[Case] = [p.case() for p in PROPERTIES]
