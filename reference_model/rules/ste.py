"""§5c: which HWPT ``smmuv3_accel_install_ste`` attaches for a guest STE.

Pure decision table over the guest state (SRC[13b9]); used by the hardware tier to
predict the ``smmuv3_accel_install_ste vSID=... ste type=%s`` trace.
"""

from __future__ import annotations

from . import rule

#: STE.Config -> HWPT type (None: "Invalid STE config for sid 0x%x")
CONFIG_TABLE: dict[int, str | None] = {0: "abort", 1: "abort", 2: "abort", 3: "abort",
                                       4: "bypass", 5: "translate", 6: None, 7: None}


@rule("5c.install-ste", "5c", "merged")
def install_ste(viommu: bool, accel_vfio_dev: bool, ste_found: bool, smmu_enabled: bool,
                gbpa_abort: bool, ste_valid: bool, config: int) -> str | None:
    """HWPT type attached ("abort"/"bypass"/"translate"), "" for nothing, None for error."""
    if not viommu or not accel_vfio_dev or not ste_found:
        return ""
    if not smmu_enabled:
        return "abort" if gbpa_abort else "bypass"
    if not ste_valid:
        return "abort"
    return CONFIG_TABLE[config & 7]
