"""Scenarios: what a user would type, as data.

A scenario file is TOML (``scenarios/*.toml``) holding one or more ``[[scenario]]``
tables.  The same file feeds the reference model (``explain``), the conformance runner
(``run``) and the documentation.  Example::

    [[scenario]]
    name  = "accel-emulated-endpoint-hotplug"
    rows  = ["A4"]
    tiers = ["nested", "kvm"]
    description = "device_add of an emulated NIC behind an accel SMMU is refused"
    args = '''
      -M virt,gic-version=3
      -device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,ats=off,ril=off,ssidsize=0,oas=44
      -device pcie-root-port,id=rp0,chassis=1
    '''
    [[scenario.events]]
    device_add = { driver = "e1000e", id = "nic0", bus = "rp0", romfile = "" }
    [[scenario.events]]
    device_del = "nic0"

Keys of a ``[[scenario]]`` table:

``name`` (required)
    lower-case slug, unique across all loaded files; ``FILE:NAME`` selects it.
``rows`` (required)
    catalogue rows it checks (``P1``, ``A4``, ``AS3``, ``2b``...).
``tiers`` (required)
    tiers that can show it: ``tcg``, ``kvm``, ``nested``, ``hw``.
``args`` (required)
    the QEMU command line, as one string (split like a shell would) or a list.  Leave out
    the accelerator: each tier supplies its own (``-accel tcg``; ``-accel kvm -cpu host``
    plus firmware), and the model predicts for the command line *with* the tier's part,
    so one scenario can mean different things on different tiers.  A scenario that sets
    ``-accel`` itself keeps it.
``events``
    ordered QMP events: ``{ device_add = { driver = ..., id = ..., ... } }``,
    ``{ device_del = "id" }`` or ``{ system_reset = {} }`` (the harness waits for
    QEMU's ``RESET`` event, so the reset is complete before the next step).
``host``
    an explicit override of the host SMMUv3 for the hardware-only rules (§5a): ``idr0``,
    ``idr1``, ``idr3``, ``idr5`` (integers), ``info_type`` (default 2, ARM SMMUv3),
    ``nesting`` (bool), ``cmdqv`` (bool: a Tegra241 CMDQV is present), ``vfio_group`` (the
    IOMMU group number of the passed-through device, which QEMU's legacy-container
    messages name).  Normally left out: a tier that has a host SMMU probes it
    (``conformance/host_smmu.py``; the nested tier through ``IOMMU_GET_HW_INFO``).
``observe``
    what to read besides exit status, stderr and QMP errors: any of ``address_spaces``,
    ``idregs``, ``properties``, ``msi_gpa``, ``iort``, ``trace`` (QEMU trace events,
    :class:`~catalogue.prediction.TracePrediction`).  Default: ``address_spaces``.
``requires``
    host capabilities the scenario needs beyond its tier (``iommufd``, ``vfio``).
``description``
    one line for humans.
``guest``
    steps a bare-metal payload in the guest plays after start-up (the guest-driven tier,
    docs/guest.md): ``[{ pci_find = "8086:10d3" }, { msi = { doorbell = 0xdead040 } }]``;
    vocabulary in :mod:`catalogue.guest_steps`.
``nonconformance``
    a *known* QEMU bug: ``{ reason = "...", evidence = "...", fields = ["devices.nic0"] }``.
    The scenario is then expected to disagree with the model on exactly those field
    paths (a strict xfail): conformance on those fields is reported as an unexpected pass.

Errors in a file raise :class:`ScenarioError`, whose message is one line naming the file,
the scenario and the field.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue.aliases import OLD_FILES
from catalogue.guest_steps import GuestStepError, parse_steps
from catalogue.observables import OBSERVABLES
from catalogue.vocabulary import REQUIREMENTS, ROW_RE, TIERS

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_ROW_RE = ROW_RE
_SCENARIO_KEYS = {
    "name", "rows", "tiers", "args", "events", "host", "observe", "requires",
    "description", "nonconformance", "guest",
}
_HOST_KEYS = {"idr0", "idr1", "idr3", "idr5", "info_type", "nesting", "cmdqv", "vfio_group"}
_NC_KEYS = {"reason", "evidence", "fields", "profiles"}


class ScenarioError(ValueError):
    """A scenario file or scenario is malformed.  ``str()`` is one line."""


@dataclass(frozen=True)
class Event:
    """One QMP event of a scenario."""

    op: str  # "device_add", "device_del" or "system_reset"
    arguments: Mapping[str, Any]  # device_add: the QMP arguments; device_del: {"id": ...}
    # system_reset: {}

    @property
    def device_id(self) -> str | None:
        v = self.arguments.get("id")
        return str(v) if v is not None else None


@dataclass(frozen=True)
class HostSmmu:
    """The host SMMUv3 seen through IOMMU_GET_HW_INFO (catalogue §5a)."""

    idr0: int
    idr1: int
    idr3: int
    idr5: int
    info_type: int = 2
    nesting: bool = True
    cmdqv: bool = False
    vfio_group: int | None = None


@dataclass(frozen=True)
class KnownNonconformance:
    """A recorded QEMU bug: the fields on which QEMU is expected to differ."""

    reason: str
    evidence: str
    fields: tuple[str, ...]
    profiles: tuple[str, ...] = ()  # empty: applies to every profile


@dataclass(frozen=True)
class Scenario:
    name: str
    rows: tuple[str, ...]
    tiers: tuple[str, ...]
    argv: tuple[str, ...]
    events: tuple[Event, ...] = ()
    host: HostSmmu | None = None
    observe: tuple[str, ...] = ("address_spaces",)
    requires: tuple[str, ...] = ()
    description: str = ""
    nonconformance: KnownNonconformance | None = None
    source: str = ""  # "file.toml" it came from
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.name}" if self.source else self.name


# ----------------------------------------------------------------------------- parsing
def _err(where: str, msg: str) -> ScenarioError:
    return ScenarioError(f"{where}: {msg}")


def _str_list(where: str, key: str, v: Any, allowed: Iterable[str] | None = None,
              pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _err(where, f"field '{key}' must be a list of strings, not {type(v).__name__}")
    allowed_t = tuple(allowed) if allowed is not None else None
    for x in v:
        if allowed_t is not None and x not in allowed_t:
            raise _err(where, f"field '{key}': unknown value '{x}' "
                              f"(expected one of {', '.join(allowed_t)})")
        if pattern is not None and not pattern.match(x):
            raise _err(where, f"field '{key}': '{x}' is not a catalogue row id")
    return tuple(v)


def split_args(args: str | list[str]) -> tuple[str, ...]:
    """A command line as a shell would split it (a list is taken as is)."""
    if isinstance(args, list):
        bad = [a for a in args if not isinstance(a, str)]
        if bad:  # never stringified silently: 5 and "5" are different scenarios
            raise ValueError(f"list items must be strings, not {bad[0]!r} "
                             f"({type(bad[0]).__name__})")
        return tuple(args)
    return tuple(shlex.split(args, comments=True))


def _parse_event(where: str, i: int, ev: Any) -> Event:
    w = f"{where}: events[{i}]"
    if not isinstance(ev, dict) or len(ev) != 1:
        raise ScenarioError(f"{w}: must be a table with exactly one of device_add, device_del, "
                            "system_reset")
    (op, arg), = ev.items()
    if op == "device_add":
        if not isinstance(arg, dict):
            raise ScenarioError(f"{w}: device_add takes a table of QMP arguments")
        if "driver" not in arg or not isinstance(arg["driver"], str):
            raise ScenarioError(f"{w}: device_add needs a string 'driver'")
        if "id" in arg and not isinstance(arg["id"], str):
            raise ScenarioError(f"{w}: device_add 'id' must be a string")
        return Event("device_add", dict(arg))
    if op == "device_del":
        if isinstance(arg, dict):
            arg = arg.get("id")
        if not isinstance(arg, str):
            raise ScenarioError(f"{w}: device_del takes a device id string")
        return Event("device_del", {"id": arg})
    if op == "system_reset":
        if arg != {} and arg is not True:
            raise ScenarioError(f"{w}: system_reset takes no arguments ({{}} or true)")
        return Event("system_reset", {})
    raise ScenarioError(f"{w}: unknown event '{op}' (expected device_add, device_del or "
                        "system_reset)")


def _int(where: str, key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(where, f"field 'host.{key}' must be an integer")
    return v


def _parse_host(where: str, h: Any) -> HostSmmu:
    if not isinstance(h, dict):
        raise _err(where, "field 'host' must be a table")
    unknown = set(h) - _HOST_KEYS
    if unknown:
        raise _err(where, f"field 'host': unknown key '{sorted(unknown)[0]}' "
                          f"(expected {', '.join(sorted(_HOST_KEYS))})")
    missing = {"idr0", "idr1", "idr3", "idr5"} - set(h)
    if missing:
        raise _err(where, f"field 'host': missing '{sorted(missing)[0]}'")
    for b in ("nesting", "cmdqv"):
        if b in h and not isinstance(h[b], bool):
            raise _err(where, f"field 'host.{b}' must be true or false")
    return HostSmmu(
        idr0=_int(where, "idr0", h["idr0"]), idr1=_int(where, "idr1", h["idr1"]),
        idr3=_int(where, "idr3", h["idr3"]), idr5=_int(where, "idr5", h["idr5"]),
        info_type=_int(where, "info_type", h.get("info_type", 2)),
        nesting=h.get("nesting", True), cmdqv=h.get("cmdqv", False),
        vfio_group=_int(where, "vfio_group", h["vfio_group"]) if "vfio_group" in h else None,
    )


def device_ids_in_argv(argv: Iterable[str]) -> set[str]:
    """The ``id=`` values of ``-device`` options (QemuOpts ``,,`` escapes honoured)."""
    ids: set[str] = set()
    it = iter(argv)
    for a in it:
        if a in ("-device", "--device"):
            opt = next(it, "")
            for part in re.split(r"(?<!,),(?!,)", opt):
                if part.startswith("id="):
                    ids.add(part[3:].replace(",,", ","))
    return ids


def parse_scenario(d: Any, source: str = "") -> Scenario:
    """One ``[[scenario]]`` table -> :class:`Scenario` (raises :class:`ScenarioError`)."""
    if not isinstance(d, dict):
        raise ScenarioError(f"{source}: each [[scenario]] must be a table")
    name = d.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ScenarioError(f"{source}: scenario {name!r}: field 'name' must be a lower-case "
                            "slug (letters, digits, '-', '.', '_')")
    where = f"{source}: scenario '{name}'" if source else f"scenario '{name}'"
    unknown = set(d) - _SCENARIO_KEYS
    if unknown:
        raise _err(where, f"unknown field '{sorted(unknown)[0]}' "
                          f"(expected {', '.join(sorted(_SCENARIO_KEYS))})")
    for req in ("rows", "tiers", "args"):
        if req not in d:
            raise _err(where, f"missing field '{req}'")
    rows = _str_list(where, "rows", d["rows"], pattern=_ROW_RE)
    tiers = _str_list(where, "tiers", d["tiers"], TIERS)
    if not rows or not tiers:
        raise _err(where, "fields 'rows' and 'tiers' must not be empty")
    if not isinstance(d["args"], (str, list)):
        raise _err(where, "field 'args' must be a string or a list of strings")
    try:
        argv = split_args(d["args"])
    except ValueError as e:
        raise _err(where, f"field 'args': {e}") from None
    raw_events = d.get("events", [])
    if not isinstance(raw_events, list):
        raise _err(where, "field 'events' must be an array of tables")
    events = tuple(_parse_event(where, i, e) for i, e in enumerate(raw_events))
    # device_del must name a device that exists at that point
    known = device_ids_in_argv(argv)
    for i, ev in enumerate(events):
        if ev.op == "device_add" and ev.device_id:
            known.add(ev.device_id)
        elif ev.op == "device_del" and ev.device_id not in known:
            raise _err(where, f"events[{i}]: device_del names unknown device id "
                              f"'{ev.device_id}' (not in args or an earlier device_add)")
    host = _parse_host(where, d["host"]) if "host" in d else None
    observe = _str_list(where, "observe", d.get("observe", ["address_spaces"]), OBSERVABLES)
    requires = _str_list(where, "requires", d.get("requires", []), REQUIREMENTS)
    desc = d.get("description", "")
    if not isinstance(desc, str):
        raise _err(where, "field 'description' must be a string")
    nc = None
    if "nonconformance" in d:
        n = d["nonconformance"]
        if not isinstance(n, dict):
            raise _err(where, "field 'nonconformance' must be a table")
        bad = set(n) - _NC_KEYS
        if bad:
            raise _err(where, f"field 'nonconformance': unknown key '{sorted(bad)[0]}'")
        for k in ("reason", "evidence", "fields"):
            if k not in n:
                raise _err(where, f"field 'nonconformance': missing '{k}'")
        if not isinstance(n["reason"], str) or not isinstance(n["evidence"], str):
            raise _err(where, "field 'nonconformance': 'reason' and 'evidence' are strings")
        nc = KnownNonconformance(
            reason=n["reason"], evidence=n["evidence"],
            fields=_str_list(where, "nonconformance.fields", n["fields"]),
            profiles=_str_list(where, "nonconformance.profiles", n.get("profiles", [])),
        )
    extra: dict[str, Any] = {}
    if "guest" in d:  # the guest-driven tier's steps (catalogue.guest_steps)
        try:
            extra["guest"] = parse_steps(where, d["guest"])
        except GuestStepError as e:
            raise ScenarioError(str(e)) from None
    return Scenario(name=name, rows=rows, tiers=tiers, argv=argv, events=events, host=host,
                    observe=observe, requires=requires, description=desc, nonconformance=nc,
                    source=source, extra=extra)


def load_file(path: str | Path) -> list[Scenario]:
    """All scenarios of one TOML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{p}: TOML syntax error: {e}") from None
    unknown = set(doc) - {"scenario"}
    if unknown:
        raise ScenarioError(f"{p}: unknown top-level key '{sorted(unknown)[0]}' "
                            "(a scenario file holds [[scenario]] tables)")
    items = doc.get("scenario", [])
    if not isinstance(items, list):
        raise ScenarioError(f"{p}: 'scenario' must be an array of tables ([[scenario]])")
    out = [parse_scenario(d, source=p.name) for d in items]
    seen: set[str] = set()
    for s in out:
        if s.name in seen:
            raise ScenarioError(f"{p}: scenario '{s.name}': duplicate name")
        seen.add(s.name)
    return out


