"""Guest steps: what the payload in L2 does, as scenario data (``guest = [...]``).

A guest scenario is an ordinary scenario (command line, QMP events) plus a ``guest``
array: the steps the bare-metal payload (``images/payload/main.c``) plays after QEMU
leaves ``-S``.  Each step is an inline table with exactly one key, the step's kind::

    guest = [
      { pci_find = "8086:10d3" },                       # ECAM scan; the device's SID
      { msi = { doorbell = 0xdead040, data = 0x21 } },  # MSI capability: address, data, enable
      { stream_table = { base = 0x41000000, log2size = 8 } },   # linear; format = "2lvl", split = 6
      { cmdq = { base = 0x41100000, log2size = 6 } },
      { eventq = { base = 0x41200000, log2size = 6 } },
      { cr0 = ["smmuen", "cmdqen", "eventqen"] },       # CR0 bits, waits for CR0ACK
      { gbpa = "abort" },                               # or "bypass"
      { ste = { sid = 0x10, config = "s1", cd = 0x41300000 } },
      { cmd = { op = "CFGI_STE", sid = 0x10 } },        # one CMDQ entry, waits for CONS
      { read = "GERROR" },                              # an SMMU register
      { acpi = "IORT" },                                # the table as the guest reads it
    ]

Step kinds (arguments; defaults in brackets):

``pci_find``      ``"VVVV:DDDD"``: finds the function on buses 0-3 (reports ``sid``)
``pci_command``   the PCI command register value (0x6: memory + bus master)
``pci_bar``       ``{ index, address }``
``msi``           ``{ doorbell, data [0], enable [true] }``
``msix``          ``{ doorbell, data [0], enable [true], table_bar }``: vector 0
``stream_table``  ``{ base, log2size, format ["linear"|"2lvl"], split [6] }``
``cmdq``/``eventq`` ``{ base, log2size }``
``cr0``           list of ``smmuen``, ``cmdqen``, ``eventqen`` (others off)
``gbpa``          ``"abort"`` or ``"bypass"``
``ste``           ``{ sid, config, valid [true], cd [0], s1cdmax [0], s1fmt [0], eats [0],
                  s1dss [0] }``; ``config``: ``"abort"``, ``"bypass"``, ``"s1"``, ``"s2"``,
                  ``"nested"`` or 0-7
``cd``            ``{ address, asid [0], ttb0 [0], t0sz [25], valid [true] }``: a 64-byte CD
``cmd``           ``{ op, sid, asid, vmid, addr, range, ssid, leaf }`` (what the op uses);
                  ``op`` is a name of :data:`COMMANDS` (``"CMD_"`` prefix optional)
``read``          an SMMU register name of :data:`REGISTERS`
``write32``/``write64`` ``{ address, value }``; ``read32`` an address
``eventq_read``   ``{}``: reports the number of records and the first one's type/SID
``acpi``          ``"IORT"`` or ``"DSDT"``: the table, through fw_cfg ``etc/acpi/tables``
``delay``         a busy-loop count
``map``           ``{ ttb, iova, pa, valid [true] }``: one 4K page in the stage-1 table at
                  ``ttb`` (4K granule, T0SZ 25, levels 1-3; tables from the pages after it)
``dma``           ``{ iova, at, bar [0x10000000] }``: the e1000e's transmit ring at ``iova``
                  (one descriptor; the status write-back is a DMA write to ``iova + 12``);
                  the ring is copied to every guest physical address of ``at``, and the
                  report's ``landed`` names the copy the device wrote (``0x0``: none)
``irq``           ``{ at, bar [0x10000000] }``: the e1000e raises its interrupt; with MSI
                  on, ``landed`` names the address of ``at`` that received the MSI data
                  (an emulated device's MSI is a memory write; a passed-through one's is a
                  KVM route, so nothing lands)

Errors are :class:`GuestStepError`, one line naming the step and field.
:func:`compile_script` turns the steps into the payload's binary script.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class GuestStepError(ValueError):
    """A guest step is malformed; ``str()`` is one line."""


#: payload opcodes (images/payload/main.c ``enum op``)
OP = {"pci_find": 1, "pci_command": 2, "pci_bar": 3, "msi": 4, "write32": 5, "write64": 6,
      "read32": 7, "read64": 8, "stream_table": 9, "cmdq": 10, "eventq": 11, "cr0": 12,
      "gbpa": 13, "ste": 14, "cmd": 15, "eventq_read": 16, "acpi": 17, "delay": 18,
      "msix": 19, "zero": 20, "block": 21, "map": 22, "dma": 23,
      "irq": 24}
#: the payload's name for each opcode (its report lines)
PAYLOAD_NAMES = {1: "pci_find", 2: "pci_cmd", 3: "pci_bar", 4: "msi", 5: "write32",
                 6: "write64", 7: "read32", 8: "read64", 9: "strtab", 10: "cmdq",
                 11: "evtq", 12: "cr0", 13: "gbpa", 14: "ste", 15: "cmd", 16: "evt_read",
                 17: "acpi", 18: "delay", 19: "msix", 20: "zero", 21: "block",
                 22: "map", 23: "dma", 24: "irq"}

#: SMMUv3 command opcodes (IHI 0070, 4.1)
COMMANDS = {
    "CMD_PREFETCH_CONFIG": 0x01, "CMD_PREFETCH_ADDR": 0x02, "CMD_CFGI_STE": 0x03,
    "CMD_CFGI_STE_RANGE": 0x04, "CMD_CFGI_CD": 0x05, "CMD_CFGI_CD_ALL": 0x06,
    "CMD_CFGI_ALL": 0x04,  # CFGI_STE_RANGE with Range = 31
    "CMD_TLBI_NH_ALL": 0x10, "CMD_TLBI_NH_ASID": 0x11, "CMD_TLBI_NH_VA": 0x12,
    "CMD_TLBI_NH_VAA": 0x13, "CMD_TLBI_EL3_ALL": 0x18, "CMD_TLBI_EL3_VA": 0x1a,
    "CMD_TLBI_EL2_ALL": 0x20, "CMD_TLBI_EL2_ASID": 0x21, "CMD_TLBI_EL2_VA": 0x22,
    "CMD_TLBI_EL2_VAA": 0x23, "CMD_TLBI_S12_VMALL": 0x28, "CMD_TLBI_S2_IPA": 0x2a,
    "CMD_TLBI_NSNH_ALL": 0x30, "CMD_ATC_INV": 0x40, "CMD_PRI_RESP": 0x41,
    "CMD_RESUME": 0x44, "CMD_STALL_TERM": 0x45, "CMD_SYNC": 0x46,
}
#: SMMU registers a ``read`` step may name (offsets in page 0)
REGISTERS = {"IDR0": 0x0, "IDR1": 0x4, "IDR3": 0xc, "IDR5": 0x14, "CR0": 0x20,
             "CR0ACK": 0x24, "GBPA": 0x44, "GERROR": 0x60, "GERRORN": 0x64,
             "STRTAB_BASE_CFG": 0x88, "CMDQ_PROD": 0x98, "CMDQ_CONS": 0x9c,
             "EVENTQ_PROD": 0x100a8, "EVENTQ_CONS": 0x100ac}
STE_CONFIGS = {"abort": 0, "bypass": 4, "s1": 5, "s2": 6, "nested": 7}
CR0_BITS = {"smmuen": 1, "eventqen": 4, "cmdqen": 8}
GBPA_ABORT = 1 << 20
ACPI_SIGS = ("IORT", "DSDT")
SMMU_DEFAULT_BASE = 0x0C000000
#: ToUUID("E5C937D0-3553-4D7A-9117-EA4D19C3434D"), the PCI firmware _DSM
DSM_UUID = bytes.fromhex("d037c9e553357a4d9117ea4d19c3434d")


@dataclass(frozen=True)
class GuestStep:
    """One step: its kind and its arguments with defaults filled in."""

    kind: str
    args: Mapping[str, Any]

    def describe(self) -> str:
        inner = ", ".join(f"{k}={_show(v)}" for k, v in self.args.items())
        return f"{self.kind}({inner})"


def _show(v: Any) -> str:
    return hex(v) if isinstance(v, int) and not isinstance(v, bool) and v > 9 else str(v)


# ------------------------------------------------------------------ parsing
_SPECS: dict[str, dict[str, Any]] = {
    # kind -> {field: default}; a default of ... means required
    "pci_bar": {"index": ..., "address": ...},
    "msi": {"doorbell": ..., "data": 0, "enable": True},
    "msix": {"doorbell": ..., "data": 0, "enable": True, "table_bar": ...},
    "stream_table": {"base": ..., "log2size": ..., "format": "linear", "split": 6},
    "cmdq": {"base": ..., "log2size": ...},
    "eventq": {"base": ..., "log2size": ...},
    "ste": {"sid": ..., "config": ..., "valid": True, "cd": 0, "s1cdmax": 0, "s1fmt": 0,
            "eats": 0, "s1dss": 0},
    "cd": {"address": ..., "asid": 0, "ttb0": 0, "t0sz": 25, "valid": True},
    "cmd": {"op": ..., "sid": 0, "asid": 0, "vmid": 0, "addr": 0, "range": 0, "ssid": 0,
            "leaf": False},
    "write32": {"address": ..., "value": ...},
    "write64": {"address": ..., "value": ...},
    "eventq_read": {},
    "zero": {"address": ..., "length": ...},
    "map": {"ttb": ..., "iova": ..., "pa": ..., "valid": True},
    "dma": {"iova": ..., "at": ..., "bar": 0x10000000},
    "irq": {"at": ..., "bar": 0x10000000},
}
_SCALARS = {"pci_find": str, "pci_command": int, "gbpa": str, "read": str, "read32": int,
            "acpi": str, "delay": int, "cr0": list}
KINDS = tuple(sorted({*_SPECS, *_SCALARS}))


def _int(where: str, field: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise GuestStepError(f"{where}: field '{field}' must be a non-negative integer")
    return v


def parse_step(where: str, raw: Any) -> GuestStep:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise GuestStepError(f"{where}: a step is a table with exactly one key, its kind "
                             f"(one of {', '.join(KINDS)})")
    (kind, v), = raw.items()
    if kind in _SCALARS:
        return _scalar(where, kind, v)
    if kind not in _SPECS:
        raise GuestStepError(f"{where}: unknown step '{kind}' (expected one of "
                             f"{', '.join(KINDS)})")
    if not isinstance(v, dict):
        raise GuestStepError(f"{where}: step '{kind}' takes a table")
    spec = _SPECS[kind]
    unknown = set(v) - set(spec)
    if unknown:
        raise GuestStepError(f"{where}: {kind}: unknown field '{sorted(unknown)[0]}' "
                             f"(expected {', '.join(spec) or 'none'})")
    args: dict[str, Any] = {}
    for f, default in spec.items():
        if f not in v:
            if default is ...:
                raise GuestStepError(f"{where}: {kind}: missing field '{f}'")
            args[f] = default
            continue
        val = v[f]
        if isinstance(default, bool):
            if not isinstance(val, bool):
                raise GuestStepError(f"{where}: {kind}: field '{f}' must be true or false")
        elif isinstance(default, str):
            if not isinstance(val, str):
                raise GuestStepError(f"{where}: {kind}: field '{f}' must be a string")
        elif kind in ("dma", "irq") and f == "at":
            if not isinstance(val, list) or not 1 <= len(val) <= 8:
                raise GuestStepError(f"{where}: {kind}: field 'at' must be an array of 1-8 "
                                     "guest physical addresses")
            val = tuple(_int(where, f"{kind}.at", x) for x in val)
        elif not (kind == "ste" and f == "config"):
            val = _int(where, f"{kind}.{f}", val) if not (kind == "cmd" and f == "op") \
                else val
        args[f] = val
    return _check(where, GuestStep(kind, args))


def _scalar(where: str, kind: str, v: Any) -> GuestStep:
    if kind == "pci_find":
        parts = v.split(":") if isinstance(v, str) else []
        try:
            ven, dev = (int(p, 16) for p in parts) if len(parts) == 2 else (-1, -1)
        except ValueError:
            ven = dev = -1
        if not (0 <= ven <= 0xFFFF and 0 <= dev <= 0xFFFF):
            raise GuestStepError(f"{where}: pci_find must be \"VVVV:DDDD\" (hex vendor:device)")
        return GuestStep(kind, {"vendor": ven, "device": dev})
    if kind == "gbpa":
        if v not in ("abort", "bypass"):
            raise GuestStepError(f"{where}: gbpa must be \"abort\" or \"bypass\"")
        return GuestStep(kind, {"abort": v == "abort"})
    if kind == "read":
        if not isinstance(v, str) or v not in REGISTERS:
            raise GuestStepError(f"{where}: read: unknown register {v!r} (expected one of "
                                 f"{', '.join(REGISTERS)})")
        return GuestStep(kind, {"register": v})
    if kind == "acpi":
        if v not in ACPI_SIGS:
            raise GuestStepError(f"{where}: acpi must be one of {', '.join(ACPI_SIGS)}")
        return GuestStep(kind, {"table": v})
    if kind == "cr0":
        if not isinstance(v, list) or any(b not in CR0_BITS for b in v):
            raise GuestStepError(f"{where}: cr0 is a list of {', '.join(CR0_BITS)}")
        return GuestStep(kind, {b: b in v for b in CR0_BITS})
    key = {"pci_command": "value", "read32": "address", "delay": "count"}[kind]
    return GuestStep(kind, {key: _int(where, kind, v)})


def _check(where: str, s: GuestStep) -> GuestStep:
    a = dict(s.args)
    if s.kind == "ste":
        c = a["config"]
        if isinstance(c, str):
            if c not in STE_CONFIGS:
                raise GuestStepError(f"{where}: ste: config must be one of "
                                     f"{', '.join(STE_CONFIGS)} or 0-7")
            a["config"] = STE_CONFIGS[c]
        elif isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 7:
            raise GuestStepError(f"{where}: ste: config must be one of "
                                 f"{', '.join(STE_CONFIGS)} or 0-7")
    if s.kind == "cmd":
        op = a["op"]
        name = op if isinstance(op, str) and op.startswith("CMD_") else f"CMD_{op}"
        if name not in COMMANDS:
            raise GuestStepError(f"{where}: cmd: unknown op {op!r} (expected one of "
                                 f"{', '.join(c[4:] for c in COMMANDS)})")
        a["op"] = name
        if name == "CMD_CFGI_ALL":
            a["range"] = 31
    if s.kind == "stream_table":
        if a["format"] not in ("linear", "2lvl"):
            raise GuestStepError(f"{where}: stream_table: format must be \"linear\" or "
                                 "\"2lvl\"")
        if not 1 <= a["log2size"] <= 16:
            raise GuestStepError(f"{where}: stream_table: log2size must be 1-16")
    for f in {"map": ("ttb", "iova", "pa"), "dma": ("iova", "bar")}.get(s.kind, ()):
        if a[f] & 0xFFF:
            raise GuestStepError(f"{where}: {s.kind}: field '{f}' must be 4K-aligned")
    if s.kind == "map" and a["iova"] >> 39:
        raise GuestStepError(f"{where}: map: iova must be below 2**39 (T0SZ 25)")
    if s.kind == "dma" and any(x & 0xFFF for x in a["at"]):
        raise GuestStepError(f"{where}: dma: every address of 'at' must be 4K-aligned")
    if s.kind == "irq" and any(x & 3 for x in a["at"]):
        raise GuestStepError(f"{where}: irq: every address of 'at' must be 4-byte aligned")
    if s.kind in ("cmdq", "eventq") and not 1 <= a["log2size"] <= 10:
        raise GuestStepError(f"{where}: {s.kind}: log2size must be 1-10")
    return GuestStep(s.kind, a)


def parse_steps(where: str, raw: Any) -> tuple[GuestStep, ...]:
    """The ``guest`` array of a scenario."""
    if not isinstance(raw, list) or not raw:
        raise GuestStepError(f"{where}: field 'guest' must be a non-empty array of steps")
    return tuple(parse_step(f"{where}: guest[{i}]", r) for i, r in enumerate(raw))


# ------------------------------------------------------------------ encoding
def ste_words(a: Mapping[str, Any]) -> list[int]:
    """The 8 doublewords of an STE (IHI 0070 5.2)."""
    w0 = (1 if a["valid"] else 0) | (a["config"] << 1) | (a["s1fmt"] << 4) \
        | (a["cd"] & 0xFFFFFFFFFFC0) | (a["s1cdmax"] << 59)
    w1 = a["s1dss"] | (a["eats"] << 28)
    return [w0, w1, 0, 0, 0, 0, 0, 0]


def cd_words(a: Mapping[str, Any]) -> list[int]:
    """The 8 doublewords of a context descriptor: 4K granule, TTB0 only, AA64."""
    w0 = (a["t0sz"] & 0x3F) | (1 << 8) | (1 << 10) | (3 << 12)  # 4K, WB, inner shareable
    w0 |= (1 << 30) | (int(a["valid"]) << 31) | (5 << 32)  # EPD1, V, IPS 48 bits
    w0 |= (1 << 35) | (1 << 41) | (a["asid"] << 48)  # AFFD, AA64, ASID
    w0 |= (1 << 45) | (1 << 46)  # R: record faults; A: abort (terminate) on a fault
    return [w0, a["ttb0"] & 0xFFFFFFFFFFF0, 0, 0, 0, 0, 0, 0]


def cmd_words(a: Mapping[str, Any]) -> tuple[int, int]:
    """The two doublewords of a command (IHI 0070 4.1-4.7)."""
    op = COMMANDS[a["op"]]
    w0, w1 = op, 0
    name = a["op"]
    if name in ("CMD_CFGI_STE", "CMD_CFGI_CD", "CMD_CFGI_CD_ALL", "CMD_ATC_INV",
                "CMD_PREFETCH_CONFIG", "CMD_CFGI_STE_RANGE", "CMD_CFGI_ALL"):
        w0 |= a["sid"] << 32
    if name in ("CMD_CFGI_CD", "CMD_ATC_INV"):
        w0 |= a["ssid"] << 12
    if name in ("CMD_CFGI_STE_RANGE", "CMD_CFGI_ALL"):
        w1 |= a["range"] & 0x1F
    if name in ("CMD_TLBI_NH_ASID", "CMD_TLBI_NH_VA"):
        w0 |= a["asid"] << 48
    if name.startswith("CMD_TLBI") and name not in ("CMD_TLBI_NSNH_ALL",):
        w0 |= a["vmid"] << 32
    if name in ("CMD_TLBI_NH_VA", "CMD_TLBI_NH_VAA", "CMD_TLBI_S2_IPA"):
        w1 |= (a["addr"] & ~0xFFF) | int(a["leaf"])
    if name == "CMD_CFGI_STE":
        w1 |= int(a["leaf"])
    return w0, w1


def _records(s: GuestStep) -> list[tuple[int, list[int]]]:
    """One step -> its payload record(s) (opcode, arguments): one per step."""
    a = s.args
    k = s.kind
    if k == "pci_find":
        return [(OP[k], [a["vendor"], a["device"]])]
    if k == "pci_command":
        return [(OP[k], [a["value"]])]
    if k == "pci_bar":
        return [(OP[k], [a["index"], a["address"]])]
    if k == "msi":
        return [(OP[k], [a["doorbell"], a["data"], int(a["enable"])])]
    if k == "msix":
        return [(OP[k], [a["doorbell"], a["data"], int(a["enable"]), a["table_bar"]])]
    if k == "stream_table":
        return [(OP[k], [a["base"], a["log2size"], int(a["format"] == "2lvl"), a["split"]])]
    if k in ("cmdq", "eventq"):
        return [(OP[k], [a["base"], a["log2size"]])]
    if k == "cr0":
        return [(OP[k], [sum(v for b, v in CR0_BITS.items() if a[b])])]
    if k == "gbpa":
        return [(OP[k], [GBPA_ABORT if a["abort"] else 0])]
    if k == "ste":
        return [(OP[k], [a["sid"], *ste_words(a)])]
    if k == "cd":
        return [(OP["block"], [a["address"], *cd_words(a)])]
    if k == "cmd":
        return [(OP[k], list(cmd_words(a)))]
    if k == "read":
        return [(OP["read32"], [-1, REGISTERS[a["register"]]])]  # -1: SMMU-relative
    if k == "read32":
        return [(OP[k], [a["address"]])]
    if k in ("write32", "write64"):
        return [(OP[k], [a["address"], a["value"]])]
    if k == "zero":
        return [(OP[k], [a["address"], a["length"]])]
    if k == "eventq_read":
        return [(OP[k], [])]
    if k == "acpi":
        sig = int.from_bytes(a["table"].encode(), "little")
        if a["table"] == "DSDT":  # only the PCI host bridge _DSM: 64 bytes from its UUID
            return [(OP[k], [sig, 64, *struct.unpack("<QQ", DSM_UUID)])]
        return [(OP[k], [sig])]
    if k == "delay":
        return [(OP[k], [a["count"]])]
    if k == "map":
        return [(OP[k], [a["ttb"], a["iova"], a["pa"], int(a["valid"])])]
    if k == "dma":
        return [(OP[k], [a["bar"], a["iova"], len(a["at"]), *a["at"]])]
    if k == "irq":
        return [(OP[k], [a["bar"], len(a["at"]), *a["at"]])]
    raise GuestStepError(f"step kind '{k}' has no encoding")  # pragma: no cover


def compile_script(steps: tuple[GuestStep, ...], smmu_base: int = SMMU_DEFAULT_BASE) -> bytes:
    """The payload's script: header (magic, count, SMMU base) and one record per op."""
    recs = [r for s in steps for r in _records(s)]
    out = bytearray(struct.pack("<4sIQ", b"SMG1", len(recs), smmu_base))
    for op, args in recs:
        if op == OP["read32"] and args and args[0] == -1:  # SMMU register
            args = [smmu_base + args[1]]
        out += struct.pack("<II", op, len(args))
        for v in args:
            out += struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)
    return bytes(out)
