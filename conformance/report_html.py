"""A static HTML report of verdicts: ``run --html DIR`` and ``diff --html DIR``.

The report is one self-contained ``index.html`` (the stylesheet from
``conformance/templates/report.css`` is inlined; no scripts, no external resources),
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

import html
import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from conformance.result import STATUSES, Verdict
from reference_model.prediction import Difference

#: catalogue section of a row id (first match wins; ``AS`` before ``A``)
SECTIONS: tuple[tuple[str, str], ...] = (
    (r"^P\d+a?$", "§1 Preconditions"),
    (r"^2[ab]$", "§2 Properties and ID registers"),
    (r"^AS\d+$", "§4 Address space per device"),
    (r"^A\d+$", "§3 Device admission"),
    (r"^(H\d+|5[abc])$", "§5 vfio-pci attach"),
    (r"^M\d+$", "§6 MSI doorbell"),
    (r"^7[ab]$", "§7 Invalidation and CMDQV"),
    (r"^O\d+$", "§8 Other observables"),
    (r"^(10|F\d*)$", "§10 Series evolution"),
)
UNSECTIONED = "(no catalogue row)"
FINDINGS = ("nonconformance", "unexpected-pass", "infra-error")
TRANSCRIPT_LIMIT = 200


class ReportError(OSError):
    """The report folder cannot be written; ``str()`` names the path."""


def section_of(rows: Sequence[str]) -> str:
    """The catalogue section a scenario belongs to (by its first row)."""
    for row in rows:
        for pattern, name in SECTIONS:
            if re.match(pattern, row):
                return name
    return UNSECTIONED


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
def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _badge(status: str) -> str:
    return f'<span class="badge s-{_e(status)}">{_e(status)}</span>'


def _json(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and v > 9:
        return f"0x{v:x}"
    return json.dumps(v)


def _summary_table(verdicts: list[Verdict], builds: Sequence[BuildColumn] = ()) -> str:
    """Per tier and section; with several builds, one block of rows per build."""
    groups = ([(b.label, [v for v in verdicts if _build_label(v, builds) == b.label])
               for b in builds] if builds else [("", verdicts)])
    head = "".join(f"<th>{_e(s)}</th>" for s in STATUSES)
    out = ['<table class="summary" id="summary">',
           f"<thead><tr><th>tier</th><th>catalogue section</th>{head}<th>total</th></tr>"
           "</thead><tbody>"]
    totals: Counter[str] = Counter()
    for label, group in groups:
        for (tier, section), c in summarize(group).items():
            out.append(_summary_row(f"{label}: {tier}" if label else tier, section, c))
            totals.update(c)
    cells = "".join(f'<td class="num">{totals[s]}</td>' for s in STATUSES)
    out.append(f'<tr class="total"><td colspan="2">all</td>{cells}'
               f'<td class="num">{sum(totals.values())}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _summary_row(tier: str, section: str, c: Counter[str]) -> str:
    cells = "".join(
        f'<td class="num {"s-" + s if c[s] else "zero"}">{c[s]}</td>' for s in STATUSES)
    return (f"<tr><td>{_e(tier)}</td><td>{_e(section)}</td>{cells}"
            f'<td class="num">{sum(c.values())}</td></tr>')



def _diff_table(diffs: Iterable[dict[str, Any]] | Iterable[Difference],
                left: str = "expected (model)", right: str = "observed (QEMU)") -> str:
    rows = []
    for d in diffs:
        path, exp, obs = ((d.path, d.expected, d.observed) if isinstance(d, Difference)
                          else (d.get("path"), d.get("expected"), d.get("observed")))
        rows.append(f"<tr><td><code>{_e(path)}</code></td><td><code>{_e(_json(exp))}</code>"
                    f"</td><td><code>{_e(_json(obs))}</code></td></tr>")
    if not rows:
        return ""
    return ("<table class=\"diff\"><thead><tr><th>field</th>"
            f"<th>{_e(left)}</th><th>{_e(right)}</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _finding(v: Verdict) -> str:
    parts = [f'<div class="finding s-{_e(v.status)}">',
             f"<h3>{_badge(v.status)} <code>{_e(v.tier)}</code> <code>{_e(v.scenario)}</code>"
             "</h3>"]
    if v.reason:
        parts.append(f"<p>{_e(v.reason)}</p>")
    meta = []
    if v.rows:
        meta.append(f"<dt>rows</dt><dd>{_e(', '.join(v.rows))}</dd>")
    if v.profile:
        meta.append(f"<dt>profile</dt><dd>{_e(v.profile)}</dd>")
    if v.exit_code is not None or v.signal is not None:
        meta.append(f"<dt>exit</dt><dd>code={_e(v.exit_code)} signal={_e(v.signal)}</dd>")
    if v.log_dir:
        meta.append(f"<dt>logs</dt><dd><code>{_e(v.log_dir)}</code></dd>")
    if meta:
        parts.append('<dl class="meta">' + "".join(meta) + "</dl>")
    parts.append(_diff_table(v.differences))
    if v.argv:
        parts.append(f"<p>command line:</p><pre>{_e(shlex.join(v.argv))}</pre>")
    if v.stderr_tail:
        parts.append(f"<p>stderr (tail):</p><pre>{_e(v.stderr_tail)}</pre>")
    if v.qmp_transcript:
        lines = [f"{x.t:8.4f} {x.dir} {json.dumps(x.message)}"
                 for x in v.qmp_transcript[-TRANSCRIPT_LIMIT:]]
        parts.append(f"<details><summary>QMP transcript ({len(v.qmp_transcript)} messages)"
                     f"</summary><pre>{_e(chr(10).join(lines))}</pre></details>")
    parts.append("</div>")
    return "\n".join(p for p in parts if p)


def _all_table(verdicts: list[Verdict]) -> str:
    out = ["<table class=\"all\"><thead><tr><th>tier</th><th>scenario</th><th>rows</th>"
           "<th>status</th><th>reason</th><th>s</th></tr></thead><tbody>"]
    for v in verdicts:
        out.append(f"<tr><td>{_e(v.tier)}</td><td><code>{_e(v.scenario)}</code></td>"
                   f"<td>{_e(', '.join(v.rows))}</td><td class=\"s-{_e(v.status)}\">"
                   f"{_e(v.status)}</td><td>{_e(v.reason)}</td>"
                   f'<td class="num">{v.duration_s:.2f}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _observed_summary(v: Verdict | None) -> str:
    if v is None:
        return "not run"
    obs = v.observation or {}
    if v.status == "skipped":
        return v.reason
    if obs.get("outcome") == "exits":
        return f"exits {obs.get('exit_code')}: {obs.get('error') or ''}".strip()
    if obs:
        return "starts"
    return v.reason


def _matrix(builds: Sequence[BuildColumn], rows: Sequence[MatrixRow]) -> str:
    heads = "".join(
        f"<th>{_e(b.label)}: <code>{_e(b.version or b.qemu)}</code>"
        + (f"<br>fingerprint: <code>{_e(b.fingerprint)}</code>" if b.fingerprint else "")
        + "</th>" for b in builds)
    out = ['<table class="matrix" id="matrix">',
           f"<thead><tr><th>tier</th><th>scenario</th>{heads}</tr></thead><tbody>"]
    for r in rows:
        cls = ' class="differs"' if r.differs else ""
        cells = "".join(
            (f'<td class="s-{_e(c.status)}">{_e(c.status)}<br><small>'
             f"{_e(_observed_summary(c))}</small></td>") if c is not None
            else "<td>not run</td>" for c in r.cells)
        out.append(f"<tr{cls}><td>{_e(r.tier)}</td><td class=\"scenario\">"
                   f"<code>{_e(r.scenario)}</code></td>{cells}</tr>")
    out.append("</tbody></table>")
    differing = [r for r in rows if r.differences]
    if differing and len(builds) >= 2:
        out.append("<h3>Observed differences between builds</h3>")
        for r in differing:
            out.append(f"<p><code>{_e(r.tier)}</code> <code>{_e(r.scenario)}</code></p>")
            out.append(_diff_table(r.differences, left=f"{builds[0].label}",
                                   right=f"{builds[1].label}"))
    return "\n".join(out)


def _css() -> str:
    return resources.files("conformance").joinpath("templates/report.css").read_text(
        encoding="utf-8")


def render_report(verdicts: Sequence[Verdict], *, title: str = "accel SMMUv3 conformance",
                  builds: Sequence[BuildColumn] = (), matrix: Sequence[MatrixRow] = (),
                  generated: datetime | None = None, coverage: bool = False) -> str:
    """The report as one HTML document (a pure function of its arguments).

    ``coverage``: add the coverage matrix of these verdicts (``run --html``); it also
    asks this machine which tiers can run, and hashes the QEMU builds."""
    vs = list(verdicts)
    extra_css = ""
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    versions: dict[str, str] = {}
    for v in vs:
        if v.qemu:
            versions[v.qemu] = versions.get(v.qemu) or v.qemu_version
    qemus = sorted(versions.items())
    profiles = sorted({v.profile for v in vs if v.profile})
    findings = [v for v in vs if v.status in FINDINGS]
    known = [v for v in vs if v.status == "expected-nonconformance"]
    counts = Counter(v.status for v in vs)
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="meta">generated {_e(when)}; {len(vs)} verdict(s): '
            + (", ".join(f"{counts[s]} {_e(s)}" for s in STATUSES if counts[s]) or "none")
            + "</p>"]
    meta = [f"<dt>QEMU</dt><dd><code>{_e(q)}</code> {_e(ver)}</dd>" for q, ver in qemus]
    if profiles:
        meta.append(f"<dt>model profile</dt><dd>{_e(', '.join(profiles))}</dd>")
    if meta:
        body.append('<dl class="meta">' + "".join(meta) + "</dl>")
    body += ["<h2>Summary</h2>", _summary_table(vs, builds)]
    if builds:
        body += ["<h2>Scenarios × builds</h2>", _matrix(builds, matrix)]
    body.append(f"<h2>Findings ({len(findings)})</h2>")
    body += [_finding(v) for v in findings] or ["<p>None: every scenario that ran conformed "
                                                "or failed exactly as a recorded bug says.</p>"]
    if known:
        body.append(f"<h2>Known QEMU bugs ({len(known)})</h2>")
        body += [_finding(v) for v in known]
    body += [f"<h2>All verdicts ({len(vs)})</h2>", _all_table(vs)]
    if coverage:
        from conformance.report_coverage import CSS as COVERAGE_CSS
        from conformance.report_coverage import verdicts_section
        body.append(verdicts_section(vs))
        extra_css = COVERAGE_CSS
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title>\n<style>\n{_css()}{extra_css}</style></head>\n"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")


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
