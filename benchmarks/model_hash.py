"""One hash of every prediction the model makes on the benchmark's scenarios x every profile.

    .venv/bin/python benchmarks/model_hash.py [--count 10000] [--seed 1] [--profile P ...]

A refactoring of the model must not change what it predicts.  This predicts each of
``model_throughput.py``'s generated scenarios (same ``--count``/``--seed``) under every
profile of :data:`reference_model.PROFILES` (or the ``--profile`` ones), twice: with the
default observables and with ``observe=("iort", "trace")`` (the lazily built IORT and
trace predictions and their rule firings).  It hashes the canonical JSON of each
``Prediction.to_dict()`` (``sort_keys``), or the exception's type and text where the
model refuses the command line, and prints one sha256 per profile and one over all of
them.  Run it on two trees and compare the lines: equal hashes, identical predictions.

Deterministic: the scenarios come from the seed, and predictions do not depend on the
hash seed (the script re-executes itself with ``PYTHONHASHSEED=0`` all the same, so any
dependence would show as a difference between trees, not between runs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from model_throughput import generate

from reference_model import PROFILES, clear_caches, predict

#: the observable sets hashed per scenario: the always-filled fields, then the lazy ones
OBSERVE_SETS: tuple[tuple[str, ...], ...] = ((), ("iort", "trace"))


def profile_hash(scenarios: list[Any], profile: str) -> tuple[str, int]:
    """sha256 over every (scenario, observe set) prediction of ``profile``; how many
    raised."""
    h = hashlib.sha256()
    refused = 0
    for args, events in scenarios:
        for observe in OBSERVE_SETS:
            try:
                d = predict(args, events, profile=profile, observe=observe).to_dict()
                text = json.dumps(d, sort_keys=True, separators=(",", ":"))
            except ValueError as e:  # the model's documented refusals
                refused += 1
                text = f"!{type(e).__name__}: {e}"
            h.update(text.encode())
            h.update(b"\n")
    return h.hexdigest(), refused


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="append", choices=sorted(PROFILES),
                    help="hash only this profile (repeatable; default: every profile)")
    a = ap.parse_args(argv)
    if a.count < 1:
        ap.error("--count must be positive")
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)
    scenarios = generate(a.count, a.seed)
    total = hashlib.sha256()
    for name in a.profile or list(PROFILES):
        clear_caches()
        digest, refused = profile_hash(scenarios, name)
        total.update(f"{name} {digest}\n".encode())
        print(f"{name:<10} {digest}  ({a.count} scenarios x {len(OBSERVE_SETS)} observe "
              f"sets, {refused} refused)")
    print(f"{'all':<10} {total.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
