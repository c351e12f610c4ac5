"""Merge the results of ``--shard K/N`` jobs into one report.

Inputs, in any mix:

* a shard's ``--html DIR``: ``DIR/verdicts.json`` and, when the run was sharded,
  ``DIR/shard.json`` (:class:`~conformance.shard.ShardManifest`);
* a ``verdicts.json`` file, or the output of ``run --json`` (a list of verdicts);
* a JUnit XML file (pytest ``--junitxml``; with ``--shard`` the plugin records the shard
  and partition as test-suite properties ``conformance_shard`` and
  ``conformance_partition``).

Checks, each a one-line :class:`MergeError` (the CLI exits 2; a merge that hides a lost
shard would make CI green while testing less):

* no scenario run (tier + scenario, or JUnit test case) appears twice: shards that
  overlap come from different partitions;
* sharded inputs all name the same partition, each shard 1..N exactly once, together
  they cover the run's units, and each shard's verdicts are exactly the units its
  manifest lists.

Outputs: verdicts in the order one unsharded run prints them (recorded in the shard
manifests; without them tiers in the order ``tcg``, ``kvm``, ``nested``, ``hw`` and
scenarios in catalogue order),
one JUnit document (the inputs' test cases, or rendered from the verdicts), optionally
the HTML report.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from catalogue.scenario import ScenarioError, load_catalogue
from catalogue.vocabulary import TIERS
from conformance.frontends.report_html import write_report
from conformance.frontends.report_text import details
from conformance.result import FAILING, Verdict
from conformance.shard import Shard, ShardError, ShardManifest, unit_key

SHARD_PROPERTY = "conformance_shard"
PARTITION_PROPERTY = "conformance_partition"


class MergeError(ValueError):
    """Inputs that cannot be merged into one honest report; ``str()`` is one line."""


@dataclass
class Inputs:
    """What was read: verdicts (with their source), JUnit suites, shard manifests."""

    verdicts: list[tuple[Verdict, str]] = field(default_factory=list)
    junit_cases: list[tuple[ET.Element, str]] = field(default_factory=list)
    junit_props: list[tuple[dict[str, str], str]] = field(default_factory=list)
    manifests: list[tuple[ShardManifest, str, list[str]]] = field(default_factory=list)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MergeError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None


def _verdicts(path: Path, text: str) -> list[Verdict]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise MergeError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, list):
        raise MergeError(f"{path}: expected a list of verdicts (verdicts.json or run --json)")
    out = []
    for i, d in enumerate(data):
        try:
            out.append(Verdict.from_dict(d))
        except (TypeError, KeyError) as e:
            raise MergeError(f"{path}: verdict {i} is not a verdict record ({e})") from None
    return out


def read(paths: Iterable[str | Path]) -> Inputs:
    got = Inputs()
    for p in paths:
        path = Path(p)
        if path.is_dir():
            vpath = path / "verdicts.json"
            if not vpath.exists():
                raise MergeError(f"{path}: no verdicts.json (a run --html DIR folder?)")
            vs = _verdicts(vpath, _read(vpath))
            got.verdicts += [(v, str(vpath)) for v in vs]
            mpath = path / "shard.json"
            if mpath.exists():
                try:
                    m = ShardManifest.from_dict(json.loads(_read(mpath)))
                except (ValueError, KeyError, TypeError) as e:
                    raise MergeError(f"{mpath}: not a shard manifest ({e})") from None
                got.manifests.append((m, str(mpath),
                                      [unit_key(v.tier, v.scenario.rpartition(":")[2])
                                       for v in vs]))
            continue
        text = _read(path)
        if text.lstrip().startswith("<"):
            try:
                root = ET.fromstring(text)
            except ET.ParseError as e:
                raise MergeError(f"{path}: not valid XML ({e})") from None
            props = {pr.get("name", ""): pr.get("value", "")
                     for pr in root.iter("property")}
            got.junit_props.append((props, str(path)))
            got.junit_cases += [(tc, str(path)) for tc in root.iter("testcase")]
        else:
            got.verdicts += [(v, str(path)) for v in _verdicts(path, text)]
    return got


def _check_shards(shards: list[tuple[str, str, str]]) -> None:
    """``(shard "K/N", partition, source)`` of every sharded input.

    Inputs of one partition (one sharded run: same scenarios, tiers, N, durations) must
    hold each shard 1..N exactly once.  Several partitions may be merged (e.g. a TCG run
    in 3 shards and a nested run in 2); a shard of a foreign partition then forms an
    incomplete group of its own and is reported as such."""
    groups: dict[str, list[tuple[Shard, str]]] = {}
    for s, part, src in shards:
        try:
            groups.setdefault(part, []).append((Shard.parse(s, "shard"), src))
        except ShardError as e:
            raise MergeError(f"{src}: {e}") from None
    for part, members in groups.items():
        totals = {sh.total for sh, _ in members}
        if len(totals) > 1:
            raise MergeError(f"shards of partition {part or '?'} disagree on N: "
                             f"{', '.join(sorted(str(sh) for sh, _ in members))}")
        n = totals.pop()
        seen: dict[int, str] = {}
        for sh, src in members:
            s, k = str(sh), sh.index
            if k in seen:
                raise MergeError(f"shard {s} given twice ({seen[k]} and {src})")
            seen[k] = src
        missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in seen]
        if missing:
            where = f" of partition {part}" if len(groups) > 1 else ""
            raise MergeError(f"shard(s) {', '.join(missing)}{where} missing: the merged "
                             "report would leave their scenarios out")


def check(got: Inputs) -> None:
    _check_shards([(m.shard, m.fingerprint, src) for m, src, _ in got.manifests])
    _check_shards([(p[SHARD_PROPERTY], p.get(PARTITION_PROPERTY, ""), src)
                   for p, src in got.junit_props if SHARD_PROPERTY in p])
    first: dict[tuple[str, str], str] = {}
    for v, src in got.verdicts:
        k = (v.tier, v.scenario)
        if k in first:
            raise MergeError(f"{v.tier} {v.scenario} appears in both {first[k]} and {src} "
                             "(overlapping shards)")
        first[k] = src
    cases: dict[tuple[str, str], str] = {}
    for tc, src in got.junit_cases:
        k = (tc.get("classname", ""), tc.get("name", ""))
        if k in cases:
            raise MergeError(f"JUnit test case {k[0]}::{k[1]} appears in both {cases[k]} and "
                             f"{src} (overlapping shards)")
        cases[k] = src
    for part, order in _run_orders(got).items():
        listed = sorted(u for m, _, _ in got.manifests if m.fingerprint == part
                        for u in m.units)
        if listed != sorted(order):
            raise MergeError(f"the shards of partition {part} do not cover its "
                             f"{len(order)} scenario runs (partition mismatch)")
    for m, src, units in got.manifests:
        if sorted(m.units) != sorted(units):
            extra = sorted(set(units) - set(m.units)) or sorted(set(m.units) - set(units))
            raise MergeError(f"{src}: shard {m.shard} lists other scenario runs than its "
                             f"verdicts.json (e.g. {extra[0] if extra else '?'})")


def _run_orders(got: Inputs) -> dict[str, list[str]]:
    """Each partition's unsharded run order, partitions ordered by their first tier."""
    orders = {m.fingerprint: m.run_order for m, _, _ in got.manifests if m.run_order}
    rank = {t: i for i, t in enumerate(TIERS)}
    return dict(sorted(orders.items(), key=lambda kv: rank.get(
        kv[1][0].split("-", 1)[0], len(rank)) if kv[1] else len(rank)))


