"""§2b ID registers (rules/idregs.py): defaults, stage, accel overrides, 'auto'.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

import pytest

from catalogue.scenario import HostSmmu
from reference_model import predict

from .helpers import KVM, SMMU, run


@pytest.mark.parametrize(("opt", "idr"), [
    ("", (0x0D44101A, 0x02730010, 0x1404, 0x74)),
    (",stage=2", (0x0D441019, 0x02730010, 0x1414, 0x74)),
    (",stage=nested", (0x0D44101B, 0x02730010, 0x1414, 0x74)),
    (",stage=3", (0x0D44101A, 0x02730010, 0x1404, 0x74)),
])
def test_default_idregs(opt: str, idr: tuple[int, ...]) -> None:
    p = run(f"virt -device {SMMU}{opt}")
    assert p.smmus is not None and p.smmus["smmu0"].idr == dict(
        zip(("IDR0", "IDR1", "IDR3", "IDR5"), idr, strict=True))
    assert p.smmus["smmu0"].base == 0x0C000000


def test_legacy_idregs_nested() -> None:
    p = run("virt,iommu=smmuv3")
    assert p.smmus is not None
    assert p.smmus["legacy"].idr == {"IDR0": 0x0D44101B, "IDR1": 0x02730010, "IDR3": 0x1414,
                                     "IDR5": 0x74}
    assert p.smmus["legacy"].base == 0x09050000


def test_accel_overrides() -> None:
    p = predict(["-M", "virt,gic-version=3", "-device",
                 f"{SMMU},accel=on,ats=on,ril=off,oas=48,ssidsize=20", *KVM])
    assert p.smmus is not None
    assert p.smmus["smmu0"].idr == {"IDR0": 0x0D44141A, "IDR1": 0x02730510, "IDR3": 0x1004,
                                    "IDR5": 0x75}


def test_auto_resolves_from_host() -> None:
    host = HostSmmu(idr0=0x0D44141A, idr1=0x02730290, idr3=0x1004, idr5=0x75)
    p = predict(["-M", "virt,gic-version=3", "-object", "iommufd,id=fd0", "-device",
                 f"{SMMU},accel=on", "-device", "vfio-pci,host=0000:01:00.0,iommufd=fd0,id=v0",
                 *KVM], host=host)
    assert p.outcome == "starts" and p.smmus is not None and p.devices is not None
    assert p.smmus["smmu0"].idr == {"IDR0": 0x0D44141A, "IDR1": 0x02730290, "IDR3": 0x1004,
                                    "IDR5": 0x74}
    assert p.devices["v0"].address_space == "accel-sysmem"
