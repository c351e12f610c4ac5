"""``python -m conformance fingerprint`` on real builds, and the matching logic."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.tools.fingerprint import PROBES, PROFILES, ProbeResult, compare, error_text
from tests.frontends.conftest import leftovers, run_cli


def test_probe_table_is_complete() -> None:
    for p in PROBES:
        assert set(p.expect) == set(PROFILES), p.name
        assert p.cite.startswith("§10"), p.name
    # every pair of profiles is told apart by at least one probe
    for i, a in enumerate(PROFILES):
        for b in PROFILES[i + 1:]:
            assert any(p.expect[a] != p.expect[b] for p in PROBES), (a, b)


def test_error_text_strips_prefixes() -> None:
    err = ("qemu-system-aarch64: warning: something\n"
           "qemu-system-aarch64: -device arm-smmuv3,primary-bus=pcie.0,oas=48: "
           "oas must be 44 bits when accel=off\n")
    assert error_text(err) == "oas must be 44 bits when accel=off"
    assert error_text("/opt/q/qemu-system-aarch64: Property 'x' not found") == \
        "Property 'x' not found"


def test_compare_lists_differing_probes() -> None:
    # A build that has merged-v9's messages but already the 'auto' ril: between revisions.
    results = [ProbeResult(p.name, p.expect["merged-v9"], []) for p in PROBES]
    ril = next(i for i, r in enumerate(results) if r.name == "ril-auto")
    results[ril] = ProbeResult("ril-auto", "starts", [])
    mism = compare(results)
    assert mism["merged-v9"] == ["ril-auto"]
    assert "oas-48" in mism["qemu-11.1"] and "ril-auto" not in mism["qemu-11.1"]
    assert all(mism[p] for p in PROFILES)


def test_qemu_11_1_3_matches_qemu_11_1(qemu_11: str, tmp_path: Path) -> None:
    r = run_cli("fingerprint", "--qemu", qemu_11, "--json", tmpdir=tmp_path)
    assert r.returncode == 0, r.stderr
    fp = json.loads(r.stdout)
    assert fp["matches"] == ["qemu-11.1"]
    assert "11.1.3" in fp["version"]
    assert {p["name"]: p["observed"] for p in fp["probes"]}["oas-48"] == \
        "error: oas must be 44 bits when accel=off"
    assert leftovers(tmp_path) == []
    text = run_cli("fingerprint", "--qemu", qemu_11, "--expect", "qemu-11.1", tmpdir=tmp_path)
    assert text.returncode == 0 and text.stdout.rstrip().endswith("matches: qemu-11.1")


def test_debian_7_2_is_not_qemu_11_1(qemu_72: str, tmp_path: Path) -> None:
    r = run_cli("fingerprint", "--qemu", qemu_72, "--expect", "qemu-11.1", tmpdir=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "matches: qemu-7.2" in r.stdout
    assert "7.2" in r.stdout.splitlines()[0]
    assert leftovers(tmp_path) == []


def test_bad_binary_is_one_line(tmp_path: Path) -> None:
    r = run_cli("fingerprint", "--qemu", str(tmp_path / "nope"), tmpdir=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0] and "no such file" in lines[0]
    assert "Traceback" not in r.stderr


def test_every_answer_is_a_profile_run_accepts() -> None:
    """issue #11 class 2: fingerprint's answer can be passed back with --profile."""
    from reference_model import PROFILES as MODEL_PROFILES

    assert set(PROFILES) <= set(MODEL_PROFILES)
