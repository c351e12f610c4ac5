"""``python -m conformance run --tap/--html/--junit`` on real QEMU 11.1.3 runs.

TAP is parsed with a TAP consumer (tap.py) and must agree, point by point, with the
verdicts the same run wrote to ``verdicts.json``; the HTML report of the run is opened
in headless Chromium and its summary table must be on screen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.frontends.conftest import REPO, leftovers, run_cli
from tests.frontends.ecosystem_helpers import count_colour, read_png, screenshot

tap_parser = pytest.importorskip("tap.parser")

PASS_RGB = (0xD9, 0xF2, 0xD9)


def test_run_tap_and_html_agree_with_verdicts(qemu_11: str, tmp_path: Path) -> None:
    report = tmp_path / "report"
    r = run_cli("run", "--qemu", qemu_11, "--tap", "--html", str(report), tmpdir=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    lines = list(tap_parser.Parser().parse_text(r.stdout))
    assert [ln.category for ln in lines[:2]] == ["version", "plan"]
    assert not [ln for ln in lines if ln.category == "unknown"], r.stdout[:2000]
    points = [ln for ln in lines if ln.category == "test"]
    assert lines[1].expected_tests == len(points) > 50
    verdicts = json.loads((report / "verdicts.json").read_text())
    assert len(verdicts) == len(points)
    for point, v in zip(points, verdicts, strict=True):
        name = f"{v['tier']}-{v['scenario'].rpartition(':')[2]}"
        assert point.description.startswith(f"- {name}"), (point.description, name)
        assert point.ok == (v["status"] in ("pass", "skipped")), name
        assert point.skip == (v["status"] == "skipped"), name
        assert point.todo == (v["status"] == "expected-nonconformance"), name
        if not point.ok:
            assert point.yaml_block["status"] == v["status"]
    failing = {"nonconformance", "unexpected-pass", "infra-error"}
    assert r.returncode == (1 if any(v["status"] in failing for v in verdicts) else 0)
    assert sum(v["status"] == "pass" for v in verdicts) > 50
    assert leftovers(tmp_path) == []

    page = (report / "index.html").read_text()
    n = len(verdicts)
    assert re.search(rf"<td colspan=\"2\">all</td>.*<td class=\"num\">{n}</td></tr>", page)
    png = tmp_path / "shot.png"
    screenshot(report / "index.html", png)
    width, _, rows = read_png(png)
    assert count_colour(rows, width, PASS_RGB, range(0, 500)) > 500


def test_junit_via_pytest_plugin(qemu_11: str, tmp_path: Path) -> None:
    """pytest's own --junitxml over the plugin's per-scenario tests parses as JUnit."""
    import xml.etree.ElementTree as ET

    plugin = REPO / "conformance" / "frontends" / "pytest_plugin.py"
    if not plugin.exists():
        pytest.skip("conformance/frontends/pytest_plugin.py is not there yet")
    junit = tmp_path / "junit.xml"
    r = run_cli_pytest(tmp_path, "--qemu", qemu_11, "--tier", "tcg", "--scenario-file",
                       str(REPO / "scenarios" / "preconditions.toml"),
                       f"--junitxml={junit}", "-p", "no:cacheprovider",
                       "--conformance-log-dir", str(tmp_path / "logs"))
    assert junit.exists(), r.stdout[-3000:] + r.stderr[-2000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = list(suite.iter("testcase"))
    assert len(cases) >= 20
    assert any("tcg-p1-accel-on-tcg" in (c.get("name") or "") for c in cases)
    assert int(suite.get("failures", "0")) == sum(c.find("failure") is not None for c in cases)


def run_cli_pytest(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    tests = REPO / "tests" / "conformance"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", str(tests), *args],
                          capture_output=True, text=True, timeout=540, env=env, cwd=REPO)
