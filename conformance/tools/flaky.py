"""``--repeat N``: run every scenario N times, each with a fresh QEMU, and find flakes.

A conformance verdict must be a function of the QEMU build and the scenario alone.  A
scenario whose verdict changes between identical runs is *flaky*: a race in QEMU (a
finding in itself), a host problem, or a harness bug.  Either way its verdict cannot be
trusted for CI or ``git bisect``, so the run fails and the flake is named.

Two runs agree when their :func:`signature` agrees: the status, plus for a difference
the field paths and observed values (a verdict that stays ``nonconformance`` but for a
different field has changed too).  Durations, transcripts and timestamps are ignored.

Usage from Python::

    rounds = await run_repeated(scenarios, runner, repeat=5, jobs=2)
    for f in find_flaky(rounds):
        print(f.line())
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from catalogue.scenario import Scenario
from conformance.result import Verdict
from conformance.runner import Runner, run_scenarios


def signature(v: Verdict) -> str:
    """What must stay the same between identical runs of one scenario."""
    diffs = sorted((str(d.get("path")), json.dumps(d.get("observed"), sort_keys=True,
                                                   default=str))
                   for d in v.differences)
    return json.dumps([v.status, diffs])


@dataclass(frozen=True)
class Flake:
    """One scenario whose verdict changed across rounds."""

    scenario: str
    tier: str
    statuses: tuple[str, ...]  # one per round, in order
    reasons: tuple[str, ...]

    def line(self) -> str:
        seq = ", ".join(self.statuses)
        return f"flaky {self.tier:<7} {self.scenario} ({len(self.statuses)} runs: {seq})"


def find_flaky(rounds: Sequence[Sequence[Verdict]]) -> list[Flake]:
    """Scenarios (by tier and ref) whose :func:`signature` is not the same in all rounds."""
    by_key: dict[tuple[str, str], list[Verdict]] = {}
    for r in rounds:
        for v in r:
            by_key.setdefault((v.tier, v.scenario), []).append(v)
    out: list[Flake] = []
    for (tier, ref), vs in by_key.items():
        if len({signature(v) for v in vs}) > 1:
            out.append(Flake(ref, tier, tuple(v.status for v in vs),
                             tuple(v.reason for v in vs)))
    return out


def summary_line(rounds: Sequence[Sequence[Verdict]], flakes: Iterable[Flake]) -> str:
    n = len(list(flakes))
    per = len(rounds[0]) if rounds else 0
    return (f"repeat: {len(rounds)} rounds x {per} scenario run(s), fresh QEMU each; "
            f"{n} scenario(s) changed verdict")


async def run_repeated(scenarios: Sequence[Scenario], runner: Runner, repeat: int,
                       jobs: int = 1,
                       on_verdict: Callable[[Verdict], Awaitable[None] | None] | None = None,
                       ) -> list[list[Verdict]]:
    """``repeat`` rounds of :func:`~conformance.runner.run_scenarios`.

    ``on_verdict`` sees the first round only (a CLI prints it as a normal run).
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    rounds = [await run_scenarios(scenarios, runner, jobs=jobs, on_verdict=on_verdict)]
    for _ in range(repeat - 1):
        rounds.append(await run_scenarios(scenarios, runner, jobs=jobs))
    return rounds
