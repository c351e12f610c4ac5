"""``avocado run`` on the catalogue: PASS, FAIL and SKIP land in xunit, json and html.

Real runs: QEMU 11.1.3 passes two preconditions; judged against the merged-v9 profile
(whose error text differs, catalogue §10) it fails one; Debian's 7.2 lacks the
``accel`` property, so that scenario is skipped there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.frontends.avocado_tests import recipe
from tests.frontends.conftest import REPO, leftovers

P1 = f"{REPO}/scenarios/preconditions.toml:p1-accel-on-tcg"
P6 = "p6-no-primary-bus"
OAS48 = f"{REPO}/scenarios/properties.toml:prop-oas48-needs-accel"


def avocado() -> str:
    path = Path(sys.executable).parent / "avocado"  # never one from PATH (another Python)
    if not path.exists():
        pytest.skip("avocado-framework is not installed (pip install -e '.[test]')")
    return str(path)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short TMPDIR for avocado and the QEMUs it starts.

    avocado's status server listens on a UNIX socket under TMPDIR; under pytest-xdist a
    ``tmp_path`` is longer than AF_UNIX allows (108 bytes), and avocado then logs
    "AF_UNIX path too long" and waits forever instead of failing.
    """
    d = Path(tempfile.mkdtemp(prefix="av-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_avocado(tmp_path: Path, tmpdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run([avocado(), "run", "--job-results-dir", str(tmp_path / "jobs"),
                           *args], capture_output=True, text=True, timeout=180, env=env,
                          cwd=tmp_path)


def test_recipe_shape() -> None:
    r = recipe([P1], ["tcg", "kvm"], "/x/qemu", "qemu-11.1")
    assert [x["identifier"] for x in r] == ["tcg-p1-accel-on-tcg"]  # p1 lists tcg only
    assert r[0]["kind"] == "exec-test"
    assert r[0]["config"] == {"runner.exectest.exitcodes.skip": [125]}
    assert r[0]["args"][-4:] == ["--qemu", "/x/qemu", "--profile", "qemu-11.1"]


def test_pass_fail_skip_in_avocado_results(qemu_11: str, qemu_72: str, tmp_path: Path,
                                           short_tmp: Path) -> None:
    import reference_model

    if "merged-v9" not in reference_model.PROFILES:
        pytest.skip("the model has no merged-v9 profile")
    runnables: list[dict[str, Any]] = recipe([P1, P6], ["tcg"], qemu_11, None)
    fail = recipe([OAS48], ["tcg"], qemu_11, "merged-v9")
    skip = recipe([P1], ["tcg"], qemu_72, None)
    skip[0]["identifier"] += "-on-7.2"
    (tmp_path / "recipe.json").write_text(json.dumps(runnables + fail + skip))
    r = run_avocado(tmp_path, short_tmp, str(tmp_path / "recipe.json"), "--xunit",
                    str(tmp_path / "x.xml"), "--json", str(tmp_path / "r.json"),
                    "--html", str(tmp_path / "r.html"))
    assert r.returncode == 1, r.stdout + r.stderr  # avocado: some test failed
    res = json.loads((tmp_path / "r.json").read_text())
    # avocado names a test "<job-serial>-<identifier>"
    status = {re.sub(r"^\d+-", "", t["id"]): t["status"] for t in res["tests"]}
    assert status == {"tcg-p1-accel-on-tcg": "PASS", "tcg-p6-no-primary-bus": "PASS",
                      "tcg-prop-oas48-needs-accel": "FAIL",
                      "tcg-p1-accel-on-tcg-on-7.2": "SKIP"}, status
    suite = ET.parse(tmp_path / "x.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    failed = next(tc for tc in suite.iter("testcase") if tc.find("failure") is not None)
    assert failed.get("name") == "tcg-prop-oas48-needs-accel"
    assert (tmp_path / "r.html").stat().st_size > 1000
    # the verdict and its diff are in the failing test's avocado log
    log = Path(next(t for t in res["tests"] if t["status"] == "FAIL")["logfile"]).read_text()
    assert "nonconformance" in log and "OAS must be 44 bits" in log
    assert leftovers(short_tmp) == []


def test_one_step_executable_resolution(qemu_11: str, tmp_path: Path,
                                        short_tmp: Path) -> None:
    exe = REPO / "conformance" / "frontends" / "avocado_tests.py"
    assert os.access(exe, os.X_OK), f"{exe} must be executable for avocado's resolver"
    r = run_avocado(tmp_path, short_tmp, "--resolver-run-executables", str(exe),
                    "--resolver-exec-arguments", f"--qemu {qemu_11} --scenario {P1}",
                    "--xunit", str(tmp_path / "x.xml"))
    assert r.returncode == 0, r.stdout + r.stderr
    suite = ET.parse(tmp_path / "x.xml").getroot()
    assert [tc.get("name") for tc in suite.iter("testcase")] == ["tcg-p1-accel-on-tcg"]
    assert suite.get("failures") == "0"
