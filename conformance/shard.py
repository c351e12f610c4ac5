"""``--shard K/N``: split one run over N CI jobs, balanced by recorded durations.

A *unit* is one scenario on one tier, named like its pytest id (``tcg-p1-accel-on-tcg``;
scenario names are unique across the catalogue).  Every job computes the same partition
from the same inputs (the scenario list, the tiers, the durations file), so N jobs with
``--shard 1/N`` ... ``--shard N/N`` run every unit exactly once, whatever order the CI
engine starts them in, and a merged report (:mod:`conformance.frontends.merge`) equals one run.

Balancing (longest processing time first, deterministic): units are sorted by
estimated duration, longest first (ties by name), and each goes to the shard with the
least estimated work so far (ties: the lower shard number).  Estimates, first match wins:

1. a recorded duration for the unit: ``--shard-durations FILE`` (repeatable), either a
   ``verdicts.json`` of an earlier run (``run --html DIR`` writes one; ``run --json``
   output too) or a JUnit XML file (pytest ``--junitxml``; ``time`` of
   ``test_conformance[<unit>]`` test cases);
2. a unit the tier will skip without starting QEMU (the tier is not in the scenario's
   ``tiers``): :data:`SKIP_SECONDS`;
3. the median recorded duration of the same tier, if the file has any;
4. :data:`DEFAULT_SECONDS` for the tier (measured on a 2-core x86 box: about 0.15 s
   per TCG scenario, 1.7 s per nested L2 scenario; docs/nested.md).

The partition depends on the durations, so every job must read the same file (commit
it, or take it from the default branch's last pipeline); the merge refuses shards that
overlap or leave a unit out.  Each shard's manifest (:class:`ShardManifest`, written as
``shard.json`` beside ``verdicts.json``) names the partition's fingerprint for that
check.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue.scenario import Scenario

#: seconds one scenario takes on a tier when nothing is recorded
DEFAULT_SECONDS: Mapping[str, float] = {"tcg": 0.15, "kvm": 1.7, "nested": 1.7, "hw": 1.7}
#: fallback for a tier not in the table and for pytest items that are not scenarios
OTHER_SECONDS = 0.1
#: a unit the runner skips at once (tier not in the scenario's tiers)
SKIP_SECONDS = 0.001
_SPEC_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_CASE_RE = re.compile(r"test_conformance\[(.+)\]$")


class ShardError(ValueError):
    """A bad ``--shard`` value or durations file; ``str()`` is one line."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``total``."""

    index: int
    total: int

    @classmethod
    def parse(cls, text: str, option: str = "--shard") -> Shard:
        m = _SPEC_RE.match(text)
        if not m:
            raise ShardError(f"{option} {text!r}: expected K/N (e.g. 2/4)")
        k, n = int(m[1]), int(m[2])
        if n < 1 or not 1 <= k <= n:
            raise ShardError(f"{option} {text!r}: K must be between 1 and N (N >= 1)")
        return cls(k, n)

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


@dataclass(frozen=True)
class Unit:
    """One thing to run: its key (the pytest id of a scenario on a tier) and tier."""

    key: str
    tier: str = ""
    runs: bool = True  # False: the tier skips it without starting QEMU


@dataclass
class Plan:
    """The whole partition (every job computes the same one)."""

    shards: list[list[str]]
    estimates: dict[str, float]
    recorded: int  # units whose estimate came from a recorded duration
    order: list[str] = field(default_factory=list)  # every unit, in the run's order

    def load(self, index: int) -> float:
        return sum(self.estimates[k] for k in self.shards[index - 1])

    def fingerprint(self) -> str:
        """Identifies the partition: shards from different partitions must not merge."""
        return hashlib.sha256(json.dumps(self.shards).encode()).hexdigest()[:16]


@dataclass
class ShardManifest:
    """What one shard ran; written as ``shard.json`` beside its ``verdicts.json``."""

    shard: str
    fingerprint: str
    units: list[str]
    total_units: int
    estimated_seconds: float
    durations_from: list[str] = field(default_factory=list)
    run_order: list[str] = field(default_factory=list)  # all shards' units, unsharded order

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ShardManifest:
        return cls(shard=str(d["shard"]), fingerprint=str(d["fingerprint"]),
                   units=[str(u) for u in d["units"]], total_units=int(d["total_units"]),
                   estimated_seconds=float(d.get("estimated_seconds", 0.0)),
                   durations_from=[str(x) for x in d.get("durations_from", [])],
                   run_order=[str(x) for x in d.get("run_order", [])])


