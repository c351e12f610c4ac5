"""§5a H0-H11 (rules/host_compat.py): host SMMUv3 compatibility checks.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

from typing import Any

import pytest

from catalogue.scenario import HostSmmu
from reference_model.rules import host_compat, idregs

from .helpers import worded


@pytest.mark.parametrize(("field", "value", "msg"), [
    ("idr0", 0x0D44101A & ~(3 << 27), "Host SMMUv3 Stream Table format mismatch (host "
                                       "STLEVEL=0, QEMU STLEVEL=1)"),
    ("idr1", 0x0273000C, "Host SMMUv3 SIDSIZE not compatible (host=12, QEMU=16)"),
    ("idr3", 0x1004, "Host SMMUv3 doesn't support Range Invalidation"),
    ("idr5", 0x73, "Host SMMUv3 supports only 42-bit IPA, but the vSMMU OAS implies 44-bit IPA"),
    ("idr5", 0x34, "Host SMMUv3 doesn't support 64K translation granule"),
])
def test_host_checks(field: str, value: int, msg: str) -> None:
    regs: dict[str, Any] = {"idr0": 0x0D44141A, "idr1": 0x02730290, "idr3": 0x1404,
                            "idr5": 0x75, field: value}
    host = HostSmmu(**regs)
    idr = idregs.init_id_regs(None)
    bad = worded(host_compat.check(host, idr))
    assert bad is not None and bad[1] == msg


def test_host_check_ats_only_in_11_1() -> None:
    host = HostSmmu(idr0=0x0D44101A, idr1=0x02730290, idr3=0x1404, idr5=0x75)
    idr = idregs.init_id_regs(None)
    idregs.put(idr, "ATS", 1)
    assert worded(host_compat.check(host, idr)) == (
        "H8.host-ats", "Host SMMUv3 doesn't support Address Translation Services")
    assert host_compat.check(host, idr, ats_check=False) is None
