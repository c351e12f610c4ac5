"""pytest plugin: the scenario catalogue as tests, one per scenario and tier.

Registered through the ``pytest11`` entry point, so any pytest run in an environment
where the package is installed can use it; ``tests/conformance/`` holds the test that
asks for the ``conformance_case`` parameter.  Options:

``--qemu PATH``            binary under test (else ``$QEMU_TEST_QEMU_BINARY``, else the
                           provisioned 11.1.3)
``--tier NAME``            tier to run (repeatable; default ``tcg``)
``--profile NAME``         model profile (default ``qemu-11.1``; ``auto``: the profile
                           the build's fingerprint names)
``--scenario-file PATH``   scenario file or folder (repeatable; default the catalogue)
``--conformance-log-dir``  per-test logs (default ``logs/conformance``)
``--conformance-summary``  write ``{"executed": N, ...}`` JSON here at the end (CI uses
                           it to fail a run where no conformance test executed)
``--conformance-results``  write the evidence per verdict (rules fired, rows, QEMU
                           build) here, for ``python -m conformance coverage``

Test ids read ``test_conformance[tcg-p1-accel-on-tcg]``; each test carries the tier's
marker (``-m tcg``) and ``conformance``.  Verdicts map to pytest outcomes: ``pass`` passes,
``skipped`` skips with the reason, ``expected-nonconformance`` is an xfail naming the QEMU
bug, ``unexpected-pass``/``nonconformance``/``infra-error`` fail with the readable
report (differences, argv, stderr tail, QMP transcript) and the log folder.

SIGTERM (a CI job's timeout, ``kill``) is handled like Ctrl-C when nothing else has
claimed it: pytest stops with its KeyboardInterrupt report and every clean-up runs
(QEMU terminated, the run's folder with its QMP socket removed).  Python's default for
SIGTERM is to die on the spot, which would leave the folder behind for the next run's
stale sweep.
"""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from catalogue.scenario import Scenario, ScenarioError, load_catalogue
from conformance.argcheck import validate
from conformance.crossrelease import auto_profile
from conformance.errors import BinaryError
from conformance.frontends import pytest_evidence as evidence
from conformance.frontends.report_text import details
from conformance.frontends.shard_pytest import (  # noqa: F401  (--shard: hooks found by name)
    pytest_collection_modifyitems,
    pytest_sessionstart,
)
from conformance.preflight import PreflightError, check_profile
from conformance.result import STATUS, Verdict
from conformance.runner import Runner, RunOptions
from conformance.select import DEFAULT_PROFILE
from conformance.tiers import DEFAULT_TIERS, TIER_HOSTS, host_for
from conformance.tiers.host import QemuHost
from conformance.tools.qemu_binary import choose


@dataclass(frozen=True)
class ConformanceCase:
    scenario: Scenario
    tier: str

    @property
    def id(self) -> str:
        return f"{self.tier}-{self.scenario.name}"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("conformance", "accel SMMUv3 conformance")
    g.addoption("--qemu", metavar="PATH", default=None, help="QEMU binary under test")
    g.addoption("--tier", action="append", choices=sorted(TIER_HOSTS), default=None,
                help="tier(s) to run conformance scenarios on (default: tcg)")
    g.addoption("--profile", default=DEFAULT_PROFILE, help="reference model profile")
    g.addoption("--scenario-file", action="append", default=None, metavar="PATH",
                help="scenario file/folder (default: the shipped catalogue)")
    g.addoption("--conformance-log-dir", default="logs/conformance", metavar="DIR",
                help="per-test log folder root")
    g.addoption("--conformance-summary", default=None, metavar="FILE",
                help="write a JSON summary (executed/passed/failed counts) here")
    g.addoption("--shard", default=None, metavar="K/N",
                help="run only shard K of N of the collected tests (conformance/shard.py)")
    g.addoption("--shard-durations", action="append", default=None, metavar="FILE",
                help="JUnit XML or verdicts.json of an earlier run, to balance --shard")
    g.addoption("--conformance-results", default=None, metavar="FILE",
                help="write per-verdict evidence (rules, rows, QEMU build) for `coverage`")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATS] = {"executed": 0, "skipped": 0, "statuses": {}}
    for tier in TIER_HOSTS:  # one marker per registered tier (--strict-markers knows them)
        config.addinivalue_line("markers", f"{tier}: conformance scenario on the {tier} tier")
    config.addinivalue_line("markers", "conformance: runs real QEMU")
    _CONFIG.append(config)
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        config.add_cleanup(_restore_sigterm)


def _restore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


