"""Coverage from real runs: ``run --results`` and pytest ``--conformance-results`` on TCG.

Real QEMU 11.1.3 runs a few catalogue scenarios; the coverage command must show the
rows they check as confirmed on the TCG tier, by those scenarios, on that build (the
sha256 of the ELF the provisioned launcher runs, not of the launcher script).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.frontends.conftest import REPO, leftovers, run_cli

SCENARIOS = ("preconditions.toml:p1-accel-on-tcg", "preconditions.toml:p6-no-primary-bus",
             "idregs.toml:idr-stage2")


def _real_sha() -> str:
    from artefacts.provision import install_for

    elf = install_for().prefix / "usr/bin/qemu-system-aarch64"
    return hashlib.sha256(elf.read_bytes()).hexdigest()


def _cell(m: dict[str, Any], row: str, tier: str) -> dict[str, Any]:
    cell: dict[str, Any] = next(r for r in m["rows"] if r["row"] == row)["cells"][tier]
    return cell


def test_run_results_give_confirmed_cells(qemu_11: str, tmp_path: Path) -> None:
    results = tmp_path / "tcg.json"
    args = [a for s in SCENARIOS for a in ("--scenario", s)]
    r = run_cli("run", "--qemu", qemu_11, *args, "--results", str(results), "--html",
                str(tmp_path / "report"), tmpdir=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    cov = run_cli("coverage", "--results", str(results), "--json", "--tier", "tcg",
                  tmpdir=tmp_path)
    assert cov.returncode == 0, cov.stderr
    m = json.loads(cov.stdout)
    sha = _real_sha()
    assert [b["sha256"] for b in m["builds"]] == [sha]
    for row, scenario in (("P1", SCENARIOS[0]), ("P6", SCENARIOS[1]), ("2b", SCENARIOS[2])):
        cell = _cell(m, row, "tcg")
        assert cell["state"] == "confirmed", (row, cell)
        assert [c["scenario"] for c in cell["confirmed_by"]] == [scenario]
        assert cell["confirmed_by"][0]["build"].endswith(f"sha256:{sha[:12]}")
    assert _cell(m, "P15", "tcg")["state"] == "unreachable"
    assert "P1.kvm-irqchip" in m["rules"] and "2b.defaults" in m["rules"]
    page = (tmp_path / "report" / "index.html").read_text()
    assert 'id="coverage"' in page and "confirmed(1)" in page
    assert leftovers(tmp_path) == []


def test_pytest_plugin_writes_results_under_xdist(qemu_11: str, tmp_path: Path) -> None:
    results = tmp_path / "pytest.json"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
         "--qemu", qemu_11, "--conformance-results", str(results),
         "--conformance-log-dir", str(tmp_path / "logs"),
         "-k", "p1-accel-on-tcg or p6-no-primary-bus", "tests/conformance"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=540)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    doc = json.loads(results.read_text())
    recs = {r["scenario"]: r for r in doc["records"]}
    assert set(recs) >= {SCENARIOS[0], SCENARIOS[1]}
    r1 = recs[SCENARIOS[0]]
    assert (r1["tier"], r1["status"], r1["rows"]) == ("tcg", "pass", ["P1"])
    assert "P1.kvm-irqchip" in r1["rules"]
    assert r1["build"]["sha256"] == _real_sha()
