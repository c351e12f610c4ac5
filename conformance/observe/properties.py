"""SMMU properties with ``qom-get``.

The values come back QMP-typed: booleans for ``accel``/``smmu_per_bus``, strings for the
OnOffAuto/OasMode/SsidSizeMode enums (``"auto"``, ``"on"``, ``"44"``...), integers for
``msi-gpa``/``identifier``/``bus_num``.  A property the build lacks is left out (the
capability probe decides whether a scenario that needs it is skipped).
"""

from __future__ import annotations

from typing import Any

from conformance.session import CommandFailed, QmpSession

#: properties read for ``observe = ["properties"]`` (the resolved values of §2a)
SMMU_PROPERTIES: tuple[str, ...] = (
    "accel", "ats", "ril", "oas", "ssidsize", "cmdqv", "stage", "msi-gpa", "identifier",
    "smmu_per_bus", "bus_num",
)


async def read_properties(session: QmpSession, qom_path: str,
                          names: tuple[str, ...] = SMMU_PROPERTIES) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        try:
            out[name] = await session.command("qom-get", {"path": qom_path, "property": name})
        except CommandFailed as e:
            if "not found" in e.desc.lower():
                continue
            raise
    return out
