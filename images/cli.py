"""``python -m images build stock|iommufd`` (also ``python -m conformance images``).

Commands:

``build VARIANT...``
    build the variants (``stock``, ``iommufd``, or ``all``); cached builds return at once.
``show VARIANT``
    print the manifest of a built variant.
``path VARIANT``
    print the variant's folder (exit 1 if it is not built).
``payload``
    build the guest-driven tier's payload (:mod:`artefacts.payload`; cached).

Errors (missing package, missing host tool, failed kernel build) are one line on stderr
and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from artefacts import ArtefactError
from artefacts.payload import build_payload

from .build import VARIANTS, build, find


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build image variants (cached)")
    b.add_argument("variants", nargs="+", choices=[*VARIANTS, "all"], metavar="VARIANT",
                   help=f"one of {', '.join(VARIANTS)}, or all")
    b.add_argument("-j", "--jobs", type=int, default=None,
                   help="parallel jobs for the kernel build (default: CPU count)")
    b.add_argument("--force", action="store_true", help="reassemble even if cached")
    b.add_argument("-q", "--quiet", action="store_true", help="print only the result")
    sub.add_parser("payload", help="build the guest tier's payload (cached)")
    for name, helptext in (("show", "print a built variant's manifest"),
                           ("path", "print a built variant's folder")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("variant", choices=VARIANTS)


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "build":
            names = list(VARIANTS) if "all" in args.variants else args.variants
            for v in dict.fromkeys(names):
                t0 = time.monotonic()
                img = build(v, jobs=args.jobs, log=not args.quiet, force=args.force)
                print(f"{v}: {img.dir} ({time.monotonic() - t0:.1f} s)")
            return 0
        if args.action == "payload":
            p = build_payload()
            print(f"payload: {p.path} sha256 {p.sha256} "
                  f"({'cached' if p.cached else f'built in {p.build_seconds:.2f} s'})")
            return 0
        found = find(args.variant)
        if found is None:
            print(f"images: {args.variant} is not built (python -m images build "
                  f"{args.variant})", file=sys.stderr)
            return 1
        if args.action == "show":
            print(json.dumps(found.manifest(), indent=2))
        else:
            print(found.dir)
        return 0
    except ArtefactError as e:  # ImageError included
        print(f"images: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("images: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m images",
                                description="Build the nested tier's L1 images from Debian "
                                            "packages.")
    add_arguments(p)
    return run(p.parse_args(argv))
