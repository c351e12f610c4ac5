"""The HTML report: structure (parsed), escaping, the diff matrix, and a real rendering.

The rendering test opens the page in headless Chromium (Debian's ``chromium``) and
checks the screenshot's pixels: the summary table's status colours must be on screen
near the top of the page.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from catalogue.prediction import Difference
from catalogue.vocabulary import section_of
from conformance.frontends.report_html import (
    BuildColumn,
    MatrixRow,
    render_report,
    summarize,
    write_report,
)
from conformance.result import Verdict
from tests.frontends.ecosystem_helpers import count_colour, read_png, screenshot

PASS_RGB = (0xD9, 0xF2, 0xD9)
FAIL_RGB = (0xF8, 0xD0, 0xD0)


class Tables(HTMLParser):
    """Collect every table's cell texts, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._cur: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._cur = self.tables.setdefault(dict(attrs).get("id") or
                                               f"t{len(self.tables)}", [])
        elif tag == "tr" and self._cur is not None:
            self._cur.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._cur is not None:
            self._cur[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._cur = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> Tables:
    t = Tables()
    t.feed(page)
    return t


def test_sections() -> None:
    assert section_of(["P1a"]).startswith("§1")
    assert section_of(["AS3", "A4"]).startswith("§4")
    assert section_of(["A4"]).startswith("§3")
    assert section_of(["2b"]).startswith("§2")
    assert section_of(["O1"]).startswith("§8")
    assert section_of([]) == "(no catalogue row)"


def test_summary_counts_match_verdicts(verdicts: list[Verdict]) -> None:
    t = parse(render_report(verdicts))
    summary = t.tables["summary"]
    header, rows, total = summary[0], summary[1:-1], summary[-1]
    assert header[:2] == ["tier", "catalogue section"] and header[-1] == "total"
    col = {name: i for i, name in enumerate(header)}
    table = summarize(verdicts)
    assert len(rows) == len(table)
    for row in rows:
        c = table[(row[0], row[1])]
        for status in ("pass", "nonconformance", "skipped", "infra-error"):
            assert int(row[col[status]]) == c[status]
    assert total[0] == "all"  # spans the tier and section columns
    assert int(total[-1]) == len(verdicts)
    assert int(total[col["nonconformance"] - 1]) == 1


def test_findings_show_diff_and_are_escaped(verdicts: list[Verdict]) -> None:
    page = render_report(verdicts)
    assert "<oops>" not in page and "&lt;oops&gt;" in page
    t = parse(page)
    diff_rows = [r for name, rows in t.tables.items() for r in rows if name.startswith("t")
                 and r and r[0] == "smmus.smmu0.idr.IDR5"]
    assert diff_rows == [["smmus.smmu0.idr.IDR5", "0x75", "0x74"]]
    text = "".join(t.text)
    assert "Findings (3)" in text and "Known QEMU bugs (1)" in text
    assert "/tmp/logs/tcg/oas-48-non-accel" in text


def test_matrix(verdicts: list[Verdict]) -> None:
    a, b = verdicts[0], Verdict(**{**verdicts[0].__dict__, "status": "nonconformance"})
    rows = [MatrixRow(scenario=a.scenario, tier="tcg", rows=a.rows, cells=[a, b],
                      differences=[Difference("error", "x", "y")]),
            MatrixRow(scenario="s2", tier="tcg", rows=[], cells=[a, None])]
    page = render_report([a, b], builds=[BuildColumn("A", "/a", "11.1.3", "qemu-11.1"),
                                         BuildColumn("B", "/b", "7.2.22", "qemu-7.2")],
                         matrix=rows)
    t = parse(page)
    m = t.tables["matrix"]
    assert "fingerprint: qemu-11.1" in m[0][2] and "7.2.22" in m[0][3]
    assert m[1][2].startswith("pass") and m[1][3].startswith("nonconformance")
    assert m[2][3] == "not run"
    assert 'class="differs"' in page


def test_screenshot_shows_summary_table(verdicts: list[Verdict], tmp_path: Path) -> None:
    page = write_report(tmp_path / "report", verdicts)
    assert (tmp_path / "report" / "verdicts.json").exists()
    png = tmp_path / "shot.png"
    screenshot(page, png)
    width, height, rows = read_png(png)
    assert (width, height) == (1280, 900)
    top = range(0, 450)  # the summary table comes right after the title
    assert count_colour(rows, width, PASS_RGB, top) > 200
    assert count_colour(rows, width, FAIL_RGB, top) > 200
