"""The fuzzer's own tests: generation validity, reproducibility, triage, shrinking.

No QEMU here except the last test (marked ``conformance``): shrinking is checked
against a *planted* model error, the model with one deliberate mistake playing the
part of the model and the real model playing QEMU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from catalogue.guest_steps import compile_script
from catalogue.prediction import Prediction
from catalogue.scenario import parse_scenario
from conformance.compare import judge
from conformance.fuzz.generate import Case, Domain, draw_case, replay
from conformance.fuzz.shrink import shrink
from conformance.fuzz.triage import Normaliser, Signature, observable_of, signature
from conformance.result import Verdict
from reference_model import TypeHierarchy, predict

ROOT = Path(__file__).resolve().parents[2]
TYPES = TypeHierarchy.builtin()
MACHINES = ["virt", "virt-9.1", "virt-9.2", "virt-10.1", "virt-11.1"]
TCG = Domain.for_build("tcg", TYPES, MACHINES)
NESTED = Domain.for_build("nested", TYPES, MACHINES, local=False, vfio_host="0000:01:00.0")
TIER_ARGS = {"tcg": ["-accel", "tcg"], "nested": ["-accel", "kvm", "-cpu", "host"]}


@pytest.mark.parametrize("dom", [TCG, NESTED], ids=["tcg", "nested"])
def test_generated_cases_are_valid_scenarios_the_model_covers(dom: Domain) -> None:
    """Every case is a loadable scenario file and inside the model's domain."""
    outcomes = set()
    for i in range(300):
        c = draw_case(dom, 7, i)
        text = c.to_toml(f"case-{i}", dom.tier, ["F"], "generated")
        s = parse_scenario(tomllib.loads(text)["scenario"][0], "gen.toml")
        assert s.argv == c.argv and s.events == c.events and s.observe == c.observe
        assert set(c.observe) <= set(dom.observables)
        # no CmdlineError ("not modelled") and no model crash
        p = predict([*c.argv, *TIER_ARGS[dom.tier]], c.events, host=c.host,
                    observe=c.observe, types=TYPES)
        outcomes.add(p.outcome)
        ids = [a.split("id=")[1].split(",")[0] for a in c.argv if ",id=" in a or
               a.startswith("id=")]
        assert len(ids) == len(set(ids)), c.argv  # cold-plugged ids are unique
        if dom.vfio_host is None:
            assert "vfio-pci" not in " ".join(c.argv)
    assert outcomes == {"starts", "exits"}


def test_generation_reaches_the_interesting_parts() -> None:
    text = "\n".join(" ".join(draw_case(TCG, 3, i).argv) for i in range(400))
    for needle in ("accel=on", "pxb-pcie", "bus_nr=", "bypass_iommu=on", "pcie-pci-bridge",
                   "x3130-upstream", "xio3130-downstream", "multifunction=on", "addr=",
                   "-global arm-smmuv3.", "iommu=smmuv3", "default-bus-bypass-iommu",
                   "virtio-iommu-pci", "ssidsize=auto", "oas=48", "gic-version=3", "msi="):
        assert needle in text, needle
    events = [e.op for i in range(400) for e in draw_case(TCG, 3, i).events]
    assert {"device_add", "device_del", "system_reset"} <= set(events)
    nested = " ".join(" ".join(draw_case(NESTED, 3, i).argv) for i in range(300))
    assert "vfio-pci" in nested and "iommufd=fd0" in nested


def test_a_case_depends_only_on_seed_and_index() -> None:
    a = [draw_case(TCG, 11, i) for i in (5, 0, 3)]
    b = [draw_case(TCG, 11, i) for i in (3, 5, 0)]
    assert a[0] == b[1] and a[1] == b[2] and a[2] == b[0]
    assert draw_case(TCG, 12, 5) != a[0]
    assert replay(TCG, a[0].choices) == a[0]


def test_seed_reproduces_across_processes() -> None:
    code = ("from conformance.fuzz.generate import Domain, draw_case;"
            "from reference_model import TypeHierarchy as T;"
            "d = Domain.for_build('tcg', T.builtin(), ['virt','virt-9.1']);"
            "print(repr(draw_case(d, 99, 42).argv))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": str(h)},
                           check=True).stdout for h in (1, 2)}
    assert len(outs) == 1
    local = Domain.for_build("tcg", TYPES, ["virt", "virt-9.1"])
    assert outs.pop().strip() == repr(draw_case(local, 99, 42).argv)


# ----------------------------------------------------------------------- triage
def test_normaliser_and_observable() -> None:
    n = Normaliser(["e1000e", "virtio-net-pci"])
    assert n("-device e1000e,id=ep3,bus=rp1: PCI: slot 1 function 0 not available for "
             "e1000e, in use by virtio-net-pci,id=ep2") == \
        "-device …: PCI: slot N function N not available for <T>, in use by <T>,id=epN"
    assert n("IDR0 0x0d44101a") == "IDRN 0xN"
    assert observable_of("devices.rp3.address_space") == "devices.*.address_space"
    assert observable_of("events[2].error_desc") == "events[*].error_desc"
    assert observable_of("smmus.smmu1.idr.IDR0") == "smmus.*.idr.IDR0"


