"""``python -m conformance fuzz``: differential fuzzing against the reference model.

Examples::

    python -m conformance fuzz --cases 300 --seed 1            # TCG, 300 cases
    python -m conformance fuzz --tier nested --cases 60 --seed 1 --out results/fuzz-nested
    python -m conformance fuzz --time 600 -j 2 --out /tmp/fuzz  # ten minutes
    python -m conformance fuzz --seed 1 --case 1234              # one case again

Draws machines and QMP event sequences (conformance/fuzz/generate.py), runs each on the
QEMU under test through the ordinary runner, compares every observable with the
model, buckets differences by signature and shrinks one case per new bucket to a
scenario file (``--out DIR/buckets/*.toml``) with a one-line reproduction command.
Exit status: 0 when no new bucket was found, 1 otherwise, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.errors import BinaryError
from conformance.frontends.cli import UsageError
from conformance.fuzz.campaign import CampaignConfig, CampaignReport, run_campaign
from conformance.interrupt import run_interruptible
from conformance.select import DEFAULT_PROFILE
from conformance.tiers import host_for
from conformance.tools.qemu_binary import choose
from reference_model import PROFILES

FUZZ_TIERS = ("tcg", "nested", "kvm")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tier", default="tcg", choices=FUZZ_TIERS, help="tier (default: tcg)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default: 0)")
    n = p.add_mutually_exclusive_group()
    n.add_argument("--cases", type=int, metavar="N", help="number of cases (default: 100)")
    n.add_argument("--time", type=float, metavar="T", help="run for T seconds")
    n.add_argument("--case", type=int, metavar="I",
                   help="run only case I of --seed (reproduce one case of a campaign)")
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"model profile (default: {DEFAULT_PROFILE})")
    p.add_argument("--qemu", metavar="PATH",
                   help="binary under test (default: $QEMU_TEST_QEMU_BINARY, else the "
                        "provisioned QEMU 11.1.3)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="QEMUs at once (default: 2)")
    p.add_argument("--out", metavar="DIR",
                   help="write report.json, buckets/*.toml and the example database here")
    p.add_argument("--shrink-time", type=float, default=120.0, metavar="S",
                   help="seconds of shrinking per new bucket (default: 120; 0: no shrinking)")
    p.add_argument("--guest", choices=("control", "accel"), default=None,
                   help="draw guest step lists (the guest-driven tier: DMA, STEs, "
                        "invalidations) behind the non-accel control command line or the "
                        "accel one with the passed-through e1000e (nested), instead of "
                        "command lines")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds per QMP command before QEMU counts as hung (default: 20)")


def run(a: argparse.Namespace) -> int:
    if a.cases is not None and a.cases < 1:
        raise UsageError("--cases must be at least 1")
    if a.time is not None and not a.time > 0:
        raise UsageError("--time must be a positive number of seconds")
    if a.case is not None and a.case < 0:
        raise UsageError("--case must be 0 or more")
    if a.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if a.shrink_time < 0:
        raise UsageError("--shrink-time must not be negative")
    if not a.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if a.guest == "accel" and a.tier not in ("nested", "kvm"):
        raise UsageError("--guest accel needs a passed-through device: --tier nested or kvm")
    if a.profile not in PROFILES:
        raise UsageError(f"unknown profile '{a.profile}' (choose from {', '.join(PROFILES)})")
    try:
        binary = choose(a.qemu)
    except BinaryError as e:
        raise UsageError(str(e)) from None
    out = Path(a.out) if a.out else None
    cfg = CampaignConfig(
        tier=a.tier, seed=a.seed, binary=binary.path,
        cases=None if (a.time is not None or a.case is not None) else (a.cases or 100),
        seconds=a.time, profile=a.profile, jobs=a.jobs, out=out,
        shrink_budget=a.shrink_time, shrink=a.shrink_time > 0, only_case=a.case,
        command_timeout=a.timeout, guest=a.guest)
    host = host_for(a.tier, binary.path)
    why = host.unavailable_reason()
    if why:
        print(f"fuzz: tier {a.tier} unavailable: {why}", file=sys.stderr)
        return 0 if a.tier != "tcg" else 1

    async def main() -> tuple[CampaignReport, list[str]]:
        try:
            return await run_campaign(cfg, host)
        finally:
            await host.close()

    report, repro = run_interruptible(main())
    print(summary(report))
    for line in repro:
        print(f"  reproduce: {line}")
    return 1 if report.new_buckets else 0


def summary(report: CampaignReport) -> str:
    """The campaign's result, as the CLI prints it."""
    r = report
    ratio = f"{r.rate / r.bare_rate:.0%} of bare" if r.bare_rate else "bare not measured"
    lines = [
        f"fuzz: {r.cases} case(s) on tier {r.config['tier']} (seed {r.config['seed']}, "
        f"-j {r.config['jobs']}) in {r.campaign_s:.1f} s: {r.rate:.2f} cases/s; bare QEMU "
        f"start->QMP->quit {r.bare_rate:.2f}/s in the same run ({ratio})",
        "fuzz: verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items())),
        f"fuzz: {len(r.buckets)} bucket(s): {len(r.new_buckets)} new, "
        f"{sum(1 for b in r.buckets.values() if b.known)} known"
        + (f"; shrinking took {r.shrink_s:.0f} s" if r.shrink_s else ""),
    ]
    for b in sorted(r.buckets.values(), key=lambda b: (not b.is_new, -b.count)):
        tag = "NEW  " if b.is_new else "known" if b.known else "infra"
        lines.append(f"  {tag} x{b.count:<5} {b.signature.line()}")
        if b.known:
            lines.append(f"         recorded: {b.known}")
        s = b.shrunk or {}
        if "shrunk_size" in s:
            lines.append(f"         shrunk case {s['case']}: {s['original_size'][0]} -> "
                         f"{s['shrunk_size'][0]} argv words, {s['original_size'][1]} -> "
                         f"{s['shrunk_size'][1]} events, {s['qemu_runs']} QEMU runs"
                         + ("" if s.get("complete") else " (budget spent)")
                         + ("" if s.get("reproduced") else " (did NOT reproduce: flaky?)"))
    return "\n".join(lines)
