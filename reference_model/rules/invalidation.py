"""§7a: which guest commands an accel SMMU forwards to the host (SRC[M], SRC[13b9]).

``FORWARD`` maps the command to how it is forwarded: ``"always"`` (while a vIOMMU
exists), ``"sid"`` (only if the SID's device has a vDEVICE), ``"ats-sid"`` (ATC_INV:
``ats`` on and a vDEVICE), or ``None`` (never).
"""

from __future__ import annotations

from . import rule

FORWARD: dict[str, str | None] = {
    "CMD_SYNC": None, "CMD_PREFETCH_CONFIG": None, "CMD_PREFETCH_ADDR": None,
    "CMD_CFGI_STE": None, "CMD_CFGI_STE_RANGE": None, "CMD_CFGI_ALL": None,
    "CMD_CFGI_CD": "sid", "CMD_CFGI_CD_ALL": "sid",
    "CMD_TLBI_NH_ASID": "always", "CMD_TLBI_NH_ALL": "always", "CMD_TLBI_NSNH_ALL": "always",
    "CMD_TLBI_NH_VA": "always", "CMD_TLBI_NH_VAA": "always",
    "CMD_TLBI_S12_VMALL": None, "CMD_TLBI_S2_IPA": None,
    "CMD_ATC_INV": "ats-sid",
    "CMD_TLBI_EL2_ALL": None, "CMD_TLBI_EL3_ALL": None, "CMD_PRI_RESP": None,
    "CMD_RESUME": None, "CMD_STALL_TERM": None,
}


@rule("7a.forward", "7a", "merged")
def forwarded(cmd: str, viommu: bool, has_vdevice: bool, ats: bool) -> bool:
    """Does the accel SMMU send ``cmd`` to the host (one entry, no batching)?"""
    how = FORWARD[cmd]
    if how is None or not viommu:
        return False
    if how == "sid":
        return has_vdevice
    if how == "ats-sid":
        return ats and has_vdevice
    return True
