"""``python -m conformance bisect-run``: one scenario as a ``git bisect run`` script.

``git bisect run`` reads the script's exit status: 0 means *good*, 1..127 except 125
means *bad*, 125 means *cannot test this commit* (skip it), and anything above 127
aborts the bisection.  This command maps verdicts onto exactly that::

    cd ~/qemu
    git bisect start v11.1.0 v10.2.0
    git bisect run python -m conformance bisect-run \\
        --build-cmd 'ninja -C build qemu-system-aarch64' \\
        --qemu build/qemu-system-aarch64 \\
        --scenario /path/to/suite/scenarios/properties.toml:oas-48-non-accel

========  =====================================================================
exit      when
========  =====================================================================
0         every selected scenario ran and conformed (``pass``, or a recorded
          known bug showed exactly: ``expected-nonconformance``)
1         some scenario did not conform: ``nonconformance`` (including a crash or
          hang of QEMU) or ``unexpected-pass``
125       nothing says "bad" but something could not be tested: ``--build-cmd``
          failed, the binary is missing or is not QEMU, a scenario was
          ``skipped`` (the build lacks a device type or property, a capability is
          missing) or hit an ``infra-error``
128       usage error (bad option, unknown scenario): aborts the bisection, since
          a mistake in the command line says nothing about the commit
========  =====================================================================

A definite "bad" wins over "cannot test": if one scenario is a nonconformance and
another could not run, the commit is bad.  Only the (scenario, tier) pairs the
scenario lists are run (``--tier kvm`` for a TCG-only scenario is a usage error), so
a scenario that cannot be shown on a tier never turns every commit into a skip.

``--build-cmd`` runs through ``/bin/sh -c`` in ``--build-dir`` (default: the current
directory, i.e. the QEMU tree ``git bisect`` checked out) before anything else; a
non-zero exit, a timeout or a missing shell is a 125.  Its output is kept out of the
way: the last lines are printed on failure, and the whole log is written to
``--log-dir`` when given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from catalogue.scenario import Scenario, ScenarioError
from conformance.errors import BinaryError
from conformance.frontends.cli import UsageError
from conformance.frontends.report_text import details
from conformance.preflight import PreflightError, check_profile
from conformance.result import (
    BISECT_ABORT,
    BISECT_BAD,
    BISECT_GOOD,
    BISECT_SKIP,
    STATUS,
    Verdict,
)
from conformance.runner import Runner, RunOptions, run_scenarios
from conformance.select import load
from conformance.tiers import DEFAULT_TIERS, TIER_HOSTS, host_for
from conformance.tools.qemu_binary import choose

GOOD, BAD, SKIP, ABORT = BISECT_GOOD, BISECT_BAD, BISECT_SKIP, BISECT_ABORT
PROG = "python -m conformance bisect-run"
BAD_STATUSES = frozenset(k for k, r in STATUS.items() if r.bisect == BAD)
GOOD_STATUSES = frozenset(k for k, r in STATUS.items() if r.bisect == GOOD)
BUILD_TAIL_LINES = 25


def _error_aborts(self: argparse.ArgumentParser, message: str) -> NoReturn:
    """argparse's ``error`` with exit 128, so a typo aborts ``git bisect run``."""
    self.print_usage(sys.stderr)
    print(f"{self.prog}: error: {message}", file=sys.stderr)
    raise SystemExit(ABORT)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.error = types.MethodType(_error_aborts, p)  # type: ignore[method-assign]
    p.add_argument("--scenario", action="append", required=True, metavar="FILE[:NAME]",
                   help="scenario(s) to judge the build by (repeatable)")
    p.add_argument("--tier", action="append", metavar="TIER",
                   help="tier(s) to run on (repeatable; default: tcg)")
    p.add_argument("--qemu", metavar="PATH",
                   help="binary under test, resolved after --build-cmd (default: "
                        "$QEMU_TEST_QEMU_BINARY, else the provisioned QEMU 11.1.3)")
    p.add_argument("--profile", default=None,
                   help="model profile to judge against (default: the runner's, qemu-11.1)")
    p.add_argument("--build-cmd", metavar="CMD",
                   help="shell command that builds the tree first; failure exits 125")
    p.add_argument("--build-dir", metavar="DIR", default=".",
                   help="directory --build-cmd runs in (default: current directory)")
    p.add_argument("--build-timeout", type=float, default=None, metavar="SECONDS",
                   help="give up on the build after this long (exit 125)")
    p.add_argument("--log-dir", metavar="DIR",
                   help="keep the build log and per-scenario logs here")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds per QMP command before QEMU counts as hung (default: 20)")


