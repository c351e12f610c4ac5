"""The suite's speed against the physical floor, in one command.

    .venv/bin/python benchmarks/suite_bench.py [--qemu PATH] [--repeat 1]

Prints, measured in this one run on this machine:

(a) a bare QEMU start -> QMP greeting -> ``quit`` -> reaped cycle for each TCG scenario's
    command line, and (b) the harness's full run of the same scenario (start, events,
    ``info mtree``, register/property reads, quit, model prediction, judgement),
    interleaved, and the ratio b/a (goal <= 1.2) -- ``benchmarks/harness_overhead.py``;
(c) the wall time of the whole catalogue on the TCG tier with ``pytest -n 2``
    (goal < 30 s), and with ``python -m conformance run -j 2``;
(d) the reference model's predictions per second (goal >= 50,000/s) --
    ``benchmarks/model_throughput.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness_overhead import measure, report, tcg_scenarios  # noqa: E402

from conformance.tools.qemu_binary import choose  # noqa: E402


def timed(argv: list[str]) -> tuple[float, str, int]:
    t0 = time.perf_counter()
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    return time.perf_counter() - t0, r.stdout + r.stderr, r.returncode


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--qemu")
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    binary = choose(a.qemu).path
    py = sys.executable

    print("== (a) bare cycle vs (b) harness per scenario")
    scenarios = tcg_scenarios(None)
    ratio = report(asyncio.run(measure(binary, scenarios, a.repeat)), len(scenarios),
                   a.repeat, binary)

    print("== (c) whole TCG tier")
    wall, out, rc = timed([py, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
                           "--qemu", binary, "tests/conformance", "-m", "tcg"])
    last = [ln for ln in out.splitlines() if " in " in ln and ("passed" in ln or
                                                                "failed" in ln)]
    print(f"pytest -n 2 tests/conformance -m tcg : {wall:6.1f} s wall  (goal < 30 s)  "
          f"[{last[-1].strip('= ') if last else f'exit {rc}'}]")
    wall2, out2, rc2 = timed([py, "-m", "conformance", "run", "--qemu", binary, "-j", "2"])
    summ = [ln for ln in out2.splitlines() if "scenario run(s):" in ln]
    print(f"python -m conformance run -j 2        : {wall2:6.1f} s wall  "
          f"[{summ[-1] if summ else f'exit {rc2}'}]")

    print("== (d) reference model")
    _, out3, rc3 = timed([py, str(ROOT / "benchmarks" / "model_throughput.py")])
    found = re.findall(r"([\d,]+) predictions(?:/s| per CPU-second)", out3)
    rate = max((int(x.replace(",", "")) for x in found), default=0)
    print("\n".join(out3.strip().splitlines()[-2:]) if out3.strip()
          else f"model_throughput exit {rc3}")
    print(f"== summary: ratio b/a {ratio:.2f} (<= 1.2), TCG tier pytest -n 2 {wall:.1f} s "
          f"(< 30), model {rate:,}/s (>= 50,000)")
    ok = ratio <= 1.2 and wall < 30 and rate >= 50_000
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
