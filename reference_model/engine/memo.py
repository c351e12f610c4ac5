"""Every memo of the engine, and :func:`clear_caches`.

A prediction is a pure function of (command line, events, host, profile, type table), and
so is much of its work on each part of the command line.  What is remembered, and where:

=========================  ================================================================
per type table             :class:`Traits` of each QOM type (``types.memo[driver]``), and
(``TypeHierarchy.memo``)   the ``-M`` outcome by (profile, ``-M`` texts) (``types.memo[M_MEMO]``,
                           a :class:`MachineMemo`, with the board's MSI controller by kvm)
per option string          the parsed ``-device`` options (:mod:`..cmdline`), an
                           ``arm-smmuv3``'s :class:`PropPlan` by (profile, option string)
                           (:data:`PROP_PLANS`), ``addr=`` texts (:mod:`..rules.pci_slots`)
per property values        the ID registers by the values they read (:data:`INITS`),
                           property values and QDict orders (:mod:`..rules.properties`)
per process                resolved profiles (:data:`RESOLVED`), the builtin type table
interned results           placements by (kind, SMMU, row) (:data:`PLACED`), a decision's
                           text by (decision, message table) (:data:`WORDED`), rule
                           firings by (rule, detail) (:mod:`..rules`); pci_slots keeps
                           its frequent decisions by (slot, driver)
=========================  ================================================================

Each memo that grows with its input is emptied past 4,096 entries.  None of them
changes a prediction: :func:`clear_caches` forgets the per-string and per-value ones, and
the next predictions redo the work (``benchmarks/model_throughput.py`` calls it before
each round); the interned results hold no parsing work and stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import cmdline
from ..prediction import DevicePrediction
from ..profiles import Resolved
from ..qom import TYPE_ARM_SMMUV3, TYPE_PCI_DEVICE, TYPE_VIRTIO_IOMMU_PCI, TypeHierarchy
from ..rules import Decision, admission, pci_slots, preconditions
from ..rules.properties import parse_value, qdict_order
from ..rules.qdev import BALLOON

__all__ = ["INITS", "M_MEMO", "PLACED", "PROP_PLANS", "RESOLVED", "WORDED", "MachineMemo",
           "PropPlan", "Traits", "builtin_types", "clear_caches", "traits"]

_NIC_BASES = frozenset({"e1000e", "e1000-base", "igb", "virtio-net-pci-base", "rtl8139",
                        "vmxnet3", "tulip", "ne2k_pci", "pcnet"})
_BRIDGE = "base-pci-bridge"
_PXB_PCIE = "pxb-pcie"


class Traits:
    """What the rules need to know about one QOM type, computed once per hierarchy."""

    __slots__ = ("adm_fd", "adm_nofd", "balloon", "bridge", "cls_fd", "cls_nofd", "express",
                 "hot_bridge", "is_bridge", "nic", "no_hotplug", "no_unplug", "pci", "plain",
                 "pxb", "smmu", "valid", "vfio", "virtio", "virtio_iommu")

    def __init__(self, t: TypeHierarchy, driver: str) -> None:
        self.valid = driver in t and not t.is_abstract(driver) and t.is_a(driver, "device")
        anc = t.ancestors(driver)
        self.smmu = TYPE_ARM_SMMUV3 in anc
        self.pci = TYPE_PCI_DEVICE in anc
        self.virtio_iommu = TYPE_VIRTIO_IOMMU_PCI in anc
        self.pxb = _PXB_PCIE in anc
        self.is_bridge = _BRIDGE in anc  # PCIDeviceClass.is_bridge
        self.bridge = self.is_bridge or self.pxb
        self.nic = not _NIC_BASES.isdisjoint(anc)
        # PCI slots (rules/pci_slots.py): a PCIe function on a port's bus, a virtio-pci
        # (express unless made conventional), and what the secondary bus of a bridge is
        self.express = pci_slots.is_express(anc)
        self.virtio = "virtio-pci" in anc
        # the Bus.hotpluggable of its secondary bus: 0, pci_slots.PORT or pci_slots.SHPC
        # (root/downstream ports, pci-bridge, pcie-pci-bridge: the hot-pluggable ones)
        self.hot_bridge = 0 if self.pxb else pci_slots.bus_kind(anc)
        # admission class (rules/admission.py) with and without an iommufd backend, and
        # its (rule, message id or None) row of admission.TABLE
        self.cls_fd = admission.classify(t, driver, True)
        self.cls_nofd = admission.classify(t, driver, False)
        self.adm_fd = admission.TABLE[self.cls_fd]
        self.adm_nofd = admission.TABLE[self.cls_nofd]
        # a valid PCI device that is neither an SMMU, a virtio-iommu, a pxb, a vfio nor
        # a balloon (F.one-balloon keeps run state): the
        # common case add_device takes a short path for
        self.vfio = self.cls_fd == "vfio"  # a vfio-pci type (O11, A2/A3)
        self.balloon = BALLOON in anc  # F.one-balloon
        # P5: device_add / device_del refusal of a dc->hotpluggable = false type (or None)
        self.no_hotplug = preconditions.not_hotpluggable(anc, driver, False)
        self.no_unplug = preconditions.not_hotpluggable(anc, driver, True)
        self.plain = (self.valid and self.pci and not self.smmu and not self.virtio_iommu
                      and not self.pxb and not self.vfio and not self.balloon)


def traits(t: TypeHierarchy, driver: str) -> Traits:
    """The traits of ``driver``, computed once per type table (kept on the table)."""
    tr: Traits | None = t.memo.get(driver)
    if tr is None:
        tr = t.memo[driver] = Traits(t, driver)
    return tr


#: key of the -M memo in a type table's ``memo`` (a tuple: never a type name)
M_MEMO = ("-M",)


class MachineMemo:
    """The -M outcome of one option set (per profile and type table), and the board's
    MSI controller by kvm (filled on first use)."""

    __slots__ = ("compat", "ctrl", "mtype", "no_nested", "props")

    def __init__(self, mtype: str, no_nested: bool, props: Mapping[str, Any],
                 compat: bool) -> None:
        self.mtype = mtype
        self.no_nested = no_nested
        self.props = props  # shared: only ever read
        self.compat = compat  # arm-smmuv3 gets the machine type's compat defaults (2a)
        self.ctrl: dict[bool, str | None] = {False: None, True: None}


class PropPlan:
    """The parsed properties of one ``-device arm-smmuv3`` option string (per profile):
    values up to the first failure, the bus links before it, the failure as
    (rule id, text), and (filled on first use) what is derived from the values alone."""

    __slots__ = ("fail", "links", "merged", "qom", "valid", "values")

    def __init__(self, values: dict[str, Any], links: tuple[tuple[str, str], ...],
                 fail: tuple[str, str] | None) -> None:
        self.values = values
        self.links = links
        self.fail = fail
        #: preconditions.validate by only_migratable, and the qom-get view of the
        #: values (smmu_predictions fills in the per-instance ones)
        self.valid: dict[bool, preconditions.Failure] = {}
        self.qom: dict[str, Any] | None = None
        #: the schema's defaults updated with the values
        self.merged: dict[str, Any] | None = None


#: option-string memo of smmu.add_smmu, by (profile name, option string)
PROP_PLANS: dict[tuple[str, str], PropPlan] = {}
#: smmu.init_smmu's result by the property values it reads
INITS: dict[tuple[Any, ...], tuple[dict[str, int], str, bool]] = {}

#: interned placements (results.placement), by (kind, SMMU id, row)
PLACED: dict[tuple[str, str | None, str], DevicePrediction] = {}
#: Run.fmt's texts by id of the decision: (decision, message table, text); the
#: decision is kept, so its id is not reused while the entry lives
WORDED: dict[int, tuple[Decision, Mapping[str, str], str]] = {}

#: resolved profiles by name, and the builtin type table once loaded (module-level
#: lookups: cheaper than the functools.cache calls behind them)
RESOLVED: dict[str, Resolved] = {}
BUILTIN_TYPES: list[TypeHierarchy] = []


def builtin_types() -> TypeHierarchy:
    BUILTIN_TYPES.append(TypeHierarchy.builtin())
    return BUILTIN_TYPES[0]


def clear_caches(types: TypeHierarchy | None = None) -> None:
    """Forget every memoised per-string result: option strings (:mod:`..cmdline`),
    property values and orders (:mod:`..rules.properties`), and the -M outcomes kept on
    ``types`` (default: the builtin table).  Predictions do not change; the next ones
    redo the work (``benchmarks/model_throughput.py`` calls this before each round)."""
    cmdline.clear_caches()
    PROP_PLANS.clear()
    INITS.clear()
    pci_slots.clear_caches()
    qdict_order.cache_clear()
    parse_value.cache_clear()
    memo = (types if types is not None else TypeHierarchy.builtin()).memo
    for k in [k for k in memo if k.__class__ is tuple]:
        del memo[k]
