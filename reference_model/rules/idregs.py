"""§2b: the ID registers a guest reads from the emulated SMMUv3.

``smmuv3_init_id_regs`` builds them at realize from a table of fields
(:data:`BASE_FIELDS`); ``stage`` selects S1P/S2P (and XNX with stage 2);
``smmuv3_accel_idr_override`` then applies the accel properties (:data:`OVERRIDES`).
'auto' fields keep the defaults until the first cold-plugged VFIO device copies the
host's values (:func:`finalise_auto`, §5a).

Values checked under TCG on 11.1.3 (TCG✔): stage 1 ``IDR0=0x0d44101a``, stage 2
``0x0d441019``, nested ``0x0d44101b``; ``IDR1=0x02730010``; ``IDR3=0x1404`` (``0x1414``
with stage 2); ``IDR5=0x74``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import register, rule

#: (register, lsb, width) of the fields the model touches
FIELD = {
    "S2P": (0, 0, 1), "S1P": (0, 1, 1), "TTF": (0, 2, 2), "COHACC": (0, 4, 1),
    "ASID16": (0, 12, 1), "ATS": (0, 10, 1), "VMID16": (0, 18, 1),
    "TTENDIAN": (0, 21, 2), "STALL_MODEL": (0, 24, 2), "TERM_MODEL": (0, 26, 1),
    "STLEVEL": (0, 27, 2),
    "SIDSIZE": (1, 0, 6), "SSIDSIZE": (1, 6, 5), "EVENTQS": (1, 16, 5), "CMDQS": (1, 21, 5),
    "HAD": (3, 2, 1), "XNX": (3, 4, 1), "RIL": (3, 10, 1), "BBML": (3, 11, 2),
    "OAS": (5, 0, 3), "GRAN4K": (5, 4, 1), "GRAN16K": (5, 5, 1), "GRAN64K": (5, 6, 1),
}

BASE_FIELDS: tuple[tuple[str, int], ...] = (
    ("TTF", 2), ("COHACC", 1), ("ASID16", 1), ("VMID16", 1), ("TTENDIAN", 2),
    ("STALL_MODEL", 1), ("TERM_MODEL", 1), ("STLEVEL", 1),
    ("SIDSIZE", 16), ("EVENTQS", 19), ("CMDQS", 19),
    ("HAD", 1), ("RIL", 1), ("BBML", 2),
    ("OAS", 4), ("GRAN4K", 1), ("GRAN16K", 1), ("GRAN64K", 1),
)

#: stage property -> fields it sets (anything else, or unset, is stage 1: even
#: ``stage=3`` starts and reads as stage 1 on 11.1.3, TCG✔)
STAGE_FIELDS: dict[str | None, tuple[tuple[str, int], ...]] = {
    "2": (("S2P", 1), ("XNX", 1)),
    "nested": (("S1P", 1), ("S2P", 1), ("XNX", 1)),
}
STAGE1 = (("S1P", 1),)

OAS_BITS = (32, 36, 40, 42, 44, 48, 52, 56)

_DEFAULT_RULE = register("2b.defaults", "2b", "11.1",
                         doc="default ID registers from smmuv3_init_id_regs")
R_LEGACY = register("2b.legacy-nested", "2b", "11.1",
                    doc="legacy iommu=smmuv3 gets stage=nested (virt >= 9.2; <= 9.1: stage 1)")


#: FIELD with the register key and mask precomputed: name -> ("IDRn", lsb, mask)
_FIELD_KEY = {n: (f"IDR{reg}", lsb, (1 << width) - 1) for n, (reg, lsb, width) in FIELD.items()}


def get(idr: Mapping[str, int], name: str) -> int:
    key, lsb, mask = _FIELD_KEY[name]
    return (idr[key] >> lsb) & mask


def put(idr: dict[str, int], name: str, value: int) -> None:
    key, lsb, mask = _FIELD_KEY[name]
    mask <<= lsb
    idr[key] = (idr[key] & ~mask) | ((value << lsb) & mask)


def _base() -> dict[str, int]:
    idr = {"IDR0": 0, "IDR1": 0, "IDR3": 0, "IDR5": 0}
    for name, v in BASE_FIELDS:
        put(idr, name, v)
    return idr


_BASE = _base()


def _staged(fields: tuple[tuple[str, int], ...]) -> dict[str, int]:
    idr = dict(_BASE)
    for name, v in fields:
        put(idr, name, v)
    return idr


#: the registers per stage value (computed once; init_id_regs hands out copies)
_BY_STAGE = {k: _staged(v) for k, v in STAGE_FIELDS.items()}
_STAGE1_IDR = _staged(STAGE1)


def init_id_regs(stage: str | None) -> dict[str, int]:
    """IDR0/1/3/5 after ``smmuv3_init_id_regs`` without accel overrides."""
    return dict(_BY_STAGE.get(stage, _STAGE1_IDR))


def _ssid(v: Any) -> int:
    return int(v) if not isinstance(v, bool) else int(v) * 16


#: accel overrides: property -> (value test, field, value)   (SRC[13b9], PRED)
OVERRIDES: tuple[tuple[str, Any, str, Any], ...] = (
    ("ril", lambda v: v in ("off", False), "RIL", 0),
    ("ats", lambda v: v in ("on", True), "ATS", 1),
    ("oas", lambda v: v in ("48", 48), "OAS", 5),
    ("ssidsize", lambda v: v not in ("auto", "0", 0), "SSIDSIZE", _ssid),
    ("pasid", lambda v: v is True, "SSIDSIZE", lambda v: 16),
)


@rule("2b.accel-override", "2b", "11.1")
def accel_override(idr: dict[str, int], props: Mapping[str, Any]) -> list[str]:
    """accel=on: explicit ril=off / ats=on / oas=48 / ssidsize=N change IDR3/0/5/1."""
    changed: list[str] = []
    for prop, test, fld, value in OVERRIDES:
        if prop in props and test(props[prop]):
            put(idr, fld, value(props[prop]) if callable(value) else value)
            changed.append(f"{prop}={props[prop]}")
    return changed


AUTO_FIELDS = (("ats", "ATS"), ("ril", "RIL"), ("ssidsize", "SSIDSIZE"))


@rule("5a.auto-finalise", "2b", "11.1")
def finalise_auto(idr: dict[str, int], props: dict[str, Any],
                  host_idr: dict[str, int]) -> list[str]:
    """First cold-plugged VFIO device: copy ATS/RIL/SSIDSIZE of 'auto' props from the host."""
    done: list[str] = []
    for prop, fld in AUTO_FIELDS:
        if props.get(prop) == "auto":
            put(idr, fld, get(host_idr, fld))
            done.append(prop)
    return done
