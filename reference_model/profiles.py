"""Profiles: which revision of the accel SMMUv3 series the model predicts (§10).

The model is written once, for QEMU 11.1 (profile ``qemu-11.1``).  Every other profile
is a *small set of differences* on top of a parent profile: a few :class:`Behaviour`
switches plus the messages that were worded differently.  Resolving a profile walks
the chain ``series-v4 -> series-v5 -> series-v6 -> series-v7 -> merged-v9 ->
qemu-11.1`` and applies the overrides from the root down.

Differences, by profile (sources: catalogue §10, ML revisions, SRC[M]):

``merged-v9`` (master 2026-02-02, v8 = v9)
    ``ril``/``ats`` booleans, ``oas``/``ssidsize`` uint8 (no 'auto', no ``cmdqv``,
    ``identifier``), no P15/P16, no H8, merged wording of the validation messages.
``series-v7``
    msi-gpa = ITS, else GICv2m even without an MSI controller; stage check (P11) in
    virt pre_plug with the text ``SMMUV3`` (capital V).
``series-v6``
    msi-gpa set in virt *plug* (not pre_plug).
``series-v5``
    no ``msi-gpa`` property and no KVM/irqchip check (P1); stage check in virt plug.
``qemu-10.2`` (user-creatable SMMUv3, before the accel series; from source)
    ``arm-smmuv3`` with ``primary-bus``/``stage``/``bus_num``/``smmu_per_bus`` only, no
    ``accel`` (so no P1), IORT revision 3.
``qemu-10.1`` (10.1 and older; run on Debian's 10.0.2 and 10.0.13)
    ``arm-smmuv3`` is not user-creatable; IORT: ITS node whatever the MSI controller,
    legacy node identifier from the counter (rules/releases.py).
``qemu-7.2`` (run on Debian 12's 7.2.22)
    as ``qemu-10.1``; the RC's ID mapping to the SMMU counts 0x100 (and the ITS gaps
    below an SMMU range one more); the SMMU is stage 1 only; PCIe ports take any slot.
``series-v4``
    cold-plugged emulated/legacy-vfio devices: ``error_report`` + ``exit(1)`` with
    ``Device(%s) not allowed...``; hot-plugged ones only warn (the emulated-device
    warning never fires: NULL pdev) and are accepted; vfio-pci gets
    ``address_space_memory`` (kind ``system``); ``pasid`` instead of ``ssidsize``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from .errors import ModelError
from .messages import MESSAGES

__all__ = ["BEFORE_SERIES", "PROFILES", "Behaviour", "Profile", "ProfileError", "resolve"]


class ProfileError(ModelError):
    """Unknown profile name (one line, lists the known ones)."""


@dataclass(frozen=True)
class Behaviour:
    """The switches rules consult.  Defaults are QEMU 11.1.3's behaviour."""

    #: property table of arm-smmuv3 (see rules/properties.py): "11.1", "merged", "v4",
    #: "10.2" (user-creatable, no accel), "10.1" (10.1 and older)
    props: Literal["11.1", "merged", "v4", "10.2", "10.1", "7.2"] = "11.1"
    #: -device/device_add arm-smmuv3 allowed (10.2+; rules/releases.py)
    user_creatable: bool = True
    #: P1 exists (v6+)
    kvm_check: bool = True
    #: where P11 (stage check) runs: "realize" (v8+), "pre_plug" (v6/v7), "plug" (v4/v5)
    stage_check: Literal["realize", "pre_plug", "plug"] = "realize"
    #: admission: "error" (v5+: Error at realize / QMP error), "v4" (exit(1) / warn)
    admission: Literal["error", "v4"] = "error"
    #: kind of address space a vfio-pci+iommufd device gets behind an accel SMMU
    vfio_as: Literal["accel-sysmem", "system"] = "accel-sysmem"
    #: where msi-gpa is programmed: None (no property), "plug" (v6), "pre_plug" (v7+)
    msi_gpa_phase: Literal["plug", "pre_plug"] | None = "pre_plug"
    #: msi-gpa choice: "its-v2m-none" (merged) or "its-else-v2m" (v6/v7)
    msi_gpa_rule: Literal["its-v2m-none", "its-else-v2m"] = "its-v2m-none"
    #: 'auto' properties and the P15 machine-done exit
    auto_mode: bool = True
    #: cmdqv property (Tegra241 CMDQV series) and P16
    cmdqv: bool = True
    #: H8 (host ATS check)
    host_ats_check: bool = True
    #: migration blocker at accel realize (v7+)
    migration_blocker: bool = True
    #: IORT header revision (O1): 5 since the RMR merge, 3 in the series and before
    iort_revision: int = 5
    #: IORT ITS node whatever the MSI controller (<=10.1; rules/releases.py)
    iort_its_always: bool = False
    #: legacy SMMU IORT identifier: 0 (11.1) or the node counter (<=10.1)
    iort_legacy_counter_id: bool = False
    #: "number of IDs" of the RC mapping to an SMMU: 0xff (count - 1), 0x100 in 7.2
    iort_smmu_map_count: int = 0xFF
    #: the SMMU implements stage 2 (9.0+); 7.2: stage 1 only, VMID16=0
    smmu_stage2: bool = True
    #: PCIe ports take only slot 0 (warning / hot-plug refusal); 7.2: any slot
    pcie_port_slot0: bool = True
    #: virt's ``msi=`` property, and ``its=on`` on GICv2 refused (11.1; Debian's 10.0.x
    #: have neither: no such property, and its=on is ignored on GICv2)
    virt_msi: bool = True
    #: device_del checks the device class (dc->hotpluggable) before the bus (7.2: the
    #: bus first; and device_add's class refusal is worded as a non-pluggable type)
    hotplug_class_first: bool = True
    #: trace events the SMMU code has beyond smmu_add_mr (7.2: no smmu_reset_exit)
    trace_events: tuple[str, ...] = ("smmu_reset_exit",)


