"""Old scenario file names, kept working for one release after the files were cut by
catalogue section (people have ``FILE:NAME`` specs in ``git bisect run`` scripts).

Until the restructure, five files were cut by tier or by owner rather than by catalogue
section; their scenarios now live in the section file of their first row (``tiers`` is
a field of each scenario).  Scenario names did not change and are unique, so an old
``FILE:NAME`` selects ``NAME`` wherever it lives now, and an old ``FILE`` selects the
scenarios it held.  :func:`catalogue.scenario.select` reads this table.
"""

from __future__ import annotations

#: removed file name -> the scenario names it held, in its order
OLD_FILES: dict[str, tuple[str, ...]] = {
    "kvm_accel.toml": (
        "kvm-accel-e1000e-cold",
        "kvm-accel-nvme-cold",
        "kvm-accel-virtio-rng-pcie0-cold",
        "kvm-accel-bridges",
        "kvm-accel-e1000e-hot",
        "kvm-accel-virtio-rng-hot-then-bridge",
        "kvm-accel-a3-vfio-no-iommufd-cold",
        "kvm-accel-a3-vfio-no-iommufd-hot",
        "kvm-accel-p10-acpi-off",
        "kvm-accel-p11-stage2",
        "kvm-accel-p11-stage-nested",
        "kvm-accel-p11-stage1-ok",
        "kvm-accel-p14-only-migratable",
        "kvm-accel-p15-all-auto",
        "kvm-accel-p15-one-auto",
        "kvm-accel-p16-cmdqv-on",
        "nested-p15-before-p16",
        "kvm-accel-m2-msi-gpa-its",
        "kvm-accel-m2-msi-gpa-its-off",
        "kvm-accel-2b-overrides",
        "kvm-accel-2b-ats-on",
        "kvm-accel-2b-ssidsize20",
        "kvm-accel-2b-defaults-explicit",
    ),
    "nested_admission.toml": (
        "nested-a4-virtio-net-cold",
        "nested-a4-virtio-net-hot",
        "nested-a4-nvme-hot",
        "nested-a4-refused-then-retry-bridge",
        "nested-a1-bridge-hot-unplug",
        "nested-as3-four-root-ports",
        "nested-a6-pxb-endpoint-not-behind-smmu",
        "nested-two-accel-smmus",
        "nested-accel-and-plain-smmu",
        "nested-p9-default-bus-bypass",
        "nested-p7-root-port-primary-bus",
        "nested-p6-no-primary-bus",
        "nested-p3-legacy-and-accel",
        "nested-legacy-global-accel",
        "nested-p1a-oas52-after-kvm",
        "nested-as4-sysmem-without-vfio",
    ),
    "nested_iommufd.toml": (
        "nested-vfio-iommufd-cold",
        "nested-vfio-iommufd-cold-auto",
        "nested-vfio-iommufd-cold-on-pcie0",
        "nested-vfio-iommufd-hot",
        "nested-vfio-iommufd-hot-unplug",
        "nested-vfio-iommufd-cold-unplug",
        "nested-vfio-iommufd-hot-then-emulated",
        "nested-p16-cmdqv-on-with-vfio",
        "nested-vfio-iommufd-no-smmu",
        "nested-h5-ssidsize-cold",
        "nested-h5-ssidsize-hot",
        "nested-h7-oas48-cold",
        "nested-h8-ats-on-cold",
        "nested-h6-ril-off-ok",
        "nested-vfio-iommufd-accel-off",
        "nested-vfio-legacy-accel-off",
        "nested-qemu-devel-v7-cmdline",
    ),
    "nested_properties.toml": (
        "nested-p15-ats-auto-only",
        "nested-p15-ssidsize-auto-only",
        "nested-p15-oas-auto-only",
        "nested-p15-cmdqv-auto-only",
        "nested-p15-auto-with-hotplug-only",
        "nested-m2-msi-off",
        "nested-m2-msi-its-explicit",
        "nested-m2-msi-gicv2m-on-gicv3",
        "nested-2b-ril-off-ats-on-oas48",
        "nested-2b-ssidsize1",
        "nested-2b-two-smmus-differ",
    ),
    "control_group.toml": (
        "ctl-tcg-accel-on-e1000e-cold",
        "ctl-tcg-accel-on-nvme-cold",
        "ctl-tcg-accel-on-virtio-rng-pcie0-cold",
        "ctl-tcg-accel-on-bridges",
        "ctl-tcg-accel-on-e1000e-hot",
        "ctl-tcg-accel-on-virtio-rng-hot-then-bridge",
        "ctl-off-e1000e-cold",
        "ctl-off-nvme-cold",
        "ctl-off-virtio-rng-pcie0-cold",
        "ctl-off-bridges",
        "ctl-off-e1000e-hot",
        "ctl-off-virtio-rng-hot-then-bridge",
    ),
}

__all__ = ["OLD_FILES"]
