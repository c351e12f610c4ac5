"""The nested KVM tier: QEMU under test runs with ``-accel kvm`` inside an L1 arm64 guest.

On an x86 CI machine there is no Arm hardware, but accel=on needs KVM.  L0 (the x86
QEMU with TCG, :mod:`conformance.tiers.nested.machine`) runs L1, an arm64 Linux with KVM
(VHE, vgic-v3), iommufd and VFIO; L1 runs L2, the arm64 QEMU 11.1.3 under test.

* :mod:`~conformance.tiers.nested.qga` is an asyncio qemu-guest-agent client (``guest-exec``,
  file reads) over L0's virtio-serial socket;
* :mod:`~conformance.tiers.nested.l1` boots L0/L1 once per session, binds the passthrough
  device to vfio-pci and reboots L1 when an L2 leaves it unusable;
* :mod:`~conformance.tiers.nested.host` implements :class:`conformance.tiers.host.QemuHost` /
  :class:`~conformance.tiers.host.QemuProcess`, so the runner and the ``qemu.qmp`` observation
  code work unchanged: L2's QMP listens on TCP in L1, reached through L0's ``hostfwd``.

The images L1 boots come from the :mod:`images` package (``python -m images build``).
"""

from conformance.tiers.nested.host import NestedHost, make_host

__all__ = ["NestedHost", "make_host"]
