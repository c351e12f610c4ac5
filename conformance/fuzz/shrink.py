"""Shrinking a failing case with Hypothesis's shrinker, QEMU as the test.

Every case keeps the Hypothesis *choice sequence* it was drawn from
(:attr:`~conformance.fuzz.generate.Case.choices`).  :func:`shrink` hands that sequence
to Hypothesis's engine (``ConjectureRunner``, the one ``@given`` and ``find()`` run on)
as a known-interesting example and lets its shrinker minimise it.  The test function
replays a candidate sequence through the same strategy, runs the resulting case on the
real QEMU (``check``: through the campaign's :class:`~conformance.runner.Runner`) and
calls it interesting only if it shows the *same signature* (same observable, same
deciding rule, same normalised message).  Because the strategy draws buses as indexes
and every list shrinks toward empty and every choice toward its simplest value, the
result is a short command line with simple values.

The engine's example database is used as Hypothesis uses it: with ``database`` set,
every interesting sequence is saved under the bucket's key, so a later campaign with
the same ``--out`` replays it first.

``ConjectureRunner``/``ConjectureData`` are Hypothesis internals (public API has no
"shrink from this example" entry point); this module is the only place that touches
the engine, pinned to the Hypothesis major version in pyproject.toml.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from random import Random

from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis import settings as Settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.internal.conjecture.data import ConjectureData, Status
from hypothesis.internal.conjecture.engine import ConjectureRunner
from hypothesis.internal.escalation import InterestingOrigin

from conformance.fuzz.generate import Case, Domain, cases, replay
from conformance.fuzz.triage import Signature


class _SameSignature(Exception):
    """The interesting origin of every shrink: "shows the target signature"."""


_ORIGIN = InterestingOrigin.from_exception(_SameSignature())


@dataclass
class ShrinkResult:
    case: Case
    calls: int  # QEMU runs the shrinker asked for
    seconds: float
    reproduced: bool  # the original case showed the signature again
    complete: bool  # the shrinker finished before the budget ran out


def shrink(dom: Domain, case: Case, target: Signature,
           check: Callable[[Case], Signature | None], budget_s: float = 120.0,
           database: str | None = None, seed: int = 0) -> ShrinkResult:
    """The smallest case Hypothesis finds that still shows ``target``."""
    t0 = time.monotonic()
    deadline = t0 + budget_s
    calls = 0
    strategy = cases(dom)
    over = False

    def test_function(data: ConjectureData) -> None:
        nonlocal calls, over
        c = data.draw(strategy)
        if time.monotonic() > deadline:
            over = True
            data.mark_invalid("shrink budget spent")
        calls += 1
        if check(c) == target:
            data.mark_interesting(_ORIGIN)

    settings = Settings(
        database=DirectoryBasedExampleDatabase(database) if database else None,
        phases=[Phase.shrink], deadline=None, verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck), max_examples=1_000_000)
    runner = ConjectureRunner(test_function, settings=settings, random=Random(seed),
                              database_key=f"smmuv3-fuzz:{dom.tier}:{target.line()}".encode())
    first = runner.cached_test_function(list(case.choices))
    if getattr(first, "status", None) != Status.INTERESTING:
        return ShrinkResult(case, calls, time.monotonic() - t0, reproduced=False,
                            complete=True)
    runner.shrink_interesting_test_cases()
    best = runner.interesting_test_cases.get(_ORIGIN)
    got = replay(dom, best.choices) if best is not None else None
    return ShrinkResult(got or case, calls, time.monotonic() - t0, reproduced=True,
                        complete=not over)
