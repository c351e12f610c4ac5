"""The one verdict -> front-end table (conformance.result.STATUS) against its documentation.

docs/ci-integration.md opens with the table users read; this checks it row by row and
column by column against the table the code uses, and that every front end renders a
verdict the way its row says.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.frontends.avocado_tests import EXIT_FOR
from conformance.frontends.cmd_bisect import decide
from conformance.frontends.report_tap import tap_point
from conformance.result import STATUS, STATUSES, Verdict

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci-integration.md"
_ROW = re.compile(r"^\| `([a-z-]+)`[^|]*\|(.*)\|\s*$")


def doc_rows() -> dict[str, list[str]]:
    """``status -> [pytest, TAP / meson, avocado, bisect exit]`` from the doc's table."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text().splitlines():
        m = _ROW.match(line)
        if m:
            rows[m[1]] = [c.strip() for c in m[2].split("|")]
    return rows


def test_doc_lists_every_status_once() -> None:
    assert sorted(doc_rows()) == sorted(STATUSES)


@pytest.mark.parametrize("status", STATUSES)
def test_doc_row_matches_table(status: str) -> None:
    r = STATUS[status]  # type: ignore[index]
    assert doc_rows()[status] == [r.pytest, f"`{r.tap}` / {r.meson}", r.avocado, str(r.bisect)]


@pytest.mark.parametrize("status", STATUSES)
def test_front_ends_follow_the_row(status: str) -> None:
    r = STATUS[status]  # type: ignore[index]
    v = Verdict(scenario="x.toml:s", tier="tcg", status=status, reason="why")  # type: ignore[arg-type]
    head = tap_point(1, v)[0]
    assert head.startswith("ok 1 " if r.tap_ok else "not ok 1 ")
    assert (f"# {r.tap_directive} " in head) if r.tap_directive else ("#" not in head)
    assert decide([v])[0] == r.bisect
    assert EXIT_FOR[r.avocado] == {"PASS": 0, "FAIL": 1, "SKIP": 125}[r.avocado]
    assert v.failed == r.failed
