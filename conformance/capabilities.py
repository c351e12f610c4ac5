"""Ask the binary under test what it can do, once per binary and tier.

Before running scenarios the harness starts the binary once with ``-M none`` and asks,
in one QMP session: ``query-version``, ``query-target``, ``query-accelerators``,
``query-machines``, ``qom-list-types`` (with abstract types, so the model gets the whole
type hierarchy) and ``device-list-properties`` for ``arm-smmuv3``.  The answers:

* feed the reference model (:meth:`Capabilities.qom_types` ->
  ``TypeHierarchy.from_qom_list_types``);
* decide skips: a scenario naming a device type, machine type or ``arm-smmuv3``
  property that this build lacks is skipped with that reason
  (:meth:`Capabilities.missing_for`), so an older build or a trimmed build tree is
  judged only on what it can run;
* reject a binary for the wrong target (``query-target`` must say ``aarch64``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue.vocabulary import SMMU_TYPE
from conformance.errors import BinaryError, HarnessError, QemuDied, QmpStartupFailed, QmpTimeout
from conformance.session import STARTUP_TIMEOUT, CommandFailed, QmpSession
from conformance.tiers.host import QemuHost, QemuProcess

_PROBE_ARGV = ["-M", "none"]


@dataclass
class Capabilities:
    version: dict[str, Any]
    arch: str
    accelerators: list[str]
    machines: set[str]
    types: list[dict[str, Any]]
    smmu_properties: list[dict[str, Any]] = field(default_factory=list)
    types_source: str = "qom-list-types"
    #: trace events named ``smmu*`` this build has (``trace-event-get-state``); None: unknown
    trace_events: set[str] | None = None

    @property
    def version_text(self) -> str:
        q = self.version.get("qemu", {})
        pkg = str(self.version.get("package", "")).strip()
        return f"{q.get('major')}.{q.get('minor')}.{q.get('micro')}" + (f" ({pkg})" if pkg else "")

    @property
    def type_names(self) -> set[str]:
        return {t["name"] for t in self.types}

    @property
    def smmu_property_names(self) -> set[str]:
        return {p["name"] for p in self.smmu_properties}

    def qom_types(self) -> list[dict[str, Any]]:
        """The raw ``qom-list-types`` answer (for ``TypeHierarchy.from_qom_list_types``)."""
        return self.types

    def missing_for(self, argv: Iterable[str], event_drivers: Iterable[str] = ()) -> str | None:
        """Why this build cannot run a command line (``None`` if it can)."""
        drivers, machines, smmu_keys = scan_argv(argv)
        names = self.type_names
        for d in [*drivers, *event_drivers]:
            if d not in names:
                return f"this build has no device type '{d}'"
        for m in machines:
            if m not in self.machines:
                return f"this build has no machine type '{m}'"
        if self.smmu_properties:
            have = self.smmu_property_names
            for k in smmu_keys:
                if k not in have:
                    return f"this build's {SMMU_TYPE} has no property '{k}'"
        return None

    def missing_trace_events(self, events: Iterable[str]) -> str | None:
        """Why a scenario tracing ``events`` cannot run here (e.g. 7.2 has no
        ``smmu_reset_exit``), or None."""
        if self.trace_events is None:
            return None
        gone = [e for e in events if e not in self.trace_events]
        return f"this build has no trace event '{gone[0]}'" if gone else None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "arch": self.arch,
                "accelerators": self.accelerators, "machines": sorted(self.machines),
                "types": len(self.types), "types_source": self.types_source,
                "smmu_properties": sorted(self.smmu_property_names)}


_OPT_SPLIT = re.compile(r"(?<!,),(?!,)")


def scan_argv(argv: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """``-device`` drivers, ``-M``/``-machine`` types, and keys given to ``arm-smmuv3``."""
    drivers: list[str] = []
    machines: list[str] = []
    smmu_keys: list[str] = []
    it = iter(argv)
    for a in it:
        if a in ("-device", "--device"):
            parts = _OPT_SPLIT.split(next(it, ""))
            first = parts[0]
            if first.startswith("driver="):
                first = first[len("driver="):]
            if "=" not in first and first != "help":
                drivers.append(first)
                if first == SMMU_TYPE:
                    smmu_keys += [p.split("=", 1)[0] for p in parts[1:] if "=" in p]
        elif a in ("-M", "-machine", "--machine"):
            parts = _OPT_SPLIT.split(next(it, ""))
            first = parts[0]
            if first.startswith("type="):
                first = first[len("type="):]
            if "=" not in first and first not in ("help", "?", ""):
                machines.append(first)
        elif a == "-global":
            g = next(it, "")
            if g.startswith(SMMU_TYPE + "."):
                smmu_keys.append(g[len(SMMU_TYPE) + 1:].split("=", 1)[0])
    return drivers, machines, [k for k in smmu_keys if k not in ("id", "bus", "driver")]


_cache: dict[tuple[str, str], Capabilities] = {}
#: recorded ``qom-list-types`` answers shipped with the model, by QEMU version
RECORDED_TYPES = Path(__file__).resolve().parent.parent / "reference_model" / "data"


def recorded_types(version: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The model's recorded type list for this exact QEMU version, if it ships one."""
    q = version.get("qemu", {})
    f = RECORDED_TYPES / f"qom-types-{q.get('major')}.{q.get('minor')}.{q.get('micro')}.json"
    try:
        doc = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    types = doc.get("types") if isinstance(doc, dict) else doc
    return list(types) if isinstance(types, list) else None


