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

Every ``--cli-every``-th iteration instead runs one of the command-line faults
(:data:`CLI_KINDS`), each with its own oracle:

* ``cli-signal``: ``python -m conformance run`` gets SIGINT or SIGTERM at a random moment
  after its first QEMU appears: exit 128+signum, no summary, nothing left;
* ``hung-no-socket`` / ``hung-no-greeting``: a build that deadlocks before QMP
  (:func:`conformance.testing.faults.hung_binary`), ``--timeout 1`` over a whole scenario file:
  every verdict ``infra-error``, the probe failure printed once, done in seconds
  (the probe is not repeated per scenario), exit 1;
* ``daemonize``: a scenario file with ``-daemonize``: exit 2 at load, one line, no QEMU;
* ``daemonize-contained``: the same scenario run through the API (no load check): the
  daemon QEMU that forked away must still be found and killed (no leak);
* ``log-unwritable`` / ``log-regular-file``: ``--log-dir`` under a regular file, or a
  regular file: exit 2 before any QEMU starts, one line;
* ``output-full`` / ``output-epipe`` / ``output-closed``: ``--json`` to ``/dev/full``
  (exit 2, one line), into a pipe closed at once (exit 141, quiet), with stdout closed
  (exit 2 before any QEMU starts).

Leaks are counted with :func:`conformance.testing.faults.leaks`, which also lists QEMUs the way
``pgrep -af 'bin/qemu-system-aarch64'`` does (the provisioned QEMU runs under its
loader's name).

Prints one line per misclassification/leak and the totals; exit status 1 if any.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalogue.scenario import Scenario, load_catalogue
from conformance.result import Verdict
from conformance.runner import Phase, Runner, RunOptions
from conformance.testing.faults import HUNG_MODES, KINDS, Fault, hung_binary, leaks
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


CLI_KINDS = ("cli-signal", "hung-no-socket", "hung-no-greeting", "daemonize",
             "daemonize-contained", "log-unwritable", "log-regular-file", "output-full",
             "output-epipe", "output-closed")
ONE = "preconditions.toml:p1-accel-on-tcg"


def _cli(binary: str, root: Path, *args: str, stdout: Any = subprocess.PIPE,
         timeout: float = 120) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "conformance", "run", "--qemu", binary, *args],
                       cwd=ROOT, env={**os.environ, "TMPDIR": str(root),
                                      "PYTHONPATH": str(ROOT)},
                       stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stdout or "", p.stderr, time.monotonic() - t0


def _one_line(code: int, want: int, err: str, words: str) -> list[str]:
    problems = []
    if code != want:
        problems.append(f"exit {code}, expected {want}: {err.strip()[-300:]}")
    lines = err.strip().splitlines()
    if len(lines) != 1 or words not in err:
        problems.append(f"expected one line naming {words!r}: {err.strip()[-300:]}")
    return problems


def other_cli_iteration(kind: str, binary: str, root: Path, work: Path,
                        rnd: random.Random) -> list[str]:
    """One command-line fault of :data:`CLI_KINDS` (not cli-signal); its problems."""
    if kind.startswith("hung-"):
        fake = hung_binary(work, kind.removeprefix("hung-"))
        code, out, err, took = _cli(str(fake), root, "--timeout", "1", "--json",
                                    "--scenario", "preconditions.toml")
        problems = []
        statuses = {v["status"] for v in json.loads(out or "[]")}
        if code != 1 or statuses != {"infra-error"}:
            problems.append(f"exit {code}, statuses {statuses}: {err.strip()[-300:]}")
        if err.count("capability probe failed") != 1:
            problems.append(f"probe failure reported {err.count('capability probe failed')} "
                            "times, expected once")
        if took > 20:
            problems.append(f"took {took:.1f} s (probe repeated per scenario?)")
        return problems
    if kind == "daemonize":
        f = work / "daemonize.toml"
        f.write_text('[[scenario]]\nname = "d"\nrows = ["P1"]\ntiers = ["tcg"]\n'
                     'args = "-M virt -daemonize"\n')
        code, out, err, _ = _cli(binary, root, "--scenario", str(f))
        return _one_line(code, 2, err, "-daemonize") + (["stdout not empty"] if out else [])
    if kind.startswith("log-"):
        f = work / "regular-file"
        f.write_text("x")
        target = f if kind == "log-regular-file" else f / "logs"
        code, out, err, _ = _cli(binary, root, "--scenario", ONE, "--log-dir", str(target))
        return _one_line(code, 2, err, "--log-dir") + (["stdout not empty"] if out else [])
    if kind == "output-full":
        with open("/dev/full", "w") as full:
            code, _, err, _ = _cli(binary, root, "--scenario", ONE, "--json", stdout=full)
        return _one_line(code, 2, err, "No space left")
    if kind == "output-closed":
        p = subprocess.run(["/bin/sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m",
                            "conformance", "run", "--qemu", binary, "--scenario", ONE],
                           cwd=ROOT, env={**os.environ, "TMPDIR": str(root),
                                          "PYTHONPATH": str(ROOT)},
                           stderr=subprocess.PIPE, text=True, timeout=120)
        return _one_line(p.returncode, 2, p.stderr, "stdout is closed")
    if kind == "output-epipe":
        r, w = os.pipe()
        os.close(r)  # the reader is gone before the first line (`| head -0`)
        try:
            code, _, err, _ = _cli(binary, root, "--scenario", "preconditions.toml",
                                   stdout=w)
        finally:
            os.close(w)
        problems = [f"exit {code}, expected 141"] if code != 141 else []
        if err.strip():
            problems.append(f"not quiet: {err.strip()[-200:]}")
        return problems
    raise ValueError(kind)


async def daemonize_contained(runner: Runner) -> list[str]:
    """-daemonize through the API (the load check bypassed): the daemon must not leak."""
    s = Scenario(name="daemonize", rows=("P1",), tiers=("tcg",),
                 argv=("-M", "virt", "-daemonize"))
    await runner.run(s)
    return []


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
    work = Path(tempfile.mkdtemp(prefix="smmuv3-fi-work-", dir="/tmp"))
    assert HUNG_MODES
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
                ck = rnd.choice(CLI_KINDS)
                per_kind[ck] += 1
                n = 0
                if ck == "cli-signal":
                    problems, n = cli_iteration(binary, root, rnd)
                elif ck == "daemonize-contained":
                    problems = await daemonize_contained(quiet)
                else:
                    problems = other_cli_iteration(ck, binary, root, work, rnd)
                if ck != "cli-signal":
                    lk = leaks(root)
                    n = lk.count
                    if n:
                        problems.append(f"leaks: {lk}")
                leak_total += n
                if problems:
                    misclassified += 1
                    print(f"#{it} {ck}: {'; '.join(problems)}")
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
        shutil.rmtree(work, ignore_errors=True)
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
