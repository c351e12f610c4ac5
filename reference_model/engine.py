"""The engine: replays QEMU's start-up and QMP events, phase by phase.

The phase order is what decides which error wins, so it is spelled out here exactly
as ``qemu-system-aarch64`` runs it (``system/vl.c``, ``hw/core/qdev.c``):

1. **option loop**: every option, left to right; ``-device`` strings are parsed
   (QemuOpts) here, so a bad ``id=`` beats everything else (:mod:`.cmdline`);
2. **machine options** (``-M``): machine type, then its properties;
3. **accelerator** selection (``-accel``, ``-M accel=``, ``-enable-kvm``);
4. **board init** (``machvirt_init``): GIC/MSI controller, ``pcie.0`` with
   ``gpex-root``, and the legacy ``iommu=smmuv3`` SMMU (errors without a location);
5. **-device**, in command-line order; for each: driver lookup, bus lookup, object
   creation with ``-global`` values, properties in QDict order, then
   ``pre_plug -> realize -> plug`` (errors carry ``-device <optstring>: ``);
6. **machine creation done**: ``nic ... has no peer`` and unused ``-global`` warnings,
   then the machine-init-done notifiers, last registered first (P15/P16 exits, the
   address space of every cold-plugged PCI device);
7. **QMP events** in order (``device_add`` runs step 5 for one device, hot;
   ``device_del``).

The rules themselves live in :mod:`reference_model.rules`; this module only keeps the
state and the order.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from . import cmdline
from .cmdline import CmdlineError, DeviceOpt
from .machine import Bus, PciDev, Smmu
from .prediction import (
    AddressSpaceKind,
    DevicePrediction,
    EventResult,
    IortPrediction,
    Prediction,
    RuleFiring,
    SmmuPrediction,
)
from .profiles import Resolved, resolve
from .qom import TYPE_ARM_SMMUV3, TYPE_PCI_DEVICE, TYPE_VIRTIO_IOMMU_PCI, TypeHierarchy
from .rules import (
    FIRED,
    RULES,
    admission,
    host_compat,
    idregs,
    msi,
    pci_slots,
    preconditions,
    register,
)
from .rules import address_space as asr
from .rules import iort as iort_rules
from .rules import trace as trace_rules
from .rules.properties import PARSE_RULE, SCHEMAS, PropSpec, parse_value, qdict_order
from .scenario import Event, HostSmmu

__all__ = ["clear_caches", "predict"]

R_OPT = register("F.option", "F", "11.1", doc="option loop / QemuOpts syntax errors")
R_MACHINE = register("F.machine", "F", "11.1", doc="machine type and machine properties")
R_ACCEL = register("F.accel", "F", "11.1", doc="accelerator selection")
R_QDEV = register("F.qdev", "F", "11.1", doc="generic qdev errors (driver, bus, property)")
R_GLOBAL = register("F.global", "F", "11.1", doc="-global applied at object creation")
R_NIC = register("F.nic-no-peer", "F", "11.1", doc="NIC without netdev warns at start")
R_HOTPLUG = register("P5.hotplug", "P5", "10.2", doc="hotplug rules (bus, device class)")
R_UNPLUG = register("F.unplug", "F", "11.1",
                    doc="device_del: hot-added under -S goes at once, cold stays pending")
R_LEGACY = register("2b.legacy-nested", "2b", "11.1",
                    doc="legacy iommu=smmuv3 gets stage=nested (virt >= 9.2; <= 9.1: stage 1)")
R_VIRTIO = register("F.virtio-iommu", "F", "11.1",
                    doc="a virtio-iommu-pci besides the SMMU: address spaces not modelled")

R_DEFBUS = register("F.default-bus", "F", "11.1",
                    doc="no bus=: the newest PCI root bus (qbus_find_recursive, newest first)")
R_PXB_ONLY_BRIDGES = register("F.pxb-only-bridges", "F", "11.1",
                              doc="non-bridge device on a pxb root bus fails at realize")
R_SMMU_COMPAT = register("2a.machine-compat", "2a", "11.1",
                         doc="virt-11.0 and older: arm-smmuv3 ats=off, ril=on, oas=44, ssidsize=0")
#: hw_compat for machine types before the 'auto' properties (TCG✔: qom-get on virt-9.2,
#: virt-10.1, virt-11.0 reads these; virt/virt-11.1 read "auto"; found by the fuzzer)
SMMU_COMPAT_11_0 = {"ats": "off", "ril": "on", "oas": "44", "ssidsize": "0"}
R_UNPLUG_UNEXPOSED = register("F.unplug-unexposed-function", "F", "11.1",
                              doc="device_del of devfn != 0 with devfn 0 empty: at once")
R_BALLOON = register("F.one-balloon", "F", "11.1",
                     doc="virtio-balloon realize: only one balloon device (TCG✔, fuzzer)")
_BALLOON = "virtio-balloon-pci-base"
_NO_HOTPLUG = "vfio-pci-nohotplug"  # vfio_pci_nohotplug_dev_class_init: hotpluggable=false
R_VIOMMU_ROOT = register("F.virtio-iommu-root-bus", "F", "11.1",
                         doc="virtio-iommu-pci realize refuses a bus that is not a root bus")
R_O11 = register("O11.vfio-no-map-notifier", "O11", "vfio",
                doc="vfio-pci behind a non-accel SMMU: no IOMMU MAP notifier, realize fails")
R_CMDQV_PROBE = register("7b.cmdqv-host-probe", "7b", "11.1",
                         doc="cmdqv=on with VFIO on a host without a Tegra241 CMDQV fails")
R_IDENT = register("2a.identifier-index", "2a", "11.1",
                   doc="virt overwrites identifier with the SMMU's creation index")
_VIRT_RE = re.compile(r"^virt(?:-(\d+)\.(\d+))?$")
_NIC_BASES = frozenset({"e1000e", "e1000-base", "igb", "virtio-net-pci-base", "rtl8139",
                        "vmxnet3", "tulip", "ne2k_pci", "pcnet"})
_BRIDGE = "base-pci-bridge"
_PXB_PCIE = "pxb-pcie"

#: virt machine properties: name -> (kind, choices); kind "venum" uses virt's own
#: "Invalid X value / Valid values are ..." text
_VIRT_PROPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "iommu": ("venum", ("none", "smmuv3")),
    "gic-version": ("venum", ("2", "3", "4", "x-5", "host", "max")),
    "msi": ("venum", ("auto", "gicv2m", "its", "off")),
    "its": ("bool", ()), "default-bus-bypass-iommu": ("bool", ()),
    "acpi": ("enum", ("on", "off", "auto")),
    **{k: ("bool", ()) for k in (
        "secure", "virtualization", "highmem", "compact-highmem", "highmem-redists",
        "highmem-ecam", "highmem-mmio", "mte", "ras", "dtb-randomness", "dump-guest-core",
        "mem-merge", "usb", "graphics", "suppress-vmdesc", "aux-ram-share", "hmat",
        "dtb-kaslr-seed", "tcg-its")},
    **{k: ("str", ()) for k in (
        "x-oem-id", "x-oem-table-id", "highmem-mmio-size", "memory-backend", "firmware",
        "dtb", "dumpdtb", "phandle-start", "dt-compatible", "memory-encryption",
        "confidential-guest-support", "smp", "memory", "boot", "append", "kernel",
        "initrd", "smp-cache", "gic-version-x", "cxl", "cxl-fmw", "i2c-ssif", "spcr")},
}
_ACCEL_KEYS = ("type", "accel", "kernel-irqchip", "kernel_irqchip", "kvm-shadow-mem")


#: how a start ends early: (stderr text or None when the model cannot say it, deciding
#: rule id, exit code or None for a crash)
_Stop = tuple[str | None, str, int | None]


class _Exit(Exception):
    """QEMU exits during start-up (a phase raises it; :func:`predict` catches it)."""

    def __init__(self, text: str | None, rule: str, code: int | None = 1):
        # no super().__init__: nothing reads args, and the call is not free
        self.stop: _Stop = (text, rule, code)


class _DevError(Exception):
    """A device refused: ``args == (text, rule id)``; text None: it fails, but the model
    cannot say the exact text.  QMP reports it with error class :attr:`cls`.

    No ``__init__`` of its own: the C one keeps the args, and a Python ``__init__``
    would triple the cost of a raise that the model does in about every other
    prediction."""

    cls = "GenericError"


def _qmp_str(v: Any) -> str:
    if v is True:
        return "on"
    if v is False:
        return "off"
    return str(v)


def _qmp_prop(k: str, v: Any) -> str:
    """A non-string QMP ``device_add`` argument as the option text QEMU reads alike (an
    integer ``addr`` is a devfn, not a hex slot)."""
    if k == "addr" and v.__class__ is int and 0 <= v <= 0xFF:
        return f"{v >> 3:x}.{v & 7:x}"
    return _qmp_str(v)


_FIRED_PORT_SLOT = FIRED[pci_slots.R_PORT_SLOT.id]
_NEXT_FN0 = pci_slots.NEXT_FN0
#: property set order of the two PCI properties whose values the model checks
_ADDR_BEFORE_IOMMUFD = qdict_order(("addr", "iommufd"))[0] == "addr"


class _Traits:
    """What the rules need to know about one QOM type, computed once per hierarchy."""

    __slots__ = ("adm_fd", "adm_nofd", "bridge", "cls_fd", "cls_nofd", "express",
                 "hot_bridge", "is_bridge", "nic", "pci", "plain", "pxb", "smmu",
                 "valid", "vfio", "virtio", "virtio_iommu")

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
        # a valid PCI device that is neither an SMMU, a virtio-iommu nor a pxb: the
        # common case add_device takes a short path for
        self.vfio = self.cls_fd == "vfio"  # a vfio-pci type (O11, A2/A3)
        self.plain = (self.valid and self.pci and not self.smmu and not self.virtio_iommu
                      and not self.pxb and not self.vfio
                      and "virtio-balloon-pci-base" not in anc)  # F.one-balloon


def _traits(t: TypeHierarchy, driver: str) -> _Traits:
    """The traits of ``driver``, computed once per type table (kept on the table)."""
    tr: _Traits | None = t.memo.get(driver)
    if tr is None:
        tr = t.memo[driver] = _Traits(t, driver)
    return tr


_NO_CMDLINE = cmdline.ParsedCmdline()
_NO_IOMMUFDS: frozenset[str] = frozenset()
_NO_PROPS: Mapping[str, Any] = MappingProxyType({})
#: key of the -M memo in a type table's ``memo`` (a tuple: never a type name)
_M_MEMO = ("-M",)


_INDEX_TEXT = tuple(str(i) for i in range(64))


class _MachineMemo:
    """The -M outcome of one option set (per profile and type table), and the board's
    MSI controller by kvm (filled on first use)."""

    __slots__ = ("ctrl", "mtype", "no_nested", "props")

    def __init__(self, mtype: str, no_nested: bool, props: Mapping[str, Any]) -> None:
        self.mtype = mtype
        self.no_nested = no_nested
        self.props = props  # shared: only ever read
        self.ctrl: dict[bool, str | None] = {False: None, True: None}
class _PropPlan:
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


#: option-string memo of _add_smmu, by (profile name, option string)
_PROP_PLANS: dict[tuple[str, str], _PropPlan] = {}
#: _init_smmu's result by the property values it reads
_INITS: dict[tuple[Any, ...], tuple[dict[str, int], str, bool]] = {}

#: per property schema: the default values, and the (name, spec) pairs qom-get shows
_DEFAULTS = {k: {n: sp.default for n, sp in v.items()} for k, v in SCHEMAS.items()}
_QOM_SPECS = {k: tuple((n, sp) for n, sp in v.items() if sp.kind != "link")
              for k, v in SCHEMAS.items()}
#: per property schema, for smmu_predictions (qom_value without a call per property):
#: the kind of each property qom-get shows, and the view of the defaults ("str" None
#: reads as "", "enum" as its text)
_QOM_KIND = {k: {n: sp.kind for n, sp in v} for k, v in _QOM_SPECS.items()}
_QOM_DEFAULT_VIEW = {k: {n: ("" if sp.kind == "str" and sp.default is None
                             else str(sp.default) if sp.kind == "enum" else sp.default)
                         for n, sp in v} for k, v in _QOM_SPECS.items()}
assert all(sp.kind in ("str", "enum", "bool", "uint8", "uint64")
           for v in _QOM_SPECS.values() for _, sp in v)  # qom_value: the rest as they are


class _Run:
    """One prediction: the machine state plus what has been predicted so far.

    ``__slots__``: a run gains some 25 attributes along phases that set them in
    different orders, which costs an instance dict its shared-key layout (and every
    attribute access its fast path); fixed slots keep both cheap."""

    __slots__ = ("_cur_opt", "_nics", "accel_smmus", "b", "balloon", "buses", "cl",
                 "cl_iommufds", "default_bus", "devs", "dt_mode", "globals_used", "host",
                 "hot_added", "ids", "irqchip", "kvm", "legacy", "m", "mm", "mprops",
                 "msi_ctrl", "mtype", "next_base", "nic_count", "no_nested_smmu", "p",
                 "powered", "rules", "smmu_compat", "smmu_index", "smmus", "tmemo",
                 "type_count", "types", "unplugged", "virtio_iommu", "warnings")

    # set by the phases before anything reads them
    mm: _MachineMemo
    kvm: bool
    irqchip: bool
    msi_ctrl: str
    dt_mode: bool
    default_bus: Bus
    #: indexes of the -global options some object used (set by _start when there are any)
    globals_used: set[int]

    def __init__(self, prof: Resolved, types: TypeHierarchy, host: HostSmmu | None) -> None:
        self.p = prof
        self.b = prof.b
        self.m = prof.msg
        self.types = types
        self.tmemo: dict[Any, Any] = types.memo
        self.host = host
        self.rules: list[RuleFiring] = []
        self.warnings: list[str] = []
        self.buses: dict[str, Bus] = {}
        self.devs: dict[str, PciDev] = {}  # by key, creation order
        #: ids of the devices (and SMMUs) that exist, as dict keys (a dict is cheaper to
        #: build than a set)
        self.ids: dict[str, None] = {}
        self.smmus: list[Smmu] = []
        self.nic_count: dict[str, int] = {}
        self.type_count: dict[str, int] = {}
        self._nics: list[str] = []
        self.legacy = False
        self.virtio_iommu = False
        self.accel_smmus = 0  # accel SMMUs created so far (admission and A4 need one)
        self.next_base = 0x0C000000
        self.smmu_index = 0
        self._cur_opt = ""
        self.cl_iommufds: Collection[str] = _NO_IOMMUFDS
        self.cl = _NO_CMDLINE  # replaced by _start before any phase reads it
        self.mtype = ""
        self.no_nested_smmu = False
        self.smmu_compat = False  # virt-11.0 or older: SMMU_COMPAT_11_0 defaults
        self.balloon = False  # a virtio-balloon exists (one per machine)
        self.mprops: Mapping[str, Any] = _NO_PROPS  # replaced by _machine (read only)
        #: the devices QMP device_add created, in order (rules/trace.py; None: none yet)
        self.hot_added: list[PciDev] | None = None
        #: PCIe port buses whose slot was powered at the last system_reset (None: no reset
        #: yet, the machine start decides: a cold device at devfn 0)
        self.powered: set[str] | None = None
        #: cold devices a device_del removed (rules/trace.py: they were there at start)
        self.unplugged: list[PciDev] | None = None

    # ---------------------------------------------------------------- helpers
    def fire(self, rule_id: str, detail: str = "") -> None:
        self.rules.append(RULES[rule_id].firing(detail) if detail else FIRED[rule_id])

    def key_for(self, id: str | None, driver: str) -> str:
        if id:
            return id
        n = self.type_count.get(driver, 0) + 1
        self.type_count[driver] = n
        return driver if n == 1 else f"{driver}#{n}"

    # ---------------------------------------------------------------- phases 1-4
    def _machine(self, cl: cmdline.ParsedCmdline) -> None:
        """-M: type and properties.  Pure in (the -M options, profile, type table), so
        the outcome is memoised per distinct -M option set (like the option strings)."""
        if not cl.machine_given or not cl.machine.get("type"):
            raise _Exit(self.m["Q.no-machine"], R_MACHINE.id)
        # one memo per type table, kept on it, by (profile, the -M texts)
        memo = self.tmemo.get(_M_MEMO)
        if memo is None:
            memo = self.tmemo[_M_MEMO] = {}
        key = (self.p.name, cl.machine_key)
        hit = memo.get(key)
        if hit is None:
            try:
                self._machine_uncached(cl)
                hit = _MachineMemo(self.mtype, self.no_nested_smmu, self.mprops)
            except _Exit as e:
                hit = ("exit", e.stop[0] or "", e.stop[1])
            except CmdlineError as e:
                hit = ("cmdline", str(e), "")
            if len(memo) > 4096:
                memo.clear()
            memo[key] = hit
        if not isinstance(hit, _MachineMemo):  # a fresh exception each time
            first, second, third = hit
            if first == "exit":
                raise _Exit(str(second), str(third))
            raise CmdlineError(str(second))
        self.mm = hit
        self.mtype, self.no_nested_smmu, self.mprops = hit.mtype, hit.no_nested, hit.props
        if self.b.auto_mode and self.mtype != "virt-11.1-machine":
            self.smmu_compat = True

    def _machine_uncached(self, cl: cmdline.ParsedCmdline) -> None:
        mtype = cl.machine["type"]
        mt = _VIRT_RE.match(mtype)
        if f"{mtype}-machine" not in self.types and mtype != "virt":
            raise _Exit(self.m["Q.bad-machine"].format(name=mtype), R_MACHINE.id)
        if not mt:
            raise CmdlineError(f"-M {mtype}: only the virt machine is modelled")
        major, minor = (int(mt.group(1)), int(mt.group(2))) if mt.group(1) else (11, 1)
        self.mtype = f"virt-{major}.{minor}-machine"
        # hw/arm/virt.c: only virt_machine_9_1_options sets vmc->no_nested_smmu = true
        # ("9.1 and earlier have only a stage-1 SMMU"); 9.2 and later get stage=nested
        self.no_nested_smmu = (major, minor) <= (9, 1)
        props = {k: v for k, v in cl.machine.items() if k not in _ACCEL_KEYS}
        vals: dict[str, Any] = {}
        for k in qdict_order(tuple(props)):
            spec = _VIRT_PROPS.get(k)
            v = props[k]
            if spec is None:
                raise _Exit(self.m["Q.machine-prop"].format(mtype=self.mtype, prop=k),
                            R_MACHINE.id)
            kind, choices = spec
            try:
                if kind == "bool":
                    vals[k] = cmdline.parse_bool(k, v)
                elif kind in ("enum", "venum") and v not in choices:
                    if kind == "venum":
                        raise ValueError(self.m["Q.machine-enum"].format(
                            prop=k, valid=self.m.get(f"valid.{k}", _valid(k))))
                    raise ValueError(self.m["Q.enum"].format(prop=k, value=v))
                else:
                    vals[k] = v
            except ValueError as e:
                raise _Exit(str(e), R_MACHINE.id) from None
        self.mprops = vals

    def _accel(self, cl: cmdline.ParsedCmdline) -> None:
        m = cl.machine
        if len(cl.accels) == 1 and "accel" not in m and not cl.enable_kvm:
            # one -accel: the general code below, straight-line
            a = cl.accels[0]
            name = a.get("accel", "")
            if name == "kvm":
                irqchip = a["kernel-irqchip"] if "kernel-irqchip" in a else m.get(
                    "kernel-irqchip", m.get("kernel_irqchip", "on"))
                self.kvm = True
                self._irqchip(irqchip)
                return
            if name == "tcg" or (name == "qtest" and cl.qtest):
                self.kvm = self.irqchip = False
                return
            raise _Exit(self.m["Q.bad-accel"].format(name=name), R_ACCEL.id)
        names: list[str] = []
        irqchip = m.get("kernel-irqchip", m.get("kernel_irqchip", "on"))
        if "accel" in cl.machine:
            if cl.accels:
                raise _Exit('The -accel and "-machine accel=" options are incompatible',
                            R_ACCEL.id)
            names = cl.machine["accel"].split(":")
        for a in cl.accels:
            names.append(a.get("accel", ""))
            if a.get("accel") == "kvm" and "kernel-irqchip" in a:
                irqchip = a["kernel-irqchip"]
        if cl.enable_kvm:
            names.insert(0, "kvm")
        if not names:
            names = ["qtest"] if cl.qtest else ["tcg"]
        name = names[0]
        if name not in ("kvm", "tcg") and not (name == "qtest" and cl.qtest):
            raise _Exit(self.m["Q.bad-accel"].format(name=name), R_ACCEL.id)
        self.kvm = name == "kvm"
        if self.kvm:
            self._irqchip(irqchip)
        else:
            self.irqchip = False

    def _irqchip(self, irqchip: str) -> None:
        """kvm: is the irqchip in the kernel (``split`` is not)?"""
        try:
            self.irqchip = irqchip != "split" and cmdline.parse_bool("kernel-irqchip",
                                                                     irqchip)
        except ValueError:
            raise _Exit(f"Parameter 'kernel-irqchip' does not accept value '{irqchip}'",
                        R_ACCEL.id) from None

    def _board(self, cl: cmdline.ParsedCmdline) -> None:
        mp = self.mprops
        # the interrupt controller is pure in (-M props, kvm): memoised with the -M outcome
        kvm = self.kvm
        ctrl = self.mm.ctrl[kvm]
        if ctrl is None:
            ctrl = self.mm.ctrl[kvm] = self._msi_controller(mp, kvm)
        if kvm and "gic-version" not in mp:
            self.fire(msi.GIC_DEFAULT.id)
        if ctrl == "x-5":
            raise CmdlineError("-M gic-version=x-5: not modelled")
        if ctrl == "host-needs-kvm":
            raise _Exit(msi.GIC_HOST_KVM, msi.GIC_HOST_NEEDS_KVM.id)
        if ctrl == "error":
            raise _Exit(msi.GICV2_ITS, R_MACHINE.id)
        if ctrl == "its-on-gicv2":
            raise _Exit(msi.GICV2_ITS, msi.ITS_ON_GICV2.id)
        self.msi_ctrl = ctrl
        firmware = cl.bios is not None or cl.pflash
        self.dt_mode = not (firmware and mp.get("acpi", "auto") != "off")
        pcie0 = Bus("pcie.0", None, True, False, False,
                    mp.get("default-bus-bypass-iommu", False))
        self.buses["pcie.0"] = pcie0
        self.default_bus = pcie0
        gp = PciDev("gpex-root", None, "gpex-root", pcie0, True, 0)  # devfn 00.0 (gpex)
        self.devs[gp.key] = gp
        pcie0.slots = 8
        self.type_count["gpex-root"] = 1
        if mp.get("iommu") == "smmuv3":
            self._legacy_smmu(pcie0)

    @staticmethod
    def _msi_controller(mp: Mapping[str, Any], kvm: bool) -> str:
        """The MSI controller of the board (``"x-5"``: not modelled, ``"error"``: GICv2 +
        ITS)."""
        gic = mp.get("gic-version")
        if gic is None:
            gic_major = 3 if kvm else 2
        elif gic == "host" and not kvm:
            return "host-needs-kvm"
        elif gic in ("host", "max"):
            gic_major = 3
        elif gic == "x-5":
            return "x-5"
        else:
            gic_major = int(gic)
        # its= counts only when msi= is not given (TCG✔, fuzzer: its=off,msi=auto on
        # GICv3 has an ITS; its=on,msi=off has none)
        its = mp.get("its", True) if "msi" not in mp else True
        ctrl = msi.controller(gic_major, mp.get("msi", "auto"), its)
        if gic_major == 2 and mp.get("its") is True and "msi" not in mp:
            return "its-on-gicv2"
        return "error" if ctrl is None else ctrl

    def _legacy_smmu(self, pcie0: Bus) -> None:
        props = self._new_object_props(TYPE_ARM_SMMUV3, None)  # errors: no location
        if not self.no_nested_smmu:
            props["stage"] = "nested"
            self.fire(R_LEGACY.id)
        s = Smmu("legacy", None, props)
        fail = preconditions.pre_plug(self.b, s.accel, False, False, self.kvm, self.irqchip,
                                      props.get("stage"), True)
        if fail is None:
            self._set_msi_gpa(s, "pre_plug")
            fail = preconditions.validate(self.b, props, self.cl.only_migratable)
        if fail is not None:
            raise _Exit(self._fmt(fail), fail[0])
        self._init_smmu(s)
        s.bus_name = "pcie.0"
        pcie0.smmu = s
        s.base = 0x09050000
        self.legacy = True
        self.smmus.append(s)
        if s.accel:
            self.accel_smmus += 1

    # ---------------------------------------------------------------- objects
    def _fmt(self, fail: tuple[str, str, dict[str, Any]]) -> str:
        self.fire(fail[0])
        return self.m[fail[1]].format(**fail[2])

    def _new_object_props(self, driver: str, loc: str | None) -> dict[str, Any]:
        """instance creation: defaults, then matching -global values."""
        schema = SCHEMAS[self.b.props]
        props: dict[str, Any] = _DEFAULTS[self.b.props].copy()
        if self.smmu_compat and driver == TYPE_ARM_SMMUV3:
            self.fire(R_SMMU_COMPAT.id)
            props.update(SMMU_COMPAT_11_0)
        if not self.cl.globals:
            return props
        anc = self.types.ancestors(driver)
        for i, (gdrv, gprop, gval, _text) in enumerate(self.cl.globals):
            if gdrv not in anc:
                continue
            self.globals_used.add(i)
            if driver != TYPE_ARM_SMMUV3:
                continue
            spec = schema.get(gprop)
            try:
                if spec is None:
                    raise ValueError(self.m["Q.prop-not-found"].format(type=gdrv, prop=gprop))
                props[gprop] = self._parse_prop(spec, gval)
            except ValueError as e:
                self.fire(R_GLOBAL.id)
                raise _DevError(self.m["Q.global"].format(text=f"{gdrv}.{gprop}={gval}",
                                                          error=e), R_GLOBAL.id) from None
        return props

    def _parse_prop(self, spec: PropSpec, value: str) -> Any:
        if spec.kind == "link":
            if value not in self.buses:
                raise ValueError(self.m["Q.dev-not-found"].format(name=value))
            return value
        return parse_value(spec, value)

    def _set_msi_gpa(self, s: Smmu, phase: str) -> None:
        if s.accel and self.b.msi_gpa_phase == phase:
            s.msi_gpa = msi.msi_gpa(self.msi_ctrl, self.b.msi_gpa_rule)
            self.fire(msi.msi_gpa.rule.id, f"{self.msi_ctrl} -> 0x{s.msi_gpa:x}")  # type: ignore[attr-defined]

    def _init_smmu(self, s: Smmu) -> None:
        """smmuv3_init_id_regs, the accel overrides and 'auto' mode: a function of a few
        property values, memoised by them (a property present always has a value, so
        None in the key means absent)."""
        g = s.props.get
        key = (self.b.auto_mode, s.accel, g("stage"), g("ril"), g("ats"), g("oas"),
               g("ssidsize"), g("pasid"))
        init = _INITS.get(key)
        if init is None:
            if len(_INITS) > 4096:
                _INITS.clear()
            init = _INITS[key] = self._init_values(s.props, s.accel)
        idr, changed, auto_mode = init
        if changed:
            self.fire(idregs.accel_override.rule.id, changed)  # type: ignore[attr-defined]
        s.auto_mode = auto_mode
        s.idr = idr.copy()

    def _init_values(self, p: Mapping[str, Any], accel: bool
                     ) -> tuple[dict[str, int], str, bool]:
        idr = idregs.init_id_regs(p.get("stage"))
        changed = ""
        auto_mode = False
        if accel:
            changed = ", ".join(idregs.accel_override(idr, p))
            # 'auto' mode: P15's machine-done check is armed; oas=auto counts too
            # (nested tier, docs/findings.md S4: only oas left auto still exits)
            auto_mode = self.b.auto_mode and any(
                p.get(k) == "auto" for k in ("ats", "ril", "ssidsize", "oas"))
        return idr, changed, auto_mode

    def _prop_plan(self, driver: str, props: Mapping[str, str]) -> _PropPlan:
        """Parse the properties of one ``-device arm-smmuv3`` in QDict order, up to the
        first error; the ``link`` ones are only collected (they name buses, which exist
        or not depending on the command line around them)."""
        schema = SCHEMAS[self.b.props]
        values: dict[str, Any] = {}
        links: list[tuple[str, str]] = []
        fail: tuple[str, str] | None = None
        for k in qdict_order(tuple(props)):
            spec = schema.get(k)
            if spec is None:
                fail = R_QDEV.id, self.m["Q.prop-not-found"].format(type=driver, prop=k)
                break
            v = props[k]
            if spec.kind == "link":
                links.append((k, v))
                continue
            try:
                values[k] = parse_value(spec, v)
            except ValueError as e:
                fail = PARSE_RULE.id, str(e)
                break
        return _PropPlan(values, tuple(links), fail)

    # ---------------------------------------------------------------- devices
    def add_device(self, driver: str, props: Mapping[str, str], id: str | None, cold: bool,
                   opt: DeviceOpt | None = None) -> tuple[str, str]:
        """qdev_device_add for one device; returns (key, deciding rule) or raises."""
        tr = self.tmemo.get(driver) or _traits(self.types, driver)
        if not tr.valid:
            self.fire(R_QDEV.id)
            raise _DevError(self.m["Q.no-model"].format(driver=driver), R_QDEV.id)
        is_smmu = tr.smmu
        is_pci = tr.pci
        if not is_smmu and not is_pci:
            raise CmdlineError(f"-device {driver}: only PCI devices and arm-smmuv3 are "
                               "modelled")
        bus = None
        bname = props.get("bus")
        if bname is not None:
            bus = self.buses.get(bname)
            if bus is None:
                raise _DevError(self.m["Q.bus-not-found"].format(bus=bname), R_QDEV.id)
            if is_smmu:
                raise _DevError(self.m["Q.wrong-bus"].format(driver=driver, bustype="PCIE"),
                                R_QDEV.id)
        elif is_pci:
            # qdev_device_add -> qbus_find_recursive(sysbus, NULL, "PCI"): bus_add_child
            # inserts at the head, so the newest sysbus child with a PCI bus is searched
            # first and its root bus (never full) wins: the last pxb-pcie's bus, else pcie.0
            bus = self.default_bus
            if bus.pxb:
                self.fire(R_DEFBUS.id, bus.name)
        if not cold:
            # dc->hotpluggable = false, checked before the bus (TCG✔; vfio-pci-nohotplug:
            # nested tier, found by the fuzzer)
            if tr.virtio_iommu or _NO_HOTPLUG in self.types.ancestors(driver):
                self.fire(R_HOTPLUG.id)
                raise _DevError(self.m["P5"].format(driver=driver), R_HOTPLUG.id)
            if bus is not None and not bus.hotpluggable:
                self.fire(R_HOTPLUG.id)
                raise _DevError(self.m["Q.no-hotplug-bus"].format(bus=bus.name), R_HOTPLUG.id)
            if is_smmu:
                self.fire(R_HOTPLUG.id)
                raise _DevError(self.m["P5"].format(driver=driver), R_HOTPLUG.id)
            if id is not None and id in self.ids:
                raise _DevError(self.m["Q.dup-id-qmp"].format(id=id), R_QDEV.id)
        if is_smmu:
            if opt is not None:
                return self._add_smmu(driver, props, id, opt.optstring, True)
            return self._add_smmu(driver, props, id, self._cur_opt, False)
        assert bus is not None
        # a PCI device (inline: one call fewer per device)
        if self.cl.globals:
            self._new_object_props(driver, None)
        iommufd = props.get("iommufd")
        addr = None
        mf = False
        if opt.slotted if opt is not None else "addr" in props or "multifunction" in props:
            addr, mf = self._slot_props(driver, props, iommufd)  # addr=/multifunction=
        if iommufd is not None and iommufd not in self.cl_iommufds:
            raise _DevError(self.m["Q.dev-not-found"].format(name=iommufd), R_QDEV.id)
        if tr.virtio_iommu:
            if self.legacy or self.virtio_iommu:  # a second virtio-iommu too (TCG✔)
                self.fire(preconditions.P3V.id)
                raise _DevError(self.m["P3.virtio-multi"], preconditions.P3V.id)
            self.virtio_iommu = True
        bypass = False
        if tr.pxb and "bypass_iommu" in props:
            try:
                bypass = cmdline.parse_bool("bypass_iommu", props["bypass_iommu"])
            except ValueError as e:
                raise _DevError(str(e), R_QDEV.id) from None
        key = id or self.key_for(id, driver)
        # realize: do_pci_register_device refuses non-bridges on a pxb root bus first
        if bus.pxb and bus.is_root and not tr.is_bridge:
            self.fire(R_PXB_ONLY_BRIDGES.id, driver)
            raise _DevError(self.m["Q.pxb-only-bridges"], R_PXB_ONLY_BRIDGES.id)
        # then the devfn (rules/pci_slots.py): the next function-0 slot, unless
        devfn = bus.slots
        if addr is not None or devfn is None or not (
                cold or not devfn or bus.hotpluggable != pci_slots.PORT):
            got = pci_slots.choose(bus, self.devs.values(), addr, driver, not cold, mf,
                                   self.m)
            if isinstance(got, tuple):
                rid, text = got
                self.rules.append(FIRED[rid])
                raise _DevError(text, rid)
            devfn = got
        dev = PciDev(key, id, driver, bus, cold, devfn)
        if mf:
            dev.multifunction = True
        if iommufd is not None:
            dev.iommufd = True
        # then supports_address_space (admission): only an accel SMMU refuses devices
        smmu = asr.iommu_for(bus)[0] if self.accel_smmus else None
        if smmu is not None and smmu.accel:
            dev.name = props.get("host") or props.get("sysfsdev", "").rstrip("/").rpartition(
                "/")[2] or (id or driver)  # vfio: the host device's name, for messages
            cls = tr.cls_fd if dev.iommufd else tr.cls_nofd
            rid, mid = tr.adm_fd if dev.iommufd else tr.adm_nofd
            if mid is not None:
                if self.b.admission == "v4":
                    self._v4_admission(cls, dev, cold)
                else:
                    self.fire(rid, driver)
                    raise _DevError(self.m[mid], rid)
            elif cls == "vfio":
                self._vfio_attach(smmu, dev, cold)
        elif tr.vfio and self.smmus:
            behind = asr.iommu_for(bus)[0]
            if behind is not None and not behind.accel:
                self._vfio_no_map_notifier(dev, props, id, driver, cold)
        # the device's own realize (TCG✔, found by the fuzzer)
        if tr.virtio_iommu and not bus.is_root:
            self.fire(R_VIOMMU_ROOT.id)
            raise _DevError(self.m["Q.virtio-iommu-root"], R_VIOMMU_ROOT.id)
        if _BALLOON in self.types.ancestors(driver):
            if self.balloon:
                self.fire(R_BALLOON.id)
                raise _DevError(self.m["Q.one-balloon"], R_BALLOON.id)
            self.balloon = True
        # pci_qdev_realize after the device's realize (port warning), then plug (SHPC)
        kind = bus.hotpluggable
        if kind and (devfn >= 8 if kind == pci_slots.PORT else devfn < 8):
            self._slot_rules(bus, dev, props, tr, opt)
        if tr.bridge:
            name = id or f"{driver}.{len(self.buses)}"
            nb = self.buses[name] = Bus(name, bus, tr.pxb, tr.hot_bridge, tr.pxb, bypass)
            if tr.pxb:
                self.default_bus = nb
        if tr.nic:
            n = self.nic_count.get(driver, 0)
            self.nic_count[driver] = n + 1
            if cold and "netdev" not in props:
                self._nics.append(id or f"{driver}.{n}")
        if id:
            self.ids[id] = None
        self.devs[key] = dev
        if devfn == bus.slots:
            bus.slots = _NEXT_FN0[devfn]  # the next function-0 slot was handed out
        else:
            pci_slots.occupy(bus, dev)
        return key, ""

    def _slot_props(self, driver: str, props: Mapping[str, str], iommufd: str | None
                    ) -> tuple[int | None, bool]:
        """Property set: ``addr`` (set_pci_devfn; before or after ``iommufd``, in QDict
        order) and ``multifunction``."""
        text = props.get("addr")
        addr = None if text is None else pci_slots.parse_addr(text)
        if text is not None and addr is None:
            if not _ADDR_BEFORE_IOMMUFD and iommufd is not None and \
                    iommufd not in self.cl_iommufds:
                raise _DevError(self.m["Q.dev-not-found"].format(name=iommufd), R_QDEV.id)
            rid, msg = pci_slots.addr_error(self.m, driver, text)
            self.fire(rid)
            raise _DevError(msg, rid)
        return addr, pci_slots.multifunction(props)

    def _slot_rules(self, bus: Bus, dev: PciDev, props: Mapping[str, str], tr: _Traits,
                    opt: DeviceOpt | None) -> None:
        """On a port's or SHPC bridge's bus: pci_qdev_realize's warning for a PCIe
        function off slot 0 (warn_report: the -device location on a cold plug, none on a
        QMP device_add), then shpc_device_plug_cb's refusal of slot 0."""
        w = pci_slots.port_warning(bus, dev.devfn, dev.driver, tr.express, tr.virtio, props,
                                   self.m)
        if w is not None:
            self.rules.append(_FIRED_PORT_SLOT)
            self.warnings.append(w if opt is None else opt.location + w)
        fail = pci_slots.shpc_error(bus, dev.devfn, self.m)
        if fail is not None:
            self.fire(fail[0], dev.driver)
            raise _DevError(fail[1], fail[0])


    def _add_smmu(self, driver: str, props: Mapping[str, str], id: str | None,
                  optstring: str, from_opt: bool) -> tuple[str, str]:
        """An arm-smmuv3 (``from_opt``: ``props`` are those of ``optstring``, so their
        parse is memoised per option string and profile)."""
        # pure: the properties are the option string's alone (no -global), so what is
        # derived from them alone is kept on its plan
        pure = from_opt and not self.cl.globals and not self.smmu_compat
        if not pure:
            p = self._new_object_props(driver, None)
        if from_opt:
            pkey = (self.p.name, optstring)
            plan = _PROP_PLANS.get(pkey)
            if plan is None:
                if len(_PROP_PLANS) > 4096:
                    _PROP_PLANS.clear()
                plan = _PROP_PLANS[pkey] = self._prop_plan(driver, props)
        else:
            plan = self._prop_plan(driver, props)
        for k, v in plan.links:  # in QDict order, all before any other failure
            if v not in self.buses:
                self.fire(PARSE_RULE.id)
                raise _DevError(self.m["Q.dev-not-found"].format(name=v), PARSE_RULE.id)
        if plan.fail is not None:
            rid, text = plan.fail
            self.fire(rid)
            raise _DevError(text, rid)
        if pure:
            # the defaults with the option string's values (kept on the plan), then links
            merged = plan.merged
            if merged is None:
                merged = plan.merged = {**_DEFAULTS[self.b.props], **plan.values}
            p = merged.copy()
        else:
            p.update(plan.values)
        if plan.links:
            p.update(plan.links)
        s = Smmu(id or self.key_for(id, driver), id, p)
        if pure:
            s.plan = plan
        fail = preconditions.pre_plug(self.b, s.accel, self.legacy, self.virtio_iommu,
                                      self.kvm, self.irqchip, p.get("stage"), False)
        if fail is not None and fail[0] == preconditions.P3.id and s.accel and \
                self.b.kvm_check and not (self.kvm and self.irqchip):
            self.fire(preconditions.P3_CRASH.id)
        if fail is None:
            s.per_bus = True  # virt: the SMMU is specific to its PCI bus
            p["smmu_per_bus"] = True
            if s.accel:
                self._set_msi_gpa(s, "pre_plug")
            om = self.cl.only_migratable
            if not pure:
                fail = preconditions.validate(self.b, p, om)
            elif om in plan.valid:
                fail = plan.valid[om]
            else:
                fail = plan.valid[om] = preconditions.validate(self.b, p, om)
        if fail is None:
            prim = p.get("primary-bus")
            pbus = self.buses.get(prim) if prim else None
            fail = preconditions.realize_bus(
                prim, pbus is not None and pbus.is_root,
                pbus is not None and pbus.smmu is not None)
        if fail is not None:
            raise _DevError(self._fmt(fail), fail[0])
        assert pbus is not None
        self._init_smmu(s)
        if s.accel:
            self._set_msi_gpa(s, "plug")
        fail, warn = preconditions.plug(self.b, s.accel, p.get("stage"), pbus.bypass,
                                        self.dt_mode, pbus.name == "pcie.0")
        if fail is not None:
            raise _DevError(self._fmt(fail), fail[0])
        if warn is not None:
            self.fire(preconditions.P10W.id)
            self.warnings.append(f"-device {optstring}: {self.m[warn]}")
        pbus.smmu = s
        s.bus_name = pbus.name
        if "identifier" in p:
            # virt overwrites any user-given identifier with the SMMU's IORT node id: its
            # creation index, after the ITS group (node 0) when the board has an ITS
            # (docs/findings.md S3; TCG: 7,9 -> 0,1,2 on GICv2, 1,2 on GICv3)
            ident = self.smmu_index + (self.msi_ctrl == "its")
            self.fire(R_IDENT.id, _INDEX_TEXT[ident] if ident < 64 else str(ident))
            p["identifier"] = ident
        self.smmu_index += 1
        s.base = self.next_base
        self.next_base += 0x20000
        if id:
            self.ids[id] = None
        self.smmus.append(s)
        if s.accel:
            self.accel_smmus += 1
        return s.key, ""

    def _v4_admission(self, cls: str, dev: PciDev, cold: bool) -> None:
        """v4: get_address_space refused cold plugs with exit(1), warned on hot plugs."""
        if cold:
            self.fire(admission.A4_V4.id, dev.driver)
            raise _DevError(self.m["A4.v4-exit"].format(name=dev.driver), admission.A4_V4.id)
        if cls == "vfio-legacy":
            self.fire(admission.A4_V4_HOT.id, dev.driver)
            self.warnings.append(self.m["A3.v4-hotplug"].format(name=dev.name))

    def _vfio_no_map_notifier(self, dev: PciDev, props: Mapping[str, str], id: str | None,
                              driver: str, cold: bool) -> None:
        """O11: VFIO needs MAP notifications from an IOMMU address space, and the emulated
        (non-accel) SMMU cannot give them, so vfio-pci realize fails (nested tier: both the
        iommufd and the legacy-container backend; docs/findings.md S6).

        The region named is the device's own ``smmuv3-iommu-memory-region-DEVFN-N``.  On a
        cold plug it is the first SMMUDevice QEMU creates (N = 0: other cold-plugged
        devices get their address space only at machine-init-done, vfio realize asks at
        once); the bus number is 0 because no firmware has numbered the buses yet.  The
        text is predicted only where those are known: cold plug, a devfn on a bridge's
        secondary bus (slot 0 unless ``addr=``) and, for the legacy container, the host's
        IOMMU group (``host.vfio_group``)."""
        self.fire(R_O11.id, driver)
        name = props.get("host") or props.get("sysfsdev", "").rstrip("/").rpartition(
            "/")[2] or (id or driver)
        addr = props.get("addr")
        devfn = None if addr is None else pci_slots.parse_addr(addr)
        legacy = not dev.iommufd
        group = self.host.vfio_group if self.host is not None else None
        if not cold or (devfn is None and dev.bus.is_root) or (legacy and group is None):
            raise _DevError(None, R_O11.id)
        devfn = devfn or 0
        container = self.m["O11.container"].format(group=group) if legacy else ""
        raise _DevError(self.m["O11"].format(name=name, container=container, devfn=devfn,
                                             n=0, bus=0, slot=devfn >> 3, fn=devfn & 7),
                        R_O11.id)

    def _vfio_attach(self, s: Smmu, dev: PciDev, cold: bool) -> None:
        """set_iommu_device: 'auto' resolution then host checks H0-H11 (§5a)."""
        if self.host is None or s.idr is None:
            if cold:
                s.cold_vfio += 1
                s.auto_finalised = True
                if s.auto_mode:
                    s.idr = None  # resolved from a host the scenario does not describe
            return
        if s.auto_mode and not s.auto_finalised:
            done = idregs.finalise_auto(s.idr, s.props, host_compat.host_idr(self.host))
            self.fire(idregs.finalise_auto.rule.id, ",".join(done))  # type: ignore[attr-defined]
        s.auto_finalised = True
        bad = host_compat.check(self.host, s.idr, self.m, self.b.host_ats_check)
        if bad is not None:
            self.fire(bad[0])
            raise _DevError(self.m["H.prefix"].format(name=dev.name) + bad[1], bad[0])
        if self.b.cmdqv and s.props.get("cmdqv") == "on" and not self.host.cmdqv:
            # vIOMMU allocation probes the host for a Tegra241 CMDQV (IOMMU_GET_HW_INFO of
            # that type): the kernel answers EOPNOTSUPP (docs/findings.md S5, nested tier)
            self.fire(R_CMDQV_PROBE.id)
            raise _DevError(self.m["H.prefix"].format(name=dev.name)
                            + self.m["H.cmdqv-unsupported"], R_CMDQV_PROBE.id)
        if cold:
            s.cold_vfio += 1

    # ---------------------------------------------------------------- phase 6
    def _creation_done(self, cl: cmdline.ParsedCmdline) -> None:
        for name in self._nics:
            self.fire(R_NIC.id)
            self.warnings.append(self.m["Q.nic-no-peer"].format(name=name))
        for i, (gdrv, gprop, gval, _) in enumerate(cl.globals) if cl.globals else ():
            if i in self.globals_used:
                continue
            if gdrv not in self.types or not self.types.is_a(gdrv, "device"):
                self.warnings.append(self.m["Q.global-badclass"].format(driver=gdrv,
                                                                        prop=gprop))
            elif not self.types.is_a(gdrv, TYPE_PCI_DEVICE):
                self.warnings.append(self.m["Q.global-unused"].format(
                    driver=gdrv, prop=gprop, value=gval))
        for s in reversed(self.smmus) if self.smmus else ():
            # the notifier list: last registered runs first
            if s.accel and s.auto_mode and not s.auto_finalised:
                raise _Exit(self._fmt((preconditions.P15.id, "P15", {})), preconditions.P15.id)
            if s.accel and self.b.cmdqv and s.props.get("cmdqv") == "on" and not s.cold_vfio:
                raise _Exit(self._fmt((preconditions.P16.id, "P16", {})), preconditions.P16.id)
        if not self.accel_smmus:
            return
        for d in self.devs.values():
            smmu, _ = asr.iommu_for(d.bus)
            if smmu is not None and smmu.accel and admission.TABLE[admission.classify(
                    self.types, d.driver, d.iommufd)][1] is not None:
                self.fire(admission.A4_ESCAPE.id, d.key)
                raise _Exit(None, admission.A4_ESCAPE.id, code=None)

    # ---------------------------------------------------------------- phase 7
    def event(self, ev: Event) -> EventResult:
        a = ev.arguments
        if ev.op == "device_add":
            driver = a.get("driver", "")
            if driver.__class__ is not str:
                driver = str(driver)
            id = a.get("id")
            props: dict[str, str] = {}
            for k, v in a.items():
                if k != "driver" and k != "id":
                    props[k] = v if v.__class__ is str else _qmp_prop(k, v)
            self._cur_opt = driver
            try:
                key, _ = self.add_device(
                    driver, props, id if id is None or id.__class__ is str else str(id), False)
            except _DevError as e:
                text, rule = e.args
                return EventResult("device_add", id, False, e.cls, text, RULES[rule].row)
            added = self.devs[key]
            if self.hot_added is None:
                self.hot_added = []
            self.hot_added.append(added)
            return EventResult("device_add", id, True, None, None,
                               self._placement(added).rule)
        if ev.op == "system_reset":
            # pcie_cap_slot_reset: a port's slot is powered iff its devfn 0 is populated
            self.powered = {d.bus.name for d in self.devs.values()
                            if d.devfn == 0 and d.bus.hotpluggable == pci_slots.PORT}
            # SHPC slots are powered per device: what is present at a reset settles
            self.powered.update("dev:" + d.key for d in self.devs.values()
                                if d.bus.hotpluggable == pci_slots.SHPC)
            self.fire(trace_rules.RESET_EVENT.id)
            return EventResult("system_reset", None, True, None, None, "O7")
        did = a.get("id")
        if did.__class__ is not str:
            did = str(did)
        dev = self.devs.get(did)
        smmu = next((s for s in self.smmus if s.id == did), None)
        if smmu is not None:
            self.fire(R_HOTPLUG.id)
            return EventResult("device_del", did, False, "GenericError",
                               self.m["P5"].format(driver=TYPE_ARM_SMMUV3), "P5")
        if dev is None or dev.id is None:
            return EventResult("device_del", did, False, "DeviceNotFound",
                               self.m["Q.dev-not-found-qmp"].format(id=did), "F")
        tr = _traits(self.types, dev.driver)
        if tr.pxb or tr.virtio_iommu or _NO_HOTPLUG in self.types.ancestors(dev.driver):
            # dc->hotpluggable = false: before the bus (TCG✔)
            self.fire(R_HOTPLUG.id)
            return EventResult("device_del", did, False, "GenericError",
                               self.m["P5"].format(driver=dev.driver), "P5")
        if not dev.bus.hotpluggable:
            return EventResult("device_del", did, False, "GenericError",
                               self.m["Q.no-hotplug-bus"].format(bus=dev.bus.name), "P5")
        self.fire(R_UNPLUG.id, did)
        if dev.bus.hotpluggable == pci_slots.PORT:
            return self._port_unplug(dev, did)
        if dev.cold or (self.powered is not None and "dev:" + dev.key in self.powered):
            # a standard hotplug controller's slot: the guest must act; asking again is
            # accepted again (no "already in the process of unplug"; TCG✔, fuzzer)
            dev.pending_unplug = True
        else:
            del self.devs[did]
            self.ids.pop(did, None)
            pci_slots.release(dev.bus, dev, self.devs.values())
        return EventResult("device_del", did, True, None, None, "F")

    def _port_unplug(self, dev: PciDev, did: str) -> EventResult:
        """device_del on a PCIe root/downstream port's bus (hw/pci/pcie.c
        ``pcie_cap_slot_unplug_request_cb``; TCG✔, found by the fuzzer): a function the
        guest cannot see (``devfn && !bus->devices[0]``) goes alone and at once; in a
        slot that is powered off (devfn 0 empty at the last reset, e.g. everything
        hot-added under -S) every device on the bus goes at once
        (``pcie_cap_slot_do_unplug``); otherwise the guest must act: pending."""
        bus = dev.bus
        fn0 = any(d.bus is bus and d.devfn == 0 for d in self.devs.values())
        if dev.devfn and not fn0:
            self.fire(R_UNPLUG_UNEXPOSED.id, did)
            gone = [dev]
        else:
            powered = (bus.name in self.powered if self.powered is not None else any(
                d.bus is bus and d.devfn == 0 and d.cold for d in self.devs.values()))
            if powered:
                if dev.pending_unplug:
                    return EventResult("device_del", did, False, "GenericError", None, "F")
                dev.pending_unplug = True
                return EventResult("device_del", did, True, None, None, "F")
            gone = [d for d in self.devs.values() if d.bus is bus]
        for d in gone:
            if d.cold:
                if self.unplugged is None:
                    self.unplugged = []
                self.unplugged.append(d)
            del self.devs[d.key]
            if d.id is not None:
                self.ids.pop(d.id, None)
            pci_slots.release(bus, d, self.devs.values())
        return EventResult("device_del", did, True, None, None, "F")

    # ---------------------------------------------------------------- results
    def _placement(self, d: PciDev) -> DevicePrediction:
        """Where one PCI device's DMA goes (an interned :class:`DevicePrediction`)."""
        smmu, why = asr.iommu_for(d.bus)
        if smmu is None:
            return _SYSTEM[why]
        if smmu.accel and d.iommufd and _traits(self.types, d.driver).cls_fd == "vfio":
            return _placed("system" if self.b.vfio_as == "system" else "accel-sysmem",
                           smmu.id or smmu.key, "AS4")
        return smmu.placement or _iommu_placement(smmu)

    def devices(self) -> dict[str, DevicePrediction] | None:
        if self.virtio_iommu:
            return None
        placement = self._placement
        out: dict[str, DevicePrediction] = {}
        for k, d in self.devs.items():
            bus = d.bus
            root = bus.root_bus or bus
            if root.bypass or root.pxb:
                out[k] = placement(d)
                continue
            smmu = root.smmu
            if smmu is None:  # iommu_for: AS2
                out[k] = _SYSTEM_AS2
            elif not (smmu.accel and d.iommufd):  # AS1, or AS3 (only vfio gets AS4)
                out[k] = smmu.placement or _iommu_placement(smmu)
            else:
                out[k] = placement(d)
        return out

    def smmu_predictions(self) -> dict[str, SmmuPrediction]:
        out: dict[str, SmmuPrediction] = {}
        if not self.smmus:
            return out
        pk = self.b.props
        has_gpa = "msi-gpa" in SCHEMAS[pk]
        for s in self.smmus:
            plan = s.plan
            if plan is None:
                props = _qom_view(pk, s.props)
            else:
                # the view of the option string's values, then the per-instance ones
                qom = plan.qom
                if qom is None:
                    qom = plan.qom = _qom_view(pk, s.props, plan.values)
                props = qom.copy()
                if "identifier" in props:
                    props["identifier"] = s.props["identifier"]
            props["smmu_per_bus"] = s.per_bus
            if has_gpa:
                props["msi-gpa"] = s.msi_gpa
            idr = s.idr
            out[s.id or s.key] = SmmuPrediction(None if idr is None else idr.copy(),
                                                s.msi_gpa if has_gpa else None, props, s.base)
        return out