# --------------------------------------------------------------------------- decision
def decide(verdicts: Sequence[Verdict]) -> tuple[int, str]:
    """The ``git bisect run`` exit status for ``verdicts``, and a one-line why."""
    if not verdicts:
        return SKIP, "no scenario ran"
    bad = [v for v in verdicts if v.status in BAD_STATUSES]
    if bad:
        v = bad[0]
        return BAD, f"bad: {v.status} {v.tier} {v.scenario}" + (
            f" ({v.reason})" if v.reason else "")
    untested = [v for v in verdicts if v.status not in GOOD_STATUSES]
    if untested:
        v = untested[0]
        return SKIP, f"cannot test: {v.status} {v.tier} {v.scenario} ({v.reason})"
    return GOOD, f"good: {len(verdicts)} scenario run(s) conformed"


# --------------------------------------------------------------------------- build
def build(cmd: str, cwd: str, timeout: float | None, log: Path | None) -> tuple[bool, str]:
    """Run ``cmd`` with ``/bin/sh -c`` in ``cwd``; (succeeded, one-line summary + tail)."""
    if not Path(cwd).is_dir():
        return False, f"--build-dir {cwd}: no such directory"
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", cmd], cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as e:
        return False, f"cannot start the build: {e.strerror}"
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    except BaseException:  # Ctrl-C: take the whole build down with us
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    text = out.decode(errors="replace")
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
    took = f"{time.monotonic() - t0:.0f} s"
    if timed_out:
        return False, f"build timed out after {took}: {cmd}"
    if proc.returncode != 0:
        tail = "\n".join("  " + ln for ln in text.rstrip().splitlines()[-BUILD_TAIL_LINES:])
        return False, f"build failed (exit {proc.returncode}, {took}): {cmd}\n{tail}"
    return True, f"build ok ({took})"


# --------------------------------------------------------------------------- running
async def _run_all(pairs: dict[str, list[Scenario]], binary: str, a: argparse.Namespace,
                   ) -> list[Verdict]:
    opts = RunOptions(log_root=Path(a.log_dir) if a.log_dir else None,
                      command_timeout=a.timeout, startup_timeout=a.timeout)
    if a.profile:
        opts.profile = a.profile

    def show(v: Verdict) -> None:
        print(v.headline(), flush=True)
        if v.status not in ("pass", "skipped", "not-covered"):
            print(details(v), flush=True)

    out: list[Verdict] = []
    for tier, scenarios in pairs.items():
        host = host_for(tier, binary)
        try:
            out += await run_scenarios(scenarios, Runner(host, binary, opts),
                                       on_verdict=show)
        finally:
            await host.close()
    return out


def _select(a: argparse.Namespace) -> dict[str, list[Scenario]]:
    tiers = a.tier or list(DEFAULT_TIERS)
    for t in tiers:
        if t not in TIER_HOSTS:
            raise UsageError(f"--tier {t}: unknown tier (choose from {', '.join(TIER_HOSTS)})")
    try:
        scenarios = load(a.scenario)
        check_profile(a.profile)  # a typo would make every commit a 125: bisect never ends
    except (ScenarioError, PreflightError) as e:
        raise UsageError(str(e)) from None
    pairs: dict[str, list[Scenario]] = {}
    for t in tiers:
        chosen = [s for s in scenarios if t in s.tiers]
        if chosen:
            pairs[t] = chosen
    if not pairs:
        names = ", ".join(f"{s.name} ({'/'.join(s.tiers)})" for s in scenarios[:3])
        raise UsageError(f"--tier {'/'.join(tiers)}: none of the selected scenarios can be "
                         f"shown on that tier: {names}")
    return pairs


def run(a: argparse.Namespace) -> int:
    try:
        return _run(a)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return ABORT


def _run(a: argparse.Namespace) -> int:
    pairs = _select(a)  # check the scenarios before spending time on a build
    if a.build_cmd:
        log = Path(a.log_dir) / "build.log" if a.log_dir else None
        ok, msg = build(a.build_cmd, a.build_dir, a.build_timeout, log)
        print(f"{PROG}: {msg}", file=sys.stderr if not ok else sys.stdout, flush=True)
        if not ok:
            print(f"{PROG}: exit {SKIP} (cannot test: build failed)", file=sys.stderr)
            return SKIP
    try:
        binary = choose(a.qemu)
    except BinaryError as e:  # errors go to stderr, like every other command's
        print(f"{PROG}: {e}", file=sys.stderr)
        print(f"{PROG}: exit {SKIP} (cannot test: no usable binary)", file=sys.stderr)
        return SKIP
    verdicts = asyncio.run(_run_all(pairs, binary.path, a))
    code, why = decide(verdicts)
    print(f"{PROG}: exit {code} ({why})")
    return code