def default_dir() -> Path:
    """The catalogue shipped with the project (``scenarios/`` beside the packages)."""
    return Path(__file__).resolve().parent.parent / "scenarios"


def load_catalogue(paths: Iterable[str | Path] | None = None) -> list[Scenario]:
    """Every scenario of the given files/folders (default: the shipped catalogue).

    Names must be unique across files, so ``NAME`` alone also selects a scenario.
    """
    files: list[Path] = []
    for p in (paths if paths is not None else [default_dir()]):
        pp = Path(p)
        if pp.is_dir():
            files.extend(sorted(pp.glob("*.toml")))
        elif pp.exists():
            files.append(pp)
        else:
            raise ScenarioError(f"{pp}: no such scenario file or folder")
    out: list[Scenario] = []
    seen: dict[str, str] = {}
    for f in files:
        for s in load_file(f):
            if s.name in seen:
                raise ScenarioError(f"{f.name}: scenario '{s.name}': duplicate name "
                                    f"(also in {seen[s.name]})")
            seen[s.name] = f.name
            out.append(s)
    return out


def resolve_file(path: str) -> Path | None:
    """``path`` as given, else relative to the shipped catalogue (``preconditions.toml``)."""
    for p in (Path(path), default_dir() / path):
        if p.exists():
            return p
    return None


