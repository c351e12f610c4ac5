"""Cost of the nested KVM tier on this machine, measured, not estimated.

Prints (and with ``--json`` writes) these numbers:

* **image build, cold**: the seconds each variant's first build took, as recorded in
  the image manifest (``build_seconds``) and the kernel's ``build.json``; a cold build
  cannot be repeated cheaply, so ``--cold VARIANT`` rebuilds from scratch on request
  (deletes the variant and, for iommufd, the kernel output, keeping downloads);
* **image build, cached**: measured now, ``images.build.build()`` of a built variant;
* **L1 boot**: L0 start until L1's guest agent answers and vfio-pci is bound;
* **bare L2 cycle**: start an L2 (``-S``, accel=on, root port) in the same L1, connect
  ``qemu.qmp`` through L0's hostfwd, ``quit``, reap (``--repeat`` samples, median);
* **per scenario**: :meth:`conformance.runner.Runner.run` for each nested-tier scenario
  of the catalogue (or ``--scenario`` ones), in the same L1, including the model and
  judgement (the capability probe runs once before timing);
* **whole tier**: L1 boot + all those scenarios, wall time (``--full``).

Usage::

    .venv/bin/python benchmarks/nested_cost.py [--image stock|iommufd] [--repeat 5]
        [--full | --scenario FILE[:NAME] ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from catalogue.scenario import Scenario, load_catalogue, select
from conformance.fuzz.campaign import bare_cycle as fuzz_bare_cycle
from conformance.runner import Runner, RunOptions, run_scenarios
from conformance.tiers.nested.host import NestedHost
from images import ImageError
from images.build import build, find, image_dir
from images.kernel import KernelBuild

BARE = ["-M", "virt", "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,ats=off,"
        "ril=on,ssidsize=0,oas=44,cmdqv=off", "-device",
        "pcie-root-port,id=rp0,chassis=1,bus=pcie.0"]


def image_costs(variant: str, cold: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"variant": variant}
    if cold:
        shutil.rmtree(image_dir(variant), ignore_errors=True)
        if variant == "iommufd":
            kernel_root = image_dir(variant).parent / "kernel"
            shutil.rmtree(kernel_root, ignore_errors=True)
            shutil.rmtree(image_dir(variant).parent / "kernel-build", ignore_errors=True)
        t0 = time.monotonic()
        build(variant, log=False)
        out["cold_measured_s"] = round(time.monotonic() - t0, 1)
    img = find(variant)
    if img is None:
        out["error"] = f"not built (python -m images build {variant})"
        return out
    m = img.manifest()
    out["assembly_recorded_s"] = m.get("build_seconds")
    key = m.get("inputs", {}).get("kernel_build_key")
    if key:
        kb = KernelBuild(key, image_dir(variant).parent / "kernel" / key)
        if kb.info.exists():
            out["kernel_build_recorded_s"] = json.loads(kb.info.read_text()).get(
                "build_seconds")
    t0 = time.monotonic()
    build(variant, log=False)
    out["cached_s"] = round(time.monotonic() - t0, 1)
    out["initrd_mb"] = round(img.initrd.stat().st_size / 1e6, 1)
    return out


async def bare_cycle(host: NestedHost) -> float:
    """One bare L2 start->QMP->quit in L1 (the fuzzer's baseline cycle, L2's timeout)."""
    return await fuzz_bare_cycle(host, [*BARE, *host.tier_args()], startup_timeout=120)


def nested_scenarios(names: list[str] | None) -> list[Scenario]:
    chosen = [s for n in names for s in select(n)] if names else load_catalogue()
    return [s for s in chosen if "nested" in s.tiers]


async def bare_cycles(host: NestedHost, repeat: int) -> tuple[dict[str, Any], float]:
    """``repeat`` bare L2 cycles after a warm-up (which boots L1): their statistics and
    median."""
    await bare_cycle(host)
    bare = [await bare_cycle(host) for _ in range(repeat)]
    med = statistics.median(bare)
    return ({"median": round(med, 2), "min": round(min(bare), 2), "max": round(max(bare), 2),
             "n": len(bare)}, med)


async def time_scenarios(host: NestedHost, scenarios: list[Scenario]) -> dict[str, Any]:
    """Run ``scenarios`` one at a time in ``host``'s L1; their statuses and durations
    (``per_scenario_s``: median, mean, max of the non-skipped ones)."""
    runner = Runner(host, "/usr/bin/qemu-system-aarch64", RunOptions(
        startup_timeout=120, command_timeout=60))
    await runner.capabilities()
    times: list[float] = []
    statuses: dict[str, int] = {}

    def note(v: Any) -> None:
        statuses[v.status] = statuses.get(v.status, 0) + 1
        if v.status != "skipped":
            times.append(v.duration_s)
        print(f"  {v.duration_s:6.2f} s  {v.headline()}", file=sys.stderr, flush=True)

    t0 = time.monotonic()
    await run_scenarios(scenarios, runner, jobs=1, on_verdict=note)
    out: dict[str, Any] = {"scenarios": {"run": len(times), "statuses": statuses,
                                         "wall_s": round(time.monotonic() - t0, 1)}}
    if times:
        out["per_scenario_s"] = {"median": round(statistics.median(times), 2),
                                 "mean": round(statistics.mean(times), 2),
                                 "max": round(max(times), 2)}
    return out


async def tier_costs(image: str, repeat: int, scenarios: list[Scenario],
                     log_dir: Path | None) -> dict[str, Any]:
    os.environ["SMMUV3_NESTED_IMAGE"] = image
    t_all = time.monotonic()
    host = NestedHost(image=image, log_dir=log_dir)
    if host.unavailable_reason():
        return {"error": host.unavailable_reason()}
    out: dict[str, Any] = {"image": host.image.variant}
    try:
        # the warm-up cycle boots L1 (timed from the host's record)
        out["bare_l2_cycle_s"], _ = await bare_cycles(host, repeat)
        out["l1_boot_s"] = host.boot_seconds[0]
        if scenarios:
            out.update(await time_scenarios(host, scenarios))
        out["l1_boots"] = host.boot_seconds
    finally:
        await host.close()
    out["whole_tier_wall_s"] = round(time.monotonic() - t_all, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default="auto", choices=["auto", "stock", "iommufd"])
    ap.add_argument("--repeat", type=int, default=5, help="bare L2 cycles (default 5)")
    ap.add_argument("--full", action="store_true",
                    help="also run every nested-tier scenario of the catalogue")
    ap.add_argument("--scenario", action="append", default=[], metavar="FILE[:NAME]")
    ap.add_argument("--cold", action="append", default=[], choices=["stock", "iommufd"],
                    help="rebuild this variant from scratch first (slow)")
    ap.add_argument("--log-dir", default=None)
    ap.add_argument("--json", default=None, metavar="FILE")
    a = ap.parse_args()
    result: dict[str, Any] = {"images": []}
    try:
        for v in ("stock", "iommufd"):
            if find(v) is not None or v in a.cold:
                result["images"].append(image_costs(v, v in a.cold))
    except ImageError as e:
        print(f"nested_cost: error: {e}", file=sys.stderr)
        return 1
    scen = nested_scenarios(a.scenario) if (a.full or a.scenario) else []
    result["tier"] = asyncio.run(tier_costs(a.image, a.repeat, scen,
                                            Path(a.log_dir) if a.log_dir else None))
    for img in result["images"]:
        cold = (f"; measured cold {img['cold_measured_s']} s" if "cold_measured_s" in img
                else "")
        print(f"image {img['variant']:8} cold: assembly {img.get('assembly_recorded_s')} s, "
              f"kernel build {img.get('kernel_build_recorded_s', '-')} s (recorded){cold}; "
              f"cached rebuild {img.get('cached_s')} s; initrd {img.get('initrd_mb')} MB")
    t = result["tier"]
    if "error" in t:
        print(f"tier: {t['error']}")
        return 1
    print(f"L1 boot ({t['image']} image): {t['l1_boot_s']} s")
    b = t["bare_l2_cycle_s"]
    print(f"bare L2 start->QMP->quit: median {b['median']} s (min {b['min']}, max {b['max']}, "
          f"n={b['n']})")
    if "per_scenario_s" in t:
        p, s = t["per_scenario_s"], t["scenarios"]
        print(f"per scenario: median {p['median']} s, mean {p['mean']} s, max {p['max']} s "
              f"({s['run']} run, {s['statuses']}); scenarios wall {s['wall_s']} s")
    print(f"whole run incl. L1 boot: {t['whole_tier_wall_s']} s (L1 boots: {t['l1_boots']})")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
