"""Instructions per prediction of the reference model: a load-independent speed measure.

    .venv/bin/python benchmarks/model_instructions.py [--count 10000] [--seed 1]

Wall-clock throughput (``model_throughput.py``) swings ±10 % on a shared VM; the number
of machine instructions the interpreter executes does not.  This runs the throughput
benchmark's workload under ``valgrind --tool=callgrind`` twice, with one and with two
rounds, and prints the difference divided by ``--count``: the instructions one
prediction costs, start-up and scenario generation cancelled out.  The hash seed is
fixed (``PYTHONHASHSEED=0``) so that two runs of one tree give the same number.

Needs valgrind (Debian package ``valgrind``); takes about two minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "model_throughput.py"


def instructions(count: int, seed: int, rounds: int) -> int:
    """Instructions callgrind counted for the whole benchmark process."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    r = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         str(BENCH), "--count", str(count), "--seed", str(seed), "--rounds", str(rounds)],
        capture_output=True, text=True, env=env, check=False)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode != 0 or m is None:
        raise SystemExit(f"model_instructions: valgrind run failed (exit {r.returncode}): "
                         f"{r.stderr.strip().splitlines()[-1:] or r.stdout}")
    return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.count < 1:
        ap.error("--count must be positive")
    if shutil.which("valgrind") is None:
        print("model_instructions: valgrind is not installed (apt-get install valgrind)",
              file=sys.stderr)
        return 2
    one = instructions(a.count, a.seed, 1)
    two = instructions(a.count, a.seed, 2)
    print(f"scenarios: {a.count} (seed {a.seed}); "
          f"{(two - one) / a.count:,.0f} instructions per prediction (callgrind)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