def _qom_view(pk: str, values: Mapping[str, Any],
              given: Collection[str] | None = None) -> dict[str, Any]:
    """What qom-get shows of an SMMU's properties (schema ``pk``): every property but the
    links, in schema order; a "str" left None reads as "", an "enum" as its text.
    ``given``: the only properties whose values may differ from the defaults."""
    props = _QOM_DEFAULT_VIEW[pk].copy()
    kinds = _QOM_KIND[pk]
    for n in values if given is None else given:
        kind = kinds.get(n)
        if kind is not None:
            v = values[n]
            if kind == "str" and v is None:
                v = ""
            elif kind == "enum" and v.__class__ is not str:
                v = str(v)
            props[n] = v
    return props


def _bus_ranges(run: _Run, s: Smmu, legacy: bool, nrs: Mapping[str, int],
                buses: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """``pci_bus_range`` of the SMMU's root buses before firmware: a bridge on a root
    bus reads secondary = subordinate = 0 (rules/iort.py ``IortSmmu.ranges``)."""
    names = ([b.name for b in reversed(run.buses.values()) if b.is_root and not b.bypass]
             if legacy
             else [s.bus_name] if s.bus_name is not None else [])
    out = []
    for name, nr in zip(names, buses, strict=True):
        bridged = any(d.bus.name == name and _traits(run.types, d.driver).is_bridge
                      for d in run.devs.values() if d.cold)
        out.append((0, nr) if bridged else (nr, nr))
    return tuple(out)


#: interned placements, by (kind, SMMU id, row)
_PLACED: dict[tuple[str, str | None, str], DevicePrediction] = {}


def _placed(kind: AddressSpaceKind, smmu: str | None, row: str) -> DevicePrediction:
    k = (kind, smmu, row)
    dp = _PLACED.get(k)
    if dp is None:
        if len(_PLACED) > 4096:
            _PLACED.clear()
        dp = _PLACED[k] = DevicePrediction(kind, smmu, row)
    return dp


_SYSTEM_AS2 = _placed("system", None, "AS2")
#: behind no SMMU, by the rule id address_space.iommu_for gives
_SYSTEM = {r.id: _placed("system", None, r.row) for r in (asr.AS2, asr.AS2_BYPASS, asr.A6)}


def _iommu_placement(smmu: Smmu) -> DevicePrediction:
    """The SMMU's own IOMMU address space: AS1 (emulated SMMU) or AS3 (accel), kept on
    the SMMU."""
    dp = smmu.placement = _placed("iommu", smmu.id or smmu.key, "AS3" if smmu.accel else "AS1")
    return dp


def _iort_of(run: _Run) -> IortPrediction:
    """§8 O1-O4: the IORT of the started machine (lazily: only when observed)."""
    nrs = {"pcie.0": 0}
    for d in run.cl.devices:  # pxb-pcie cannot be hot-plugged: the command line has them
        b = run.buses.get(d.id or "")
        if b is not None and b.pxb:
            try:
                nrs[b.name] = int(str(d.props.get("bus_nr", "0")), 0)
            except ValueError:
                nrs[b.name] = 0
    items = []
    for s in run.smmus:
        legacy = s.key == "legacy" and s.id is None
        if legacy:  # newest root bus first (TCG✔: the pxb's ID map before pcie.0's)
            buses = tuple(nrs.get(b.name, 0) for b in reversed(run.buses.values())
                          if b.is_root and not b.bypass)
        else:
            buses = (nrs.get(s.bus_name, 0),) if s.bus_name is not None else ()
        ats = s.props.get("ats") in (True, "on") if s.idr is None else bool(
            s.idr.get("IDR0", 0) >> 10 & 1)
        items.append(iort_rules.IortSmmu(s.base or 0, legacy, s.accel, ats, buses,
                                         _bus_ranges(run, s, legacy, nrs, buses)))
    pred, fired = iort_rules.build(run.b.iort_revision, run.msi_ctrl == "its", items)
    for r in fired:
        run.fire(r)
    return pred



def clear_caches(types: TypeHierarchy | None = None) -> None:
    """Forget every memoised per-string result: option strings (:mod:`.cmdline`),
    property values and orders (:mod:`.rules.properties`), and the -M outcomes kept on
    ``types`` (default: the builtin table).  Predictions do not change; the next ones
    redo the work (``benchmarks/model_throughput.py`` calls this before each round)."""
    cmdline.clear_caches()
    _PROP_PLANS.clear()
    _INITS.clear()
    pci_slots.clear_caches()
    qdict_order.cache_clear()
    parse_value.cache_clear()
    memo = (types if types is not None else TypeHierarchy.builtin()).memo
    for k in [k for k in memo if k.__class__ is tuple]:
        del memo[k]


def _valid(prop: str) -> str:
    from .messages import VIRT_VALID
    return VIRT_VALID[prop]


#: resolved profiles by name, and the builtin type table once loaded (module-level
#: lookups: cheaper than the functools.cache calls behind them)
_RESOLVED: dict[str, Resolved] = {}
_BUILTIN_TYPES: list[TypeHierarchy] = []


def _builtin_types() -> TypeHierarchy:
    _BUILTIN_TYPES.append(TypeHierarchy.builtin())
    return _BUILTIN_TYPES[0]


def predict(argv: Sequence[str], events: Sequence[Event] = (), host: HostSmmu | None = None,
            profile: str = "qemu-11.1", types: TypeHierarchy | None = None,
            observe: Collection[str] = ()) -> Prediction:
    """What QEMU does with ``argv`` (without the binary) and then ``events``.

    ``observe`` names extra observables to predict that cost time: ``"iort"`` (the
    ACPI IORT, :mod:`.rules.iort`) and ``"trace"`` (trace events, :mod:`.rules.trace`);
    the other fields are always filled.

    Raises :class:`~reference_model.cmdline.CmdlineError` for a command line the model
    does not cover (e.g. another machine type), and
    :class:`~reference_model.profiles.ProfileError` for an unknown profile.
    """
    prof = _RESOLVED.get(profile)
    if prof is None:
        prof = _RESOLVED[profile] = resolve(profile)  # ProfileError for an unknown name
    if types is None:
        types = _BUILTIN_TYPES[0] if _BUILTIN_TYPES else _builtin_types()
    run = _Run(prof, types, host)
    try:
        stop = _start(run, argv)
    except _Exit as raised:
        raised.__traceback__ = None  # no frame <-> exception cycle left for the gc
        stop = raised.stop
    if stop is not None:
        text, rule, code = stop
        for f in run.rules:
            if f.rule == rule:
                break
        else:
            run.fire(rule)
        return Prediction("exits", code, text, run.warnings, None, None, None, run.rules,
                          prof.name)
    results: list[EventResult] | None = None
    if events:
        results = []
        for ev in events:
            results.append(run.event(ev))
    pred = Prediction("starts", 0, None, run.warnings, run.devices(), run.smmu_predictions(),
                      results, run.rules, prof.name)
    if "iort" in observe:
        pred.iort = _iort_of(run)
    if "trace" in observe:
        pred.trace, fired = trace_rules.build(run, events, results or [])
        for r in fired:
            run.fire(r)
    return pred


def _start(run: _Run, argv: Sequence[str]) -> _Stop | None:
    """Phases 1-6, remembering the current -device text for warnings.  An exit raises
    :class:`_Exit`, or is returned when a ``-device`` fails (one raise fewer)."""
    try:
        cl = cmdline.parse(argv if isinstance(argv, (list, tuple)) else tuple(argv))
    except CmdlineError as e:
        if e.qemu_text is None:
            raise
        raise _Exit(e.qemu_text, R_OPT.id) from None
    run.cl = cl
    if cl.globals:
        run.globals_used = set()
    if cl.objects:
        run.cl_iommufds = {o.get("id", "") for o in cl.objects
                           if o.get("qom-type") == "iommufd"}
    run._machine(cl)
    run._accel(cl)
    try:
        run._board(cl)
    except _DevError as e:
        raise _Exit(*e.args) from None
    add = run.add_device
    tmemo = run.tmemo
    buses = run.buses
    devs = run.devs
    ids = run.ids
    no_globals = not cl.globals
    for d in cl.devices:
        driver = d.driver
        tr = tmemo.get(driver)
        if tr is None or not tr.plain or run.accel_smmus or not no_globals or d.slotted:
            try:
                add(driver, d.props, d.id, True, d)
            except _DevError as e:
                text, rule = e.args
                return (None if text is None else d.location + text), rule, 1
            continue
        # a plain cold PCI device, no accel SMMU yet, no -global, no addr=: add_device
        # without the steps that cannot apply (hot plug, SMMU, -global, virtio-iommu,
        # pxb, addr=, admission), same checks in the same order
        id = d.id
        bname = d.bus
        bus: Bus | None
        if bname is not None:
            bus = buses.get(bname)
            if bus is None:
                return d.location + run.m["Q.bus-not-found"].format(bus=bname), R_QDEV.id, 1
        else:
            bus = run.default_bus
            if bus.pxb:
                run.fire(R_DEFBUS.id, bus.name)
        iommufd = d.iommufd
        if iommufd is not None and iommufd not in run.cl_iommufds:
            return d.location + run.m["Q.dev-not-found"].format(name=iommufd), R_QDEV.id, 1
        key = id or run.key_for(id, driver)
        if bus.pxb and bus.is_root and not tr.is_bridge:
            run.fire(R_PXB_ONLY_BRIDGES.id, driver)
            return d.location + run.m["Q.pxb-only-bridges"], R_PXB_ONLY_BRIDGES.id, 1
        # do_pci_register_device: the next free function-0 slot (rules/pci_slots.py)
        # (a failure ends the start, so the slot is taken at once)
        devfn = bus.slots
        if devfn is not None:
            bus.slots = _NEXT_FN0[devfn]
            dev = PciDev(key, id, driver, bus, True, devfn)
        else:
            got = pci_slots.choose(bus, devs.values(), None, driver, False, False, run.m)
            if isinstance(got, tuple):
                rid, text = got
                run.fire(rid, driver)
                return d.location + text, rid, 1
            devfn = got
            dev = PciDev(key, id, driver, bus, True, devfn)
            pci_slots.occupy(bus, dev)
        if iommufd is not None:
            dev.iommufd = True
        kind = bus.hotpluggable
        if kind and (devfn >= 8 if kind == pci_slots.PORT else devfn < 8):
            try:
                run._slot_rules(bus, dev, d.props, tr, d)
            except _DevError as e:
                text, rule = e.args
                return d.location + text, rule, 1
        if tr.bridge:
            name = id or f"{driver}.{len(buses)}"
            buses[name] = Bus(name, bus, False, tr.hot_bridge, False, False)
        if tr.nic:
            n = run.nic_count.get(driver, 0)
            run.nic_count[driver] = n + 1
            if not d.netdev:
                run._nics.append(id or f"{driver}.{n}")
        if id:
            ids[id] = None
        devs[key] = dev
    run._creation_done(cl)
    return None