def unit_key(tier: str, scenario_name: str) -> str:
    """The pytest id of a scenario on a tier (``ConformanceCase.id``)."""
    return f"{tier}-{scenario_name}"


# ------------------------------------------------------------------ recorded durations
def _from_verdicts(data: Any, where: str) -> dict[str, float]:
    if not isinstance(data, list):
        raise ShardError(f"{where}: expected a list of verdicts (verdicts.json)")
    out: dict[str, float] = {}
    for i, v in enumerate(data):
        try:
            name = str(v["scenario"]).rpartition(":")[2]
            out[unit_key(str(v["tier"]), name)] = float(v.get("duration_s", 0.0))
        except (TypeError, KeyError, ValueError):
            raise ShardError(f"{where}: verdict {i} has no scenario/tier/duration_s") from None
    return out


def _from_junit(root: ET.Element) -> dict[str, float]:
    out: dict[str, float] = {}
    for tc in root.iter("testcase"):
        m = _CASE_RE.search(tc.get("name", ""))
        key = m[1] if m else f"{tc.get('classname', '')}::{tc.get('name', '')}"
        try:
            out[key] = float(tc.get("time", "0") or 0)
        except ValueError:
            continue
    return out


def load_durations(paths: Iterable[str | Path]) -> dict[str, float]:
    """Recorded seconds per unit from ``verdicts.json`` and JUnit XML files (later files
    win).  A missing or malformed file is a :class:`ShardError` naming it."""
    out: dict[str, float] = {}
    for p in paths:
        path = Path(p)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ShardError(f"--shard-durations {path}: cannot read: "
                             f"{getattr(e, 'strerror', None) or e}") from None
        if text.lstrip().startswith("<"):
            try:
                out.update(_from_junit(ET.fromstring(text)))
            except ET.ParseError as e:
                raise ShardError(f"--shard-durations {path}: not valid XML ({e})") from None
        else:
            try:
                data = json.loads(text)
            except ValueError as e:
                raise ShardError(f"--shard-durations {path}: not JSON or JUnit XML "
                                 f"({e})") from None
            out.update(_from_verdicts(data, f"--shard-durations {path}"))
    return out


# ------------------------------------------------------------------ the partition
def estimate(units: Sequence[Unit], recorded: Mapping[str, float]) -> tuple[dict[str, float], int]:
    """Seconds per unit (see the module docstring for the order) and how many were
    recorded."""
    by_tier: dict[str, list[float]] = {}
    for u in units:
        if u.key in recorded and u.runs:
            by_tier.setdefault(u.tier, []).append(recorded[u.key])
    medians = {t: statistics.median(xs) for t, xs in by_tier.items()}
    out: dict[str, float] = {}
    hits = 0
    for u in units:
        if u.key in recorded:
            out[u.key] = max(recorded[u.key], 0.0)
            hits += 1
        elif not u.runs:
            out[u.key] = SKIP_SECONDS
        else:
            out[u.key] = medians.get(u.tier, DEFAULT_SECONDS.get(u.tier, OTHER_SECONDS))
    return out, hits


def partition(units: Sequence[Unit], total: int,
              recorded: Mapping[str, float] | None = None) -> Plan:
    """Split ``units`` into ``total`` shards (each unit in exactly one), balanced by
    estimated duration; deterministic for the same inputs."""
    keys = [u.key for u in units]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ShardError(f"unit {dup!r} appears twice (a scenario selected twice?)")
    est, hits = estimate(units, recorded or {})
    shards: list[list[str]] = [[] for _ in range(total)]
    loads = [0.0] * total
    for key in sorted(keys, key=lambda k: (-est[k], k)):
        i = min(range(total), key=lambda j: (loads[j], j))
        shards[i].append(key)
        loads[i] += est[key]
    order = {k: n for n, k in enumerate(keys)}  # each shard runs in the original order
    for s in shards:
        s.sort(key=order.__getitem__)
    return Plan(shards=shards, estimates=est, recorded=hits, order=keys)


