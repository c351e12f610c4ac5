"""§2a: the properties of ``arm-smmuv3``: types, parsers, defaults, qom-get values.

One table per property schema (:data:`SCHEMAS`): ``11.1`` (QEMU 11.1.3, TCG✔),
``merged`` (series v8/v9 as merged, SRC[M]) and ``v4`` (ML v4).  Each entry names
the QAPI type, which decides the parse error text:

=================  ==========================================================
``bool``           ``Parameter 'accel' expects 'on' or 'off'``
``enum``           ``Parameter 'oas' does not accept value '64'``
``uint8/uint64``   ``Parameter 'identifier' expects uint8_t``
``str``            anything goes
``link``           ``Device 'nobus' not found``
=================  ==========================================================

Property setting order is the iteration order of the QDict QEMU builds from the
option string: bucket ``tdb_hash(key) % 512`` ascending (:func:`qdict_order`).
That is why ``ssidsize=21,oas=64`` reports ``oas`` first (TCG✔).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from ..cmdline import parse_bool
from . import register


@dataclass(frozen=True, eq=False)
class PropSpec:
    """One property of one schema.  Compared and hashed by identity (every spec is one
    object of :data:`SCHEMAS`), which keeps the :func:`parse_value` cache cheap."""

    name: str
    kind: str  # bool | enum | uint8 | uint64 | str | link
    default: Any
    choices: tuple[str, ...] = ()


_ONOFFAUTO = ("on", "off", "auto")
_OAS = ("auto", "32", "36", "40", "42", "44", "48", "52", "56")
_SSID = ("auto", *(str(i) for i in range(21)))

_COMMON = (
    PropSpec("stage", "str", None),
    PropSpec("accel", "bool", False),
    PropSpec("primary-bus", "link", None),
    PropSpec("bus_num", "uint8", 0),
    PropSpec("smmu_per_bus", "bool", False),
    PropSpec("memory", "link", None),
    PropSpec("secure-memory", "link", None),
)

SCHEMAS: dict[str, dict[str, PropSpec]] = {
    "11.1": {p.name: p for p in (
        *_COMMON,
        PropSpec("msi-gpa", "uint64", 0),
        PropSpec("ril", "enum", "auto", _ONOFFAUTO),
        PropSpec("ats", "enum", "auto", _ONOFFAUTO),
        PropSpec("oas", "enum", "auto", _OAS),
        PropSpec("ssidsize", "enum", "auto", _SSID),
        PropSpec("cmdqv", "enum", "auto", _ONOFFAUTO),
        PropSpec("identifier", "uint8", 0),
    )},
    "merged": {p.name: p for p in (
        *_COMMON,
        PropSpec("msi-gpa", "uint64", 0),
        PropSpec("ril", "bool", True),
        PropSpec("ats", "bool", False),
        PropSpec("oas", "uint8", 44),
        PropSpec("ssidsize", "uint8", 0),
    )},
    # QEMU 10.2 (user-creatable series, before accel; from source) and 10.1 and older
    # (device-list-properties of Debian's 7.2 and 10.0.x: bus_num, primary-bus, stage)
    "10.2": {p.name: p for p in (
        PropSpec("stage", "str", None),
        PropSpec("primary-bus", "link", None),
        PropSpec("bus_num", "uint8", 0),
        PropSpec("smmu_per_bus", "bool", False),
    )},
    "10.1": {p.name: p for p in (
        PropSpec("stage", "str", None),
        PropSpec("primary-bus", "link", None),
        PropSpec("bus_num", "uint8", 0),
    )},
    "7.2": {p.name: p for p in (  # no stage property: stage 1 only
        PropSpec("primary-bus", "link", None),
        PropSpec("bus_num", "uint8", 0),
    )},
    "v4": {p.name: p for p in (
        *_COMMON,
        PropSpec("ril", "bool", True),
        PropSpec("ats", "bool", False),
        PropSpec("oas", "uint8", 44),
        PropSpec("pasid", "bool", False),
    )},
}

PARSE_RULE = register("2a.parse", "2a", "11.1",
                      doc="property value parse errors (QAPI visitor messages)")
R_IDENT = register("2a.identifier-index", "2a", "11.1",
                   doc="virt overwrites identifier with the SMMU's creation index")
R_SMMU_COMPAT = register("2a.machine-compat", "2a", "11.1",
                         doc="virt-11.0 and older: arm-smmuv3 ats=off, ril=on, oas=44, ssidsize=0")
#: hw_compat for machine types before the 'auto' properties (TCG✔: qom-get on virt-9.2,
#: virt-10.1, virt-11.0 reads these; virt/virt-11.1 read "auto"; found by the fuzzer)
SMMU_COMPAT_11_0 = {"ats": "off", "ril": "on", "oas": "44", "ssidsize": "0"}


def machine_compat(auto_mode: bool, mtype: str) -> bool:
    """Whether the machine type's compat properties give arm-smmuv3 the 11.0 defaults
    (:data:`SMMU_COMPAT_11_0`): the 'auto' releases, any virt type before 11.1."""
    return auto_mode and mtype != "virt-11.1-machine"

_UINT_MAX = {"uint8": (0xFF, "uint8_t"), "uint64": (0xFFFFFFFFFFFFFFFF, "uint64_t")}


def tdb_hash(key: str) -> int:
    """QEMU's ``tdb_hash`` (``qobject/qdict.c``), 32-bit arithmetic."""
    b = key.encode()
    v = (0x238F13AF * len(b)) & 0xFFFFFFFF
    for i, c in enumerate(b):
        v = (v + (c << (i * 5 % 24))) & 0xFFFFFFFF
    return (1103515243 * v + 12345) & 0xFFFFFFFF


@cache
def _bucket(key: str) -> int:
    return tdb_hash(key) % 512


@lru_cache(maxsize=4096)
def qdict_order(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Keys in the order QEMU's QDict iterates them (bucket ascending; within a
    bucket the most recently inserted first).  Cached per key tuple: the same property
    sets recur."""
    if len(keys) < 2:
        return keys
    idx = {k: i for i, k in enumerate(keys)}
    return tuple(sorted(keys, key=lambda k: (_bucket(k), -idx[k])))


def _parse_uint(text: str) -> int | None:
    t = text.strip()
    neg = t.startswith("-")
    if neg:
        t = t[1:]
    try:
        if t[:2].lower() == "0x":
            v = int(t[2:], 16)
        elif len(t) > 1 and t.startswith("0"):
            v = int(t[1:], 8)
        else:
            v = int(t, 10)
    except ValueError:
        return None
    return (-v) & 0xFFFFFFFFFFFFFFFF if neg else v


@lru_cache(maxsize=4096)
def parse_value(spec: PropSpec, value: str) -> Any:
    """The typed value, or raise ``ValueError`` with QEMU's message."""
    k = spec.kind
    if k == "bool":
        return parse_bool(spec.name, value)
    if k == "enum":
        if value not in spec.choices:
            raise ValueError(f"Parameter '{spec.name}' does not accept value '{value}'")
        return value
    if k in _UINT_MAX:
        top, ctype = _UINT_MAX[k]
        v = _parse_uint(value)
        if v is None or (k == "uint8" and (v > top or value.strip().startswith("-"))):
            raise ValueError(f"Parameter '{spec.name}' expects {ctype}")
        return v
    return value


def qom_value(spec: PropSpec, value: Any) -> Any:
    """What ``qom-get`` returns for a property holding ``value`` (QMP-typed)."""
    if spec.kind == "str":
        return "" if value is None else value
    if spec.kind == "enum":
        return str(value)
    return value