async def _session(host: QemuHost, key: str, timeout: float = STARTUP_TIMEOUT
                   ) -> tuple[QemuProcess, QmpSession]:
    proc = await host.start([*_PROBE_ARGV, *host.tier_args()])
    session = QmpSession(proc, startup_timeout=timeout)
    try:
        status = await session.open()
    except BaseException:
        await proc.terminate()
        raise
    if status is not None:
        tail = proc.stderr_text().strip().splitlines()[-1:] or ["(no stderr)"]
        await proc.terminate()
        raise BinaryError(f"{key}: capability probe '-M none' exited "
                          f"({status.describe()}): {tail[0]}")
    return proc, session


async def _list_types(host: QemuHost, key: str, timeout: float = STARTUP_TIMEOUT
                      ) -> tuple[list[dict[str, Any]] | None, str]:
    """``qom-list-types`` in its own QEMU: it loads every module and may abort.

    On a machine where another QEMU's modules sit in the compiled-in module directory
    (Debian's own ``qemu-system-gui``/``qemu-block-extra``), loading the foreign module
    is refused and the *next* load trips ``assert(QTAILQ_EMPTY(&dso_init_list))`` in
    ``util/module.c``; see docs/findings.md.  Then the answer is ``None`` and why.
    """
    proc, session = await _session(host, key, timeout)
    try:
        types = await session.command("qom-list-types", {"abstract": True})
        await session.quit()
        return list(types), "qom-list-types"
    except QemuDied:
        tail = proc.stderr_text().strip().splitlines()[-1:] or ["(no stderr)"]
        return None, f"qom-list-types aborted QEMU: {tail[0]}"
    finally:
        await session.close()
        await proc.terminate()


#: failed probes by (tier, binary): a build that hangs or dies before QMP is probed once
#: (not once per scenario, serialised, each waiting for the startup timeout)
_failed: dict[tuple[str, str], HarnessError] = {}
#: failures that are the binary's, not the host's (a full temp folder is not remembered)
REMEMBERED_FAILURES = (BinaryError, QemuDied, QmpTimeout, QmpStartupFailed)


async def probe(host: QemuHost, key: str, timeout: float = STARTUP_TIMEOUT) -> Capabilities:
    """Probe (or return the cached probe of) the binary ``key`` on ``host``.

    A failure the binary caused is remembered and raised again at once; ``timeout``
    bounds the wait for QMP (the run's ``--timeout``)."""
    ck = (host.tier, key)
    if ck in _failed:
        raise _failed[ck]
    try:
        return await _probe(host, key, timeout)
    except REMEMBERED_FAILURES as e:
        _failed[ck] = e
        raise


async def _probe(host: QemuHost, key: str, timeout: float) -> Capabilities:
    ck = (host.tier, key)
    if ck in _cache:
        return _cache[ck]
    proc, session = await _session(host, key, timeout)
    try:
        version = await session.command("query-version")
        arch = (await session.command("query-target"))["arch"]
        if arch != "aarch64":
            raise BinaryError(f"{key}: this QEMU emulates '{arch}', not aarch64 "
                              "(use a qemu-system-aarch64 binary)")
        try:
            acc = await session.command("query-accelerators")
            accelerators = list(acc.get("present", []))
        except CommandFailed:
            kvm = await session.command("query-kvm")
            accelerators = ["tcg"] + (["kvm"] if kvm.get("present") else [])
        machines: set[str] = set()
        for m in await session.command("query-machines"):
            machines.add(m["name"])
            if m.get("alias"):
                machines.add(m["alias"])
        try:
            props = await session.command("device-list-properties", {"typename": SMMU_TYPE})
        except CommandFailed:
            props = []
        try:
            states = await session.command("trace-event-get-state", {"name": "smmu*"})
            trace_events: set[str] | None = {str(t["name"]) for t in states}
        except CommandFailed:
            trace_events = None
        await session.quit()
    finally:
        await session.close()
        await proc.terminate()
    types, source = await _list_types(host, key, timeout)
    if types is None:
        recorded = recorded_types(version)
        if recorded is None:
            raise BinaryError(f"{key}: cannot learn the QOM type hierarchy ({source}) and "
                              "no recorded list matches this version")
        types, source = recorded, f"recorded list for this version ({source})"
    caps = Capabilities(version=version, arch=arch, accelerators=accelerators,
                        machines=machines, types=types, smmu_properties=list(props),
                        types_source=source, trace_events=trace_events)
    _cache[ck] = caps
    return caps
