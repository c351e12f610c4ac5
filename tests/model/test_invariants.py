"""Property-based tests (hypothesis) over generated virt topologies.

Invariants checked for every generated command line and profile:

* a started machine gives every PCI device exactly one address space of a known kind,
  and a device is behind an SMMU exactly when that SMMU exists;
* a machine that exits has an error and no device map; a rejected cold plug of an
  endpoint behind an accel SMMU means the machine exits;
* predictions are deterministic and round-trip through JSON;
* profiles differ only where the catalogue says (§10): a command line without
  ``accel=on`` that uses only properties every revision has is predicted the same by
  every profile.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from catalogue.prediction import ADDRESS_SPACE_KINDS, Prediction
from reference_model import PROFILES, predict
from reference_model.profiles import BEFORE_SERIES

ENDPOINTS = ["e1000e", "virtio-rng-pci", "nvme", "vfio-pci", "vfio-user-pci", "igb"]
TIERS = [["-accel", "tcg"], ["-accel", "kvm", "-cpu", "host", "-bios", "fw"]]


@st.composite
def topologies(draw: st.DrawFn, accel: bool | None = None, common_only: bool = False
               ) -> list[str]:
    m = ["virt"]
    if draw(st.booleans()):
        m.append("gic-version=" + draw(st.sampled_from(["2", "3", "max"])))
    argv = ["-M", ",".join(m), *draw(st.sampled_from(TIERS))]
    buses = ["pcie.0"]
    if draw(st.booleans()):
        bypass = ",bypass_iommu=on" if draw(st.integers(0, 4)) == 0 else ""
        argv += ["-device", f"pxb-pcie,id=pxb1,bus_nr=10{bypass}"]
        buses.append("pxb1")
    for b in draw(st.lists(st.sampled_from(buses), unique=True, max_size=2)):
        props = [f"primary-bus={b}", f"id=smmu-{b}"]
        acc = draw(st.booleans()) if accel is None else accel
        if acc:
            props.append("accel=on")
            if draw(st.booleans()):
                props += ["ats=off", "ril=off", "ssidsize=0", "oas=44"]
        elif not common_only:
            props += draw(st.lists(st.sampled_from(
                ["oas=48", "ril=off", "ats=on", "ssidsize=4", "stage=2", "stage=nested",
                 "oas=auto", "cmdqv=off"]), max_size=2, unique=True))
        else:
            props += draw(st.lists(st.sampled_from(["stage=2", "stage=nested", "stage=1"]),
                                   max_size=1))
        argv += ["-device", "arm-smmuv3," + ",".join(props)]
    ports: list[str] = []
    for i in range(draw(st.integers(0, 3))):
        argv += ["-device", f"pcie-root-port,id=rp{i},chassis={i + 1},"
                            f"bus={draw(st.sampled_from(buses))}"]
        ports.append(f"rp{i}")
    for i in range(draw(st.integers(0, 3))):
        ep = draw(st.sampled_from(ENDPOINTS))
        argv += ["-device", f"{ep},id=ep{i},bus={draw(st.sampled_from(ports + buses))},"
                            "netdev=n"]
    return argv


def _check_shape(p: Prediction) -> None:
    if p.outcome == "starts":
        assert p.exit_code == 0 and p.error is None and p.devices is not None
        assert p.smmus is not None
        for key, d in p.devices.items():
            assert d.address_space in ADDRESS_SPACE_KINDS, key
            assert (d.smmu is None) == (d.address_space == "system") or d.smmu in p.smmus
            if d.smmu is not None:
                assert d.smmu in p.smmus
        assert "gpex-root" in p.devices
    else:
        assert p.devices is None and p.smmus is None
        assert p.rules, "an exit must name the rule that decided it"


@settings(max_examples=300, deadline=None)
@given(topologies(), st.sampled_from(sorted(PROFILES)))
def test_prediction_shape(argv: list[str], profile: str) -> None:
    p = predict(argv, profile=profile)
    _check_shape(p)
    assert predict(argv, profile=profile) == p  # deterministic
    assert Prediction.from_dict(p.to_dict()) == p  # JSON round trip


@settings(max_examples=200, deadline=None)
@given(topologies(accel=True))
def test_rejected_cold_plug_means_exit(argv: list[str]) -> None:
    p = predict(argv)
    if any(r.row in ("A3", "A4") for r in p.rules):
        assert p.outcome == "exits" and p.exit_code in (1, None)


@settings(max_examples=200, deadline=None)
@given(topologies(accel=False, common_only=True))
def test_profiles_agree_without_accel(argv: list[str]) -> None:
    base = predict(argv)
    for name in set(PROFILES) - BEFORE_SERIES:  # the releases before differ (§10)
        other = predict(argv, profile=name)
        assert (other.outcome, other.error, other.warnings) == (
            base.outcome, base.error, base.warnings), name
        assert other.devices == base.devices, name
        if base.smmus is not None and other.smmus is not None:
            assert {k: s.idr for k, s in other.smmus.items()} == {
                k: s.idr for k, s in base.smmus.items()}, name
