"""``python -m conformance diff``: what does this patch series change, scenario by scenario?

Runs the same scenarios on two builds (``--qemu A --qemu-b B``, e.g. master and master
plus a series) and lists the scenarios whose **observed** behaviour differs, side by
side.  The comparison is between the two observations, not against the model: a
series that rewords an error message, moves a device to another address space or
changes an ID register shows up even where the model has no opinion, and each
build's own verdict (against ``--profile``) is shown next to it::

    $ python -m conformance diff --qemu build-master/qemu-system-aarch64 \\
          --qemu-b build-series/qemu-system-aarch64 --html diff-report
    A: build-master/qemu-system-aarch64 (QEMU emulator version 11.1.3) [qemu-11.1]
    B: build-series/qemu-system-aarch64 (QEMU emulator version 11.1.50) [no match]
    differs  tcg  properties.toml:prop-oas48-needs-accel
        field   A                                  | B
        error   "...: oas must be 44 bits when..." | "...: OAS must be 44 bits when..."
    112 scenario run(s) compared: 1 differ, 89 same, 22 skipped on both

Fields are compared with :func:`catalogue.prediction.diff` applied to the two
observations (only fields both builds filled).  A scenario that runs on one build and
is skipped on the other (a device type or property only one build has) also differs.
Each build is fingerprinted first (:mod:`conformance.tools.fingerprint`), so the header says
which known revision each side looks like.

Exit status: 0 when no scenario differs, 1 when some do (like ``diff(1)``), 2 for a
usage error.  ``--html DIR`` writes the report with a scenarios x builds matrix;
``--json`` prints the matrix as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from catalogue.prediction import Difference, Prediction, diff
from catalogue.scenario import Scenario, ScenarioError
from conformance.crossrelease import (
    add_to_report,
    explain_all,
    html_section,
    render_changes,
    run_pair,
    summary,
)
from conformance.errors import BinaryError, HarnessError
from conformance.frontends.cli import UsageError
from conformance.frontends.report_html import BuildColumn, MatrixRow, ReportError, write_report
from conformance.observe.guest import NOT_COMPARED
from conformance.preflight import check_output_dir
from conformance.result import Verdict
from conformance.runner import Runner, RunOptions, run_scenarios
from conformance.select import load
from conformance.tiers import DEFAULT_TIERS, TIER_HOSTS, host_for
from conformance.tools.fingerprint import fingerprint
from conformance.tools.qemu_binary import QemuBinary, choose

COLUMN = 48


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qemu", metavar="A", help="first build (default: $QEMU_TEST_QEMU_BINARY, "
                   "else the provisioned QEMU 11.1.3)")
    p.add_argument("--qemu-b", metavar="B", required=True, help="second build")
    p.add_argument("--tier", action="append", metavar="TIER",
                   help="tier(s) to run on (repeatable; default: tcg)")
    p.add_argument("--scenario", action="append", metavar="FILE[:NAME]",
                   help="scenario file, FILE:NAME or NAME (repeatable; default: the catalogue)")
    p.add_argument("--profile", default=None,
                   help="model profile for both builds' verdicts (default: each build's "
                        "own, from its fingerprint; differences are then explained)")
    p.add_argument("--html", metavar="DIR", help="write an HTML report with the matrix here")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--all", action="store_true", help="also list scenarios that do not differ")
    p.add_argument("--no-fingerprint", action="store_true",
                   help="skip fingerprinting the two builds")
    p.add_argument("-j", "--jobs", type=int, default=2, help="QEMUs at once (default: 2)")
    p.add_argument("--log-dir", metavar="DIR",
                   help="keep per-scenario logs in DIR/A and DIR/B")


# --------------------------------------------------------------------------- comparison
def _observation(v: Verdict | None) -> Prediction | None:
    if v is None or v.observation is None or "outcome" not in v.observation:
        return None
    return Prediction.from_dict(v.observation)


def _leaf_diff(a: Any, b: Any, path: str = "") -> list[Difference]:
    """Every leaf where two JSON-shaped observations differ (both sides' keys)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in dict.fromkeys([*a, *b])
                for d in _leaf_diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in _leaf_diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [Difference(path, a, b)]


def _raw_diff(va: Verdict | None, vb: Verdict | None) -> list[Difference] | None:
    """Differences of observations that are not a start-up prediction's shape (the guest
    tier's: the guest's steps, traces and report); ``None`` when both are that shape."""
    obs = [v.observation if v is not None else None for v in (va, vb)]
    if all(o is None or "outcome" in o for o in obs):
        return None
    return [d for d in _leaf_diff(obs[0] or {}, obs[1] or {})
            if d.path.split(".")[0].split("[")[0] not in NOT_COMPARED]


def compare_builds(a: Sequence[Verdict], b: Sequence[Verdict]) -> list[MatrixRow]:
    """One :class:`MatrixRow` per (tier, scenario) of either build, in ``a``'s order.

    ``differences`` holds the observed fields that differ (``expected`` = A,
    ``observed`` = B).  When only one side has an observation, the outcome is
    reported as a difference of ``status``.
    """
    def key(v: Verdict) -> tuple[str, str]:
        return (v.tier, v.scenario)

    bmap = {key(v): v for v in b}
    order = [key(v) for v in a] + [key(v) for v in b if key(v) not in {key(x) for x in a}]
    amap = {key(v): v for v in a}
    rows: list[MatrixRow] = []
    for k in order:
        va, vb = amap.get(k), bmap.get(k)
        oa, ob = _observation(va), _observation(vb)
        diffs: list[Difference] = []
        raw = _raw_diff(va, vb)
        if raw is not None:
            diffs = raw
        elif oa is not None and ob is not None:
            diffs = diff(oa, ob)
            # diff() skips a field one side leaves empty ("no claim"); between two
            # observations an absent error line *is* a difference.
            if oa.error != ob.error and not any(d.path == "error" for d in diffs):
                diffs.append(Difference("error", oa.error, ob.error))
        elif (oa is None) != (ob is None):
            diffs = [Difference("status", va.status if va else None, vb.status if vb else None)]
        either = va if va is not None else vb
        rows.append(MatrixRow(scenario=k[1], tier=k[0],
                              rows=list(either.rows) if either is not None else [],
                              cells=[va, vb], differences=diffs))
    return rows


def _clip(text: str, width: int = COLUMN) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def render_text(builds: Sequence[BuildColumn], rows: Sequence[MatrixRow],
                show_all: bool = False, changes: Sequence[Any] = ()) -> str:

    out = []
    for bc in builds:
        fp = f" [{bc.fingerprint}]" if bc.fingerprint else ""
        out.append(f"{bc.label}: {bc.qemu} ({bc.version}){fp}")
    differ = same = skipped = 0
    for r in rows:
        statuses = [c.status if c else "not run" for c in r.cells]
        if r.differences:
            differ += 1
        elif all(s == "skipped" for s in statuses):
            skipped += 1
            continue
        else:
            same += 1
            if not show_all:
                continue
        tag = "differs" if r.differences else "same"
        out.append(f"{tag:<8} {r.tier:<6} {r.scenario}   "
                   f"[A: {statuses[0]}, B: {statuses[1]}]")
        if r.differences:
            width = max(len(d.path) for d in r.differences)
            out.append(f"    {'field':<{width}}  {'A':<{COLUMN}} | B")
            for d in r.differences:
                out.append(f"    {d.path:<{width}}  {_clip(json.dumps(d.expected)):<{COLUMN}}"
                           f" | {_clip(json.dumps(d.observed))}")
            mine = [c for c in changes if (c.tier, c.scenario) == (r.tier, r.scenario)]
            if mine:
                out.append(render_changes(mine))
    out.append(f"{len(rows)} scenario run(s) compared: {differ} differ, {same} same, "
               f"{skipped} skipped on both")
    if changes:
        out.append(summary(changes))
    return "\n".join(out)


def to_json(builds: Sequence[BuildColumn], rows: Sequence[MatrixRow]) -> dict[str, Any]:
    return {
        "builds": [{"label": b.label, "qemu": b.qemu, "version": b.version,
                    "fingerprint": b.fingerprint} for b in builds],
        "scenarios": [{"scenario": r.scenario, "tier": r.tier, "differs": r.differs,
                       "statuses": [c.status if c else None for c in r.cells],
                       "differences": [{"path": d.path, "a": d.expected, "b": d.observed}
                                       for d in r.differences]} for r in rows],
    }


# --------------------------------------------------------------------------- running
async def _run_build(binary: QemuBinary, scenarios_for: dict[str, list[Scenario]],
                     a: argparse.Namespace, label: str, profile: str | None = None
                     ) -> list[Verdict]:
    opts = RunOptions(log_root=Path(a.log_dir) / label if a.log_dir else None)
    if profile or a.profile:
        opts.profile = profile or a.profile
    out: list[Verdict] = []
    for tier, scenarios in scenarios_for.items():
        host = host_for(tier, binary.path)
        try:
            out += await run_scenarios(scenarios, Runner(host, binary.path, opts),
                                       jobs=a.jobs)
        finally:
            await host.close()
    return out


async def _fingerprint(binary: QemuBinary, jobs: int) -> str:
    try:
        fp = await fingerprint(binary.path, binary.version, jobs=jobs)
    except HarnessError as e:
        return f"fingerprint failed: {e}"
    return ", ".join(fp.matches) or f"no match (closest {fp.closest[0]})"


def run(a: argparse.Namespace) -> int:
    if a.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    tiers = a.tier or list(DEFAULT_TIERS)
    for t in tiers:
        if t not in TIER_HOSTS:
            raise UsageError(f"--tier {t}: unknown tier (choose from {', '.join(TIER_HOSTS)})")
    try:
        bin_a, bin_b = choose(a.qemu), choose(a.qemu_b, "--qemu-b")
    except BinaryError as e:
        raise UsageError(str(e)) from None
    try:
        scenarios = load(a.scenario)
    except ScenarioError as e:
        raise UsageError(str(e)) from None
    scenarios_for = {t: [s for s in scenarios if t in s.tiers] for t in tiers}
    if a.html:
        check_output_dir(a.html, "--html")  # before two whole runs, not after

    async def both() -> tuple[list[Verdict], list[Verdict], list[str], list[str]]:

        return await run_pair(
            (bin_a, bin_b), (a.profile, a.profile), a.jobs,
            lambda b, prof, label: _run_build(b, scenarios_for, a, label, prof),
            fingerprint=not a.no_fingerprint)


    va, vb, fps, profs = asyncio.run(both())
    builds = [BuildColumn("A", bin_a.path, bin_a.version, fps[0]),
              BuildColumn("B", bin_b.path, bin_b.version, fps[1])]
    rows = compare_builds(va, vb)
    changes = explain_all(rows, profs[0], profs[1],
                          versions=(bin_a.version_tuple, bin_b.version_tuple))
    if a.json:
        doc = to_json(builds, rows)
        doc["profiles"], doc["changes"] = profs, [c.to_dict() for c in changes]
        json.dump(doc, sys.stdout, indent=2)
        print()
    else:
        print(render_text(builds, rows, a.all, changes))
    if a.html:
        try:
            page = write_report(a.html, [*va, *vb], title="accel SMMUv3: build comparison",
                                builds=builds, matrix=rows)
        except ReportError as e:
            raise UsageError(str(e)) from None
        add_to_report(Path(page), html_section(changes, profs[0], profs[1]))
        print(f"HTML report: {page}", file=sys.stderr)
    return 1 if any(r.differences for r in rows) else 0
