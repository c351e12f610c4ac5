"""§1 preconditions P1-P16 and the §2a validation, one function per QEMU phase.

Each function returns ``None`` when the device passes, or the
:data:`~reference_model.rules.Decision` ``(rule id, message id, format arguments)`` of
the first check that fails: the order *inside* a function is
QEMU's order inside that phase, and the engine calls the phases in QEMU's order
(pre_plug -> realize -> plug -> machine-done), which is what makes P1 win over every
realize-time check (P1a, TCG✔).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..profiles import Behaviour
from . import Decision, Rule, register

Failure = Decision | None

P1 = register("P1.kvm-irqchip", "P1", "v6", doc="accel=on needs KVM with in-kernel irqchip")
P3 = register("P3.incompatible-iommu", "P3", "10.2", doc="legacy/virtio IOMMU already present")
P3_CRASH = register("P3.P1-double-error", "P3", "11.1",
                    doc="P3 and P1 both set errp in pre_plug: QEMU 11.1.3 asserts "
                        "(error_setv: *errp == NULL), TCG✔; the model predicts P3")
P3V = register("P3.virtio-multi", "P3", "10.2",
               doc="virtio-iommu-pci with iommu=smmuv3: 'does not support multiple IOMMUs'")
P6 = register("P6.no-primary-bus", "P6", "10.2", doc="no primary-bus")
P7 = register("P7.not-root-bus", "P7", "10.2", doc="primary-bus is not a root bus")
P8 = register("P8.bus-taken", "P8", "10.2", doc="an IOMMU is already attached to the bus")
P9 = register("P9.bypass", "P9", "10.2", doc="primary bus bypasses the IOMMU")
P10A = register("P10.accel-dt", "P10", "v4", doc="accel=on in DT mode")
P10W = register("P10.dt-warning", "P10", "10.2", doc="non-pcie.0 SMMU in DT mode warns")
P11 = register("P11.stage", "P11", "v8", doc="accel=on needs stage 1")
P14 = register("P14.only-migratable", "P14", "v7",
               doc="accel=on adds a migration blocker; --only-migratable refuses it")
P15 = register("P15.auto-needs-vfio", "P15", "11.1",
               doc="'auto' properties and no cold-plugged VFIO device: exit at machine-done")
P16 = register("P16.cmdqv-needs-vfio", "P16", "11.1", predicted=True,
               doc="cmdqv=on and no cold-plugged VFIO device")
VAL = register("2a.validate", "2a", "11.1", doc="smmu_validate_property (realize)")
VAL_ACCEL = register("2a.validate-accel", "2a", "merged", predicted=True,
                     doc="accel=on property ranges (merged: oas 44/48, ssidsize 0..20)")


def _decided(r: Rule, mid: str, **args: Any) -> Decision:
    """One decision of rule ``r``, built once (the engine keeps its text by identity)."""
    return r.id, mid, args


_P1 = _decided(P1, "P1")
_P3_LEGACY = _decided(P3, "P3", what="iommu=smmuv3")
_P3_VIRTIO = _decided(P3, "P3", what="virtio-iommu")
_P6 = _decided(P6, "P6")
_P7 = _decided(P7, "P7")
_P8 = _decided(P8, "P8")
_P9 = _decided(P9, "P9")
_P10A = _decided(P10A, "P10.accel")
_P11 = _decided(P11, "P11")
_P14 = _decided(P14, "P14.only-migratable")
_V = {mid: _decided(VAL, mid) for mid in ("V.ril", "V.ats", "V.oas", "V.ssidsize", "V.cmdqv")}
_V_OAS_RANGE = _decided(VAL, "V.oas-range")
_V_ACCEL_OAS = _decided(VAL_ACCEL, "V.accel-oas")
_V_ACCEL_SSIDSIZE = _decided(VAL_ACCEL, "V.accel-ssidsize", max=20)

def pre_plug(b: Behaviour, *, accel: bool, legacy: bool, virtio_iommu: bool, kvm: bool,
             irqchip: bool, stage: Any, is_legacy_dev: bool) -> Failure:
    """virt_machine_device_pre_plug_cb, SMMUv3 branch (``legacy``/``virtio_iommu``: that
    IOMMU exists already; ``is_legacy_dev``: this is the ``iommu=smmuv3`` SMMU)."""
    if not is_legacy_dev and (legacy or virtio_iommu):
        return _P3_LEGACY if legacy else _P3_VIRTIO
    if accel and b.kvm_check and not (kvm and irqchip):
        return _P1
    if accel and b.stage_check == "pre_plug" and stage not in (None, "1"):
        return _P11
    return None


_MISSING: Any = object()


def _nonaccel_11(p: dict[str, Any]) -> str | None:
    """Non-accel checks in 11.1.3 order (TCG✔): the message id of the first failure."""
    g = p.get
    if g("ril") == "off":
        return "V.ril"
    if g("ats") == "on":
        return "V.ats"
    if g("oas") == "48":
        return "V.oas"
    v = g("ssidsize", "auto")
    if v != "auto" and v != "0":
        return "V.ssidsize"
    if g("cmdqv") == "on":
        return "V.cmdqv"
    return None


def _nonaccel_merged(p: dict[str, Any]) -> str | None:
    """Non-accel checks of the merged series (and v4: ``pasid``)."""
    g = p.get
    if g("ril") is False:
        return "V.ril"
    if g("ats") is True:
        return "V.ats"
    v = g("oas", _MISSING)
    if v is not _MISSING and v != 44:
        return "V.oas"
    v = g("ssidsize", _MISSING)
    if v is not _MISSING and v != 0:
        return "V.ssidsize"
    if g("pasid") is True:
        return "V.ssidsize"
    return None


def validate(b: Behaviour, p: dict[str, Any], only_migratable: bool) -> Failure:
    """smmu_validate_property, then the accel migration blocker (realize)."""
    accel = bool(p.get("accel"))
    if b.props == "11.1":
        if p["oas"] not in ("auto", "44", "48"):
            return _V_OAS_RANGE
        if not accel:
            mid = _nonaccel_11(p)
            return None if mid is None else _V[mid]
    elif not accel:
        mid = _nonaccel_merged(p)
        return None if mid is None else _V[mid]
    if b.stage_check == "realize" and p.get("stage") not in (None, "1"):
        return _P11
    if b.props != "11.1":
        if p["oas"] not in (44, 48):
            return _V_ACCEL_OAS
        if "ssidsize" in p and p["ssidsize"] > 20:
            return _V_ACCEL_SSIDSIZE
    if only_migratable and b.migration_blocker:
        return _P14
    return None


def realize_bus(primary: Any, is_root: bool, taken: bool) -> Failure:
    """smmu_base_realize: primary-bus checks."""
    if primary is None:
        return _P6
    if not is_root:
        return _P7
    if taken:
        return _P8
    return None


def plug(b: Behaviour, *, accel: bool, stage: Any, bypass: bool, dt_mode: bool,
         on_pcie0: bool) -> tuple[Failure, str | None]:
    """virt_machine_device_plug_cb: (failure, warning message id)."""
    if bypass:
        return _P9, None
    if accel and b.stage_check == "plug" and stage not in (None, "1"):
        return _P11, None
    if dt_mode:
        if accel:
            return _P10A, None
        if not on_pcie0:
            return None, "P10.warn"
    return None, None


R_HOTPLUG = register("P5.hotplug", "P5", "10.2", doc="hotplug rules (bus, device class)")

#: QOM types whose DeviceClass sets ``hotpluggable = false`` besides the SMMU:
#: device_add and device_del refuse them before the bus (TCG✔; vfio-pci-nohotplug:
#: nested tier; found by the fuzzer)
NOT_HOTPLUGGABLE = ("virtio-iommu-pci", "vfio-pci-nohotplug")
#: device_del refuses these too (pxb-pcie is only ever cold: the command line has it)
NOT_UNPLUGGABLE = (*NOT_HOTPLUGGABLE, "pxb-pcie")


def not_hotpluggable(anc: Collection[str], driver: str, unplug: bool) -> Decision | None:
    """``qdev_device_add``/``qdev_unplug``: ``dc->hotpluggable`` false refuses the
    command before any bus check (text P5: "Device '...' does not support hotplugging")."""
    if any(t in anc for t in (NOT_UNPLUGGABLE if unplug else NOT_HOTPLUGGABLE)):
        return (R_HOTPLUG.id, "P5", {"driver": driver})
    return None
