"""How even ``--shard K/N`` splits a real run, with and without recorded durations.

Reads the verdicts of a real unsharded run (``run --html DIR`` writes
``DIR/verdicts.json``; ``--run`` makes one now on the TCG tier with the provisioned
QEMU), takes each scenario run's measured ``duration_s`` as its true cost, and for each
N prints the shards' true loads under two partitions:

* **recorded**: balanced with ``--shard-durations`` = that same file (what a CI
  pipeline gets from the previous pipeline's merged report);
* **defaults**: no recorded durations (per-tier defaults: a split by count).

``makespan`` is the largest shard's load (the CI wall time of the sharded stage, minus
per-job setup); ``ideal`` is total/N; ``ratio`` = makespan / ideal (1.00 is perfect).
The partition is deterministic, so the numbers only change with the input file.

Usage::

    .venv/bin/python benchmarks/shard_balance.py --durations DIR/verdicts.json [-N 2 3 4]
    .venv/bin/python benchmarks/shard_balance.py --run [--tier tcg]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.shard import Unit, load_durations, partition, unit_key


def measure(path: Path, ns: list[int]) -> list[dict[str, object]]:
    verdicts = json.loads(path.read_text())
    units = [Unit(unit_key(v["tier"], v["scenario"].rpartition(":")[2]), v["tier"],
                  v["status"] != "skipped") for v in verdicts]
    true = load_durations([path])
    total = sum(true[u.key] for u in units)
    rows = []
    for n in ns:
        for label, rec in (("recorded", true), ("defaults", {})):
            plan = partition(units, n, rec)
            loads = [sum(true[k] for k in s) for s in plan.shards]
            rows.append({"N": n, "partition": label, "units": len(units),
                         "total_s": round(total, 2), "makespan_s": round(max(loads), 2),
                         "ideal_s": round(total / n, 2),
                         "ratio": round(max(loads) / (total / n), 3) if total else 1.0,
                         "loads_s": [round(x, 2) for x in loads]})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--durations", type=Path, help="verdicts.json of a real run")
    p.add_argument("--run", action="store_true", help="make one now (TCG, whole catalogue)")
    p.add_argument("--tier", default="tcg")
    p.add_argument("-N", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.durations is None:
        if not a.run:
            p.error("give --durations FILE or --run")
        out = Path(tempfile.mkdtemp(prefix="shard-balance-"))
        subprocess.run([sys.executable, "-m", "conformance", "run", "--tier", a.tier,
                        "--html", str(out)], stdout=subprocess.DEVNULL, check=False)
        a.durations = out / "verdicts.json"
    rows = measure(a.durations, a.N)
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{a.durations}: {rows[0]['units']} scenario runs, {rows[0]['total_s']} s in all")
    print(f"{'N':>2} {'partition':<9} {'makespan':>9} {'ideal':>7} {'ratio':>6}  shard loads (s)")
    for r in rows:
        print(f"{r['N']:>2} {r['partition']:<9} {r['makespan_s']:>8}s {r['ideal_s']:>6}s "
              f"{r['ratio']:>6}  {r['loads_s']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
