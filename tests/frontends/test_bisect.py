"""``bisect-run`` exit codes with real QEMU: 0 good, 1 bad, 125 untestable, 128 abort.

The pairs are real: QEMU 11.1.3 conforms on a precondition; the same build judged
against the merged-v9 profile (whose messages differ, catalogue §10) is bad; Debian
12's QEMU 7.2 cannot even create ``arm-smmuv3`` with ``-device`` and is bad on a
scenario it can parse, but *untestable* on one that needs the ``accel`` property it
lacks; a failing ``--build-cmd`` is untestable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.frontends.cmd_bisect import ABORT, BAD, GOOD, SKIP, decide
from conformance.result import Verdict
from tests.frontends.conftest import REPO, leftovers, run_cli

SCENARIOS = REPO / "scenarios"
P1 = f"{SCENARIOS}/preconditions.toml:p1-accel-on-tcg"
OAS48 = f"{SCENARIOS}/properties.toml:prop-oas48-needs-accel"
P6 = "p6-no-primary-bus"  # a bare NAME is looked up in the shipped catalogue


def _model_ready() -> None:
    import reference_model

    if not hasattr(reference_model, "predict"):
        pytest.skip("reference_model.predict() is not available yet")


def _v(status: str) -> Verdict:
    return Verdict(scenario=f"f.toml:{status}", tier="tcg", status=status)  # type: ignore[arg-type]


def test_decide_precedence() -> None:
    assert decide([_v("pass"), _v("expected-nonconformance")])[0] == GOOD
    assert decide([_v("pass"), _v("nonconformance"), _v("infra-error")])[0] == BAD
    assert decide([_v("unexpected-pass")])[0] == BAD
    assert decide([_v("pass"), _v("skipped")])[0] == SKIP
    assert decide([_v("infra-error")])[0] == SKIP
    assert decide([])[0] == SKIP


def test_good_on_11_1_3(qemu_11: str, tmp_path: Path) -> None:
    _model_ready()
    r = run_cli("bisect-run", "--qemu", qemu_11, "--scenario", P1, tmpdir=tmp_path)
    assert r.returncode == GOOD, r.stdout + r.stderr
    assert "exit 0 (good" in r.stdout
    assert leftovers(tmp_path) == []


def test_build_cmd_success_then_good(qemu_11: str, tmp_path: Path) -> None:
    _model_ready()
    r = run_cli("bisect-run", "--build-cmd", "echo building; true", "--build-dir",
                str(tmp_path), "--log-dir", str(tmp_path / "logs"), "--qemu", qemu_11,
                "--scenario", P1, tmpdir=tmp_path)
    assert r.returncode == GOOD, r.stdout + r.stderr
    assert (tmp_path / "logs" / "build.log").read_text() == "building\n"


def test_bad_against_merged_v9_profile(qemu_11: str, tmp_path: Path) -> None:
    _model_ready()
    import reference_model

    if "merged-v9" not in getattr(reference_model, "PROFILES", {}):
        pytest.skip("the model has no merged-v9 profile yet")
    r = run_cli("bisect-run", "--qemu", qemu_11, "--profile", "merged-v9", "--scenario",
                OAS48, tmpdir=tmp_path)
    assert r.returncode == BAD, r.stdout + r.stderr
    assert "exit 1 (bad: nonconformance" in r.stdout


def test_bad_on_debian_7_2(qemu_72: str, tmp_path: Path) -> None:
    _model_ready()
    r = run_cli("bisect-run", "--qemu", qemu_72, "--scenario", P6, tmpdir=tmp_path)
    assert r.returncode == BAD, r.stdout + r.stderr
    assert "pluggable device type" in r.stdout  # the stderr tail is shown
    assert leftovers(tmp_path) == []


def test_missing_property_is_125(qemu_72: str, tmp_path: Path) -> None:
    r = run_cli("bisect-run", "--qemu", qemu_72, "--scenario", P1, tmpdir=tmp_path)
    assert r.returncode == SKIP, r.stdout + r.stderr
    assert "has no property 'accel'" in r.stdout
    assert leftovers(tmp_path) == []


def test_failed_build_is_125(tmp_path: Path) -> None:
    r = run_cli("bisect-run", "--build-cmd", "echo 'ninja: error: oops' >&2; exit 3",
                "--build-dir", str(tmp_path), "--scenario", P1, tmpdir=tmp_path)
    assert r.returncode == SKIP
    assert "build failed (exit 3" in r.stderr and "ninja: error: oops" in r.stderr


def test_build_timeout_is_125_and_kills_the_build(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    r = run_cli("bisect-run", "--build-cmd", f"sleep 30; touch {marker}", "--build-timeout",
                "1", "--scenario", P1, tmpdir=tmp_path, timeout=60)
    assert r.returncode == SKIP and "timed out" in r.stderr
    assert not marker.exists()


def test_missing_binary_after_build_is_125(tmp_path: Path) -> None:
    r = run_cli("bisect-run", "--build-cmd", "true", "--qemu", str(tmp_path / "build/qemu"),
                "--scenario", P1, tmpdir=tmp_path)
    assert r.returncode == SKIP and "no such file" in r.stderr and "no such file" not in r.stdout


@pytest.mark.parametrize("args", [
    [f"--scenario={REPO}/scenarios/preconditions.toml:no-such-scenario"],
    ["--scenario", P1, "--tier", "warp"],
    ["--scenario", P1, "--tier", "hw"],
    ["--bogus-option"],
])
def test_usage_errors_abort_the_bisection(args: list[str], tmp_path: Path) -> None:
    r = run_cli("bisect-run", *args, tmpdir=tmp_path)
    assert r.returncode == ABORT, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("python -m conformance bisect-run")
