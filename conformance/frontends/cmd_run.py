"""``python -m conformance run``: run scenarios against a QEMU binary, print verdicts.

Examples::

    python -m conformance run                          # whole catalogue, TCG tier
    python -m conformance run --scenario scenarios/preconditions.toml
    python -m conformance run --scenario preconditions.toml:p1-accel-on-tcg --json
    python -m conformance run --qemu ~/qemu/build/qemu-system-aarch64 -- \\
        -M virt -device arm-smmuv3,primary-bus=pcie.0,accel=on

One line per scenario and tier (``pass``, ``nonconformance``,
``expected-nonconformance``, ``unexpected-pass``, ``skipped (reason)``,
``infra-error``); for anything but pass/skip the differences, argv, stderr tail and QMP
transcript follow.  Exit status: 0 if every scenario that ran conformed (or failed
exactly as a recorded QEMU bug says), 1 otherwise, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from catalogue.observables import DEFAULT_OBSERVABLES
from catalogue.scenario import Scenario, ScenarioError, split_args
from conformance import preflight
from conformance.argcheck import check_argv
from conformance.crossrelease import auto_profile
from conformance.errors import BinaryError, HarnessError, Interrupted
from conformance.evidence import EvidenceError, from_verdict, write_results
from conformance.frontends.cli import UsageError
from conformance.frontends.cmd_bisect import decide
from conformance.frontends.report_html import ReportError, write_report
from conformance.frontends.report_tap import TapWriter
from conformance.frontends.report_text import details, summary
from conformance.interrupt import run_interruptible
from conformance.output import EPIPE_EXIT, quiet_on_write_error, write_failed
from conformance.preflight import log_failures
from conformance.result import Verdict
from conformance.runner import Runner, RunOptions, run_scenarios
from conformance.select import DEFAULT_PROFILE, load
from conformance.shard import ShardError, Sharding, write_manifest
from conformance.tiers import DEFAULT_TIERS, TIER_HOSTS, host_for
from conformance.tools.flaky import Flake, find_flaky, run_repeated, summary_line
from conformance.tools.qemu_binary import choose


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qemu", metavar="PATH",
                   help="binary under test (default: $QEMU_TEST_QEMU_BINARY, else the "
                        "provisioned QEMU 11.1.3)")
    p.add_argument("--tier", action="append", choices=sorted(TIER_HOSTS),
                   help="tier to run on (repeatable; default: tcg)")
    p.add_argument("--scenario", action="append", metavar="FILE[:NAME]",
                   help="scenario file, FILE:NAME or NAME (repeatable; default: the catalogue)")
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"model profile to predict with (default: {DEFAULT_PROFILE}; 'auto': "
                        "the one the build's fingerprint names)")
    p.add_argument("--json", action="store_true",
                   help="print the verdict records (prediction, observation, diff) as JSON")
    p.add_argument("-j", "--jobs", type=int, default=2, help="QEMUs at once (default: 2)")
    p.add_argument("--log-dir", metavar="DIR",
                   help="keep argv, stderr, QMP transcript and verdict per scenario here")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds per QMP command before QEMU counts as hung (default: 20)")
    # CI front ends (conformance/frontends/report_tap.py, report_html.py, cmd_bisect.py)
    p.add_argument("--tap", action="store_true",
                   help="print TAP 13 (for meson test, protocol 'tap') instead of text")
    p.add_argument("--html", metavar="DIR", help="also write a static HTML report into DIR")
    p.add_argument("--results", metavar="FILE",
                   help="write the evidence (rules fired, rows, QEMU build) per verdict "
                        "here, for `coverage --results FILE`")
    p.add_argument("--bisect", action="store_true",
                   help="exit 0/1/125 for `git bisect run` (see the bisect-run command)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run every scenario N times, fresh QEMU each time, and fail naming "
                        "any scenario whose verdict changed (flakiness; default: 1)")
    p.add_argument("--shard", metavar="K/N",
                   help="run only shard K of N (CI parallel jobs; see conformance/shard.py)")
    p.add_argument("--shard-durations", action="append", metavar="FILE",
                   help="verdicts.json or JUnit XML of an earlier run, to balance --shard")
    p.add_argument("--allow-host-paths", action="store_true",
                   help="let scenario files name host paths (-serial file:, -device "
                        "loader,file=...): trust them like code (docs/reliability.md)")
    p.add_argument("qemu_args", nargs=argparse.REMAINDER,
                   help="after '--': an ad-hoc QEMU command line to run as one scenario")


def adhoc_scenario(args: list[str], tier: str) -> Scenario:
    return Scenario(name="command-line", rows=(), tiers=(tier,), argv=split_args(args),
                    observe=DEFAULT_OBSERVABLES, description="ad-hoc command line")


async def _main(a: argparse.Namespace, scenarios_for: dict[str, list[Scenario]],
                binary: str) -> list[Verdict]:
    verdicts: list[Verdict] = []
    opts = RunOptions(profile=a.profile, log_root=Path(a.log_dir) if a.log_dir else None,
                      command_timeout=a.timeout, startup_timeout=a.timeout)

    tap = None
    if a.tap:
        tap = TapWriter(sys.stdout, total=sum(len(x) for x in scenarios_for.values()))

    def show(v: Verdict) -> None:
        with quiet_on_write_error():
            _show(v)

    def _show(v: Verdict) -> None:
        if tap is not None:
            tap.add(v)
        elif not a.json:
            print(v.headline(), flush=True)
            if v.status not in ("pass", "skipped", "not-covered", "expected-nonconformance"):
                print(details(v), flush=True)

    flakes: list[Flake] = []
    for tier, scenarios in scenarios_for.items():
        host = host_for(tier, binary)
        try:
            runner = Runner(host, binary, opts)
            if host.unavailable_reason() is None and any(tier in s.tiers for s in scenarios):
                try:  # a QEMU of another target is a usage error, not 90 infra-errors
                    await runner.capabilities()
                except BinaryError as e:
                    raise UsageError(str(e)) from None
                except HarnessError as e:  # remembered: each scenario says it at once
                    print(f"capability probe failed: {e}", file=sys.stderr)
            if a.repeat > 1:
                rounds = await run_repeated(scenarios, runner, a.repeat, jobs=a.jobs,
                                            on_verdict=show)
                verdicts += rounds[0]
                found = find_flaky(rounds)
                flakes += found
                print(summary_line(rounds, found), file=sys.stderr)
                for f in found:
                    print(f.line(), file=sys.stderr)
            else:
                verdicts += await run_scenarios(scenarios, runner, jobs=a.jobs,
                                                on_verdict=show)
        finally:
            await host.close()
    a.flakes = flakes
    return verdicts


def run(a: argparse.Namespace) -> int:
    tiers = a.tier or list(DEFAULT_TIERS)
    extra = list(a.qemu_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    if extra and a.scenario:
        raise UsageError("give either --scenario or '-- QEMU ARGS', not both")
    if a.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if a.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if not a.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    sharding = None
    if a.shard or a.shard_durations:  # checked (and durations read) before the binary
        try:
            sharding = Sharding.from_options(a.shard, a.shard_durations or [])
        except ShardError as e:
            raise UsageError(str(e)) from None
    try:
        binary = choose(a.qemu)
    except BinaryError as e:
        raise UsageError(str(e)) from None
    if a.profile == "auto":  # the build's fingerprint names it (conformance/crossrelease.py)
        a.profile = auto_profile(binary)
    try:
        scenarios_for = {t: ([adhoc_scenario(extra, t)] if extra
                             else load(a.scenario, a.allow_host_paths)) for t in tiers}
        if extra:  # the user's own line: only what the harness owns is refused
            check_argv(scenarios_for[tiers[0]][0].argv, "-- QEMU ARGS", True)
    except ScenarioError as e:
        raise UsageError(str(e)) from None
    manifest = None
    if sharding is not None:
        try:
            scenarios_for, manifest, note = sharding.apply(scenarios_for)
        except ValueError as e:  # ShardError: a scenario selected twice
            raise UsageError(str(e)) from None
        print(note, file=sys.stderr)
    preflight.check_profile(a.profile)
    if a.html:
        preflight.check_output_dir(a.html, "--html")
    log_dir = preflight.claim_log_dir(a.log_dir) if a.log_dir else None
    try:
        verdicts = run_interruptible(_main(a, scenarios_for, binary.path))
        if a.json:
            json.dump([v.to_dict() for v in verdicts], sys.stdout, indent=2)
            print()
        elif not a.tap:
            print(summary(verdicts))
        sys.stdout.flush()
        if a.html:
            try:
                page = write_report(a.html, verdicts, coverage=True)
            except ReportError as e:
                raise UsageError(str(e)) from None
            print(f"HTML report: {page}", file=sys.stderr)
            if manifest is not None:  # lets `conformance merge` check the shards
                write_manifest(a.html, manifest)
        if a.results:
            try:
                write_results(a.results, [from_verdict(v) for v in verdicts])
            except EvidenceError as e:
                raise UsageError(str(e)) from None
    except Interrupted as e:
        if a.tap:  # TAP consumers (meson) must see the run stopped, not missing points
            TapWriter.bail_out_line(sys.stdout, str(e))
        raise
    except BrokenPipeError:  # `... | head`: stop quietly, like other CLI tools
        write_failed("run", BrokenPipeError())
        return EPIPE_EXIT
    finally:
        if log_dir is not None:
            log_dir.release()
    lost = log_failures()
    if lost:  # asked-for logs are missing: say so, and do not pass as a clean run
        raise UsageError(f"--log-dir: {len(lost)} log file(s) could not be written, "
                         f"first: {lost[0]}")
    if a.bisect:
        code, why = decide(verdicts)
        print(f"bisect: exit {code} ({why})", file=sys.stderr)
        return code
    ran = [v for v in verdicts if v.status not in ("skipped", "not-covered")]
    return 1 if any(v.failed for v in ran) or getattr(a, "flakes", None) else 0