def manifest_for(plan: Plan, shard: Shard, durations_from: Sequence[str] = ()
                 ) -> ShardManifest:
    return ShardManifest(shard=str(shard), fingerprint=plan.fingerprint(),
                         units=list(plan.shards[shard.index - 1]),
                         total_units=sum(len(s) for s in plan.shards),
                         estimated_seconds=round(plan.load(shard.index), 3),
                         durations_from=list(durations_from), run_order=list(plan.order))


def describe(plan: Plan, shard: Shard) -> str:
    """One line for stderr: what this shard runs and how it was balanced."""
    mine = plan.shards[shard.index - 1]
    total = sum(len(s) for s in plan.shards)
    loads = [plan.load(i + 1) for i in range(shard.total)]
    src = (f"{plan.recorded} of {total} durations recorded" if plan.recorded
           else "no recorded durations: per-tier defaults")
    return (f"shard {shard}: {len(mine)} of {total} scenario runs, estimated "
            f"{loads[shard.index - 1]:.1f} s (shards {min(loads):.1f}-{max(loads):.1f} s; "
            f"{src}; partition {plan.fingerprint()})")


# ------------------------------------------------------------------ front ends
@dataclass(frozen=True)
class Sharding:
    """``run --shard K/N [--shard-durations FILE...]``, checked and read up front (a bad
    value is a usage error before any binary is probed)."""

    shard: Shard
    recorded: Mapping[str, float]
    durations_from: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, spec: str | None, durations: Sequence[str]) -> Sharding:
        if not spec:
            raise ShardError("--shard-durations needs --shard K/N")
        return cls(Shard.parse(spec), load_durations(durations), tuple(durations))

    def apply(self, scenarios_for: Mapping[str, Sequence[Scenario]]
              ) -> tuple[dict[str, list[Scenario]], ShardManifest, str]:
        """Keep this shard's scenarios per tier; its manifest; a note for stderr."""
        units = [Unit(unit_key(t, s.name), t, t in s.tiers)
                 for t, ss in scenarios_for.items() for s in ss]
        plan = partition(units, self.shard.total, self.recorded)
        mine = set(plan.shards[self.shard.index - 1])
        kept = {t: [s for s in ss if unit_key(t, s.name) in mine]
                for t, ss in scenarios_for.items()}
        return (kept, manifest_for(plan, self.shard, self.durations_from),
                describe(plan, self.shard))


def apply(scenarios_for: Mapping[str, Sequence[Scenario]], spec: str,
          durations: Sequence[str] = ()) -> tuple[dict[str, list[Scenario]],
                                                  ShardManifest, str]:
    """``run --shard``: keep this shard's scenarios per tier; its manifest; a note."""
    return Sharding.from_options(spec, durations).apply(scenarios_for)


def write_manifest(directory: str | Path, manifest: ShardManifest) -> Path:
    path = Path(directory) / "shard.json"
    path.write_text(manifest.to_json(), encoding="utf-8")
    return path


def split_items(items: Sequence[Any], spec: str, durations: Sequence[str] = ()
                ) -> tuple[list[Any], list[Any], Plan, Shard]:
    """pytest ``--shard``: ``(kept, deselected, plan, shard)`` for collected items.

    A conformance item (one with a ``conformance_case`` parameter) is the unit
    ``<tier>-<scenario>``; any other item is its node id, estimated at
    :data:`OTHER_SECONDS` unless a JUnit file records it."""
    shard = Shard.parse(spec)
    units: list[Unit] = []
    for it in items:
        case = getattr(getattr(it, "callspec", None), "params", {}).get("conformance_case")
        if case is not None:
            units.append(Unit(unit_key(case.tier, case.scenario.name), case.tier,
                              case.tier in case.scenario.tiers))
        else:
            units.append(Unit(str(it.nodeid)))
    plan = partition(units, shard.total, load_durations(durations))
    mine = set(plan.shards[shard.index - 1])
    kept = [it for it, u in zip(items, units, strict=True) if u.key in mine]
    dropped = [it for it, u in zip(items, units, strict=True) if u.key not in mine]
    return kept, dropped, plan, shard
