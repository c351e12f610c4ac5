"""``meson test`` with ``protocol: 'tap'`` runs ``run --tap`` and sees every subtest.

A throwaway meson project declares the suite the way docs/ci-integration.md shows for
a QEMU tree; meson's own TAP parser must report the subtests (in its JUnit log) with
the statuses the verdicts had.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from catalogue.scenario import select
from tests.frontends.conftest import REPO

MESON_BUILD = """project('smmuv3-conformance-in-meson', meson_version: '>=1.0')
python = find_program('{python}')
test('accel-smmuv3-conformance', python,
     args: ['-m', 'conformance', 'run', '--tap', '--tier', 'tcg', '--qemu', '{qemu}',
            '--scenario', '{scenario}', '--scenario', '{whole}'],
     workdir: '{repo}', protocol: 'tap', suite: ['smmuv3'], timeout: 300)
"""


def test_meson_test_reads_the_tap(qemu_11: str, tmp_path: Path) -> None:
    meson = Path(sys.executable).parent / "meson"
    ninja = Path(sys.executable).parent / "ninja"  # the [test] extra's, not one on PATH
    if not meson.exists() or not ninja.exists():
        pytest.skip("meson or ninja not installed in the venv (pip install -e '.[test]')")
    src = tmp_path / "src"
    src.mkdir()
    (src / "meson.build").write_text(MESON_BUILD.format(
        python=sys.executable, qemu=qemu_11, repo=REPO,
        scenario=f"{REPO}/scenarios/preconditions.toml:p1-accel-on-tcg",
        whole=f"{REPO}/scenarios/preconditions.toml"))
    env = {**os.environ, "TMPDIR": str(tmp_path), "NINJA": str(ninja)}
    subprocess.run([str(meson), "setup", str(tmp_path / "build"), str(src)], check=True,
                   capture_output=True, env=env)
    r = subprocess.run([str(meson), "test", "-C", str(tmp_path / "build"), "--suite",
                        "smmuv3"], capture_output=True, text=True, env=env, timeout=400)
    junit = tmp_path / "build" / "meson-logs" / "testlog.junit.xml"
    root = ET.parse(junit).getroot()
    cases = list(root.iter("testcase"))
    names = [re.sub(r"^\d+ - ", "", c.get("name") or "") for c in cases]  # "N - <id>"
    assert "tcg-p1-accel-on-tcg" in names, (names, r.stdout[-2000:])
    n_pre = len(select(f"{REPO}/scenarios/preconditions.toml"))
    # p1, then every scenario of preconditions.toml, p1 not again: a scenario selected
    # twice runs once (issue #11)
    assert len(cases) == n_pre and names.count("tcg-p1-accel-on-tcg") == 1
    p1 = cases[names.index("tcg-p1-accel-on-tcg")]
    assert p1.find("failure") is None and p1.find("skipped") is None
    assert r.returncode == (1 if any(c.find("failure") is not None for c in cases) else 0)
