"""Cost of the guest-driven tier on this machine, measured in one run.

Prints (and with ``--json`` writes):

* **payload build**: a forced rebuild of ``images/payload`` (cross-compile + objcopy;
  ``--repeat`` samples, median) and the cached lookup;
* **bare L2 cycle**: in the nested tier's L1, start an L2 (``-S``, accel=on), connect
  QMP, ``quit``, reap (as ``benchmarks/nested_cost.py``; median of ``--repeat``);
* **per guest scenario**: :meth:`conformance.runner.Runner.run` of every scenario with
  a ``guest`` step list (or the ``--scenario`` ones) in the same L1: L2 start with the
  payload, the steps, the serial/trace reads, model and judgement;

so the ratio guest scenario / bare cycle comes from one L1 boot.

Usage::

    SMMUV3_NESTED_IMAGE=iommufd .venv/bin/python benchmarks/guest_cost.py [--repeat 5]
        [--scenario FILE[:NAME] ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nested_cost import bare_cycles, time_scenarios

from artefacts.payload import build_payload
from catalogue.scenario import Scenario, load_catalogue, select
from conformance.tiers.nested.host import NestedHost


def payload_costs(repeat: int) -> dict[str, Any]:
    cold = [build_payload(force=True).build_seconds for _ in range(repeat)]
    t0 = time.perf_counter()
    p = build_payload()
    return {"build_s": {"median": round(statistics.median(cold), 3),
                        "min": round(min(cold), 3), "max": round(max(cold), 3), "n": repeat},
            "cached_s": round(time.perf_counter() - t0, 4), "bytes": p.path.stat().st_size,
            "sha256": p.sha256}


def guest_scenarios(names: list[str]) -> list[Scenario]:
    chosen = [s for n in names for s in select(n)] if names else load_catalogue()
    return [s for s in chosen if "guest" in s.extra and "nested" in s.tiers]


async def tier_costs(repeat: int, scenarios: list[Scenario]) -> dict[str, Any]:
    host = NestedHost()
    if host.unavailable_reason():
        return {"error": host.unavailable_reason()}
    out: dict[str, Any] = {"image": host.image.variant}
    try:
        out["bare_l2_cycle_s"], bare_median = await bare_cycles(host, repeat)
        timed = await time_scenarios(host, scenarios)
        out["scenarios"] = timed["scenarios"]
        if "per_scenario_s" in timed:
            out["per_guest_scenario_s"] = timed["per_scenario_s"]
            out["ratio_to_bare_cycle"] = round(
                timed["per_scenario_s"]["median"] / bare_median, 2)
    finally:
        await host.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scenario", action="append", default=[], metavar="FILE[:NAME]")
    ap.add_argument("--no-nested", action="store_true", help="payload build only")
    ap.add_argument("--json", default=None, metavar="FILE")
    args = ap.parse_args()
    res: dict[str, Any] = {"payload": payload_costs(args.repeat)}
    if not args.no_nested:
        res["nested"] = asyncio.run(tier_costs(args.repeat, guest_scenarios(args.scenario)))
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
