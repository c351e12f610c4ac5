#!/usr/bin/env python3
"""The scenario catalogue as avocado tests: one avocado test per scenario and tier.

avocado does not run pytest tests, and its Python resolvers find test methods by
reading the source statically, so a catalogue that grows by editing TOML cannot be
a fixed list of methods.  Instead this module produces an avocado **runnables recipe**:
one ``exec-test`` runnable per (scenario, tier), named ``<tier>-<scenario name>`` (the
pytest and TAP id), each running :func:`run_one` in a fresh interpreter.  Exit 0 is
PASS, 1 is FAIL and 125 is SKIP (``runner.exectest.exitcodes.skip``); the verdict, its
diff, argv, stderr tail and QMP transcript land in the test's avocado log.

Two ways to run it, both giving avocado's own result formats (``--xunit``,
``--json``, and ``--html`` with ``avocado-framework-plugin-result-html``)::

    # one step: avocado executes this file and reads the recipe it prints
    avocado run --resolver-run-executables conformance/frontends/avocado_tests.py \\
        --resolver-exec-arguments "--qemu /path/to/qemu-system-aarch64" \\
        --xunit results.xml --json results.json

    # two steps: write the recipe, then run it (no executable resolution needed)
    python -m conformance.frontends.avocado_tests --recipe conformance.json --qemu PATH
    avocado run conformance.json --xunit results.xml

Options of the recipe generator: ``--qemu``, ``--tier`` (repeatable, default tcg),
``--scenario FILE[:NAME]`` (repeatable, default the catalogue), ``--profile``.  Only the
tiers each scenario lists are included.  Statuses map as in the verdict model:
``pass`` and ``expected-nonconformance`` PASS; ``nonconformance``,
``unexpected-pass`` and ``infra-error`` FAIL; ``skipped`` SKIP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # executed as a file by avocado's exec resolver
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    # its shebang may have picked a Python without the suite (the system one)
    from conformance.launcher import ensure_project_python

    ensure_project_python(__file__)

from catalogue.scenario import ScenarioError, default_dir
from conformance.errors import BinaryError
from conformance.result import STATUS, Verdict
from conformance.select import load
from conformance.tiers import DEFAULT_TIERS

PASS, FAIL, SKIP, USAGE = 0, 1, 125, 2
#: avocado status (the STATUS table's column) -> exit status of the exec-test runnable
EXIT_FOR = {"PASS": PASS, "FAIL": FAIL, "SKIP": SKIP}
PASSING = frozenset(k for k, r in STATUS.items() if r.avocado == "PASS")


def python_for_tests() -> str:
    """The interpreter the runnables use: ``$SMMUV3_PYTHON``, the repo venv, or this one.

    avocado may execute this file with a system ``python3`` (its shebang); the tests
    must still run in the interpreter that has the suite's dependencies.
    """
    env = os.environ.get("SMMUV3_PYTHON")
    if env:
        return env
    venv = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() and sys.prefix == sys.base_prefix else sys.executable


def recipe(scenario_specs: list[str] | None, tiers: list[str], qemu: str | None,
           profile: str | None) -> list[dict[str, Any]]:
    """The runnables recipe (a list of avocado ``Runnable`` dicts)."""
    py = python_for_tests()
    out: list[dict[str, Any]] = []
    for s in load(scenario_specs):
        path = Path(s.source)
        ref = f"{_source_path(path)}:{s.name}"
        for tier in tiers:
            if tier not in s.tiers:
                continue
            args = ["-m", "conformance.frontends.avocado_tests", "--one", ref, "--tier", tier]
            if qemu:
                args += ["--qemu", str(Path(qemu).expanduser().absolute())]
            if profile:
                args += ["--profile", profile]
            out.append({
                "kind": "exec-test",
                "uri": py,
                "args": args,
                "identifier": f"{tier}-{s.name}",
                "config": {"runner.exectest.exitcodes.skip": [SKIP]},
            })
    return out


def _source_path(name: Path) -> Path:
    """Absolute path of a scenario file the loader knows by its file name."""
    if name.is_absolute():
        return name
    cand = default_dir() / name
    return cand if cand.exists() else name.absolute()


def run_one(ref: str, tier: str, qemu: str | None, profile: str | None) -> int:
    """Run one scenario on one tier, print the verdict, return PASS/FAIL/SKIP."""
    # Imported here, not at the top: avocado's exec resolver runs this file with
    # whatever python3 its shebang finds to print the recipe, possibly without the
    # suite's dependencies (qemu.qmp); only the runnables, in the venv, need them.
    from conformance.frontends.report_text import details
    from conformance.runner import Runner, RunOptions
    from conformance.tiers import host_for
    from conformance.tools.qemu_binary import choose

    scenarios = load([ref])
    binary = choose(qemu)
    opts = RunOptions()
    if profile:
        opts.profile = profile

    async def go() -> Verdict:
        host = host_for(tier, binary.path)
        try:
            return await Runner(host, binary.path, opts).run(scenarios[0])
        finally:
            await host.close()

    v = asyncio.run(go())
    print(v.headline())
    if v.status != "pass":
        print(details(v))
    print("verdict:", json.dumps(v.to_dict(), default=str))
    return EXIT_FOR[STATUS[v.status].avocado]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.frontends.avocado_tests",
                                description="avocado runnables recipe for the catalogue")
    p.add_argument("--qemu", metavar="PATH", help="binary under test")
    p.add_argument("--tier", action="append", metavar="TIER", help="tier(s) (default: tcg)")
    p.add_argument("--scenario", action="append", metavar="FILE[:NAME]",
                   help="scenario file, FILE:NAME or NAME (default: the catalogue)")
    p.add_argument("--profile", help="model profile to judge against")
    p.add_argument("--recipe", metavar="FILE", help="write the recipe to FILE, not stdout")
    p.add_argument("--one", metavar="FILE:NAME", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    try:
        if a.one:
            return run_one(a.one, (a.tier or list(DEFAULT_TIERS))[0], a.qemu, a.profile)
        doc = json.dumps(recipe(a.scenario, a.tier or list(DEFAULT_TIERS), a.qemu, a.profile),
                         indent=2)
    except (ScenarioError, BinaryError) as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return USAGE
    if a.recipe:
        try:
            Path(a.recipe).write_text(doc + "\n")
        except OSError as e:
            print(f"{p.prog}: error: --recipe {a.recipe}: {e.strerror}", file=sys.stderr)
            return USAGE
    else:
        print(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
