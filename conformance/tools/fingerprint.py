"""Tell which revision of the accelerated-SMMUv3 series a QEMU build carries.

A build tree in the middle of a rebase, a distribution package, a vendor fork: before
judging it against the reference model, you want to know *which* model profile to
judge it against.  The catalogue's §10 ("Series evolution", the fingerprint table)
lists behaviour that tells the revisions apart and that TCG can show, so every probe
here is a cheap real QEMU start on the TCG accelerator (``-M virt`` plus one
``-device arm-smmuv3,...``), observed from outside: did it start, and if not, what did
it print; for some probes one QMP read (``qom-get``, ``info mtree``).

A probe's **observation** is one short string:

``starts``
    QEMU reached QMP (the command line was accepted);
``error: <text>``
    QEMU exited; ``<text>`` is its error line without the program and ``-device ...:``
    location prefixes (so it reads exactly as the catalogue quotes it);
``<property> = <JSON>`` / ``mtree: present|absent`` / ``iort revision = N``
    what the QMP read (or, for the IORT, the ``-qtest`` fw_cfg read) returned, for
    probes that read something after starting.

:data:`PROBES` holds, for each probe, the observation each known profile gives.  A build
*matches* a profile when every probe agrees.  The profile columns are:

``qemu-11.1``
    QEMU 11.1.3 as run (catalogue TCG✔): vEVENTQ, 'auto' properties, Tegra241 CMDQV.
``merged-v9``
    the series as merged into master on 2026-02-02 (v9 = v8): boolean ``ril``/``ats``,
    no ``cmdqv``; from source (``SRC[M]``), not run.
``qemu-10.2``
    the user-creatable SMMUv3 without ``accel``; from source, not run.
``qemu-10.1``
    QEMU 10.1 and older: ``arm-smmuv3`` cannot be created with ``-device`` at all.
    Observed on Debian's QEMU 10.0.2 and 10.0.13.
``qemu-7.2``
    as ``qemu-10.1``; the legacy SMMU's IORT mapping counts 0x100 IDs (Debian 12's 7.2.22).

Every column is a profile of :data:`reference_model.PROFILES`, so the answer can be
passed back with ``--profile`` (``tests/frontends/test_fingerprint.py`` checks it).  A
build that matches none (a patch series between revisions, a fork) gets, per profile,
the list of probes that differ, closest profile first, which is the useful answer for
"what did this series change".
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.errors import HarnessError
from conformance.normalise import strip_prefix
from conformance.observe.iort import IortError, QtestLine, read_iort
from conformance.session import CommandFailed, QmpSession
from conformance.tiers.local import LocalHost

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

PROFILES: tuple[str, ...] = ("qemu-11.1", "merged-v9", "qemu-10.2", "qemu-10.1", "qemu-7.2")
BASE_ARGS = ("-M", "virt", "-accel", "tcg")
SMMU = "arm-smmuv3,primary-bus=pcie.0,id=smmu0"
NOT_CREATABLE = "error: Parameter 'driver' expects a pluggable device type"


#: ≤10.1 and 7.2: every probe that creates arm-smmuv3 is refused
_BEFORE = {"qemu-10.1": NOT_CREATABLE, "qemu-7.2": NOT_CREATABLE}


def _missing(prop: str) -> str:
    return f"error: Property 'arm-smmuv3.{prop}' not found"


@dataclass(frozen=True)
class Probe:
    """One fingerprint probe: a command line, an optional QMP read, expected answers.

    ``options`` is appended to ``-device arm-smmuv3,primary-bus=pcie.0,id=smmu0``
    (``machine`` set: the probe is ``-M <machine>`` alone, for the legacy SMMU);
    ``read`` is ``qom:<property>`` (``qom-get`` on the SMMU) or ``mtree:<text>``
    (whether ``info mtree`` contains ``<text>``), done only if QEMU starts.
    ``expect`` maps each profile of :data:`PROFILES` to its observation; ``cite`` is
    the catalogue row it comes from.
    """

    name: str
    options: str
    expect: dict[str, str]
    cite: str
    read: str | None = None
    machine: str | None = None

    def argv(self) -> list[str]:
        if self.machine is not None:
            return ["-M", self.machine, *BASE_ARGS[2:]]
        return [*BASE_ARGS, "-device", SMMU + self.options]


#: The §10 fingerprint table, as data.  Columns not run here (merged-v9, qemu-10.2) are
#: the catalogue's source-derived predictions.
PROBES: tuple[Probe, ...] = (
    Probe("user-creatable", "", cite="§10 row 1 (10.2: user-creatable SMMUv3)", expect={
        "qemu-11.1": "starts", "merged-v9": "starts", "qemu-10.2": "starts",
        **_BEFORE}),
    Probe("accel-on-tcg", ",accel=on", cite="§10 row 2, P1 (v6: KVM/irqchip check)", expect={
        "qemu-11.1": "error: SMMUv3 accel=on requires KVM with kernel-irqchip=on support",
        "merged-v9": "error: SMMUv3 accel=on requires KVM with kernel-irqchip=on support",
        "qemu-10.2": _missing("accel"), **_BEFORE}),
    Probe("oas-48", ",oas=48", cite="§10 row 3, §2a oas", expect={
        "qemu-11.1": "error: oas must be 44 bits when accel=off",
        "merged-v9": "error: OAS must be 44 bits when accel=off",
        "qemu-10.2": _missing("oas"), **_BEFORE}),
    Probe("ssidsize-8", ",ssidsize=8", cite="§10 row 4, §2a ssidsize", expect={
        "qemu-11.1": "error: ssidsize can only be greater than 0 bits if accel=on",
        "merged-v9": "error: ssidsize can only be set if accel=on",
        "qemu-10.2": _missing("ssidsize"), **_BEFORE}),
    Probe("ril-auto", ",ril=auto", cite="§10 row 5 ('auto' series: ril is OnOffAuto)",
          expect={"qemu-11.1": "starts",
                  "merged-v9": "error: Parameter 'ril' expects 'on' or 'off'",
                  "qemu-10.2": _missing("ril"), **_BEFORE}),
    Probe("ats-default", "", read="qom:ats", cite="§10 row 5, §2a ats default", expect={
        "qemu-11.1": 'ats = "auto"', "merged-v9": "ats = false",
        "qemu-10.2": "ats: error: Property 'ats' not found", **_BEFORE}),
    Probe("cmdqv-off", ",cmdqv=off", cite="§10 row 6, §7b (Tegra241 CMDQV series)", expect={
        "qemu-11.1": "starts", "merged-v9": _missing("cmdqv"),
        "qemu-10.2": _missing("cmdqv"), **_BEFORE}),
    Probe("identifier-1", ",identifier=1", cite="§10 row 6 (CMDQV v2: identifier)", expect={
        "qemu-11.1": "starts", "merged-v9": _missing("identifier"),
        "qemu-10.2": _missing("identifier"), **_BEFORE}),
    Probe("iort-revision", "", read="iort:revision",
          cite="§10 row 7, §8 O1 (commit 06c0c8fde7: IORT rev 3 -> 5 with the RMR nodes)",
          expect={"qemu-11.1": "iort revision = 5", "merged-v9": "iort revision = 5",
                  "qemu-10.2": "iort revision = 3", **_BEFORE}),
    Probe("smmu-memory-view", "", read="mtree:address-space: smmu-memory-view",
          cite="§10 row 8 (commit 53b54a8252, 2026-01-15)", expect={
              "qemu-11.1": "mtree: present", "merged-v9": "mtree: present",
              "qemu-10.2": "mtree: absent", **_BEFORE}),
    Probe("legacy-iort-count", "", machine="virt,iommu=smmuv3", read="iort:smmu_map_count",
          cite="§10 (releases), §8 O4: the RC's ID mapping to the legacy SMMU (run on 7.2.22,"
               " 10.0.x, 11.1.3; 10.2 and merged-v9 from 10.0.x/11.1.3)", expect={
              "qemu-11.1": "iort smmu_map_count = 255", "merged-v9": "iort smmu_map_count = 255",
              "qemu-10.2": "iort smmu_map_count = 255", "qemu-10.1": "iort smmu_map_count = 255",
              "qemu-7.2": "iort smmu_map_count = 256"}),
)

#: the ``-device ...:`` location QEMU puts after its program name (which
#: normalise.strip_prefix removes, as for every observation)
_LOCATION_RE = re.compile(r"^-device \S+?: ")


def error_text(stderr: str) -> str:
    """QEMU's error line without program and option-location prefixes.

    The last stderr line that is not a warning wins (QEMU prints the fatal error last).
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "warning:" not in ln]
    line = (errors or lines or ["(no stderr)"])[-1]
    return _LOCATION_RE.sub("", strip_prefix(line), count=1)