def select(spec: str) -> list[Scenario]:
    """``FILE``, ``FILE:NAME`` or ``NAME`` (searched in the shipped catalogue).

    ``FILE`` is a path, or a file name of the shipped catalogue (``scenarios/``), so
    ``preconditions.toml:p1-accel-on-tcg`` works from any directory.  A file name the
    catalogue no longer has but :data:`catalogue.aliases.OLD_FILES` lists (e.g.
    ``kvm_accel.toml:kvm-accel-p16-cmdqv-on``) selects the scenarios it held.
    """
    path, _, name = spec.partition(":")
    found = resolve_file(path)
    old = OLD_FILES.get(Path(path).name) if found is None else None
    if old is not None:  # a file cut up by catalogue section: its names still select
        if name and name not in old:
            raise ScenarioError(f"{spec}: no scenario named '{name}' (in {path}'s table)")
        wanted = (name,) if name else old
        by_name = {s.name: s for s in load_catalogue()}
        return [by_name[n] for n in wanted]
    if found is not None:
        scenarios = load_catalogue([found])
    elif path.endswith(".toml") or name:
        raise ScenarioError(f"{path}: no such scenario file (looked in . and {default_dir()})")
    else:
        scenarios, name = load_catalogue(), path
    if not name:
        return scenarios
    chosen = [s for s in scenarios if s.name == name]
    if not chosen:
        raise ScenarioError(f"{spec}: no scenario named '{name}'")
    return chosen