@dataclass(frozen=True)
class Profile:
    name: str
    parent: str | None
    description: str
    behaviour: Mapping[str, Any] = field(default_factory=dict)  # overrides only
    messages: Mapping[str, str] = field(default_factory=dict)  # overrides only


_V7_STAGE = "Only stage1 is supported for SMMUV3 with accel=on"

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("qemu-11.1", None, "QEMU 11.1.3 as released (default)"),
    Profile("merged-v9", "qemu-11.1",
            "the accel series as merged in master 2026-02-02 (v9 = v8)",
            behaviour={"props": "merged", "auto_mode": False, "cmdqv": False,
                       "host_ats_check": False},
            messages={"V.oas": "OAS must be 44 bits when accel=off",
                      "V.ssidsize": "ssidsize can only be set if accel=on"}),
    Profile("series-v7", "merged-v9", "accel series v7 (2026-01-11)",
            behaviour={"stage_check": "pre_plug", "msi_gpa_rule": "its-else-v2m",
                       "iort_revision": 3},
            messages={"P11": _V7_STAGE}),
    Profile("series-v6", "series-v7", "accel series v6 (2025-11-20)",
            behaviour={"msi_gpa_phase": "plug", "migration_blocker": False}),
    Profile("series-v5", "series-v6", "accel series v5 (2025-10-31)",
            behaviour={"kvm_check": False, "msi_gpa_phase": None, "stage_check": "plug"}),
    Profile("series-v4", "series-v5", "accel series v4 (2025-09-29)",
            behaviour={"props": "v4", "admission": "v4", "vfio_as": "system"},
            messages={"V.oas": "OAS can only be set to 44 bits if accel=off",
                      "V.ssidsize": "pasid can only be enabled if accel=on"}),
    # releases before the series (catalogue §10; rules/releases.py)
    Profile("qemu-10.2", "merged-v9",
            "QEMU 10.2: user-creatable arm-smmuv3, before the accel series (from source)",
            behaviour={"props": "10.2", "kvm_check": False, "msi_gpa_phase": None,
                       "migration_blocker": False, "iort_revision": 3}),
    Profile("qemu-10.1", "qemu-10.2",
            "QEMU 10.1 and older: arm-smmuv3 not user-creatable (run: Debian 10.0.2, 10.0.13)",
            behaviour={"props": "10.1", "user_creatable": False, "iort_its_always": True,
                       "iort_legacy_counter_id": True, "virt_msi": False}),
    Profile("qemu-7.2", "qemu-10.1",
            "QEMU 7.2 (run: Debian 12's 7.2.22): as qemu-10.1; stage 1 only, PCIe ports take "
            "any slot, IORT counts off by one",
            behaviour={"props": "7.2", "iort_smmu_map_count": 0x100, "smmu_stage2": False,
                       "pcie_port_slot0": False, "trace_events": (),
                       "hotplug_class_first": False},
            messages={"P5": "Parameter 'driver' expects a pluggable device type"}),
)}


#: profiles of releases from before the accel series: there arm-smmuv3 differs even
#: without ``accel`` (not user-creatable, older IORT...), unlike the series revisions
BEFORE_SERIES: frozenset[str] = frozenset({"qemu-10.2", "qemu-10.1", "qemu-7.2"})


@dataclass(frozen=True)
class Resolved:
    """A profile with its chain applied: what the engine uses."""

    name: str
    b: Behaviour
    msg: Mapping[str, str]
    chain: tuple[str, ...]


@cache
def resolve(name: str) -> Resolved:
    """The behaviour and message table of profile ``name``."""
    if name not in PROFILES:
        raise ProfileError(f"unknown profile '{name}' (known: {', '.join(PROFILES)})")
    chain: list[Profile] = []
    p: Profile | None = PROFILES[name]
    while p is not None:
        chain.append(p)
        p = PROFILES[p.parent] if p.parent else None
    overrides: dict[str, Any] = {}
    msgs = dict(MESSAGES)
    for prof in reversed(chain):
        overrides.update(prof.behaviour)
        msgs.update(prof.messages)
    return Resolved(name, dataclasses.replace(Behaviour(), **overrides), msgs,
                    tuple(x.name for x in chain))
