"""``python -m conformance <command>``: the command-line front end.

Each command lives in its own module ``conformance.frontends.cmd_<name>`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; this file only dispatches, so that
commands can be added without touching each other.  Errors a user can cause (bad option,
bad scenario file, missing binary) end as one line on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from conformance import output
from conformance.errors import Interrupted, UsageError
from conformance.preflight import PreflightError

__all__ = ["COMMANDS", "UsageError", "main"]

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "provision": ("conformance.frontends.cmd_provision",
                  "install QEMU 11.1.3 (or --release X) into a private prefix"),
    "explain": ("conformance.frontends.cmd_explain", "print the reference model's prediction"),
    "run": ("conformance.frontends.cmd_run",
            "run scenarios against a QEMU binary and print verdicts"),
    "bisect-run": ("conformance.frontends.cmd_bisect", "exit 0/1/125 for `git bisect run`"),
    "fingerprint": ("conformance.frontends.cmd_fingerprint",
                    "tell which profile a QEMU build matches"),
    "diff": ("conformance.frontends.cmd_diff", "compare two QEMU builds scenario by scenario"),
    "merge": ("conformance.frontends.cmd_merge", "merge --shard K/N results into one report"),
    "premerge": ("conformance.frontends.cmd_premerge",
                 "what a candidate build changes: expected or not"),
    "coverage": ("conformance.frontends.cmd_coverage",
                 "catalogue rows x tiers, derived from run results"),
    "fuzz": ("conformance.frontends.cmd_fuzz",
             "differential fuzzing: generated cases vs the model"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Conformance suite for QEMU's accelerated SMMUv3 (arm-smmuv3,accel=on).")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, helptext) in COMMANDS.items():
        sub.add_parser(name, help=helptext, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"python -m conformance: error: unknown command '{name}' "
              f"(choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    usage_exit = output.usage_exit("bisect-run" if "--bisect" in rest else name)
    why = output.stdout_usable()
    if why is not None:  # the results would be lost: refuse before anything runs
        print(f"python -m conformance {name}: error: {why}", file=sys.stderr)
        return usage_exit
    try:
        module = importlib.import_module(COMMANDS[name][0])
        p = argparse.ArgumentParser(prog=f"python -m conformance {name}",
                                    description=COMMANDS[name][1])
        module.add_arguments(p)
        args = p.parse_args(rest)
        code = int(module.run(args))
        failed = output.flush(name)
        return code if failed is None else failed
    except (UsageError, PreflightError) as e:
        print(f"python -m conformance {name}: error: {e}", file=sys.stderr)
        return usage_exit
    except OSError as e:  # writing the results failed (full disk, | head)
        failed = output.write_failed(name, e)
        if failed is None:
            raise
        return failed
    except KeyboardInterrupt:
        print(f"python -m conformance {name}: interrupted", file=sys.stderr)
        return 130
    except Interrupted as e:  # SIGINT/SIGTERM/SIGHUP during a run, after clean-up
        print(f"python -m conformance {name}: {e}; no result reported", file=sys.stderr)
        return 128 + e.signum
