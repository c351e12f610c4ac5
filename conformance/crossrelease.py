"""Why two builds differ: every observed difference tied to a profile, a row, a revision.

``diff`` and ``premerge`` run the catalogue on two builds.  Each build is judged by
*its own* profile (the one ``fingerprint`` names, or one given), so a difference between
the two observations is **expected** when the model predicts it: both builds conform to
their profiles and the two predictions differ in that very field.  Then the rules that
fired for one prediction and not the other say which catalogue row and which revision
explain the change (e.g. 10.0.13 -> 11.1.3: ``P4.not-user-creatable`` (row P4, 10.1)
gives way to ``P6``, ``2a``...).  A scenario that runs on one build and is skipped on the
other is expected when the skip follows from the profiles too (the older profile's
``arm-smmuv3`` has no such property; a ``virt-X.Y`` machine type newer than the build).

Anything else is **unexplained**: the model has no opinion on that field, or a build does
not conform to its own profile.  An unexplained difference between two releases is a
finding for docs/findings.md; in a pre-merge check it is what a reviewer must look at.

The data flow::

    profiles_for(A, B)  --(fingerprint, or given)-->  run_build(A, pa), run_build(B, pb)
        -> cmd_diff.compare_builds(va, vb)  -> MatrixRow per (tier, scenario)
        -> explain(row, pa, pb)             -> Change per differing field
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from conformance.errors import HarnessError
from conformance.result import Verdict
from conformance.select import DEFAULT_PROFILE
from conformance.tools.fingerprint import fingerprint
from reference_model.profiles import resolve
from reference_model.rules import RULES
from reference_model.rules.properties import SCHEMAS

Mark = Literal["expected", "unexplained"]
GOOD = frozenset({"pass", "expected-nonconformance"})

_NO_PROP = re.compile(r"arm-smmuv3 has no property '([^']+)'")
_NO_TRACE = re.compile(r"has no trace event '([^']+)'")
_NO_MACHINE = re.compile(r"has no machine type 'virt-(\d+)\.(\d+)'")
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass
class Change:
    """One difference between the builds, with its explanation."""

    tier: str
    scenario: str
    path: str
    a: Any
    b: Any
    mark: Mark
    why: str
    rows: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # "rule (row, revision)"

    def to_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "scenario": self.scenario, "path": self.path,
                "a": self.a, "b": self.b, "mark": self.mark, "why": self.why,
                "rows": self.rows, "rules": self.rules}


def _walk(d: Any, path: str) -> Any:
    """The value at a ``diff`` path (``smmus.smmu0.idr.IDR0``, ``events[0].ok``)."""
    cur = d
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            cur = cur[i] if isinstance(cur, list) and i < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


def _firings(v: Verdict) -> dict[str, str]:
    """Rule id -> "id (row R, revision)" for every rule the prediction fired.  A start-up
    prediction lists firings (dicts); a guest-tier prediction lists rule ids, whose row
    and revision come from the model's rule table."""
    out: dict[str, str] = {}
    for r in (v.prediction or {}).get("rules", []):
        if isinstance(r, str):
            known = RULES.get(r)
            row, source = (known.row, known.source) if known is not None else ("?", "?")
            r = {"rule": r, "row": row, "source": source}
        out[r["rule"]] = f"{r['rule']} (row {r['row']}, {r['source']})"
    return out


def _version(v: Verdict) -> tuple[int, int, int] | None:
    m = _VERSION.search(v.qemu_version or "")
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _profile_has(profile: str, prop: str) -> bool:

    return prop in SCHEMAS[resolve(profile).b.props]


Version = tuple[int, int, int] | None


def _skip_explained(skipped: Verdict, ran: Verdict, prof_skipped: str, prof_ran: str,
                    mine: Version, other_version: Version) -> tuple[Mark, str, list[str]]:
    reason = skipped.reason
    m = _NO_PROP.search(reason)
    if m:
        prop = m[1]
        if not _profile_has(prof_skipped, prop) and _profile_has(prof_ran, prop):
            return ("expected", f"'{prop}' is not a property of arm-smmuv3 in "
                    f"{prof_skipped}, it is in {prof_ran} (§2a, §10)", ["2a", "10"])
        return "unexplained", f"skipped ({reason}); the profiles do not say why", []
    m = _NO_TRACE.search(reason)
    if m and m[1] not in resolve(prof_skipped).b.trace_events and \
            m[1] in resolve(prof_ran).b.trace_events:
        return ("expected", f"{prof_skipped} has no trace event '{m[1]}', {prof_ran} "
                "has (§0 traces, O7)", ["O7"])
    m = _NO_MACHINE.search(reason)
    if m:
        mv = (int(m[1]), int(m[2]))
        if mine is not None and mine[:2] < mv and (other_version is None
                                                   or other_version[:2] >= mv):
            return ("expected", f"virt-{mv[0]}.{mv[1]} is a machine type of QEMU "
                    f"{mv[0]}.{mv[1]} and later (versioned machine types)", ["P4"])
    return "unexplained", f"skipped on one build only ({reason})", []


