"""``python -m conformance diff`` on a real pair of builds: 11.1.3 against Debian's 7.2."""

from __future__ import annotations

import json
from pathlib import Path

from tests.frontends.conftest import REPO, leftovers, run_cli

PROPS = str(REPO / "scenarios" / "properties.toml")


def test_11_1_3_vs_7_2(qemu_11: str, qemu_72: str, tmp_path: Path) -> None:
    r = run_cli("diff", "--qemu", qemu_11, "--qemu-b", qemu_72, "--scenario", PROPS,
                "--json", "--html", str(tmp_path / "report"), tmpdir=tmp_path)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [b["fingerprint"] for b in doc["builds"]] == ["qemu-11.1", "qemu-7.2"]
    by_name = {s["scenario"].rpartition(":")[2]: s for s in doc["scenarios"]}
    # runs on both: 11.1.3 starts, 7.2 cannot create arm-smmuv3 with -device
    defaults = by_name["prop-defaults-qom-get"]
    diffs = {d["path"]: (d["a"], d["b"]) for d in defaults["differences"]}
    assert diffs["outcome"] == ("starts", "exits")
    assert diffs["error"][0] is None
    assert diffs["error"][1].endswith("Parameter 'driver' expects a pluggable device type")
    # 7.2's arm-smmuv3 has no 'oas' property: skipped there, so it differs by status
    oas = by_name["prop-oas48-needs-accel"]
    assert oas["differs"] and oas["statuses"][1] == "skipped"
    assert [d["path"] for d in oas["differences"]] == ["status"]
    page = (tmp_path / "report" / "index.html").read_text()
    assert 'id="matrix"' in page and "prop-oas48-needs-accel" in page
    assert "fingerprint: <code>qemu-7.2</code>" in page
    assert leftovers(tmp_path) == []


def test_same_build_has_no_differences(qemu_11: str, tmp_path: Path) -> None:
    r = run_cli("diff", "--qemu", qemu_11, "--qemu-b", qemu_11, "--scenario", PROPS,
                "--no-fingerprint", tmpdir=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 differ," in r.stdout.splitlines()[-1]


def test_missing_second_build_is_one_line(qemu_11: str, tmp_path: Path) -> None:
    r = run_cli("diff", "--qemu", qemu_11, "--qemu-b", str(tmp_path / "nope"), tmpdir=tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "nope" in r.stderr
