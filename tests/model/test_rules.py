# ruff: noqa: E501 - catalogue strings stay on one line so they can be grepped
"""Unit tests: one per model rule, with the exact strings of the catalogue.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from catalogue.prediction import Prediction
from catalogue.scenario import Event, HostSmmu
from reference_model import PROFILES, CmdlineError, TypeHierarchy, predict
from reference_model.cmdline import split_opts
from reference_model.rules import RULES, host_compat, idregs, invalidation, ste
from reference_model.rules.admission import classify
from reference_model.rules.properties import qdict_order

TCG = ["-accel", "tcg"]
KVM = ["-accel", "kvm", "-cpu", "host", "-bios", "/dev/null"]
SMMU = "arm-smmuv3,primary-bus=pcie.0,id=smmu0"
EXPLICIT = "accel=on,ats=off,ril=off,ssidsize=0,oas=44"


def run(cmd: str, tier: list[str] = TCG, **kw: object) -> Prediction:
    return predict(["-M", *cmd.split(" -", 1)[0].split()[:1], *_rest(cmd), *tier], **kw)  # type: ignore[arg-type]


def _rest(cmd: str) -> list[str]:
    parts = cmd.split()
    return parts[1:]


def fired(p: Prediction) -> set[str]:
    return {r.row for r in p.rules}


# ------------------------------------------------------------------ §1 preconditions
def test_p1_tcg_with_device_prefix() -> None:
    p = run(f"virt -device {SMMU},accel=on")
    assert (p.outcome, p.exit_code) == ("exits", 1)
    assert p.error == (f"-device {SMMU},accel=on: SMMUv3 accel=on requires KVM with "
                       "kernel-irqchip=on support")
    assert "P1" in fired(p)


def test_p1_global_on_legacy_has_no_prefix() -> None:
    p = run("virt,iommu=smmuv3 -global arm-smmuv3.accel=on")
    assert p.error == "SMMUv3 accel=on requires KVM with kernel-irqchip=on support"


def test_p1_kvm_without_irqchip() -> None:
    p = predict(["-M", "virt", "-accel", "kvm,kernel-irqchip=off", "-device",
                 f"{SMMU},{EXPLICIT}"])
    assert p.error is not None and p.error.endswith("requires KVM with kernel-irqchip=on support")


@pytest.mark.parametrize("extra", ["", ",stage=2", ",oas=32", ",primary-bus=rp0"])
def test_p1a_p1_beats_realize_checks(extra: str) -> None:
    dev = f"arm-smmuv3,accel=on{extra}"
    p = run(f"virt -device pcie-root-port,id=rp0,chassis=1 -device {dev}")
    assert p.error == f"-device {dev}: SMMUv3 accel=on requires KVM with kernel-irqchip=on support"


def test_p1a_parse_error_beats_p1() -> None:
    p = run(f"virt -device {SMMU},ssidsize=21,accel=on")
    assert p.error == f"-device {SMMU},ssidsize=21,accel=on: Parameter 'ssidsize' does not accept value '21'"


def test_p3_legacy_and_virtio() -> None:
    p = run(f"virt,iommu=smmuv3 -device {SMMU}")
    assert p.error == (f"-device {SMMU}: virt machine already has iommu=smmuv3 set. "
                       "Doesn't support incompatible iommus")
    p = run(f"virt -device virtio-iommu-pci -device {SMMU}")
    assert p.error is not None and p.error.endswith("already has virtio-iommu set. Doesn't support incompatible iommus")


def test_p3_with_accel_records_the_qemu_assertion() -> None:
    p = run(f"virt,iommu=smmuv3 -device {SMMU},accel=on")
    assert "P3.P1-double-error" in {r.rule for r in p.rules}


def test_p5_smmu_hotplug() -> None:
    p = run(f"virt -device {SMMU}", events=[Event("device_add", {"driver": "arm-smmuv3", "id": "s2"})])
    assert p.events is not None
    assert (p.events[0].ok, p.events[0].error_desc) == (
        False, "Device 'arm-smmuv3' does not support hotplugging")


@pytest.mark.parametrize(("dev", "msg"), [
    ("arm-smmuv3", "SMMU is not attached to any PCI bus!"),
    ("arm-smmuv3,primary-bus=rp0", "SMMU should be attached to a default PCIe root "
                                   "complex(pcie.0) or a pxb-pcie based root complex"),
])
def test_p6_p7(dev: str, msg: str) -> None:
    p = run(f"virt -device pcie-root-port,id=rp0,chassis=1 -device {dev}")
    assert p.error == f"-device {dev}: {msg}"


def test_p8_two_on_one_bus() -> None:
    p = run("virt -device arm-smmuv3,primary-bus=pcie.0 -device arm-smmuv3,primary-bus=pcie.0")
    assert p.error == "-device arm-smmuv3,primary-bus=pcie.0: An iommu is already attached to this bus"


@pytest.mark.parametrize("cmd", [
    "virt,default-bus-bypass-iommu=on -device arm-smmuv3,primary-bus=pcie.0",
    "virt -device pxb-pcie,id=pxb1,bus_nr=10,bypass_iommu=on -device arm-smmuv3,primary-bus=pxb1",
])
def test_p9_bypass(cmd: str) -> None:
    p = run(cmd)
    assert p.error is not None
    assert p.error.endswith(": Bypass option cannot be set for SMMUv3 associated PCIe RC")


def test_p10_dt_warning_and_accel_dt_error() -> None:
    dev = "arm-smmuv3,primary-bus=pxb1,id=s1"
    p = run(f"virt -device pxb-pcie,id=pxb1,bus_nr=10 -device {dev}")
    assert p.outcome == "starts"
    assert p.warnings == [f"-device {dev}: warning: SMMUv3 device only supported with pcie.0 for DT"]
    p = predict(["-M", "virt,gic-version=3", "-accel", "kvm", "-kernel", "Image",
                 "-device", f"{SMMU},{EXPLICIT}"])
    assert p.error == f"-device {SMMU},{EXPLICIT}: SMMUv3 with accel=on not supported for DT"


def test_p11_stage_on_kvm_and_profiles() -> None:
    dev = f"{SMMU},{EXPLICIT},stage=2"
    p = predict(["-M", "virt,gic-version=3", "-device", dev, *KVM])
    assert p.error == f"-device {dev}: Only stage1 is supported for SMMUv3 with accel=on"
    p = predict(["-M", "virt,gic-version=3", "-device", dev, *KVM], profile="series-v7")
    assert p.error == f"-device {dev}: Only stage1 is supported for SMMUV3 with accel=on"


def test_p15_auto_without_vfio_and_p16() -> None:
    p = predict(["-M", "virt,gic-version=3", "-device", f"{SMMU},accel=on", *KVM])
    assert (p.outcome, p.error) == ("exits", "arm-smmuv3 accel=on with 'auto' properties "
                                              "requires at least one cold-plugged VFIO device")
    p = predict(["-M", "virt,gic-version=3", "-device", f"{SMMU},{EXPLICIT},cmdqv=on", *KVM])
    assert p.error == "arm-smmuv3 cmdqv=on requires at least one cold-plugged VFIO device"
    p = predict(["-M", "virt,gic-version=3", "-device", f"{SMMU},accel=on", *KVM],
                profile="merged-v9")
    assert p.outcome == "starts"


def test_p14_only_migratable() -> None:
    p = predict(["-M", "virt,gic-version=3", "-only-migratable", "-device",
                 f"{SMMU},{EXPLICIT}", *KVM])
    assert p.error is not None and "Migration not supported with SMMUv3 accelerator" in p.error


# ------------------------------------------------------------------ §2a properties
@pytest.mark.parametrize(("opt", "msg"), [
    ("oas=32", "QEMU SMMUv3 model only implements auto, 44 bit, or 48 bit OAS. Other OasMode "
               "values are not supported."),
    ("oas=64", "Parameter 'oas' does not accept value '64'"),
    ("oas=48", "oas must be 44 bits when accel=off"),
    ("ril=off", "ril can only be disabled if accel=on"),
    ("ats=on", "ats can only be enabled if accel=on"),
    ("ssidsize=8", "ssidsize can only be greater than 0 bits if accel=on"),
    ("cmdqv=on", "cmdqv can only be enabled if accel=on"),
    ("accel=auto", "Parameter 'accel' expects 'on' or 'off'"),
    ("identifier=256", "Parameter 'identifier' expects uint8_t"),
    ("foo=1", "Property 'arm-smmuv3.foo' not found"),
    # validation order: oas range > ril > ats > oas > ssidsize > cmdqv (TCG✔)
    ("oas=32,ril=off", "QEMU SMMUv3 model only implements auto, 44 bit, or 48 bit OAS. "
                       "Other OasMode values are not supported."),
    ("ats=on,ril=off", "ril can only be disabled if accel=on"),
    ("oas=48,ats=on", "ats can only be enabled if accel=on"),
    ("ssidsize=3,oas=48", "oas must be 44 bits when accel=off"),
    ("cmdqv=on,ssidsize=3", "ssidsize can only be greater than 0 bits if accel=on"),
    # parse order is QDict bucket order, not command-line order (TCG✔)
    ("ssidsize=21,oas=64", "Parameter 'oas' does not accept value '64'"),
    ("ril=maybe,cmdqv=maybe", "Parameter 'cmdqv' does not accept value 'maybe'"),
])
def test_property_errors(opt: str, msg: str) -> None:
    p = run(f"virt -device {SMMU},{opt}")
    assert (p.outcome, p.error) == ("exits", f"-device {SMMU},{opt}: {msg}")


def test_merged_messages() -> None:
    p = run(f"virt -device {SMMU},oas=48", profile="merged-v9")
    assert p.error == f"-device {SMMU},oas=48: OAS must be 44 bits when accel=off"
    p = run(f"virt -device {SMMU},ril=auto", profile="merged-v9")
    assert p.error == f"-device {SMMU},ril=auto: Parameter 'ril' expects 'on' or 'off'"


def test_global_errors_and_unused_warning() -> None:
    p = run(f"virt -global arm-smmuv3.oas=64 -device {SMMU}")
    assert p.error == (f"-device {SMMU}: can't apply global arm-smmuv3.oas=64: "
                       "Parameter 'oas' does not accept value '64'")
    p = run("virt -global arm-smmuv3.accel=on")
    assert p.warnings == ["warning: global arm-smmuv3.accel=on not used"]


def test_qom_values_non_accel() -> None:
    p = run(f"virt -device {SMMU},smmu_per_bus=false")
    assert p.smmus is not None
    props = p.smmus["smmu0"].properties
    assert props is not None
    assert props["smmu_per_bus"] is True  # virt forces it (TCG✔)
    assert {k: props[k] for k in ("ats", "ril", "oas", "ssidsize", "cmdqv")} == dict.fromkeys(
        ("ats", "ril", "oas", "ssidsize", "cmdqv"), "auto")
    assert (props["accel"], props["msi-gpa"], props["stage"]) == (False, 0, "")


def test_qdict_order_is_bucket_order() -> None:
    assert qdict_order(("ssidsize", "oas", "primary-bus", "foo")) == (
        "oas", "ssidsize", "primary-bus", "foo")


# ------------------------------------------------------------------ §2b ID registers
@pytest.mark.parametrize(("opt", "idr"), [
    ("", (0x0D44101A, 0x02730010, 0x1404, 0x74)),
    (",stage=2", (0x0D441019, 0x02730010, 0x1414, 0x74)),
    (",stage=nested", (0x0D44101B, 0x02730010, 0x1414, 0x74)),
    (",stage=3", (0x0D44101A, 0x02730010, 0x1404, 0x74)),
])
def test_default_idregs(opt: str, idr: tuple[int, ...]) -> None:
    p = run(f"virt -device {SMMU}{opt}")
    assert p.smmus is not None and p.smmus["smmu0"].idr == dict(
        zip(("IDR0", "IDR1", "IDR3", "IDR5"), idr, strict=True))
    assert p.smmus["smmu0"].base == 0x0C000000


def test_legacy_idregs_nested() -> None:
    p = run("virt,iommu=smmuv3")
    assert p.smmus is not None
    assert p.smmus["legacy"].idr == {"IDR0": 0x0D44101B, "IDR1": 0x02730010, "IDR3": 0x1414,
                                     "IDR5": 0x74}
    assert p.smmus["legacy"].base == 0x09050000


def test_accel_overrides() -> None:
    p = predict(["-M", "virt,gic-version=3", "-device",
                 f"{SMMU},accel=on,ats=on,ril=off,oas=48,ssidsize=20", *KVM])
    assert p.smmus is not None
    assert p.smmus["smmu0"].idr == {"IDR0": 0x0D44141A, "IDR1": 0x02730510, "IDR3": 0x1004,
                                    "IDR5": 0x75}


def test_auto_resolves_from_host() -> None:
    host = HostSmmu(idr0=0x0D44141A, idr1=0x02730290, idr3=0x1004, idr5=0x75)
    p = predict(["-M", "virt,gic-version=3", "-object", "iommufd,id=fd0", "-device",
                 f"{SMMU},accel=on", "-device", "vfio-pci,host=0000:01:00.0,iommufd=fd0,id=v0",
                 *KVM], host=host)
    assert p.outcome == "starts" and p.smmus is not None and p.devices is not None
    assert p.smmus["smmu0"].idr == {"IDR0": 0x0D44141A, "IDR1": 0x02730290, "IDR3": 0x1004,
                                    "IDR5": 0x74}
    assert p.devices["v0"].address_space == "accel-sysmem"


# ------------------------------------------------------------------ §3 admission
def test_admission_classes_follow_the_hierarchy() -> None:
    t = TypeHierarchy.builtin()
    assert classify(t, "pcie-root-port", False) == "bridge"
    assert classify(t, "pxb-pcie", False) == "bridge"
    assert classify(t, "gpex-root", False) == "bridge"
    assert classify(t, "vfio-pci-nohotplug", True) == "vfio"
    assert classify(t, "vfio-pci", False) == "vfio-legacy"
    assert classify(t, "vfio-user-pci", True) == "emulated"  # not derived from vfio-pci
    assert classify(t, "e1000e", False) == "emulated"


def test_admission_from_custom_hierarchy() -> None:
    t = TypeHierarchy.from_qom_list_types([
        {"name": "device"}, {"name": "pci-device", "parent": "device"},
        {"name": "vfio-pci", "parent": "pci-device"},
        {"name": "vfio-user-pci", "parent": "vfio-pci"}])
    assert classify(t, "vfio-user-pci", True) == "vfio"


@pytest.mark.parametrize(("dev", "msg"), [
    ("e1000e,id=n,bus=rp0", "Emulated endpoint devices are not allowed when using "
                            "arm-smmuv3,accel=on"),
    ("vfio-pci,host=0000:01:00.0,id=v,bus=rp0",
     "vfio-pci endpoint devices without an iommufd backend not allowed when using "
     "arm-smmuv3,accel=on"),
])
def test_a3_a4_cold_and_hot(dev: str, msg: str) -> None:
    base = ["-M", "virt,gic-version=3", "-device", f"{SMMU},{EXPLICIT}", "-device",
            "pcie-root-port,id=rp0,chassis=1", *KVM]
    p = predict([*base, "-device", dev])
    assert (p.outcome, p.exit_code, p.error) == ("exits", 1, f"-device {dev}: {msg}")
    driver, *rest = dev.split(",")
    args = dict(x.split("=", 1) for x in rest)
    p = predict(base, [Event("device_add", {"driver": driver, **args})])
    assert p.events is not None
    assert (p.events[0].ok, p.events[0].error_class, p.events[0].error_desc) == (
        False, "GenericError", msg)


def test_v4_cold_exit_and_hot_accept() -> None:
    base = ["-M", "virt,gic-version=3", "-device", f"{SMMU},accel=on", "-device",
            "pcie-root-port,id=rp0,chassis=1", *KVM]
    p = predict([*base, "-device", "e1000e,bus=rp0"], profile="series-v4")
    assert p.error == ("-device e1000e,bus=rp0: Device(e1000e) not allowed. Only PCIe root "
                       "complex devices or PCI bridge devices or vfio-pci endpoint devices with "
                       "iommufd as backend is allowed with arm-smmuv3,accel=on")
    p = predict(base, [Event("device_add", {"driver": "e1000e", "id": "n", "bus": "rp0"})],
                profile="series-v4")
    assert p.events is not None and p.events[0].ok and p.devices is not None
    assert p.devices["n"].address_space == "iommu"
    p = predict(base, [Event("device_add", {"driver": "vfio-pci", "id": "v", "bus": "rp0",
                                            "host": "0000:01:00.0"})], profile="series-v4")
    assert p.warnings == ["warning: Hot plugging a vfio-pci device (0000:01:00.0) without "
                          "iommufd as backend is not supported"]


# ------------------------------------------------------------------ §4 address spaces
def test_address_spaces_non_accel_and_per_bus() -> None:
    p = run(f"virt -device pxb-pcie,id=pxb1,bus_nr=10 -device {SMMU} "
            "-device pcie-root-port,id=rp1,chassis=1,bus=pcie.0 -device virtio-rng-pci,id=r1,bus=rp1 "
            "-device pcie-root-port,id=rp2,chassis=2,bus=pxb1 -device virtio-rng-pci,id=r2,bus=rp2")
    assert p.devices is not None
    got = {k: (d.address_space, d.smmu, d.rule) for k, d in p.devices.items()}
    assert got == {"gpex-root": ("iommu", "smmu0", "AS1"), "pxb1": ("iommu", "smmu0", "AS1"),
                   "rp1": ("iommu", "smmu0", "AS1"), "r1": ("iommu", "smmu0", "AS1"),
                   "rp2": ("system", None, "A6"), "r2": ("system", None, "A6")}


def test_default_bus_is_the_newest_pxb_root_bus() -> None:
    """qbus_find_recursive searches the newest sysbus child first (TCG: as1-default-bus-with-pxb)."""
    p = run(f"virt -device {SMMU} -device pcie-root-port,id=rp0,chassis=1 "
            "-device pxb-pcie,id=pxb1,bus_nr=10 -device pcie-root-port,id=rp1,chassis=2 "
            "-device pxb-pcie,id=pxb2,bus_nr=20,bus=pcie.0 -device pcie-root-port,id=rp2,chassis=3")
    assert p.devices is not None
    got = {k: d.address_space for k, d in p.devices.items() if k.startswith("rp")}
    assert got == {"rp0": "iommu", "rp1": "system", "rp2": "system"}
    assert [r.detail for r in p.rules if r.rule == "F.default-bus"] == ["pxb1", "pxb2"]
    p = run("virt -device pxb-pcie,id=pxb1,bus_nr=10 -device virtio-rng-pci,id=r0")
    assert p.outcome == "exits" and p.error == (
        "-device virtio-rng-pci,id=r0: PCI: Only PCI/PCIe bridges can be plugged into pxb-pcie")


def test_device_before_smmu_is_still_behind_it() -> None:
    p = run(f"virt -device virtio-rng-pci,id=early -device {SMMU}")
    assert p.devices is not None and p.devices["early"].smmu == "smmu0"


def test_legacy_reaches_pxb_unless_bypass() -> None:
    p = run("virt,iommu=smmuv3 -device pxb-pcie,id=a,bus_nr=10 "
            "-device pxb-pcie,id=b,bus_nr=20,bypass_iommu=on,bus=pcie.0 "
            "-device pcie-root-port,id=pa,chassis=1,bus=a -device virtio-rng-pci,id=ra,bus=pa "
            "-device pcie-root-port,id=pb,chassis=2,bus=b -device virtio-rng-pci,id=rb,bus=pb")
    assert p.devices is not None
    assert (p.devices["ra"].address_space, p.devices["rb"].address_space) == ("iommu", "system")


# ------------------------------------------------------------------ §5, §6, §7
def test_msi_gpa_table() -> None:
    for m, gpa in (("virt,gic-version=3", 0x08090040), ("virt,gic-version=2", 0x08020040),
                   ("virt,gic-version=3,its=off", 0), ("virt,gic-version=3,msi=off", 0)):
        p = predict(["-M", m, "-device", f"{SMMU},{EXPLICIT}", *KVM])
        assert p.smmus is not None and p.smmus["smmu0"].msi_gpa == gpa, m
    p = predict(["-M", "virt,gic-version=3,msi=off", "-device", f"{SMMU},{EXPLICIT}", *KVM],
                profile="series-v7")
    assert p.smmus is not None and p.smmus["smmu0"].msi_gpa == 0x08020040


@pytest.mark.parametrize(("field", "value", "msg"), [
    ("idr0", 0x0D44101A & ~(3 << 27), "Host SMMUv3 Stream Table format mismatch (host "
                                       "STLEVEL=0, QEMU STLEVEL=1)"),
    ("idr1", 0x0273000C, "Host SMMUv3 SIDSIZE not compatible (host=12, QEMU=16)"),
    ("idr3", 0x1004, "Host SMMUv3 doesn't support Range Invalidation"),
    ("idr5", 0x73, "Host SMMUv3 supports only 42-bit IPA, but the vSMMU OAS implies 44-bit IPA"),
    ("idr5", 0x34, "Host SMMUv3 doesn't support 64K translation granule"),
])
def test_host_checks(field: str, value: int, msg: str) -> None:
    good = {"idr0": 0x0D44141A, "idr1": 0x02730290, "idr3": 0x1404, "idr5": 0x75}
    host = HostSmmu(**cast(dict[str, Any], {**good, field: value}))
    idr = idregs.init_id_regs(None)
    bad = host_compat.check(host, idr, PROFILES_MSG)
    assert bad is not None and bad[1] == msg


PROFILES_MSG = __import__("reference_model.profiles", fromlist=["resolve"]).resolve(
    "qemu-11.1").msg


def test_host_check_ats_only_in_11_1() -> None:
    host = HostSmmu(idr0=0x0D44101A, idr1=0x02730290, idr3=0x1404, idr5=0x75)
    idr = idregs.init_id_regs(None)
    idregs.put(idr, "ATS", 1)
    assert host_compat.check(host, idr, PROFILES_MSG) == (
        "H8.host-ats", "Host SMMUv3 doesn't support Address Translation Services")
    assert host_compat.check(host, idr, PROFILES_MSG, ats_check=False) is None


def test_ste_and_invalidation_tables() -> None:
    assert ste.install_ste(True, True, True, False, False, True, 5) == "bypass"
    assert ste.install_ste(True, True, True, True, False, True, 5) == "translate"
    assert ste.install_ste(True, True, True, True, False, True, 6) is None
    assert ste.install_ste(False, True, True, True, False, True, 5) == ""
    assert invalidation.forwarded("CMD_TLBI_NH_ASID", True, False, False)
    assert not invalidation.forwarded("CMD_CFGI_CD", True, False, False)
    assert invalidation.forwarded("CMD_ATC_INV", True, True, True)
    assert not invalidation.forwarded("CMD_CFGI_STE", True, True, True)


# ------------------------------------------------------------------ hotplug, cmdline
def test_hotplug_rules() -> None:
    p = run(f"virt -device {SMMU} -device pcie-root-port,id=rp0,chassis=1 -device "
            "e1000e,id=c0,bus=rp0,netdev=x", events=[
                Event("device_add", {"driver": "e1000e", "id": "n0"}),
                Event("device_add", {"driver": "e1000e", "id": "c0", "bus": "rp0"}),
                Event("device_del", {"id": "c0"}),
                Event("device_del", {"id": "nope"})])
    assert p.events is not None
    assert [(e.ok, e.error_class, e.error_desc) for e in p.events] == [
        (False, "GenericError", "Bus 'pcie.0' does not support hotplugging"),
        (False, "GenericError", "Duplicate device ID 'c0'"),
        (True, None, None),
        (False, "DeviceNotFound", "Device 'nope' not found")]


@pytest.mark.parametrize(("argv", "msg"), [
    (["-M", "virt", "-foo"], "-foo: invalid option"),
    (["-M", "virt", "-device"], "-device: requires an argument"),
    (["-M", "nosuch"], 'unsupported machine type: "nosuch"\nUse -machine help to list '
                       "supported machines"),
    (["-M", "virt,foo=1"], "Property 'virt-11.1-machine.foo' not found"),
    (["-M", "virt,iommu=bogus"], "Invalid iommu value\nValid values are none, smmuv3."),
    (["-M", "virt", "-device", "nosuch"], "-device nosuch: 'nosuch' is not a valid device model name"),
    (["-M", "virt", "-device", "e1000e,bus=nobus"], "-device e1000e,bus=nobus: Bus 'nobus' not found"),
    (["-M", "virt", "-device", "arm-smmuv3,primary-bus=nobus"],
     "-device arm-smmuv3,primary-bus=nobus: Device 'nobus' not found"),
    (["-M", "virt,gic-version=2,msi=its"], "GICv2 + ITS is an invalid configuration."),
])
def test_command_line_errors(argv: list[str], msg: str) -> None:
    p = predict([*TCG, *argv])
    assert (p.outcome, p.exit_code, p.error) == ("exits", 1, msg)


def test_comma_escape_and_bool_spellings() -> None:
    p = run(f"virt -device {SMMU},accel=yes")
    assert p.error is not None and "requires KVM" in p.error
    assert split_opts("e1000e,id=n,romfile=a,,b,x-y", "driver") == (
        ("driver", "e1000e"), ("id", "n"), ("romfile", "a,b"), ("x-y", "on"))
    p = run("virt -device virtio-rng-pci,id=a,,b")
    assert p.error is not None and p.error.endswith("Parameter 'id' expects an identifier\n"
        "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.")


def test_model_limits_are_errors() -> None:
    with pytest.raises(CmdlineError, match="only the virt machine"):
        predict(["-M", "sbsa-ref"])


def test_every_rule_names_a_catalogue_row() -> None:
    assert all(r.row and r.source for r in RULES.values())
    assert set(PROFILES) >= {"qemu-11.1", "merged-v9", "series-v4"}
