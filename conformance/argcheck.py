"""What a scenario may put on QEMU's command line: checked when it is loaded.

A scenario is data: a command line and QMP events the harness runs under its own
control.  Three kinds of argument would make a verdict lie, so they are caught before
any QEMU starts (:func:`check_scenario`, one-line :class:`ScenarioError`, exit 2):

* **harness-owned options** (:data:`HARNESS_OWNED`): the harness already passes them
  (``-qmp``, ``-qtest``, ``-D``...) or needs the process to stay its child
  (``-daemonize``: a daemonized QEMU forks away, outlives the run and leaks);
* **host paths** (the trust model, docs/reliability.md): an option that makes QEMU
  read, write or delete a host file (``-serial file:``, ``-device loader,file=``,
  ``-readconfig``...) is refused unless ``--allow-host-paths`` is given;
* **malformed events**: ``device_add`` argument values must be QMP scalars (string,
  integer, boolean), not TOML arrays/tables the model would print as a Python repr.

Options the model does not cover (:func:`not_covered`: ``-display gtk``,
``-readconfig``, positional disk images, a chardev that waits for a client) are not
errors: such a scenario gets the status ``not-covered``, never a nonconformance.

Device driver names are checked against the newest recorded type list (the provisioned
11.1.3's ``qom-list-types``): a name no recorded build has is a typo, an authoring error
(:func:`check_drivers`), not a capability skip.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from catalogue.scenario import Scenario, ScenarioError
from conformance.capabilities import scan_argv
from conformance.observe.guest import OBSERVATION_ROOTS
from reference_model.profiles import PROFILES

#: option -> why the harness owns it (a scenario may not pass it)
HARNESS_OWNED: dict[str, str] = {
    "-qmp": "the harness talks to QEMU over its own QMP socket",
    "-qmp-pretty": "the harness talks to QEMU over its own QMP socket",
    "-monitor": "the harness owns QEMU's monitor",
    "-mon": "the harness owns QEMU's monitor",
    "-qtest": "the harness owns qtest (it reads the IORT over it)",
    "-qtest-log": "the harness owns qtest (it reads the IORT over it)",
    "-D": "the harness owns the log file (trace observations are read from it)",
    "-trace": "the harness chooses the trace events and their log file",
    "-daemonize": "a daemonized QEMU forks away from the harness and outlives the run",
    "-pidfile": "the harness tracks the QEMU process itself",
    "-runas": "QEMU must keep the harness's user to be observed and reaped",
    "-chroot": "QEMU must keep the harness's root to reach its sockets",
    "-run-with": "QEMU must keep the harness's user and root",
    "-S": "the harness already starts QEMU paused (-S)",
}

#: options QEMU takes without an argument (everything else starting with '-' takes one)
NO_ARGUMENT = frozenset({
    "-S", "-nodefaults", "-daemonize", "-nographic", "-only-migratable", "-no-reboot",
    "-no-shutdown", "-snapshot", "-enable-kvm", "-no-user-config", "-full-screen",
    "-version", "-h", "-help", "-s", "-preconfig", "-semihosting", "-win2k-hack",
    "-no-hpet", "-no-acpi", "-old-param", "-enable-fips", "-nouserconfig",
})

#: option -> why the model does not cover it (status not-covered); None: see value
UNMODELLED: dict[str, str] = {
    "-nographic": "-nographic redirects serial and monitor to stdio",
    "-readconfig": "-readconfig reads options from a file the model does not see",
    "-incoming": "-incoming waits for a migration stream",
    "-loadvm": "-loadvm restores a snapshot",
    "-vnc": "display options (-vnc) are outside the model",
    "-spice": "display options (-spice) are outside the model",
    "-hda": "disk images are outside the model", "-hdb": "disk images are outside the model",
    "-cdrom": "disk images are outside the model", "-drive": "drives are outside the model",
}

#: option whose argument is a host path
PATH_OPTIONS = frozenset({"-readconfig", "-bios", "-kernel", "-initrd", "-dtb", "-L",
                          "-pflash", "-mtdblock", "-sd", "-hda", "-hdb", "-hdc", "-hdd",
                          "-cdrom", "-fda", "-fdb", "-writeconfig", "-loadvm"})
#: key=value keys that name a host path in -device/-object/-chardev/-drive/-blockdev...
PATH_KEYS = frozenset({"file", "path", "filename", "mem-path", "romfile", "logfile",
                       "sysfsdev", "script", "downscript", "fd"})
#: chardev backends (-serial/-parallel/-chardev) that are host paths: file:X, pipe:X...
PATH_BACKENDS = ("file:", "pipe:", "unix:", "/dev/")
#: what a scenario may always name: nothing is read or written
SAFE_PATHS = frozenset({"", "/dev/null"})

_SPLIT = re.compile(r"(?<!,),(?!,)")


def _option(a: str) -> str:
    return "-" + a.lstrip("-") if a.startswith("-") and a != "-" else a


def options(argv: Iterable[str]) -> Iterator[tuple[str | None, str | None]]:
    """``(option, argument)`` pairs; ``(None, word)`` for a positional argument."""
    it = iter(argv)
    for a in it:
        if a.startswith("-") and a != "-":
            opt = _option(a)
            yield opt, (None if opt in NO_ARGUMENT else next(it, None))
        else:
            yield None, a


def _kv(arg: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in _SPLIT.split(arg):
        k, sep, v = part.partition("=")
        if sep:
            out[k] = v
    return out


def host_paths(argv: Iterable[str]) -> list[tuple[str, str]]:
    """``(option, path)`` for every host path the command line names."""
    found: list[tuple[str, str]] = []
    for opt, arg in options(argv):
        if opt is None or arg is None:
            continue
        if opt in PATH_OPTIONS:
            found.append((opt, arg))
            continue
        if opt in ("-serial", "-parallel", "-monitor", "-debugcon", "-qmp"):
            if arg.startswith(PATH_BACKENDS):
                found.append((opt, arg.split(":", 1)[1] if ":" in arg else arg))
            continue
        for k, v in _kv(arg).items():
            if k in PATH_KEYS and not (k == "fd" and v.isdigit()):
                found.append((f"{opt} {k}=", v))
    return [(o, p) for o, p in found if p not in SAFE_PATHS]


def check_argv(argv: Iterable[str], where: str, allow_host_paths: bool = False) -> None:
    """Refuse harness-owned options and (unless allowed) host paths, naming ``where``."""
    argv = list(argv)
    for opt, _ in options(argv):
        if opt in HARNESS_OWNED:
            raise ScenarioError(f"{where}: option {opt} is not allowed in a scenario "
                                f"({HARNESS_OWNED[opt]})")
    if not allow_host_paths:
        for opt, path in host_paths(argv):
            raise ScenarioError(
                f"{where}: {opt} names the host path '{path}': scenario files may not "
                "read or write host files (trust model, docs/reliability.md); pass "
                "--allow-host-paths to allow it")


def check_events(s: Scenario, where: str) -> None:
    for i, ev in enumerate(s.events):
        for k, v in ev.arguments.items():
            if not isinstance(v, (str, int, bool)):
                raise ScenarioError(
                    f"{where}: events[{i}]: {ev.op} argument '{k}' must be a string, "
                    f"integer or boolean, not {type(v).__name__} {v!r}")


#: what a known nonconformance's ``fields`` may name (roots of the prediction's paths)
PREDICTION_FIELDS = frozenset({"outcome", "exit_code", "error", "warnings", "devices",
                               "smmus", "events", "iort", "trace"})
#: ... and of a guest scenario's (the guest tier observes the guest, not the start-up)
GUEST_ROOTS = OBSERVATION_ROOTS
_FIELD_RE = re.compile(r"^([a-z_]+)(\[(\d+)\])?(\..+)?$")


def check_known_nonconformance(s: Scenario, where: str) -> None:
    """``nonconformance.fields`` name prediction paths, ``profiles`` real profiles."""
    nc = s.nonconformance
    if nc is None:
        return
    roots = GUEST_ROOTS if "guest" in s.extra else PREDICTION_FIELDS
    for f in nc.fields:
        m = _FIELD_RE.match(f)
        if m is None or m[1] not in roots:
            raise ScenarioError(f"{where}: nonconformance.fields: '{f}' is not a path of the "
                                f"prediction (roots: {', '.join(sorted(roots))})")
        if m[1] == "events" and m[3] is not None and int(m[3]) >= len(s.events):
            raise ScenarioError(f"{where}: nonconformance.fields: '{f}': the scenario has "
                                f"{len(s.events)} event(s)")

    for p in nc.profiles:
        if p not in PROFILES:
            raise ScenarioError(f"{where}: nonconformance.profiles: unknown profile '{p}' "
                                f"(known: {', '.join(PROFILES)})")


def check_scenario(s: Scenario, allow_host_paths: bool = False) -> None:
    where = f"{s.source}: scenario '{s.name}'" if s.source else f"scenario '{s.name}'"
    check_argv(s.argv, where, allow_host_paths)
    check_events(s, where)
    check_known_nonconformance(s, where)


def not_covered(argv: Iterable[str]) -> str | None:
    """Why the model cannot predict this command line (``None``: it can)."""
    for opt, arg in options(argv):
        if opt is None:
            return f"positional argument '{arg}' (a disk image) is outside the model"
        if opt in UNMODELLED:
            return UNMODELLED[opt]
        if opt == "-display" and arg is not None and arg.split(",")[0] != "none":
            return f"-display {arg.split(',')[0]} is outside the model"
        if opt in ("-chardev", "-serial", "-parallel", "-monitor") and arg is not None:
            kv = _kv(arg)
            server = kv.get("server", "off") in ("on", "yes", "true") or ",server" in arg
            wait = kv.get("wait", "on") in ("on", "yes", "true") and ",nowait" not in arg
            if server and wait:
                return (f"{opt} {arg}: a server chardev that waits for a client "
                        "(wait=on) blocks QEMU's start")
    return None


# ------------------------------------------------------------------- driver names
RECORDED = Path(__file__).resolve().parent.parent / "reference_model" / "data"


@functools.cache
def recorded_type_names() -> frozenset[str]:
    """Every type name of every recorded ``qom-list-types`` answer."""
    names: set[str] = set()
    for f in sorted(RECORDED.glob("qom-types-*.json")):
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        types = doc.get("types") if isinstance(doc, dict) else doc
        names.update(t["name"] for t in types or () if isinstance(t, dict) and "name" in t)
    return frozenset(names)


def check_drivers(s: Scenario) -> None:
    """A driver no recorded build has is a typo: an authoring error, not a skip."""

    known = recorded_type_names()
    if not known:
        return
    drivers, _, _ = scan_argv(s.argv)
    drivers += [str(e.arguments["driver"]) for e in s.events if e.op == "device_add"]
    for d in drivers:
        if d not in known:
            near = difflib.get_close_matches(d, known, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            where = f"{s.source}: scenario '{s.name}'" if s.source else f"scenario '{s.name}'"
            raise ScenarioError(f"{where}: unknown device type '{d}' (no recorded QEMU "
                                f"build has it{hint})")


#: arm-smmuv3 properties of the newest build the suite knows (device-list-properties on
#: the provisioned 11.1.3): one missing from an older build is a capability gap (skip);
#: one missing from this list too does not exist, and QEMU's "Property ... not found"
#: is predicted like any other error
NEWEST_SMMU_PROPERTIES = frozenset({
    "accel", "ats", "bus_num", "cmdqv", "identifier", "memory", "msi-gpa", "oas",
    "primary-bus", "ril", "secure-memory", "smmu_per_bus", "ssidsize", "stage"})


def is_capability_gap(reason: str) -> bool:
    """Whether a :meth:`Capabilities.missing_for` reason is a real gap of this build."""
    m = re.search(r"has no property '([^']+)'", reason)
    if m:
        return m[1] in NEWEST_SMMU_PROPERTIES
    m = re.search(r"has no device type '([^']+)'", reason)
    if m and recorded_type_names():
        return m[1] in recorded_type_names()
    return True


def validate(scenarios: list[Scenario], allow_host_paths: bool = False,
             adhoc: bool = False) -> list[Scenario]:
    """Check every scenario; drop repeats of the same scenario (same file and name)."""
    out: list[Scenario] = []
    seen: set[str] = set()
    for s in scenarios:
        ref = f"{s.source}:{s.name}"
        if ref in seen:
            continue
        seen.add(ref)
        check_scenario(s, allow_host_paths)
        if not adhoc:
            check_drivers(s)
        out.append(s)
    return out