def explain(row: Any, prof_a: str, prof_b: str,
            versions: tuple[Version, Version] = (None, None)) -> list[Change]:
    """The :class:`Change` list of one differing ``MatrixRow`` (``cells`` = [A, B]);
    ``versions`` are the builds' (major, minor, micro), for versioned machine types."""
    va, vb = row.cells
    ver_a = versions[0] or (_version(va) if va else None)
    ver_b = versions[1] or (_version(vb) if vb else None)
    out: list[Change] = []
    rows = list(row.rows)
    for d in row.differences:
        base: dict[str, Any] = dict(tier=row.tier, scenario=row.scenario, path=d.path,
                                    a=d.expected, b=d.observed, rows=rows)
        if d.path == "status" and va is not None and vb is not None:
            if va.status == "skipped":
                mark, why, extra = _skip_explained(va, vb, prof_a, prof_b, ver_a, ver_b)
            elif vb.status == "skipped":
                mark, why, extra = _skip_explained(vb, va, prof_b, prof_a, ver_b, ver_a)
            else:
                mark, why, extra = "unexplained", (f"A: {va.status} ({va.reason}); "
                                                   f"B: {vb.status} ({vb.reason})"), []
            base["rows"] = rows + [r for r in extra if r not in rows]
            out.append(Change(**base, mark=mark, why=why))
            continue
        if va is None or vb is None:
            out.append(Change(**base, mark="unexplained",
                              why="run on one build only"))
            continue
        # one profile does not cover the line (a feature its releases lack, e.g. virt's
        # msi=, whose error names the build's own machine version), the other predicts it
        # and its build conforms: the profiles account for the change (§10)
        uncovered = [(v, p, q) for v, p, o, q in ((va, prof_a, vb, prof_b),
                                                 (vb, prof_b, va, prof_a))
                     if v.status == "not-covered" and o.status in GOOD]
        if va.status == vb.status == "not-covered" and va.reason == vb.reason:
            out.append(Change(**base, mark="expected",
                              why=f"neither profile covers this ({va.reason}); the builds "
                                  "word it themselves (their own machine versions)"))
            continue
        if uncovered:
            v, p, q = uncovered[0]
            base["rows"] = rows + ([] if "10" in rows else ["10"])
            out.append(Change(**base, mark="expected",
                              why=f"{p} does not cover this ({v.reason}); {q} predicts "
                                  "what its build does (§10)"))
            continue
        bad = [f"{lbl}: {v.status} against {p} ({v.reason})" for lbl, v, p in
               (("A", va, prof_a), ("B", vb, prof_b)) if v.status not in GOOD]
        if bad:
            out.append(Change(**base, mark="unexplained",
                              why="a build does not conform to its profile: " + "; ".join(bad)))
            continue
        pa = _walk(va.prediction, d.path)
        pb = _walk(vb.prediction, d.path)
        if pa == pb:
            out.append(Change(**base, mark="unexplained",
                              why=f"the model makes no claim that tells {prof_a} from "
                                  f"{prof_b} here (both predict {json.dumps(pa)})"))
            continue
        fa, fb = _firings(va), _firings(vb)
        changed = [fa[k] for k in fa if k not in fb] + [fb[k] for k in fb if k not in fa]
        why = (f"predicted: {prof_a} gives A's value, {prof_b} gives B's"
               if prof_a != prof_b else f"both predicted by {prof_a}")
        out.append(Change(**base, mark="expected", why=why,
                          rules=changed))
    return out


def explain_all(rows: Sequence[Any], prof_a: str, prof_b: str,
                versions: tuple[Version, Version] = (None, None)) -> list[Change]:
    return [c for r in rows if r.differences for c in explain(r, prof_a, prof_b, versions)]


# --------------------------------------------------------------------------- profiles
async def profile_of(path: str, version: str, jobs: int) -> tuple[str, str]:
    """The profile a build is judged by: the first one its fingerprint matches, else the
    closest (and a note saying so)."""

    try:
        fp = await fingerprint(path, version, jobs=jobs)
    except HarnessError as e:
        return DEFAULT_PROFILE, f"fingerprint failed ({e}): judged by {DEFAULT_PROFILE}"
    if fp.matches:
        return fp.matches[0], fp.matches[0]
    best = fp.closest[0]
    return best, f"no match; judged by the closest, {best} (differs on " \
                 f"{', '.join(fp.mismatches[best])})"


def auto_profile(binary: Any) -> str:
    """``run --profile auto``: the profile of ``binary``'s fingerprint (said on stderr)."""
    import asyncio
    import sys

    prof, note = asyncio.run(profile_of(binary.path, binary.version, 2))
    print(f"profile: {prof} ({note if note != prof else 'fingerprint'})", file=sys.stderr)
    return prof


