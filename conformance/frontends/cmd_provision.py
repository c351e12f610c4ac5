"""``python -m conformance provision``: install QEMU 11.1.3 (or ``--release X``, any
Debian build side by side: :mod:`artefacts.releases`) into a private prefix.

Debian's trixie-backports packages, verified against Debian's sha256 sums and cached
(:mod:`artefacts.provision`); run through trixie's own loader, so nothing on the system
changes.  Prints the launcher's path; exit 1 when provisioning failed.
"""

from __future__ import annotations

import argparse
import sys

from artefacts.provision import TRIPLETS, ProvisionError, provision
from artefacts.releases import main as release_main


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", default="amd64", choices=sorted(TRIPLETS))
    p.add_argument("--force", action="store_true", help="re-unpack even if complete")
    p.add_argument("--print-path", action="store_true", help="print the launcher path only")
    p.add_argument("--release", action="append", metavar="NAME",
                   help="another Debian build, side by side (artefacts.releases: 7.2, "
                        "10.0.2, 10.0.13, 11.1.3, 11.1.3-sid, all; repeatable)")


def run(a: argparse.Namespace) -> int:
    if a.release:
        return release_main(a.release, force=a.force, print_path=a.print_path)
    try:
        inst = provision(a.arch, force=a.force, log=not a.print_path)
    except ProvisionError as e:
        print(f"provision: error: {e}", file=sys.stderr)
        return 1
    print(inst.launcher)
    return 0
