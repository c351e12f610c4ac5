"""``python -m conformance premerge``: what does the candidate build change, and is it expected?

The pre-merge view of a QEMU series, as one command: run the catalogue on the **base**
build (master) and on the **candidate** (master plus the series), judge each by its own
profile (``fingerprint``'s answer, or ``--base-profile``/``--candidate-profile``), and
list every scenario whose observed behaviour the candidate changes, one line each,
marked

``expected``
    the profiles predict the change (the rules, rows and revisions are shown), e.g. a
    series that implements the next revision of the catalogue;
``unexplained``
    nothing predicts it: the model has no opinion on that field, or one build does not
    conform to its profile.  This is what a reviewer looks at.

::

    $ python -m conformance premerge --base build-master/qemu-system-aarch64 \\
          --candidate build-series/qemu-system-aarch64 --html premerge-report
    base:      .../qemu-system-aarch64 (QEMU emulator version 10.0.13 ...) [qemu-10.1]
    candidate: .../qemu-system-aarch64 (QEMU emulator version 11.1.3 ...) [qemu-11.1]
    expected     tcg  preconditions.toml:p6-no-primary-bus  (outcome, exit_code, error)
                 qemu-10.1 -> qemu-11.1: P4.not-user-creatable (row P4, 10.1); ...
    ...
    candidate against qemu-11.1: 133 pass, 3 expected-nonconformance, 68 skipped
    premerge: 114 scenario(s) changed: 114 expected, 0 unexplained

``--html DIR`` writes the report a maintainer attaches to the review: the changes table
(expected in green, unexplained in red) above the usual scenarios x builds matrix.

Exit status: 0 when every change is expected and the candidate has no nonconformance,
1 otherwise, 2 for a usage error (before any QEMU starts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

from catalogue.scenario import ScenarioError
from conformance.crossrelease import (
    add_to_report,
    explain_all,
    grouped,
    html_section,
    run_pair,
    summary,
)
from conformance.errors import BinaryError
from conformance.frontends.cli import UsageError
from conformance.frontends.cmd_diff import _run_build, compare_builds
from conformance.frontends.report_html import BuildColumn, ReportError, write_report
from conformance.preflight import check_output_dir
from conformance.select import load
from conformance.tiers import TIER_HOSTS
from conformance.tools.qemu_binary import choose
from reference_model.profiles import PROFILES

FAILING = ("nonconformance", "unexpected-pass", "infra-error")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", metavar="PATH", required=True, help="the build before the series")
    p.add_argument("--candidate", metavar="PATH", required=True,
                   help="the build with the series")
    p.add_argument("--base-profile", metavar="P",
                   help="profile for the base (default: its fingerprint's)")
    p.add_argument("--candidate-profile", metavar="P",
                   help="profile for the candidate (default: its fingerprint's)")
    p.add_argument("--scenario", action="append", metavar="FILE[:NAME]",
                   help="scenario file, FILE:NAME or NAME (repeatable; default: the catalogue)")
    p.add_argument("--tier", action="append", metavar="TIER",
                   help="tier(s) to run on (repeatable; default: tcg)")
    p.add_argument("--html", metavar="DIR", help="write the review report here")
    p.add_argument("--json", action="store_true", help="print the changes as JSON")
    p.add_argument("-j", "--jobs", type=int, default=2, help="QEMUs at once (default: 2)")
    p.add_argument("--log-dir", metavar="DIR", help="per-scenario logs in DIR/A and DIR/B")


def _check_profile(name: str | None, opt: str) -> None:

    if name is not None and name not in PROFILES:
        raise UsageError(f"{opt} {name}: unknown profile (known: {', '.join(PROFILES)})")


def run(a: argparse.Namespace) -> int:

    if a.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    _check_profile(a.base_profile, "--base-profile")
    _check_profile(a.candidate_profile, "--candidate-profile")
    tiers = a.tier or ["tcg"]
    for t in tiers:
        if t not in TIER_HOSTS:
            raise UsageError(f"--tier {t}: unknown tier (choose from {', '.join(TIER_HOSTS)})")
    try:
        base, cand = choose(a.base), choose(a.candidate)
    except BinaryError as e:
        raise UsageError(str(e)) from None
    try:
        scenarios = load(a.scenario)
    except ScenarioError as e:
        raise UsageError(str(e)) from None
    if a.html:
        check_output_dir(a.html, "--html")
    scenarios_for = {t: [s for s in scenarios if t in s.tiers] for t in tiers}
    a.profile = None  # _run_build's fallback; each build gets its own below

    va, vb, notes, profs = asyncio.run(run_pair(
        (base, cand), (a.base_profile, a.candidate_profile), a.jobs,
        lambda b, prof, label: _run_build(b, scenarios_for, a, label, prof)))
    rows = compare_builds(va, vb)
    changes = explain_all(rows, profs[0], profs[1],
                          versions=(base.version_tuple, cand.version_tuple))
    counts: Counter[str] = Counter(str(v.status) for v in vb)
    groups = grouped(changes)
    unexplained = [g for g in groups if g[0] != "expected"]
    bad = sum(counts[s] for s in FAILING)
    if a.json:
        json.dump({"base": {"qemu": base.path, "version": base.version, "profile": profs[0]},
                   "candidate": {"qemu": cand.path, "version": cand.version,
                                 "profile": profs[1]},
                   "candidate_statuses": dict(counts),
                   "changes": [c.to_dict() for c in changes]}, sys.stdout, indent=2)
        print()
    else:
        print(f"base:      {base.path} ({base.version}) [{notes[0]}]")
        print(f"candidate: {cand.path} ({cand.version}) [{notes[1]}]")
        for mark, tier, scen, cs in groups:
            print(f"{mark:<12} {tier:<5} {scen}  ({', '.join(c.path for c in cs)})")
            whys = dict.fromkeys("; ".join(c.rules) if c.mark == "expected" and c.rules
                                 else c.why for c in cs)
            for w in whys:
                print(f"{'':<12} {'':<5} {w}")
        print(f"candidate against {profs[1]}: "
              + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
        print(f"premerge: {len(groups)} scenario(s) changed: "
              f"{len(groups) - len(unexplained)} expected, {len(unexplained)} "
              f"unexplained ({summary(changes)})")
    if a.html:
        try:
            page = write_report(a.html, [*va, *vb], title="accel SMMUv3: pre-merge check",
                                builds=[BuildColumn("A (base)", base.path, base.version,
                                                    profs[0]),
                                        BuildColumn("B (candidate)", cand.path, cand.version,
                                                    profs[1])],
                                matrix=rows)
        except ReportError as e:
            raise UsageError(str(e)) from None
        add_to_report(Path(page), html_section(changes, profs[0], profs[1]))
        print(f"HTML report: {page}", file=sys.stderr)
    return 1 if unexplained or bad else 0
