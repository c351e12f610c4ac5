"""Every text QEMU prints that the model predicts, keyed by a short message id.

:data:`MESSAGES` is the 11.1.3 table (strings checked against the binary: ``STR✔``
rows of the catalogue, or seen under TCG).  A profile (:mod:`.profiles`) replaces
individual entries for the revisions that worded things differently; it never
copies the table.  ``{placeholders}`` are filled with ``str.format``.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # §1 preconditions
    "P1": "SMMUv3 accel=on requires KVM with kernel-irqchip=on support",
    "P3": "virt machine already has {what} set. Doesn't support incompatible iommus",
    "P3.virtio-multi": "virt machine does not support multiple IOMMUs",
    "P5": "Device '{driver}' does not support hotplugging",
    "P6": "SMMU is not attached to any PCI bus!",
    "P7": "SMMU should be attached to a default PCIe root complex(pcie.0) or a pxb-pcie "
          "based root complex",
    "P8": "An iommu is already attached to this bus",
    "P9": "Bypass option cannot be set for SMMUv3 associated PCIe RC",
    "P10.accel": "SMMUv3 with accel=on not supported for DT",
    "P10.warn": "warning: SMMUv3 device only supported with pcie.0 for DT",
    "P11": "Only stage1 is supported for SMMUv3 with accel=on",
    "P14": "Migration not supported with SMMUv3 accelerator mode enabled",
    "P14.only-migratable": "disallowing migration blocker (--only-migratable) for: "
                           "Migration not supported with SMMUv3 accelerator mode enabled",
    "P15": "arm-smmuv3 accel=on with 'auto' properties requires at least one cold-plugged "
           "VFIO device",
    "P16": "arm-smmuv3 cmdqv=on requires at least one cold-plugged VFIO device",
    # §2a property validation (realize)
    "V.oas-range": "QEMU SMMUv3 model only implements auto, 44 bit, or 48 bit OAS. Other "
                   "OasMode values are not supported.",
    "V.ril": "ril can only be disabled if accel=on",
    "V.ats": "ats can only be enabled if accel=on",
    "V.oas": "oas must be 44 bits when accel=off",
    "V.ssidsize": "ssidsize can only be greater than 0 bits if accel=on",
    "V.cmdqv": "cmdqv can only be enabled if accel=on",
    "V.accel-oas": "OAS can only be set to 44 or 48 bits",
    "V.accel-ssidsize": "ssidsize must be in the range 0 to {max}",
    # §3 admission
    "A3": "vfio-pci endpoint devices without an iommufd backend not allowed when using "
          "arm-smmuv3,accel=on",
    "A4": "Emulated endpoint devices are not allowed when using arm-smmuv3,accel=on",
    "A4.v4-exit": "Device({name}) not allowed. Only PCIe root complex devices or PCI bridge "
                  "devices or vfio-pci endpoint devices with iommufd as backend is allowed "
                  "with arm-smmuv3,accel=on",
    "A3.v4-hotplug": "warning: Hot plugging a vfio-pci device ({name}) without iommufd as "
                     "backend is not supported",
    "A4.v4-hotplug": "warning: Hot plugging an emulated device {name} with accelerated "
                     "SMMUv3. This will bring down performace",
    # §5a host compatibility (prefixed by "vfio NAME: Failed to set vIOMMU: ")
    "H.prefix": "vfio {name}: Failed to set vIOMMU: ",
    # 7b: cmdqv=on on a host without a Tegra241 CMDQV (nested tier; the second line is
    # the Error's hint, printed without the program name)
    "H.cmdqv-unsupported": "Failed to get hardware info: Operation not supported\n"
                           "CMDQV requested but not supported",
    # O11: vfio-pci behind a non-accel SMMU (VFIO's memory listener, any revision)
    "O11": "vfio {name}: {container}memory listener initialization failed: Region "
           "smmuv3-iommu-memory-region-{devfn}-{n}: device {bus:02x}.{slot:02x}.{fn:x} "
           "requires iommu MAP notifier which is not currently supported",
    "O11.container": "failed to setup container for group {group}: ",
    "H0": "Wrong data type ({t}) for Host SMMUv3 device info",
    "H1": "Host SMMUv3 Stream Table format mismatch (host STLEVEL={host}, QEMU STLEVEL={qemu})",
    "H2": "Host SMMUv3 doesn't support Little-endian translation table",
    "H3": "Host SMMUv3 doesn't support AArch64 translation table format",
    "H4": "Host SMMUv3 SIDSIZE not compatible (host={host}, QEMU={qemu})",
    "H5": "Host SMMUv3 SSIDSIZE not compatible (host={host}, QEMU={qemu})",
    "H6": "Host SMMUv3 doesn't support Range Invalidation",
    "H7": "Host SMMUv3 supports only {host}-bit IPA, but the vSMMU OAS implies {qemu}-bit IPA",
    "H8": "Host SMMUv3 doesn't support Address Translation Services",
    "H9": "Host SMMUv3 doesn't support 4K translation granule",
    "H10": "Host SMMUv3 doesn't support 16K translation granule",
    "H11": "Host SMMUv3 doesn't support 64K translation granule",
    # generic QEMU texts (qdev, QemuOpts, QAPI visitors, vl.c)
    "Q.no-model": "'{driver}' is not a valid device model name",
    "Q.not-pluggable": "Parameter 'driver' expects a pluggable device type",
    "Q.prop-not-found": "Property '{type}.{prop}' not found",
    "Q.enum": "Parameter '{prop}' does not accept value '{value}'",
    "Q.uint": "Parameter '{prop}' expects {ctype}",
    "Q.pxb-only-bridges": "PCI: Only PCI/PCIe bridges can be plugged into pxb-pcie",
    "Q.bus-not-found": "Bus '{bus}' not found",
    "Q.dev-not-found": "Device '{name}' not found",
    "Q.wrong-bus": "Device '{driver}' can't go on {bustype} bus",
    "Q.no-hotplug-bus": "Bus '{bus}' does not support hotplugging",
    "Q.dup-id-qmp": "Duplicate device ID '{id}'",
    "Q.dev-not-found-qmp": "Device '{id}' not found",
    "Q.global": "can't apply global {text}: {error}",
    "Q.global-unused": "warning: global {driver}.{prop}={value} not used",
    "Q.global-badclass": "warning: global {driver}.{prop} has invalid class name",
    "Q.nic-no-peer": "warning: nic {name} has no peer",
    "Q.no-machine": "No machine specified, and there is no default\n"
                    "Use -machine help to list supported machines",
    "Q.bad-machine": "unsupported machine type: \"{name}\"\n"
                     "Use -machine help to list supported machines",
    "Q.machine-prop": "Property '{mtype}.{prop}' not found",
    "Q.machine-enum": "Invalid {prop} value\nValid values are {valid}",
    "Q.bad-accel": "invalid accelerator {name}",
    "Q.one-balloon": "Only one balloon device is supported",
    "Q.virtio-iommu-root": "virtio-iommu-pci must be plugged on the root bus",
    # PCI slots (hw/pci/pci.c do_pci_register_device, pci_init_multifunction,
    # pci_qdev_realize; hw/pci/shpc.c; rules/pci_slots.py)
    "Q.pci-addr": "Property '{driver}.addr' doesn't take value '{value}'",
    "Q.pci-no-slot": "PCI: no slot/function available for {driver}, all in use or reserved",
    "Q.pci-in-use": "PCI: slot {slot} function {fn} not available for {driver}, "
                    "in use by {other},id={id}",
    "Q.pci-fn0-hot": "PCI: slot {slot} function 0 already occupied by {other}, "
                     "new func {driver} cannot be exposed to guest.",
    "Q.pci-single-fn": "PCI: single function device can't be populated in function "
                       "{slot:x}.{fn:x}",
    "Q.pci-fn0-single": "PCI: {slot:x}.0 indicates single function, but {slot:x}.{fn:x} "
                        "is already populated.",
    "Q.pcie-port-slot": "warning: PCI: slot {slot} is not valid for {driver}, parent device "
                        "only allows plugging into slot 0.",
    "Q.shpc-slot0": "Unsupported PCI slot 0 for standard hotplug controller. "
                    "Valid slots are between 1 and 31.",
}

#: Where QEMU's virt options list their valid values (the line after "Valid values are").
VIRT_VALID = {
    "iommu": "none, smmuv3.",
    "gic-version": "2, 3, 4, x-5, host, and max.",
    "msi": "auto, gicv2m, its, off",
}
