"""A static HTML report of verdicts: ``run --html DIR`` and ``diff --html DIR``.

The report is one self-contained ``index.html``, rendered from the Jinja2 template
``conformance/frontends/templates/report.html.j2`` (autoescaped; the stylesheet
``templates/report.css`` is inlined; no scripts, no external resources),
so a CI job can publish the folder as an artifact and anyone can open it from disk.
It holds, in this order:

1. a **summary table**: one row per tier and catalogue section (the section of a
   scenario is that of its first catalogue row: ``P1`` is §1, ``AS3`` is §4 ...), one
   column per verdict status, with totals;
2. each **finding** (``nonconformance``, ``unexpected-pass``, ``infra-error``) with
   its field-by-field diff, command line, exit status, stderr tail, log folder and
   (folded) QMP transcript; known QEMU bugs (``expected-nonconformance``) follow with
   their reason;
3. the list of **all verdicts**;
4. with :class:`BuildColumn` data (``python -m conformance diff``), a **matrix** of
   scenarios x builds: each cell is that build's status, and rows where the builds'
   *observed* behaviour differs are marked and explained side by side.

Everything is a pure function of :class:`~conformance.result.Verdict` records, so a
report can also be made later from ``run --json`` output (:func:`write_report`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from catalogue.prediction import Difference
from catalogue.vocabulary import section_of
from conformance.errors import HarnessError
from conformance.frontends.report_coverage import CSS as COVERAGE_CSS
from conformance.frontends.report_coverage import verdicts_section
from conformance.frontends.report_style import css
from conformance.result import STATUSES, Verdict

FINDINGS = ("nonconformance", "unexpected-pass", "infra-error")
TRANSCRIPT_LIMIT = 200


class ReportError(HarnessError, OSError):
    """The report folder cannot be written; ``str()`` names the path."""


def _section_key(name: str) -> tuple[int, str]:
    m = re.match(r"§(\d+)", name)
    return (int(m[1]) if m else 99, name)


def summarize(verdicts: Iterable[Verdict]) -> dict[tuple[str, str], Counter[str]]:
    """``(tier, section) -> Counter(status)``, in tier then section order."""
    table: dict[tuple[str, str], Counter[str]] = {}
    for v in verdicts:
        table.setdefault((v.tier, section_of(v.rows)), Counter())[v.status] += 1
    return dict(sorted(table.items(), key=lambda kv: (kv[0][0], _section_key(kv[0][1]))))


def _build_label(v: Verdict, builds: Sequence[BuildColumn]) -> str:
    return next((b.label for b in builds if b.qemu == v.qemu), "?")


# --------------------------------------------------------------------------- matrix data
@dataclass
class BuildColumn:
    """One build in a ``diff``: a label (``A``/``B``), its binary, and its verdicts."""

    label: str
    qemu: str
    version: str = ""
    fingerprint: str = ""  # the profile ``fingerprint`` matched, if known


@dataclass
class MatrixRow:
    """One scenario on one tier across builds.

    ``cells[i]`` is build ``i``'s verdict (``None``: not run there).  ``differences``
    compares what the builds were *observed* to do (``expected`` = the first build,
    ``observed`` = the other), independent of the model.
    """

    scenario: str
    tier: str
    rows: list[str]
    cells: list[Verdict | None]
    differences: list[Difference] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        if self.differences:
            return True
        statuses = {c.status for c in self.cells if c is not None}
        return len(statuses) > 1


# --------------------------------------------------------------------------- rendering
def _value(v: Any) -> str:
    """A diff value as the report shows it: integers above 9 in hex, the rest as JSON."""
    if isinstance(v, int) and not isinstance(v, bool) and v > 9:
        return f"0x{v:x}"
    return json.dumps(v)


def _differences(diffs: Iterable[dict[str, Any]] | Iterable[Difference]) -> list[Difference]:
    return [d if isinstance(d, Difference)
            else Difference(d.get("path", ""), d.get("expected"), d.get("observed"))
            for d in diffs]


def _transcript(xs: Sequence[Any]) -> str:
    return "\n".join(f"{x.t:8.4f} {x.dir} {json.dumps(x.message)}"
                     for x in xs[-TRANSCRIPT_LIMIT:])


def _observed_summary(v: Verdict | None) -> str:
    if v is None:
        return "not run"
    obs = v.observation or {}
    if v.status in ("skipped", "not-covered"):
        return v.reason
    if obs.get("outcome") == "exits":
        return f"exits {obs.get('exit_code')}: {obs.get('error') or ''}".strip()
    if obs:
        return "starts"
    return v.reason


_ENV = Environment(loader=PackageLoader("conformance.frontends", "templates"),
                   autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
_ENV.filters.update(value=_value, differences=_differences, transcript=_transcript,
                    observed=_observed_summary, shell=shlex.join)


@dataclass
class _SummaryRow:
    tier: str
    section: str
    counts: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _summary(verdicts: list[Verdict], builds: Sequence[BuildColumn]) -> list[_SummaryRow]:
    """Per tier and section; with several builds, one block of rows per build."""
    groups = ([(b.label, [v for v in verdicts if _build_label(v, builds) == b.label])
               for b in builds] if builds else [("", verdicts)])
    return [_SummaryRow(f"{label}: {tier}" if label else tier, section, c)
            for label, group in groups for (tier, section), c in summarize(group).items()]


def render_report(verdicts: Sequence[Verdict], *, title: str = "accel SMMUv3 conformance",
                  builds: Sequence[BuildColumn] = (), matrix: Sequence[MatrixRow] = (),
                  generated: datetime | None = None, coverage: bool = False) -> str:
    """The report as one HTML document (a pure function of its arguments).

    ``coverage``: add the coverage matrix of these verdicts (``run --html``); it also
    asks this machine which tiers can run, and hashes the QEMU builds."""
    vs = list(verdicts)
    versions: dict[str, str] = {}
    for v in vs:
        if v.qemu:
            versions[v.qemu] = versions.get(v.qemu) or v.qemu_version
    counts = Counter(v.status for v in vs)
    summary = _summary(vs, builds)
    totals: Counter[str] = Counter()
    for row in summary:
        totals.update(row.counts)
    return _ENV.get_template("report.html.j2").render(
        title=title, css=css() + (COVERAGE_CSS if coverage else ""),
        # the coverage section is built escaped by report_coverage
        coverage=Markup(verdicts_section(vs)) if coverage else None,
        verdicts=vs, statuses=STATUSES, summary=summary,
        totals=totals, builds=builds, matrix=matrix,
        generated=(generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC"),
        counts=", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s]),
        qemus=sorted(versions.items()),
        profiles=sorted({v.profile for v in vs if v.profile}),
        findings=[v for v in vs if v.status in FINDINGS],
        known=[v for v in vs if v.status == "expected-nonconformance"])


def write_report(directory: str | Path, verdicts: Sequence[Verdict], **kw: Any) -> Path:
    """Write ``index.html`` (and ``verdicts.json``) into ``directory``; return the page.

    Raises :class:`ReportError` (one line, naming the folder) if it cannot be written.
    """
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
        page = d / "index.html"
        page.write_text(render_report(verdicts, **kw), encoding="utf-8")
        (d / "verdicts.json").write_text(
            json.dumps([v.to_dict() for v in verdicts], indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise ReportError(f"--html {d}: cannot write the report: {e.strerror or e}") from None
    return page
