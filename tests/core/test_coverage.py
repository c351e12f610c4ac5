"""The coverage matrix (conformance.coverage) from a small recorded results file.

The results file below is what ``run --results`` writes; the machine is described by
hand (``here``), so every cell of the rows shown is known exactly.  The rules come from
the real model registry: a rule's ``predicted`` flag must make no difference.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from conformance.coverage import (
    TierHere,
    build_matrix,
    host_check_reachability,
    l0_host_smmu,
    load_rules,
)
from conformance.evidence import Evidence, EvidenceError, read_results, write_results
from conformance.frontends.report_coverage import page_html, render_text

REPO = Path(__file__).resolve().parents[2]
B11 = {"version": "QEMU emulator version 11.1.3 (Debian 1:11.1.3+ds-1~bpo13+1)",
       "sha256": "ab" * 32, "path": "/q/qemu-system-aarch64"}
BN = {"version": "QEMU emulator version 11.1.3 (Debian 1:11.1.3+ds-1~bpo13+1)",
      "sha256": "cd" * 32, "path": "/arm64/qemu-system-aarch64"}
RECORDS = [
    {"scenario": "preconditions.toml:p1-accel-on-tcg", "tier": "tcg", "status": "pass",
     "rows": ["P1"], "rules": ["F.option", "P1.kvm-irqchip"], "compared": ["F", "P1"],
     "build": B11},
    # a rule whose field was not observed (no ID registers read): no claim for 2b
    {"scenario": "preconditions.toml:p6-no-primary-bus", "tier": "tcg", "status": "pass",
     "rows": ["P6"], "rules": ["P6.no-primary-bus", "2b.defaults"], "compared": ["P6"],
     "build": B11},
    # declared row with no model rule: confirmed as declared
    {"scenario": "preconditions.toml:p4-virt-10-1", "tier": "tcg", "status": "pass",
     "rows": ["P4"], "rules": [], "compared": [], "build": B11},
    # a recorded bug contradicts the primary row only
    {"scenario": "preconditions.toml:p3-legacy-plus-accel-smmu-aborts", "tier": "tcg",
     "status": "expected-nonconformance", "rows": ["P3", "P1"],
     "rules": ["P3.P1-double-error"], "compared": ["P3"], "reason": "QEMU bug F6",
     "build": B11},
    # nested: M2 confirmed (a PRED-flagged rule), P16 contradicted by F7
    {"scenario": "kvm_accel.toml:kvm-accel-m2", "tier": "nested", "status": "pass",
     "rows": ["M2"], "rules": ["M2.gic-default-kvm", "M2.msi-gpa"], "compared": ["M2"],
     "build": BN},
    # a row decided per device (no rule fires): its address-space rule is confirmed
    {"scenario": "nested_admission.toml:as3", "tier": "nested", "status": "pass",
     "rows": ["AS3"], "rules": [], "compared": ["AS3"], "build": BN},
    {"scenario": "kvm_accel.toml:kvm-accel-p16-cmdqv-on", "tier": "nested",
     "status": "expected-nonconformance", "rows": ["P16"], "rules": ["P16.cmdqv-needs-vfio"],
     "compared": ["P16"], "reason": "QEMU bug F7", "build": BN},
    # infra-error says nothing; a skip gives its reason
    {"scenario": "nested_iommufd.toml:nested-h7", "tier": "nested", "status": "infra-error",
     "rows": ["H7"], "rules": ["H7.host-oas"], "build": BN},
    {"scenario": "iort.toml:o1-rev", "tier": "nested", "status": "skipped", "rows": ["O1"],
     "reason": "observing the IORT needs -qtest"},
]
HERE = {"tcg": TierHere(), "nested": TierHere(),
        "hw": TierHere("hardware tier (host SMMUv3 + VFIO) not implemented")}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    p = tmp_path / "results.json"
    p.write_text(json.dumps({"format": "accel-smmuv3-evidence/1", "records": RECORDS}))
    return p


@pytest.fixture(scope="module")
def l0() -> object:
    return l0_host_smmu()


def matrix(results: Path, l0: object):  # type: ignore[no-untyped-def]
    return build_matrix(read_results([results]), tiers=("tcg", "nested", "hw"), here=HERE,
                        host_smmus={"nested": l0})


def cells(m, row: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = next(r for r in m.rows if r.row == row)
    return {t: c.short for t, c in r.cells.items()}


def test_matrix_cells_exact(results: Path, l0: object) -> None:
    m = matrix(results, l0)
    hw = "unreachable"
    assert cells(m, "P1") == {"tcg": "confirmed(1)", "nested": "predicted", "hw": hw}
    assert cells(m, "P3") == {"tcg": "CONTRADICTED(1)", "nested": "predicted", "hw": hw}
    # P4 has a rule since the release profiles (P4.not-user-creatable, 10.1): the recorded
    # run fired none of it, so the row is predicted, no longer confirmed by implication
    assert cells(m, "P4") == {"tcg": "predicted", "nested": "predicted", "hw": hw}
    assert cells(m, "P6") == {"tcg": "confirmed(1)", "nested": "predicted", "hw": hw}
    assert cells(m, "2b") == {"tcg": "predicted", "nested": "predicted", "hw": hw}
    assert cells(m, "M2") == {"tcg": "unreachable", "nested": "confirmed(1)", "hw": hw}
    assert cells(m, "P16") == {"tcg": "unreachable", "nested": "CONTRADICTED(1)", "hw": hw}
    assert cells(m, "H7") == {"tcg": "unreachable", "nested": "predicted", "hw": hw}
    assert cells(m, "H1") == {"tcg": "unreachable", "nested": "unreachable", "hw": hw}
    assert cells(m, "O1") == {"tcg": "predicted", "nested": "unreachable", "hw": hw}
    assert cells(m, "P12") == {"tcg": "unmodelled", "nested": "unmodelled", "hw": hw}
    # the evidence decides these two; the rest depends on the model's rows of the day
    tcg = m.counts()["tcg"]
    assert (tcg["confirmed"], tcg["contradicted"]) == (3, 1)  # P1, P6, F; P3
    assert sum(tcg.values()) == len(m.rows) == m.counts()["hw"]["unreachable"]
    assert cells(m, "AS3") == {"tcg": "unreachable", "nested": "confirmed(1)", "hw": hw}
    assert m.confirmed_rules("nested") == ["AS3.accel-iommu", "M2.gic-default-kvm",
                                           "M2.msi-gpa"]
    assert m.confirmed_rules("tcg") == ["F.option", "P1.kvm-irqchip", "P6.no-primary-bus"]
    assert m.rules["P3.P1-double-error"] == {"tcg": {"contradicted": [
        "preconditions.toml:p3-legacy-plus-accel-smmu-aborts"]}}
    assert [b.sha256[:2] for b in m.builds] == ["ab", "cd"]


def test_cell_reasons_and_provenance(results: Path, l0: object) -> None:
    m = matrix(results, l0)
    row = {r.row: r for r in m.rows}
    p1 = row["P1"].cells["tcg"]
    assert p1.confirmed_by == [("preconditions.toml:p1-accel-on-tcg",
                                "11.1.3 (Debian 1:11.1.3+ds-1~bpo13+1) sha256:abababababab")]
    assert row["P3"].cells["tcg"].contradicted_by[0][2] == "QEMU bug F6"
    assert row["P15"].cells["tcg"].reason.startswith("tcg lacks kvm: QEMU refuses accel=on")
    assert row["P1"].cells["hw"].reason == ("tier unavailable here: hardware tier "
                                            "(host SMMUv3 + VFIO) not implemented")
    assert row["O1"].cells["nested"].reason == ("every run was skipped: observing the IORT "
                                                "needs -qtest")
    h1 = row["H1"].cells["nested"].reason
    assert "has STLEVEL=1 and every accel=on configuration gives STLEVEL in {1}" in h1
    assert row["7b"].cells["nested"].reason.startswith("nested lacks cmdqv")


def test_predicted_flags_are_ignored(results: Path, l0: object) -> None:
    """Flipping every rule's hand-set flag changes no cell."""
    import dataclasses

    real = load_rules()
    flipped = {k: dataclasses.replace(r, predicted=not r.predicted) for k, r in real.items()}
    a = matrix(results, l0).to_dict()
    b = build_matrix(read_results([results]), tiers=("tcg", "nested", "hw"), here=HERE,
                     rules=flipped, host_smmus={"nested": l0}).to_dict()
    assert a == b


