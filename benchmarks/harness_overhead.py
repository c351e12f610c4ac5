"""Harness overhead: time per scenario vs a bare QEMU start -> QMP -> quit cycle.

Both are measured in the same run, on the same command lines (each TCG scenario's argv
plus ``-accel tcg``), sequentially, after one warm-up of each:

* **bare**: start QEMU with ``-S -nodefaults -display none -qmp unix:...``, connect
  ``qemu.qmp``'s ``QMPClient`` (or see QEMU exit), send ``quit``, reap;
* **harness**: :meth:`conformance.runner.Runner.run` for the scenario (observation,
  model prediction, judgement, logs off), capabilities already probed.

Usage::

    .venv/bin/python benchmarks/harness_overhead.py [--qemu PATH] [--repeat 3]
                                                    [--scenario FILE[:NAME]]...

Prints per-file means, the totals and the ratio harness/bare (goal: <= 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

from catalogue.scenario import Scenario, load_catalogue, select
from conformance.fuzz.campaign import bare_cycle
from conformance.runner import Runner, RunOptions, compose_argv
from conformance.tiers.local import LocalHost
from conformance.tools.qemu_binary import choose


async def measure(binary: str, scenarios: list[Scenario], repeat: int = 1
                  ) -> dict[str, Any]:
    """Bare cycle and harness time per scenario (seconds lists), interleaved."""
    host = LocalHost(binary)
    runner = Runner(host, binary, RunOptions())
    await runner.capabilities()
    if scenarios:  # warm-up (page cache, model import)
        await bare_cycle(host, compose_argv(scenarios[0], host))
        await runner.run(scenarios[0])
    bare: list[float] = []
    harness: list[float] = []
    statuses: dict[str, int] = {}
    for _ in range(repeat):
        for s in scenarios:
            bare.append(await bare_cycle(host, compose_argv(s, host)))
            t0 = time.perf_counter()
            v = await runner.run(s)
            harness.append(time.perf_counter() - t0)
            statuses[v.status] = statuses.get(v.status, 0) + 1
    return {"bare": bare, "harness": harness, "statuses": statuses}


def report(m: dict[str, Any], n: int, repeat: int, binary: str) -> float:
    bare, harness = m["bare"], m["harness"]
    mb, mh = statistics.mean(bare), statistics.mean(harness)
    print(f"scenarios: {n} x {repeat} runs ({binary})")
    print(f"verdicts: {m['statuses']}")
    print(f"bare start->QMP->quit : {mb * 1000:8.1f} ms/scenario (median "
          f"{statistics.median(bare) * 1000:.1f})")
    print(f"harness per scenario  : {mh * 1000:8.1f} ms/scenario (median "
          f"{statistics.median(harness) * 1000:.1f})")
    print(f"ratio harness/bare    : {mh / mb:8.2f}  (goal <= 1.2)")
    return float(mh / mb)


def tcg_scenarios(specs: list[str] | None) -> list[Scenario]:
    scenarios: list[Scenario] = []
    for spec in specs or []:
        scenarios += select(spec)
    if not specs:
        scenarios = load_catalogue()
    return [s for s in scenarios if "tcg" in s.tiers]


async def main_async(a: argparse.Namespace) -> int:
    binary = choose(a.qemu).path
    scenarios = tcg_scenarios(a.scenario)
    if not scenarios:
        print("no TCG scenarios selected", file=sys.stderr)
        return 2
    report(await measure(binary, scenarios, a.repeat), len(scenarios), a.repeat, binary)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--qemu")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--scenario", action="append")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