async def run_pair(bins: Sequence[Any], given: Sequence[str | None], jobs: int,
                   run_build: Callable[[Any, str, str], Awaitable[list[Verdict]]],
                   fingerprint: bool = True,
                   ) -> tuple[list[Verdict], list[Verdict], list[str], list[str]]:
    """Run two builds (``bins``: QemuBinary A, B), each judged by the profile given for it,
    else by its fingerprint's (else the default).  Returns both verdict lists, a note per
    build (its profile and how it was chosen) and the two profiles."""

    notes: list[str] = []
    profs: list[str] = []
    for b, g in zip(bins, given, strict=True):
        if g:
            notes.append(f"{g} (given)")
            profs.append(g)
        elif fingerprint:
            prof, note = await profile_of(b.path, b.version, jobs)
            notes.append(note)
            profs.append(prof)
        else:
            notes.append("")
            profs.append(DEFAULT_PROFILE)
    va = await run_build(bins[0], profs[0], "A")
    vb = await run_build(bins[1], profs[1], "B")
    return va, vb, notes, profs


# --------------------------------------------------------------------------- output
def render_changes(changes: Sequence[Change]) -> str:
    out = []
    for c in changes:
        out.append(f"    {c.mark:<11} {c.path}: {_short(c.a)} -> {_short(c.b)}")
        out.append(f"                {c.why}")
        if c.rules:
            out.append(f"                rules: {'; '.join(c.rules)}")
        out.append(f"                rows: {', '.join(c.rows) or '-'}")
    return "\n".join(out)


def summary(changes: Sequence[Change]) -> str:
    exp = sum(c.mark == "expected" for c in changes)
    return (f"{len(changes)} difference(s): {exp} expected (a profile predicts it), "
            f"{len(changes) - exp} unexplained")


def _short(v: Any, width: int = 60) -> str:
    t = json.dumps(v)
    return t if len(t) <= width else t[:width - 3] + "..."


def grouped(changes: Sequence[Change]) -> list[tuple[Mark, str, str, list[Change]]]:
    """Changes per (tier, scenario): (mark of the worst, tier, scenario, changes),
    unexplained scenarios first, then catalogue order."""
    groups: dict[tuple[str, str], list[Change]] = {}
    for c in changes:
        groups.setdefault((c.tier, c.scenario), []).append(c)
    out: list[tuple[Mark, str, str, list[Change]]] = [
        ("expected" if all(c.mark == "expected" for c in cs) else "unexplained", t, n, cs)
        for (t, n), cs in groups.items()]
    return sorted(out, key=lambda g: g[0] == "expected")  # stable: catalogue order kept


def html_section(changes: Sequence[Change], prof_a: str, prof_b: str) -> str:
    """A self-contained HTML section (no scripts): one row per changed scenario, its
    fields A -> B, why, the rules (row, revision) and the catalogue rows."""
    e = html.escape
    body = []
    for mark, tier, scen, cs in grouped(changes):
        fields = "<br>".join(f"<code>{e(c.path)}</code>: <code>{e(_short(c.a, 70))}</code>"
                             f" &rarr; <code>{e(_short(c.b, 70))}</code>" for c in cs)
        whys = "<br>".join(e(w) for w in dict.fromkeys(c.why for c in cs))
        rules = "; ".join(dict.fromkeys(r for c in cs for r in c.rules))
        rows = ", ".join(dict.fromkeys(r for c in cs for r in c.rows))
        body.append(f'<tr class="{mark}"><td>{mark}</td><td>{e(tier)}</td>'
                    f"<td><code>{e(scen)}</code></td><td>{fields}</td><td>{whys}"
                    f"<br><small>{e(rules)}</small></td><td>{e(rows)}</td></tr>")
    n_unexp = sum(g[0] == "unexplained" for g in grouped(changes))
    return (f'<section id="changes"><h2>What B changes (A judged by <code>{e(prof_a)}'
            f'</code>, B by <code>{e(prof_b)}</code>)</h2>'
            f"<p>{len(body)} scenario(s) changed, {n_unexp} unexplained; "
            f"{e(summary(changes))}</p>"
            "<style>#changes tr.unexplained td:first-child{background:#f8d0d0;"
            "font-weight:bold}#changes tr.expected td:first-child{background:#d0f0d0}"
            "#changes td{vertical-align:top;border-top:1px solid #ccc;padding:2px 6px}"
            "</style><table><tr><th>mark</th><th>tier</th><th>scenario</th>"
            f"<th>what changed (A &rarr; B)</th><th>why</th><th>rows</th></tr>"
            f"{''.join(body)}</table></section>")


def add_to_report(page: Path, section: str) -> None:
    """Insert ``section`` at the top of a report written by ``report_html``."""
    text = page.read_text()
    at = text.find("<h2")
    text = text[:at] + section + text[at:] if at >= 0 else text.replace(
        "</body>", section + "</body>")
    page.write_text(text)