def ordered(verdicts: Sequence[Verdict], run_order: Sequence[str] = ()) -> list[Verdict]:
    """The order of one unsharded run: the shards' recorded run order, else tiers as
    listed in TIERS, then catalogue order."""
    if run_order:
        pos = {k: i for i, k in enumerate(run_order)}
        return sorted(verdicts, key=lambda v: pos.get(
            unit_key(v.tier, v.scenario.rpartition(":")[2]), len(pos)))
    try:
        order = {s.ref: i for i, s in enumerate(load_catalogue())}
    except ScenarioError:
        order = {}
    tiers = {t: i for i, t in enumerate(TIERS)}
    return sorted(verdicts, key=lambda v: (tiers.get(v.tier, len(tiers)),
                                           order.get(v.scenario, len(order)), v.scenario))


# ------------------------------------------------------------------ JUnit
def junit_case(v: Verdict) -> ET.Element:
    """A verdict as a JUnit test case named like the pytest plugin's test."""
    name = f"test_conformance[{unit_key(v.tier, v.scenario.rpartition(':')[2])}]"
    tc = ET.Element("testcase", classname=f"conformance.{v.tier}", name=name,
                    time=f"{v.duration_s:.3f}")
    if v.status == "skipped":
        ET.SubElement(tc, "skipped", type="pytest.skip", message=v.reason)
    elif v.status == "expected-nonconformance":
        ET.SubElement(tc, "skipped", type="pytest.xfail", message=f"known QEMU bug: {v.reason}")
    elif v.status in FAILING:
        tag = "error" if v.status == "infra-error" else "failure"
        el = ET.SubElement(tc, tag, message=f"{v.status}: {v.reason}")
        el.text = details(v)
    return tc


