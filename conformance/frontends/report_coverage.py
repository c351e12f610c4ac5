"""Renderings of the coverage matrix (:mod:`conformance.coverage`): text and HTML.

The HTML section is what ``coverage --html DIR`` writes as a page of its own and what
``run --html DIR`` adds to its report (:func:`section_html`): catalogue rows x tiers,
each cell coloured by its state, with the scenarios and QEMU builds that confirm it,
the recorded bug that contradicts it, or the reason it is unreachable on this machine.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from conformance.coverage import STATES, Cell, Matrix, matrix_for
from conformance.evidence import from_verdict
from conformance.frontends.report_style import css
from conformance.result import Verdict

LEGEND = {
    "confirmed": "a run on this tier matched the model (scenarios, QEMU build)",
    "contradicted": "QEMU differed from the model (a recorded bug, or a new finding)",
    "unreachable": "this machine cannot show it (reason)",
    "predicted": "the model predicts it; no run on this tier shows it",
    "unmodelled": "no model rule and no evidence yet",
}


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


# ----------------------------------------------------------------------------- text
def counts_line(m: Matrix, tier: str) -> str:
    c = m.counts()[tier]
    return f"{tier}: " + ", ".join(f"{c[s]} {s}" for s in STATES) + f" (of {sum(c.values())})"


def render_text(m: Matrix, details: bool = False) -> str:
    width = max(len(r.row) for r in m.rows) if m.rows else 4
    colw = max(16, *(len(r.cells[t].short) for r in m.rows for t in m.tiers)) \
        if m.rows else 16
    lines = [f"{'row':<{width}}  " + "  ".join(f"{t:<{colw}}" for t in m.tiers)]
    for r in m.rows:
        lines.append(f"{r.row:<{width}}  " + "  ".join(f"{r.cells[t].short:<{colw}}"
                                                          for t in m.tiers).rstrip())
    lines.append("")
    lines += [counts_line(m, t) for t in m.tiers]
    if m.builds:
        lines.append("builds: " + "; ".join(b.label for b in m.builds))
    lines.append("* confirmed as declared: the model has no rule for that row")
    if details:
        lines.append("")
        for r in m.rows:
            for t in m.tiers:
                c = r.cells[t]
                text = _cell_detail(c)
                if text:
                    lines.append(f"{r.row} {t}: {c.state}: {text}")
    return "\n".join(lines)


def _cell_detail(c: Cell) -> str:
    parts = []
    if c.contradicted_by:
        parts.append("contradicted by " + "; ".join(
            f"{s} [{b}]: {why}" for s, b, why in c.contradicted_by))
    if c.confirmed_by:
        parts.append("confirmed by " + ", ".join(
            f"{s} [{b}]" for s, b in c.confirmed_by))
    if c.reason and c.state in ("unreachable", "predicted", "unmodelled"):
        parts.append(c.reason)
    return "; ".join(parts)


def render_rules(m: Matrix) -> str:
    """Rule ids with the tiers (and scenario counts) that confirm or contradict them."""
    lines = []
    for rid in sorted(m.rules):
        per = m.rules[rid]
        bits = []
        for t in m.tiers:
            ev = per.get(t, {})
            for kind in ("confirmed", "contradicted"):
                if ev.get(kind):
                    bits.append(f"{kind} on {t} by {len(ev[kind])} scenario(s)")
        if bits:
            lines.append(f"{rid}: {'; '.join(bits)}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- HTML
def _cell_html(c: Cell) -> str:
    detail = _cell_detail(c)
    label = c.short
    body = f"{_e(label)}"
    if detail:
        body += f"<details><summary>why</summary><small>{_e(detail)}</small></details>"
    return f'<td class="cov-{_e(c.state)}" title="{_e(c.state)}">{body}</td>'


def section_html(m: Matrix, heading: str = "Coverage: catalogue rows × tiers") -> str:
    """An HTML fragment (a heading, counts, the legend and the matrix table)."""
    heads = "".join(f"<th>{_e(t)}</th>" for t in m.tiers)
    out = [f'<h2 id="coverage">{_e(heading)}</h2>',
           '<table class="summary cov-counts"><thead><tr><th>tier</th>'
           + "".join(f"<th>{_e(s)}</th>" for s in STATES) + "</tr></thead><tbody>"]
    counts = m.counts()
    for t in m.tiers:
        out.append(f"<tr><td>{_e(t)}</td>" + "".join(
            f'<td class="num cov-{_e(s)}">{counts[t][s]}</td>' for s in STATES) + "</tr>")
    out.append("</tbody></table>")
    if m.builds:
        out.append("<p>QEMU builds in the evidence: " + "; ".join(
            f"<code>{_e(b.label)}</code>" for b in m.builds) + "</p>")
    out.append("<ul class=\"cov-legend\">" + "".join(
        f'<li><span class="cov-{_e(s)}">{_e(s)}</span>: {_e(d)}</li>'
        for s, d in LEGEND.items()) + "<li>*: confirmed as declared (no model rule for "
        "the row)</li></ul>")
    out.append(f'<table class="matrix cov-matrix"><thead><tr><th>row</th><th>section</th>'
               f"<th>model rules</th>{heads}</tr></thead><tbody>")
    for r in m.rows:
        cells = "".join(_cell_html(r.cells[t]) for t in m.tiers)
        out.append(f"<tr><td><b>{_e(r.row)}</b></td><td>{_e(r.section)}</td>"
                   f"<td><small>{_e(', '.join(r.rules))}</small></td>{cells}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def verdicts_section(verdicts: Sequence[Verdict]) -> str:
    """The coverage section for the verdicts of one run (tiers: those that ran)."""

    tiers = tuple(dict.fromkeys(v.tier for v in verdicts)) or ("tcg",)
    return section_html(matrix_for([from_verdict(v) for v in verdicts], tiers=tiers),
                        heading="Coverage of this run: catalogue rows × tiers")


CSS = """
.cov-confirmed { background: var(--pass); }
.cov-contradicted { background: var(--fail); }
.cov-unreachable { background: var(--skip); color: #555; }
.cov-predicted { background: #fff4cc; }
.cov-unmodelled { background: #ffffff; color: #888; }
.cov-matrix td { vertical-align: top; }
.cov-legend span { padding: 0 .3em; }
"""


def page_html(m: Matrix, title: str = "accel SMMUv3 conformance: coverage",
              sources: Sequence[str] = ()) -> str:

    src = ("<p>evidence: " + ", ".join(f"<code>{_e(s)}</code>" for s in sources) + "</p>"
           if sources else "<p>evidence: none (no results file given)</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title>\n<style>\n{css()}{CSS}</style></head>\n<body>\n"
            f"<h1>{_e(title)}</h1>\n{src}\n{section_html(m)}\n</body></html>\n")
