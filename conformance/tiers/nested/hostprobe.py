"""Probe the host SMMUv3 that L2's accel SMMUv3 will be compared with (catalogue §5a).

The model predicts the host checks H0-H11, the 'auto' resolution (2b) and the CMDQV
probe from the host's ``IOMMU_GET_HW_INFO`` data, just as it predicts type questions
from the build's ``qom-list-types``.  On the nested tier the host is L0's emulated
SMMUv3 as L1's kernel reports it; it is *probed*, once per L1 boot, never copied into
scenario files:

* ``smmu-hwinfo /dev/vfio/devices/vfioN`` (built by :mod:`images.hwinfo`, shipped in the
  iommufd image) binds the passthrough device to ``/dev/iommu`` and prints the
  ``IOMMU_GET_HW_INFO`` answer: data type, IDR0-5, IIDR, AIDR, capabilities, and whether
  the Tegra241 CMDQV type is answered;
* the device's IOMMU group number is read from sysfs (``iommu_group`` link): QEMU's
  legacy-container messages name it (O11).

The result is a :class:`ProbedHost`: the model's
:class:`~catalogue.scenario.HostSmmu` plus the raw fields and how they were
obtained, for the logs.  A scenario's own ``host`` table still wins over the probe
(an explicit override, e.g. to predict for a host the tier does not have); scenarios
for the nested tier do not carry one.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from catalogue.scenario import HostSmmu
from conformance.tiers.nested import machine
from conformance.tiers.nested.qga import QgaClient, QgaError

HELPER = "/usr/bin/smmu-hwinfo"
#: hw_info type the ARM SMMUv3 driver answers with (IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
ARM_SMMUV3 = 2
NO_HELPER = "no-smmu-hwinfo"
_REQUIRED = ("info_type", "idr0", "idr1", "idr3", "idr5", "cmdqv")


class HostProbeError(Exception):
    """The host SMMU could not be probed; ``str()`` says where and why, in one line."""


@dataclass(frozen=True)
class ProbedHost:
    """What the tier learned about its host SMMU, and the model's view of it."""

    smmu: HostSmmu
    raw: dict[str, int] = field(default_factory=dict)
    device: str = ""  # the PCI device probed (the one L2 gets)
    cdev: str = ""  # its VFIO cdev

    def to_dict(self) -> dict[str, object]:
        return {"device": self.device, "cdev": self.cdev,
                "raw": {k: (hex(v) if k.startswith(("idr", "iidr", "aidr", "flags",
                                                     "capabilities")) else v)
                        for k, v in self.raw.items()},
                "host": {"idr0": hex(self.smmu.idr0), "idr1": hex(self.smmu.idr1),
                         "idr3": hex(self.smmu.idr3), "idr5": hex(self.smmu.idr5),
                         "info_type": self.smmu.info_type, "cmdqv": self.smmu.cmdqv,
                         "vfio_group": self.smmu.vfio_group}}


def parse_helper_output(text: str) -> dict[str, int]:
    """``key=value`` lines of ``smmu-hwinfo`` -> ints; its ``error=`` line -> error."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise HostProbeError(f"smmu-hwinfo printed an unexpected line: {line!r}")
        if key == "error":
            raise HostProbeError(f"smmu-hwinfo failed at {value}")
        try:
            out[key] = int(value, 0)
        except ValueError:
            raise HostProbeError(f"smmu-hwinfo: {key}={value!r} is not a number") from None
    missing = [k for k in _REQUIRED if k not in out]
    if missing:
        raise HostProbeError(f"smmu-hwinfo output lacks {', '.join(missing)}")
    return out


def host_smmu(raw: dict[str, int], vfio_group: int | None) -> HostSmmu:
    """The model's host from the helper's fields (``nesting``: §5a's hw_info has no
    such bit; the model's default, True, is what an SMMU that allocates a nest parent
    HWPT means, and the vIOMMU allocation that follows is observed by QEMU itself)."""
    return HostSmmu(idr0=raw["idr0"], idr1=raw["idr1"], idr3=raw["idr3"], idr5=raw["idr5"],
                    info_type=raw["info_type"], cmdqv=bool(raw["cmdqv"]),
                    vfio_group=vfio_group)


def _sh_script(bdf: str) -> str:
    d = f"/sys/bus/pci/devices/{bdf}"
    return (f"g=$(readlink {d}/iommu_group) && echo group=${{g##*/}}; "
            f"for c in {d}/vfio-dev/vfio*; do [ -e \"$c\" ] && echo cdev=${{c##*/}}; done; "
            "true")


async def probe(qga: QgaClient, bdf: str, helper: str = HELPER,
                timeout: float = 30.0) -> ProbedHost:
    """Run the probe in L1 for the VFIO device ``bdf`` (bound to vfio-pci)."""
    try:
        st = await qga.sh(_sh_script(bdf), timeout=timeout)
    except QgaError as e:
        raise HostProbeError(f"reading {bdf}'s IOMMU group and VFIO cdev: {e}") from None
    group: int | None = None
    cdev = ""
    for line in st.stdout.decode(errors="replace").split():
        k, _, v = line.partition("=")
        if k == "group" and v.isdigit():
            group = int(v)
        elif k == "cdev" and v:
            cdev = f"/dev/vfio/devices/{v}"
    if not cdev:
        raise HostProbeError(f"{bdf} has no VFIO cdev in L1 (not bound to vfio-pci, or no "
                             "CONFIG_VFIO_DEVICE_CDEV)")
    try:
        st = await qga.sh(f"[ -x {shlex.quote(helper)} ] || {{ echo {NO_HELPER}; exit 1; }}; "
                          f"exec {shlex.quote(helper)} {shlex.quote(cdev)}", timeout=timeout)
    except QgaError as e:
        raise HostProbeError(f"running {helper} in L1: {e}") from None
    text = st.stdout.decode(errors="replace")
    if text.strip() == NO_HELPER:
        raise HostProbeError(f"{helper} is not in this L1 image (built before the host "
                             "probe existed): rebuild it with python -m images build "
                             "iommufd (the kernel stays cached)")
    raw = parse_helper_output(text)
    if not st.ok:
        raise HostProbeError(f"{helper} {cdev}: {st.describe()}: {text.strip()!r}")
    return ProbedHost(smmu=host_smmu(raw, group), raw=raw, device=bdf, cdev=cdev)


async def probe_l1(qga: QgaClient, capabilities: set[str] | frozenset[str],
                   log_dir: Path | None = None, bdf: str = machine.PASSTHROUGH_BDF,
                   ) -> tuple[ProbedHost | None, str | None]:
    """``(probe, None)``, ``(None, why it failed)``, or ``(None, None)`` for an L1 that
    has no iommufd (the stock image: ``IOMMU_GET_HW_INFO`` needs ``/dev/iommu``)."""
    if "vfio-iommufd" not in capabilities:
        return None, None
    try:
        found = await probe(qga, bdf)
    except HostProbeError as e:
        return None, str(e)
    if log_dir is not None:
        with contextlib.suppress(OSError):
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / "host-smmu.json").write_text(json.dumps(found.to_dict(), indent=2)
                                                    + "\n")
    return found, None
