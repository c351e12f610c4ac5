"""L0: the x86 QEMU (TCG) that runs L1, and the arguments that define it.

L0 is ``qemu-system-aarch64`` 11.1.3 for x86 (``artefacts.provision``) with:

* ``-M virt,virtualization=on,gic-version=3,iommu=smmuv3``: EL2 for L1's KVM, a GICv3
  for vgic-v3, and the machine's SMMUv3, which virt creates with ``stage=nested`` so
  that L1's arm-smmu-v3 driver reports NESTING (the nest-parent HWPT needs it);
* ``-cpu max``, UEFI firmware (``qemu-efi-aarch64``'s ``QEMU_EFI.fd``) so L1 boots with
  ACPI (needed for the IORT table upgrade);
* an e1000e on its own root port behind L0's SMMU: the PCIe endpoint L1 hands to L2 with
  vfio-pci (``romfile=`` because the x86 tree has no aarch64 iPXE ROM for it);
* a virtio-serial port named ``org.qemu.guest_agent.0`` on a UNIX socket (qemu-guest-agent);
* a user-mode network with ``restrict=on`` whose only way in is one ``hostfwd`` from
  ``127.0.0.1:<free port>`` to L2's QMP port in L1.

:func:`machine_args` is the part that decides ACPI tables (and is what
:mod:`images.iort` replays under qtest); :func:`l0_argv` adds boot and plumbing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

#: the PCI address the passthrough e1000e gets in L1 (first root port, bus 1)
PASSTHROUGH_BDF = "0000:01:00.0"
#: TCP port L2's QMP listens on inside L1 (L0 forwards a free host port to it)
L2_QMP_PORT = 4444
L1_ADDRESS = "10.0.2.15"
L1_MEMORY = "3G"
L1_CPUS = 2


def machine_args(firmware: Path | str, smmu: str = "machine",
                 extra: Sequence[str] = (), netdev: str = "user,id=n0,restrict=on") -> list[str]:
    """Machine, CPU, firmware and devices of L0 (no kernel, no sockets).

    ``smmu="machine"`` is the virt machine's own SMMUv3 (nesting-capable).
    """
    m = "virt,virtualization=on,gic-version=3"
    if smmu == "machine":
        m += ",iommu=smmuv3"
    elif smmu != "none":
        raise ValueError(f"unknown L0 SMMU configuration {smmu!r}")
    return [
        "-M", m, "-accel", "tcg", "-cpu", "max", "-smp", str(L1_CPUS), "-m", L1_MEMORY,
        "-nodefaults", "-bios", str(firmware),
        # the endpoint L1 passes through to L2 (bus 1 -> 0000:01:00.0)
        "-device", "pcie-root-port,id=l0rp0,chassis=1,bus=pcie.0,addr=0x2",
        "-device", "e1000e,bus=l0rp0,romfile=",
        # plumbing: guest agent channel and the network for L2's QMP
        "-device", "pcie-root-port,id=l0rp1,chassis=2,bus=pcie.0,addr=0x3",
        "-device", "virtio-serial-pci,id=vser0,bus=l0rp1,romfile=",
        "-device", "pcie-root-port,id=l0rp2,chassis=3,bus=pcie.0,addr=0x4",
        "-netdev", netdev,
        "-device", "virtio-net-pci,netdev=n0,bus=l0rp2,romfile=",
        *extra,
    ]


def l0_argv(qemu: Path | str, firmware: Path | str, kernel: Path | str, initrd: Path | str,
            qga_socket: Path | str, console_log: Path | str, qmp_forward_port: int,
            append: str = "", smmu: str = "machine", extra: Sequence[str] = ()) -> list[str]:
    """The full L0 command line."""
    return [
        str(qemu),
        *machine_args(firmware, smmu, extra,
                      netdev=(f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:"
                              f"{qmp_forward_port}-{L1_ADDRESS}:{L2_QMP_PORT}")),
        "-display", "none",
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", f"console=ttyAMA0 panic=-1 quiet loglevel=4 {append}".strip(),
        "-serial", f"file:{console_log}",
        "-chardev", f"socket,id=qga0,path={qga_socket},server=on,wait=off",
        "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
        "-no-reboot",
    ]