def junit(cases: Sequence[ET.Element], name: str = "accel-smmuv3-conformance",
          properties: dict[str, str] | None = None) -> ET.ElementTree:
    def count(tag: str) -> int:
        return sum(1 for c in cases if c.find(tag) is not None)

    total_time = sum(float(c.get("time", "0") or 0) for c in cases)
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(cases)),
                          failures=str(count("failure")), errors=str(count("error")),
                          skipped=str(count("skipped")), time=f"{total_time:.3f}")
    if properties:
        props = ET.SubElement(suite, "properties")
        for k, val in properties.items():
            ET.SubElement(props, "property", name=k, value=val)
    suite.extend(cases)
    ET.indent(root)
    return ET.ElementTree(root)


@dataclass
class Merged:
    verdicts: list[Verdict]
    junit: ET.ElementTree
    failed: int  # failing verdicts + JUnit failures/errors
    shards: int

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for v in self.verdicts:
            counts[v.status] = counts.get(v.status, 0) + 1
        parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        root = self.junit.getroot()
        suite = root.find("testsuite") if root is not None else None
        tests = suite.get("tests", "0") if suite is not None else "0"
        return (f"merged {self.shards or 'unsharded'} shard(s): {len(self.verdicts)} "
                f"scenario run(s): {parts or 'none'}; JUnit {tests} test case(s)")


def merge(paths: Sequence[str | Path]) -> Merged:
    if not paths:
        raise MergeError("nothing to merge: give shard folders, verdicts.json or JUnit files")
    got = read(paths)
    check(got)
    run_order = [u for order in _run_orders(got).values() for u in order]
    verdicts = ordered([v for v, _ in got.verdicts], run_order)
    if got.junit_cases:
        cases = [tc for tc, _ in got.junit_cases]
        parts = [p[PARTITION_PROPERTY] for p, _ in got.junit_props if PARTITION_PROPERTY in p]
        keep = {PARTITION_PROPERTY: parts[0]} if parts else {}
    else:
        cases = [junit_case(v) for v in verdicts]
        keep = ({PARTITION_PROPERTY: got.manifests[0][0].fingerprint}
                if got.manifests else {})
    failed = sum(1 for v in verdicts if v.failed) + sum(
        1 for tc, _ in got.junit_cases if tc.find("failure") is not None
        or tc.find("error") is not None)
    shards = len(got.manifests) + sum(1 for p, _ in got.junit_props if SHARD_PROPERTY in p)
    return Merged(verdicts=verdicts, junit=junit(cases, properties=keep or None),
                  failed=failed, shards=shards)


def write(m: Merged, out: str | Path, html: bool = True) -> list[Path]:
    """``verdicts.json``, ``junit.xml`` and (``html``) ``index.html`` into ``out``."""
    d = Path(out)
    written = []
    try:
        d.mkdir(parents=True, exist_ok=True)
        if html and m.verdicts:
            written.append(write_report(d, m.verdicts, title="accel SMMUv3 conformance "
                                                              "(merged shards)"))
        vpath = d / "verdicts.json"
        vpath.write_text(json.dumps([v.to_dict() for v in m.verdicts], indent=2) + "\n",
                         encoding="utf-8")
        jpath = d / "junit.xml"
        m.junit.write(jpath, encoding="utf-8", xml_declaration=True)
        written += [vpath, jpath]
    except OSError as e:
        raise MergeError(f"--out {d}: cannot write: {e.strerror or e}") from None
    return written


def verdict_table(verdicts: Iterable[Verdict]) -> dict[str, str]:
    """``{"tier file:name": status}``: what 'the same verdicts' means for shards."""
    return {f"{v.tier} {v.scenario}": v.status for v in verdicts}
