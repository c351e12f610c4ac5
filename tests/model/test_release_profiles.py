"""The profiles of the releases before the series (catalogue §10, rules/releases.py).

Each expectation is what Debian's real builds showed under TCG (7.2.22, 10.0.2,
10.0.13; ``tests/ecosystem/test_releases.py`` runs the whole catalogue on them).
"""

from __future__ import annotations

from reference_model import predict
from reference_model.profiles import BEFORE_SERIES, resolve

SMMU = ["-M", "virt", "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0"]
NOT_PLUGGABLE = ("-device arm-smmuv3,primary-bus=pcie.0,id=smmu0: "
                 "Parameter 'driver' expects a pluggable device type")


def _rules(p: object) -> set[str]:
    return {r.rule for r in p.rules}  # type: ignore[attr-defined]


def test_before_10_2_not_user_creatable() -> None:
    for prof in ("qemu-10.1", "qemu-7.2"):
        p = predict(SMMU, profile=prof)
        assert (p.outcome, p.exit_code, p.error) == ("exits", 1, NOT_PLUGGABLE)
        assert "P4.not-user-creatable" in _rules(p)
    assert predict(SMMU, profile="qemu-10.2").outcome == "starts"


def test_device_add_refused_before_10_2() -> None:
    from catalogue.scenario import Event

    ev = Event("device_add", {"driver": "arm-smmuv3", "id": "s"})
    p = predict(["-M", "virt"], events=[ev], profile="qemu-10.1")
    assert p.events is not None and not p.events[0].ok
    assert p.events[0].error_desc == "Parameter 'driver' expects a pluggable device type"


def test_iort_before_10_2() -> None:
    legacy = ["-M", "virt,iommu=smmuv3"]
    new = predict(legacy, profile="qemu-11.1", observe=("iort",)).iort
    old = predict(legacy, profile="qemu-10.1", observe=("iort",)).iort
    v72 = predict(legacy, profile="qemu-7.2", observe=("iort",)).iort
    assert new is not None and old is not None and v72 is not None
    assert (new.revision, new.its_present, new.smmu_nodes[0]["identifier"]) == (5, False, 0)
    # GICv2, no ITS: 10.0 still emits the ITS node, and the legacy id is the counter
    assert (old.revision, old.its_present, old.smmu_nodes[0]["identifier"]) == (3, True, 1)
    assert old.rc_id_mappings[0]["count"] == 0xFF and v72.rc_id_mappings[0]["count"] == 0x100


def test_7_2_stage1_only_and_ports_take_any_slot() -> None:
    p = predict(["-M", "virt,iommu=smmuv3"], profile="qemu-7.2")
    assert p.smmus is not None and p.smmus["legacy"].idr is not None
    assert p.smmus["legacy"].idr["IDR0"] == 0x0D40101A
    assert p.smmus["legacy"].idr["IDR3"] == 0x1404
    ports = ["-M", "virt", "-device", "pcie-root-port,id=rp0,chassis=1",
             "-device", "virtio-rng-pci,bus=rp0", "-device", "virtio-rng-pci,bus=rp0"]
    assert predict(ports, profile="qemu-7.2").warnings == []
    assert predict(ports, profile="qemu-10.1").warnings  # the slot-1 warning


def test_release_profiles_chain() -> None:
    assert resolve("qemu-7.2").chain == ("qemu-7.2", "qemu-10.1", "qemu-10.2", "merged-v9",
                                         "qemu-11.1")
    assert {"qemu-10.2", "qemu-10.1", "qemu-7.2"} == BEFORE_SERIES