_STATS = pytest.StashKey[dict[str, Any]]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_case" not in metafunc.fixturenames:
        return
    cfg = metafunc.config
    try:
        scenarios = load_catalogue(cfg.getoption("scenario_file"))
        scenarios = validate(scenarios)  # owned options, host paths, typos: usage errors
        check_profile(cfg.getoption("profile"), allow_auto=True)
    except ScenarioError as e:
        raise pytest.UsageError(str(e)) from None
    except PreflightError as e:  # a typo in --profile would fail every test
        raise pytest.UsageError(str(e)) from None
    tiers = cfg.getoption("tier") or list(DEFAULT_TIERS)
    params = []
    for tier in tiers:
        for s in scenarios:
            c = ConformanceCase(s, tier)
            params.append(pytest.param(c, id=c.id, marks=[getattr(pytest.mark, tier),
                                                          pytest.mark.conformance]))
    metafunc.parametrize("conformance_case", params)


class ConformanceSession:
    """One runner per tier for the whole pytest session (capabilities probed once)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._runners: dict[str, Runner] = {}
        self._hosts: list[QemuHost] = []
        self.binary_error: str | None = None
        try:
            self.binary = choose(config.getoption("qemu")).path
        except BinaryError as e:
            self.binary, self.binary_error = "", str(e)
        root = Path(config.getoption("conformance_log_dir"))
        if not root.is_absolute():
            root = Path(str(config.rootpath)) / root
        profile = config.getoption("profile")
        if profile == "auto" and not self.binary_error:  # the build's fingerprint names it
            profile = auto_profile(choose(config.getoption("qemu")))
        self.options = RunOptions(profile=profile, log_root=root)

    def runner(self, tier: str) -> Runner:
        if tier not in self._runners:
            host = host_for(tier, self.binary)
            self._hosts.append(host)
            self._runners[tier] = Runner(host, self.binary, self.options)
        return self._runners[tier]

    async def run(self, case: ConformanceCase) -> Verdict:
        if self.binary_error:
            pytest.fail(f"QEMU binary: {self.binary_error}", pytrace=False)
        v = await self.runner(case.tier).run(case.scenario)
        evidence.remember(self, case.id, v)
        return v

    def check(self, v: Verdict) -> None:
        """Turn a verdict into the pytest outcome (see module docstring)."""
        outcome = STATUS[v.status].pytest
        if outcome == "skipped":
            pytest.skip(v.reason if v.status == "skipped" else f"not covered: {v.reason}")
        if outcome == "passed":
            return
        if outcome == "xfail":
            pytest.xfail(f"known QEMU bug: {v.reason}")
        pytest.fail(f"{v.status}: {v.reason}\n{details(v)}", pytrace=False)

    async def close(self) -> None:
        for h in self._hosts:
            await h.close()


@pytest.fixture(scope="session")
def conformance_session(request: pytest.FixtureRequest) -> ConformanceSession:
    return ConformanceSession(request.config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    if call.when == "call":
        evidence.attach(item, outcome.get_result())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count conformance outcomes (runs in the controller under pytest-xdist too)."""
    stats = _config_stats()
    if stats is not None and report.when == "call":
        evidence.collect(stats, report)
    if "test_conformance[" not in report.nodeid or report.when != "call":
        return
    if stats is None:
        return
    if report.outcome == "skipped" and not hasattr(report, "wasxfail"):
        stats["skipped"] += 1
        key = "skipped"
    else:
        stats["executed"] += 1
        key = "xfailed" if hasattr(report, "wasxfail") else report.outcome
    stats["statuses"][key] = stats["statuses"].get(key, 0) + 1


_CONFIG: list[pytest.Config] = []


def _config_stats() -> dict[str, Any] | None:
    return _CONFIG[-1].stash.get(_STATS, None) if _CONFIG else None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("conformance_summary", None)
    if path:
        stats = session.config.stash.get(_STATS, {})
        Path(path).write_text(json.dumps(
            {k: v for k, v in stats.items() if k != evidence.KEY}, indent=2) + "\n")
    evidence.write(session.config, session.config.stash.get(_STATS, {}))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config
                            ) -> None:
    stats = config.stash.get(_STATS, None)
    if stats and (stats["executed"] or stats["skipped"]):
        parts = ", ".join(f"{n} {k}" for k, n in sorted(stats["statuses"].items()))
        terminalreporter.write_line(f"conformance: {stats['executed']} scenario run(s) "
                                    f"executed ({parts}); logs under "
                                    f"{config.getoption('conformance_log_dir')}")
