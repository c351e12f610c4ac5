"""§5a: host SMMUv3 compatibility checks H0-H11, in QEMU's order.

``smmuv3_accel_check_hw_compatible`` (SRC[13b9], strings STR✔ in 11.1.3) runs when
a vfio-pci device with an iommufd backend is attached behind an accel SMMU.  'auto'
properties are resolved from the host first (idregs.finalise_auto).  The first
failing check's message reaches the user as ``vfio NAME: Failed to set vIOMMU: MSG``.
Each row of :data:`CHECKS` is ``(id, field, relation)``: the check fails when
``relation(host_value, qemu_value)`` is true.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..scenario import HostSmmu
from . import Decision, register
from .idregs import OAS_BITS, get

_LT: Callable[[int, int], bool] = lambda h, q: h < q  # noqa: E731
_GT: Callable[[int, int], bool] = lambda h, q: h > q  # noqa: E731
_NE: Callable[[int, int], bool] = lambda h, q: h != q  # noqa: E731

CHECKS: tuple[tuple[str, str, Callable[[int, int], bool]], ...] = (
    ("H1", "STLEVEL", _NE),
    ("H2", "TTENDIAN", _GT),
    ("H3", "TTF", _LT),
    ("H4", "SIDSIZE", _LT),
    ("H5", "SSIDSIZE", _LT),
    ("H6", "RIL", _LT),
    ("H7", "OAS", _LT),
    ("H8", "ATS", _LT),
    ("H9", "GRAN4K", _NE),
    ("H10", "GRAN16K", _NE),
    ("H11", "GRAN64K", _NE),
)
for _id, _f, _ in CHECKS:
    # H5, H7 and H8 are confirmed on the nested tier (L0's SMMU fails them); the others
    # cannot fail against L0's SMMU (docs/findings.md, coverage): predicted only
    register(f"{_id}.host-{_f.lower()}", _id, "11.1" if _id == "H8" else "merged",
             predicted=_id not in ("H5", "H7", "H8"),
             doc=f"host IDR field {_f} compared with the vSMMU's")
register("H0.data-type", "H0", "merged", predicted=True, doc="hw_info type must be 2")
R_CMDQV_PROBE = register("7b.cmdqv-host-probe", "7b", "11.1",
                         doc="cmdqv=on with VFIO on a host without a Tegra241 CMDQV fails")


def host_idr(h: HostSmmu) -> dict[str, int]:
    return {"IDR0": h.idr0, "IDR1": h.idr1, "IDR3": h.idr3, "IDR5": h.idr5}


def check(host: HostSmmu, idr: Mapping[str, int], ats_check: bool = True
          ) -> Decision | None:
    """The first failing check, or ``None``."""
    if host.info_type != 2:
        return "H0.data-type", "H0", {"t": host.info_type}
    hidr = host_idr(host)
    qidr = dict(idr)
    for hid, fld, bad in CHECKS:
        if hid == "H8" and not ats_check:
            continue
        hv, qv = get(hidr, fld), get(qidr, fld)
        if bad(hv, qv):
            if hid == "H7":
                hv, qv = OAS_BITS[hv], OAS_BITS[qv]
            return f"{hid}.host-{fld.lower()}", hid, {"host": hv, "qemu": qv}
    return None