@dataclass
class ProbeResult:
    """What one probe observed, with the evidence behind it."""

    name: str
    observed: str
    argv: list[str]
    stderr: str = ""
    duration_s: float = 0.0


@dataclass
class Fingerprint:
    """All probe results of one binary and how they compare with each profile."""

    qemu: str
    version: str
    results: list[ProbeResult]
    #: profile -> names of the probes whose observation differs from that profile's
    mismatches: dict[str, list[str]] = field(default_factory=dict)

    @property
    def matches(self) -> list[str]:
        return [p for p in PROFILES if not self.mismatches.get(p)]

    @property
    def closest(self) -> list[str]:
        """Profiles ordered by number of differing probes (ties keep table order)."""
        return sorted(PROFILES, key=lambda p: len(self.mismatches.get(p, [])))

    def observed(self, probe: str) -> str:
        return next(r.observed for r in self.results if r.name == probe)

    def verdict_line(self) -> str:
        if self.matches:
            return f"matches: {', '.join(self.matches)}"
        best = self.closest[0]
        return (f"matches no known profile; closest: {best} (differs on: "
                f"{', '.join(self.mismatches[best])})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "qemu": self.qemu, "version": self.version, "matches": self.matches,
            "probes": [{"name": r.name, "observed": r.observed, "argv": r.argv,
                        "expected": probe_by_name(r.name).expect} for r in self.results],
            "mismatches": self.mismatches,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def probe_by_name(name: str) -> Probe:
    for p in PROBES:
        if p.name == name:
            return p
    raise KeyError(name)


def compare(results: Sequence[ProbeResult]) -> dict[str, list[str]]:
    """Per profile, the probes whose observation differs from what the profile gives."""
    return {prof: [r.name for r in results if probe_by_name(r.name).expect[prof] != r.observed]
            for prof in PROFILES}


async def _read(session: QmpSession, what: str, proc: Any = None) -> str:
    kind, _, arg = what.partition(":")
    if kind == "iort":  # the ACPI IORT through -qtest and fw_cfg (conformance.observe.iort)
        try:
            t = await read_iort(QtestLine(await proc.qtest_connection()))
        except IortError as e:
            return f"iort: error: {e}"
        if arg == "smmu_map_count":  # "number of IDs" of the RC mapping to an SMMU
            counts = [m["count"] for m in t.rc_id_mappings if m["target"] != "its"]
            return f"iort {arg} = {counts[0] if counts else 'none'}"
        return f"iort {arg} = {getattr(t, arg)}"
    if kind == "qom":
        try:
            value = await session.command("qom-get", {"path": "/machine/peripheral/smmu0",
                                                      "property": arg})
        except CommandFailed as e:
            return f"{arg}: error: {e.desc}"
        return f"{arg} = {json.dumps(value)}"
    if kind == "mtree":
        tree = await session.hmp("info mtree")
        return f"mtree: {'present' if arg in tree else 'absent'}"
    raise ValueError(f"unknown probe read '{what}'")


async def run_probe(host: LocalHost, probe: Probe, startup_timeout: float = 30.0) -> ProbeResult:
    """Start QEMU for one probe and reduce what happened to one observation string.

    Raises :class:`~conformance.errors.HarnessError` when QEMU could not be observed
    (a hang, a lost socket); QEMU is terminated and its temporary folder removed in
    every case.
    """
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    qtest = bool(probe.read and probe.read.startswith("iort:"))
    proc = await host.start(probe.argv(), qtest=qtest)
    session = QmpSession(proc, startup_timeout=startup_timeout)
    try:
        status = await session.open()
        if status is not None:
            observed = f"error: {error_text(proc.stderr_text())}"
        else:
            observed = await _read(session, probe.read, proc) if probe.read else "starts"
            await session.quit()
    finally:
        await session.close()
        await proc.terminate()
    logger.debug("probe %s: %s", probe.name, observed)
    return ProbeResult(probe.name, observed, list(proc.argv), proc.stderr_text(),
                       round(loop.time() - t0, 3))


async def fingerprint(binary: str, version: str = "", jobs: int = 2,
                      probes: Sequence[Probe] = PROBES) -> Fingerprint:
    """Run every probe (``jobs`` at a time) against ``binary`` and compare."""
    host = LocalHost(binary, tier="tcg", accel_args=())
    sem = asyncio.Semaphore(max(1, jobs))

    async def one(p: Probe) -> ProbeResult:
        async with sem:
            return await run_probe(host, p)

    # Let every probe finish (each cleans up its QEMU) before reporting a failure.
    outcomes = await asyncio.gather(*(one(p) for p in probes), return_exceptions=True)
    for o in outcomes:
        if isinstance(o, BaseException):
            raise o
    results = [o for o in outcomes if isinstance(o, ProbeResult)]
    return Fingerprint(qemu=binary, version=version, results=results,
                       mismatches=compare(results))


__all__ = ["PROBES", "PROFILES", "Fingerprint", "HarnessError", "Probe", "ProbeResult",
           "compare", "error_text", "fingerprint", "run_probe"]
