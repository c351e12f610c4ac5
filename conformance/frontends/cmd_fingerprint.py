"""``python -m conformance fingerprint``: which profile does this QEMU build match?

Runs the catalogue's §10 fingerprint probes (:mod:`conformance.tools.fingerprint`) against
one binary on TCG, prints each probe's observation and says which known profile the
build matches, or, if none, which probes differ from the closest ones::

    $ python -m conformance fingerprint --qemu ~/qemu/build/qemu-system-aarch64
    QEMU: /home/me/qemu/build/qemu-system-aarch64 (QEMU emulator version 11.1.3)
      user-creatable     starts
      accel-on-tcg       error: SMMUv3 accel=on requires KVM with kernel-irqchip=on support
      ...
    matches: qemu-11.1

Exit status: 0 when the build matches a profile (with ``--expect P``: matches ``P``),
1 when it does not, 2 for a usage error or when QEMU could not be observed.
"""

from __future__ import annotations

import argparse
import asyncio

from conformance.errors import BinaryError, HarnessError
from conformance.frontends.cli import UsageError
from conformance.tools.fingerprint import PROBES, PROFILES, Fingerprint, fingerprint
from conformance.tools.qemu_binary import choose


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qemu", metavar="PATH",
                   help="binary to fingerprint (default: $QEMU_TEST_QEMU_BINARY, else the "
                        "provisioned QEMU 11.1.3)")
    p.add_argument("--expect", metavar="PROFILE", choices=PROFILES,
                   help=f"exit 1 unless the build matches PROFILE ({', '.join(PROFILES)})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also print each profile's expected value for differing probes")
    p.add_argument("-j", "--jobs", type=int, default=2, help="QEMUs at once (default: 2)")


def render(fp: Fingerprint, verbose: bool = False) -> str:
    width = max(len(p.name) for p in PROBES)
    out = [f"QEMU: {fp.qemu} ({fp.version})" if fp.version else f"QEMU: {fp.qemu}"]
    for r in fp.results:
        out.append(f"  {r.name:<{width}}  {r.observed}")
        if verbose:
            expect = next(p for p in PROBES if p.name == r.name).expect
            out += [f"  {'':<{width}}    {prof} gives: {expect[prof]}"
                    for prof in PROFILES if expect[prof] != r.observed]
    out.append(fp.verdict_line())
    if not fp.matches:
        for prof in fp.closest[1:]:
            out.append(f"  {prof}: differs on {', '.join(fp.mismatches[prof])}")
    return "\n".join(out)


def run(a: argparse.Namespace) -> int:
    if a.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    try:
        binary = choose(a.qemu)
    except BinaryError as e:
        raise UsageError(str(e)) from None
    try:
        fp = asyncio.run(fingerprint(binary.path, binary.version, jobs=a.jobs))
    except HarnessError as e:
        raise UsageError(f"cannot observe {binary.path}: {e}") from None
    print(fp.to_json() if a.json else render(fp, a.verbose))
    if a.expect:
        return 0 if a.expect in fp.matches else 1
    return 0 if fp.matches else 1
