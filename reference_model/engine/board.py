"""Phases 2-4: the machine (``-M``), the accelerator, and board init.

2. ``-M``: the machine type, then its properties in QDict order (errors have no location
   prefix; some span two lines);
3. the accelerator: ``-accel``, ``-M accel=``, ``-enable-kvm``, ``-qtest``, and whether
   KVM's irqchip is in the kernel;
4. ``machvirt_init``: the GIC and its MSI controller, ``pcie.0`` with ``gpex-root`` at
   devfn 0, and the legacy ``iommu=smmuv3`` SMMU (its errors have no location prefix).

The ``-M`` outcome is pure in (the ``-M`` texts, profile, type table), so it is memoised
(:class:`~.memo.MachineMemo`) like the option strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import cmdline
from ..cmdline import CmdlineError
from ..machine import Bus, PciDev, Smmu
from ..messages import VIRT_VALID
from ..qom import TYPE_ARM_SMMUV3
from ..rules import msi, preconditions
from ..rules import releases as release_rules
from ..rules.idregs import R_LEGACY
from ..rules.properties import machine_compat, qdict_order
from ..rules.qdev import R_ACCEL, R_MACHINE
from .memo import M_MEMO, MachineMemo
from .run import Exit, Run
from .smmu import init_smmu, new_object_props, set_msi_gpa

__all__ = ["accel", "board", "machine"]

_VIRT_RE = re.compile(r"^virt(?:-(\d+)\.(\d+))?$")

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


# ---------------------------------------------------------------- phase 2: -M
def machine(run: Run, cl: cmdline.ParsedCmdline) -> None:
    """-M: type and properties.  Pure in (the -M options, profile, type table), so
    the outcome is memoised per distinct -M option set (like the option strings)."""
    if not cl.machine_given or not cl.machine.get("type"):
        raise Exit(run.m["Q.no-machine"], R_MACHINE.id)
    # one memo per type table, kept on it, by (profile, the -M texts)
    memo = run.tmemo.get(M_MEMO)
    if memo is None:
        memo = run.tmemo[M_MEMO] = {}
    key = (run.p.name, cl.machine_key)
    hit = memo.get(key)
    if hit is None:
        try:
            _machine_uncached(run, cl)
            hit = MachineMemo(run.mtype, run.no_nested_smmu, run.mprops,
                              machine_compat(run.b.auto_mode, run.mtype))
        except Exit as e:
            hit = ("exit", e.stop[0] or "", e.stop[1])
        except CmdlineError as e:
            hit = ("cmdline", str(e), "")
        if len(memo) > 4096:
            memo.clear()
        memo[key] = hit
    if not isinstance(hit, MachineMemo):  # a fresh exception each time
        first, second, third = hit
        if first == "exit":
            raise Exit(str(second), str(third))
        raise CmdlineError(str(second))
    run.mm = hit
    run.mtype, run.no_nested_smmu, run.mprops = hit.mtype, hit.no_nested, hit.props
    run.smmu_compat = hit.compat


def _machine_uncached(run: Run, cl: cmdline.ParsedCmdline) -> None:
    mtype = cl.machine["type"]
    mt = _VIRT_RE.match(mtype)
    if f"{mtype}-machine" not in run.types and mtype != "virt":
        raise Exit(run.m["Q.bad-machine"].format(name=mtype), R_MACHINE.id)
    if not mt:
        raise CmdlineError(f"-M {mtype}: only the virt machine is modelled")
    major, minor = (int(mt.group(1)), int(mt.group(2))) if mt.group(1) else (11, 1)
    run.mtype = f"virt-{major}.{minor}-machine"
    # hw/arm/virt.c: only virt_machine_9_1_options sets vmc->no_nested_smmu = true
    # ("9.1 and earlier have only a stage-1 SMMU"); 9.2 and later get stage=nested
    run.no_nested_smmu = (major, minor) <= (9, 1)
    props = {k: v for k, v in cl.machine.items() if k not in _ACCEL_KEYS}
    vals: dict[str, Any] = {}
    for k in qdict_order(tuple(props)):
        spec = _VIRT_PROPS.get(k)
        v = props[k]
        if spec is None:
            raise Exit(run.m["Q.machine-prop"].format(mtype=run.mtype, prop=k),
                       R_MACHINE.id)
        kind, choices = spec
        try:
            if kind == "bool":
                vals[k] = cmdline.parse_bool(k, v)
            elif kind in ("enum", "venum") and v not in choices:
                if kind == "venum":
                    raise ValueError(run.m["Q.machine-enum"].format(
                        prop=k, valid=run.m.get(f"valid.{k}", VIRT_VALID[k])))
                raise ValueError(run.m["Q.enum"].format(prop=k, value=v))
            else:
                vals[k] = v
        except ValueError as e:
            raise Exit(str(e), R_MACHINE.id) from None
    run.mprops = vals


# ---------------------------------------------------------------- phase 3: accelerator
def accel(run: Run, cl: cmdline.ParsedCmdline) -> None:
    """The accelerator QEMU picks (the first of ``-M accel=a:b``, else of the ``-accel``
    options), and for KVM whether the irqchip is in the kernel."""
    m = cl.machine
    if len(cl.accels) == 1 and "accel" not in m and not cl.enable_kvm:
        # one -accel: the general code below, straight-line
        a = cl.accels[0]
        name = a.get("accel", "")
        if name == "kvm":
            irqchip = a["kernel-irqchip"] if "kernel-irqchip" in a else m.get(
                "kernel-irqchip", m.get("kernel_irqchip", "on"))
            run.kvm = True
            _irqchip(run, irqchip)
            return
        if name == "tcg" or (name == "qtest" and cl.qtest):
            run.kvm = run.irqchip = False
            return
        raise Exit(run.m["Q.bad-accel"].format(name=name), R_ACCEL.id)
    names: list[str] = []
    irqchip = m.get("kernel-irqchip", m.get("kernel_irqchip", "on"))
    if "accel" in cl.machine:
        if cl.accels:
            raise Exit('The -accel and "-machine accel=" options are incompatible',
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
        raise Exit(run.m["Q.bad-accel"].format(name=name), R_ACCEL.id)
    run.kvm = name == "kvm"
    if run.kvm:
        _irqchip(run, irqchip)
    else:
        run.irqchip = False


def _irqchip(run: Run, irqchip: str) -> None:
    """kvm: is the irqchip in the kernel (``split`` is not)?"""
    try:
        run.irqchip = irqchip != "split" and cmdline.parse_bool("kernel-irqchip", irqchip)
    except ValueError:
        raise Exit(f"Parameter 'kernel-irqchip' does not accept value '{irqchip}'",
                   R_ACCEL.id) from None


# ---------------------------------------------------------------- phase 4: board init
def board(run: Run, cl: cmdline.ParsedCmdline) -> None:
    """machvirt_init: MSI controller, ``pcie.0`` + ``gpex-root``, the legacy SMMU."""
    mp = run.mprops
    # the interrupt controller is pure in (-M props, kvm): memoised with the -M outcome
    kvm = run.kvm
    ctrl = run.mm.ctrl[kvm]
    if ctrl is None:
        ctrl = run.mm.ctrl[kvm] = _msi_controller(mp, kvm, run.b.virt_msi)
    if kvm and "gic-version" not in mp:
        run.fire(msi.GIC_DEFAULT.id)
    if ctrl == "x-5":
        raise CmdlineError("-M gic-version=x-5: not modelled")
    if ctrl == "no-msi-prop":  # QEMU's error names the machine version, a build's fact
        raise CmdlineError("-M msi=: virt has no 'msi' property in this profile's releases "
                           "(QEMU's error names the machine version, which the profile "
                           "does not know)")
    if ctrl == "host-needs-kvm":
        raise Exit(msi.GIC_HOST_KVM, msi.GIC_HOST_NEEDS_KVM.id)
    if ctrl == "error":
        raise Exit(msi.GICV2_ITS, R_MACHINE.id)
    if ctrl == "its-on-gicv2":
        raise Exit(msi.GICV2_ITS, msi.ITS_ON_GICV2.id)
    run.msi_ctrl = ctrl
    firmware = cl.bios is not None or cl.pflash
    run.dt_mode = not (firmware and mp.get("acpi", "auto") != "off")
    pcie0 = Bus("pcie.0", None, True, False, False,
                mp.get("default-bus-bypass-iommu", False))
    run.buses["pcie.0"] = pcie0
    run.default_bus = pcie0
    gp = PciDev("gpex-root", None, "gpex-root", pcie0, True, 0)  # devfn 00.0 (gpex)
    run.devs[gp.key] = gp
    pcie0.slots = 8
    run.type_count["gpex-root"] = 1
    if mp.get("iommu") == "smmuv3":
        _legacy_smmu(run, pcie0)


def _msi_controller(mp: Mapping[str, Any], kvm: bool, virt_msi: bool) -> str:
    """The MSI controller of the board (``"x-5"``: not modelled, ``"error"``: GICv2 +
    ITS, ``"its-on-gicv2"``: an explicit its=on without msi= on GICv2,
    ``"host-needs-kvm"``: gic-version=host without KVM, ``"no-msi-prop"``: msi= on a
    release before virt had it)."""
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
    if not virt_msi:  # before virt's msi= (profiles.py): its= is ignored on GICv2
        if "msi" in mp:
            return "no-msi-prop"
        its = its and gic_major != 2
    ctrl = msi.controller(gic_major, mp.get("msi", "auto"), its)
    if gic_major == 2 and mp.get("its") is True and "msi" not in mp and virt_msi:
        return "its-on-gicv2"
    return "error" if ctrl is None else ctrl


def _legacy_smmu(run: Run, pcie0: Bus) -> None:
    """``iommu=smmuv3``: virt creates an SMMU on ``pcie.0`` (errors: no location)."""
    props = new_object_props(run, TYPE_ARM_SMMUV3)
    if not run.no_nested_smmu:
        props["stage"] = "nested"
        run.fire(R_LEGACY.id)
    s = Smmu("legacy", None, props)
    fail = preconditions.pre_plug(run.b, accel=s.accel, legacy=False, virtio_iommu=False,
                                  kvm=run.kvm, irqchip=run.irqchip, stage=props.get("stage"),
                                  is_legacy_dev=True)
    if fail is None:
        set_msi_gpa(run, s, "pre_plug")
        fail = preconditions.validate(run.b, props, run.cl.only_migratable)
    if fail is not None:
        raise Exit(run.fmt(fail), fail[0])
    init_smmu(run, s)
    if not run.b.smmu_stage2:  # 7.2 (rules/releases.py)
        s.idr = release_rules.stage1_only(s.idr or {}, props)
        run.fire(release_rules.STAGE1_ONLY.id)
    s.bus_name = "pcie.0"
    pcie0.smmu = s
    s.base = 0x09050000
    run.legacy = True
    run.smmus.append(s)
    if s.accel:
        run.accel_smmus += 1