def test_host_checks_reachable_on_l0(l0: object) -> None:
    """L0's SMMU (stage=nested defaults) can fail only SSIDSIZE, OAS and ATS (H5, H7, H8)."""
    r = host_check_reachability(l0)
    assert sorted(k for k, why in r.items() if why is None) == ["H5", "H7", "H8"]


def test_results_roundtrip_and_errors(tmp_path: Path) -> None:
    recs = [Evidence.from_dict(r) for r in RECORDS]
    p = write_results(tmp_path / "sub" / "r.json", recs)
    assert read_results([p]) == recs
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "accel-smmuv3-evidence/1",
                               "records": [{**cast(dict[str, Any], RECORDS[0]),
                                            "status": "passed"}]}))
    with pytest.raises(EvidenceError, match=r"bad.json: records\[0\]: field 'status': "
                                            "unknown value 'passed'"):
        read_results([bad])
    bad.write_text("[]")
    with pytest.raises(EvidenceError, match="not a results file"):
        read_results([bad])


def test_renderings(results: Path, l0: object) -> None:
    m = matrix(results, l0)
    text = render_text(m)
    assert "P3   CONTRADICTED(1)" in text
    assert "tcg: 3 confirmed, 1 contradicted, " in text
    page = page_html(m, sources=["r.json"])
    assert '<td class="cov-contradicted" title="contradicted">CONTRADICTED(1)' in page
    assert "QEMU bug F6" in page