def test_crash_is_a_bucket_with_its_rule() -> None:
    v = Verdict(scenario="x", tier="tcg", status="nonconformance",
                reason="QEMU crashed (killed by SIGABRT) before the QMP greeting: "
                       "util/error.c:62: error_setv: Assertion '*errp == NULL' failed.",
                prediction={"rules": [{"rule": "P3.incompatible-iommu", "row": "P3"},
                                      {"rule": "O7.reset-exit-start", "row": "O7"}]})
    sig = signature(v, Normaliser())
    assert sig is not None and sig.observable == "crash"
    assert sig.rule == "P3.incompatible-iommu"  # observation rules never decide
    assert "error.c:N" in sig.message


def test_guest_prediction_rule_ids() -> None:
    """A guest-tier prediction lists rule ids, not firings: rows come from the rule
    table (the nested campaign's known-bug probe reads recorded guest scenarios)."""
    v = Verdict(scenario="x", tier="nested", status="nonconformance",
                reason="QEMU crashed (killed by SIGABRT) after the QMP greeting",
                prediction={"rules": ["P3.incompatible-iommu", "O7.reset-exit-start"]})
    sig = signature(v, Normaliser())
    assert sig is not None and sig.rule == "P3.incompatible-iommu"


# ----------------------------------------------------------------------- shrinking
def _planted_predict(argv: list[str], case: Case) -> Prediction:
    """The model with a planted error: a stage-2 SMMU's IDR0 is predicted wrong."""
    p = predict(argv, case.events, host=case.host, observe=case.observe, types=TYPES)
    if p.outcome == "starts" and p.smmus:
        for sp in p.smmus.values():
            if sp.properties and sp.properties.get("stage") == "2" and sp.idr:
                sp.idr = {**sp.idr, "IDR0": sp.idr["IDR0"] ^ 0x100}
                break
    return p


def _planted_check(case: Case) -> Signature | None:
    argv = [*case.argv, "-accel", "tcg"]
    truth = predict(argv, case.events, host=case.host, observe=case.observe, types=TYPES)
    expected = _planted_predict(argv, case)
    j = judge(expected, truth)
    v = Verdict(scenario="planted", tier="tcg", status=j.status,  # type: ignore[arg-type]
                reason=j.reason, prediction=expected.to_dict(),
                differences=[{"path": d.path, "expected": d.expected, "observed": d.observed}
                             for d in j.differences])
    return signature(v, Normaliser(TYPES._parent))


def test_planted_model_error_shrinks_to_the_minimal_command_line() -> None:
    big = next(c for c in (draw_case(TCG, 5, i) for i in range(3000))
               if _planted_check(c) is not None and len(c.argv) >= 12)
    target = _planted_check(big)
    assert target is not None and target.observable == "smmus.*.idr.IDR0"
    res = shrink(TCG, big, target, _planted_check, budget_s=120)
    assert res.reproduced and res.complete
    assert _planted_check(res.case) == target
    assert res.case.argv == ("-M", "virt", "-device", "arm-smmuv3,primary-bus=pcie.0,stage=2")
    assert res.case.events == ()


# ----------------------------------------------------------------------- CLI
def _fuzz(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", "fuzz", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.mark.parametrize("args,msg", [
    (["--cases", "0"], "--cases must be at least 1"),
    (["-j", "0"], "--jobs must be at least 1"),
    (["--profile", "nope"], "unknown profile 'nope'"),
    (["--qemu", "/nonexistent/qemu"], "/nonexistent/qemu"),
    (["--guest", "accel"], "--guest accel needs a passed-through device"),
])
def test_bad_options_are_one_line_usage_errors(args: list[str], msg: str) -> None:
    r = _fuzz(*args)
    assert r.returncode == 2
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.conformance
@pytest.mark.tcg
def test_small_tcg_campaign_runs_through_the_runner(tmp_path: Path) -> None:
    r = _fuzz("--cases", "12", "--seed", "1", "-j", "2", "--shrink-time", "0",
              "--out", str(tmp_path))
    assert r.returncode in (0, 1), r.stderr
    assert "12 case(s) on tier tcg" in r.stdout and "cases/s" in r.stdout
    assert (tmp_path / "report.json").exists()


# ----------------------------------------------------------------------- guest steps
GUEST_DOM = Domain(tier="tcg", endpoints={}, guest="control")


def test_guest_cases_are_valid_step_lists_that_round_trip() -> None:
    """fuzz --guest: every drawn step list parses and compiles for the payload, the
    ready scenario file gives the same steps back, and a case depends on (seed, index)."""
    kinds: set[str] = set()
    for i in range(60):
        c = draw_case(GUEST_DOM, 3, i)
        s = c.scenario(f"g{i}", "tcg")
        steps = s.extra["guest"]
        compile_script(steps)
        kinds |= {st.kind for st in steps}
        again = parse_scenario(tomllib.loads(c.to_toml(f"g{i}", "tcg", ["5c"], "d"))
                               ["scenario"][0], source="f.toml")
        assert again.extra["guest"] == steps and again.argv == s.argv
        assert replay(GUEST_DOM, c.choices) == c
    assert draw_case(GUEST_DOM, 3, 7) == draw_case(GUEST_DOM, 3, 7)
    assert {"dma", "map", "ste", "cd", "cmd", "cr0", "gbpa"} <= kinds


@pytest.mark.conformance
@pytest.mark.tcg
def test_small_guest_campaign_on_tcg(tmp_path: Path) -> None:
    r = _fuzz("--guest", "control", "--cases", "12", "--seed", "1", "-j", "2",
              "--shrink-time", "0", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "12 case(s) on tier tcg" in r.stdout and "0 new" in r.stdout
