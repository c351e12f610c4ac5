"""Fault injection at random: leak count and misclassification count (goal: 0 and 0).

    .venv/bin/python benchmarks/fault_injection.py [--iterations 200] [--seed 1]
                                                   [--cli-every 10] [--qemu PATH]

Each iteration picks, from ``--seed``, a scenario (among catalogue scenarios with
events, SMMU register/property reads or both, whose undisturbed verdict is ``pass`` with
QEMU running), a fault kind of
:mod:`conformance.testing.faults` and a point (phase + index, or a random delay for the timer
kinds), runs it on a real QEMU with the fault hook, then checks:

* **classification**: :meth:`conformance.testing.faults.Fault.expect` against the undisturbed
  verdict (a ``cancel`` fault must raise ``CancelledError``);
* **leaks**: :func:`conformance.testing.faults.leaks` over the benchmark's private temporary
  root: QEMU processes, ``smmuv3-conf-*`` folders, bound sockets, zombie children.

Every ``--cli-every``-th iteration instead runs ``python -m conformance run`` as a
subprocess and sends it SIGINT or SIGTERM at a random moment after its first QEMU
appears: it must exit 128+signum without printing a summary, leaving nothing.

Prints one line per misclassification/leak and the totals; exit status 1 if any.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalogue.scenario import Scenario, load_catalogue
from conformance.result import Verdict
from conformance.runner import Phase, Runner, RunOptions
from conformance.testing.faults import KINDS, Fault, leaks
from conformance.tiers.local import LocalHost
from conformance.tools.qemu_binary import choose

ROOT = Path(__file__).resolve().parent.parent


def points(s: Scenario, v: Verdict) -> list[tuple[Phase, int]]:
    """Every (phase, index) the undisturbed run of ``s`` passes through."""
    out = [(Phase.STARTED, 0), (Phase.CONNECTED, 0), (Phase.QUIT, 0)]
    out += [(Phase.EVENT, i) for i in range(len(s.events))]
    if set(s.observe) & {"address_spaces", "idregs", "properties", "msi_gpa"}:
        out.append((Phase.OBSERVE, 0))
    if set(s.observe) & {"idregs", "properties", "msi_gpa"}:
        n = len((v.observation or {}).get("smmus") or {})
        out += [(Phase.READ, i) for i in range(n)]
    return out


def pool() -> list[Scenario]:
    return [s for s in load_catalogue() if "tcg" in s.tiers and s.nonconformance is None
            and (s.events or "idregs" in s.observe or "properties" in s.observe)]


def cli_iteration(binary: str, root: Path, rnd: random.Random) -> tuple[list[str], int]:
    """SIGINT/SIGTERM to the run CLI; (problems, leak count)."""
    sig = rnd.choice([signal.SIGINT, signal.SIGTERM])
    delay = rnd.uniform(0.0, 1.0)
    p = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--qemu", binary,
                          "--scenario", str(ROOT / "scenarios" / "hotplug.toml"),
                          "--repeat", "50"], cwd=ROOT,
                         env={**os.environ, "TMPDIR": str(root), "PYTHONPATH": str(ROOT)},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    problems: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not leaks(root).processes and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 128 + sig:
        problems.append(f"exit {p.returncode}, expected {128 + sig}: {err.strip()[-300:]}")
    if "Traceback" in err:
        problems.append("traceback on stderr")
    if "scenario run(s):" in out:
        problems.append("a summary was printed for an interrupted run")
    lk = leaks(root)
    if lk.count:
        problems.append(f"leaks: {lk}")
    return problems, lk.count


async def main_async(a: argparse.Namespace) -> int:
    binary = choose(a.qemu).path
    root = Path(tempfile.mkdtemp(prefix="smmuv3-fi-", dir="/tmp"))
    rnd = random.Random(a.seed)
    host = LocalHost(binary, tmp_root=str(root))
    quiet = Runner(host, binary, RunOptions())
    baselines: list[tuple[Scenario, Verdict]] = []
    for s in pool():
        v = await quiet.run(s)
        if v.status == "pass" and (v.observation or {}).get("outcome") == "starts":
            baselines.append((s, v))  # QEMU runs: every phase is reached
    kinds = [k for k in KINDS if k != "none"] + ["none"]
    leak_total = misclassified = unreached = 0
    per_kind: Counter[str] = Counter()
    t0 = time.perf_counter()
    try:
        for it in range(a.iterations):
            if a.cli_every and it % a.cli_every == a.cli_every - 1:
                per_kind["cli-signal"] += 1
                problems, n = cli_iteration(binary, root, rnd)
                leak_total += n
                if problems:
                    misclassified += 1
                    print(f"#{it} cli-signal: {'; '.join(problems)}")
                continue
            s, base = rnd.choice(baselines)
            kind = rnd.choice(kinds)
            phase, index = rnd.choice(points(s, base))
            fault = Fault(kind, phase, index, delay=rnd.uniform(0.0, 0.25))
            per_kind[kind] += 1
            runner = Runner(host, binary, RunOptions(
                startup_timeout=2.0, command_timeout=1.0, scenario_timeout=30.0, fault=fault))
            runner._caps, runner._types = quiet._caps, quiet._types
            problem: str | None
            try:
                v = await runner.run(s)
                problem = ("run finished although it was cancelled" if kind == "cancel"
                           else fault.expect(v, base))
            except asyncio.CancelledError:
                if kind != "cancel":
                    raise
                problem = None
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
            finally:
                fault.cancel_timer()
            if not fault.fired and not kind.startswith("timer-") and kind != "none":
                unreached += 1
                print(f"#{it} {fault} on {s.ref}: phase never reached")
            if problem:
                misclassified += 1
                print(f"#{it} {fault} on {s.ref}: MISCLASSIFIED: {problem[:300]}")
            lk = leaks(root)
            if lk.count:
                leak_total += lk.count
                print(f"#{it} {fault} on {s.ref}: LEAK: {lk}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    wall = time.perf_counter() - t0
    print(f"scenarios in pool: {len(baselines)}; iterations: {a.iterations} (seed {a.seed}) "
          f"in {wall:.1f} s")
    print("by fault: " + ", ".join(f"{k} {n}" for k, n in sorted(per_kind.items())))
    print(f"leaks: {leak_total}")
    print(f"misclassifications: {misclassified}")
    print(f"faults whose point was never reached: {unreached}")
    return 1 if leak_total or misclassified or unreached else 0


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--qemu")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cli-every", type=int, default=10,
                   help="every N-th iteration signals the run CLI instead (0: never)")
    a = p.parse_args()
    if a.iterations < 1 or a.cli_every < 0:
        p.error("--iterations must be >= 1 and --cli-every >= 0")
    return asyncio.run(main_async(a))


if __name__ == "__main__":
    sys.exit(main())