def test_cli_bad_results_file_is_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{")
    r = subprocess.run([sys.executable, "-m", "conformance", "coverage", "--results",
                        str(bad)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"python -m conformance coverage: error: {bad}: not JSON: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)"]


def test_compared_rules_and_rows() -> None:
    """A rule counts only when what it decided was read (idr, msi-gpa, qom-get)."""
    from conformance.evidence import compared

    pred = {"rules": [{"rule": "P1.kvm-irqchip", "row": "P1"},
                      {"rule": "2a.identifier-index", "row": "2a"},
                      {"rule": "M2.msi-gpa", "row": "M2"}],
            "devices": {"rp0": {"rule": "AS3"}, "vf0": {"rule": "AS4"}},
            "events": [{"rule": "A4"}],
            "smmus": {"s": {"idr": {"IDR0": 1}, "msi_gpa": 5, "properties": {"a": 1}}}}
    obs = {"devices": {"rp0": {}}, "events": [{}], "smmus": {"s": {"idr": {"IDR0": 1}}}}
    assert compared(pred, obs) == (("P1.kvm-irqchip",), ("AS3", "A1", "A4", "P1", "2b"))
    obs["smmus"]["s"].update(msi_gpa=5, properties={"a": 1})  # type: ignore[index]
    assert compared(pred, obs)[0] == ("P1.kvm-irqchip", "2a.identifier-index", "M2.msi-gpa")


def test_evidence_from_log_dirs(tmp_path: Path) -> None:
    from conformance.evidence import from_log_dirs
    from conformance.result import Verdict

    v = Verdict(scenario="a.toml:x", tier="tcg", status="pass", rows=["P1"],
                prediction={"rules": [{"rule": "P1.kvm-irqchip", "row": "P1"}]},
                observation={"outcome": "exits"})
    d = tmp_path / "tcg" / "x"
    d.mkdir(parents=True)
    (d / "verdict.json").write_text(v.to_json())
    (rec,) = from_log_dirs([tmp_path])
    assert (rec.scenario, rec.rules, rec.compared) == ("a.toml:x", ("P1.kvm-irqchip",),
                                                       ("P1",))
    with pytest.raises(EvidenceError, match="no such log folder"):
        from_log_dirs([tmp_path / "nope"])
