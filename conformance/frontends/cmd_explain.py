"""``python -m conformance explain``: print the reference model's prediction.

Examples::

    python -m conformance explain -- -M virt -accel tcg \\
        -device arm-smmuv3,primary-bus=pcie.0,accel=on
    python -m conformance explain --profile series-v4 --json -- -M virt ...
    python -m conformance explain --scenario scenarios/accel.toml:accel-tcg-p1 --tier tcg

The human form prints the outcome (and QEMU's error text and warnings), then one line
per PCI device with its address space, the SMMU it sits behind and the catalogue row
that decided it, one line per SMMU (ID registers, msi-gpa), one per QMP event, and
the rules that fired.  ``--json`` prints :meth:`Prediction.to_json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from catalogue.prediction import Prediction
from catalogue.scenario import ScenarioError
from conformance.frontends.cli import UsageError, main
from conformance.host_smmu import HostFileError, load_host_file
from conformance.runner import MODEL_ERRORS
from conformance.select import load, predict_for, tier_argv
from conformance.tiers import TIER_HOSTS
from reference_model import PROFILES, TypeHierarchy, predict
from reference_model.qom import TypeHierarchyError

__all__ = ["add_arguments", "render", "run", "tier_argv"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="qemu-11.1", metavar="P",
                   help=f"revision to predict ({', '.join(PROFILES)}; default qemu-11.1)")
    p.add_argument("--json", action="store_true", help="print the prediction as JSON")
    p.add_argument("--scenario", metavar="FILE[:NAME]",
                   help="predict a scenario from a scenario file instead of a command line")
    p.add_argument("--tier", choices=sorted(TIER_HOSTS), default=None,
                   help="with --scenario: add this tier's arguments (default: the "
                        "scenario's first tier)")
    p.add_argument("--types", metavar="FILE",
                   help="QOM type table (qom-list-types JSON) instead of the built-in 11.1.3 one")
    p.add_argument("--host-smmu", metavar="FILE",
                   help="host SMMU for the host checks (5a): a nested L1's host-smmu.json "
                        "or a verdict's host_smmu (a scenario's own host table wins)")
    p.add_argument("qemu_args", nargs=argparse.REMAINDER,
                   help="-- followed by QEMU arguments (without the binary)")


def _hex(v: int | None) -> str:
    return "-" if v is None else f"0x{v:08x}"


def render(pred: Prediction, title: str = "") -> str:
    """The human-readable form."""
    out: list[str] = []
    if title:
        out.append(f"# {title}")
    head = f"outcome: {pred.outcome}"
    if pred.outcome == "exits":
        head += f" (exit code {pred.exit_code if pred.exit_code is not None else '?'})"
    out.append(head + f"   [profile {pred.profile}]")
    if pred.error is not None:
        out.append(f"error:   {pred.error}")
    for w in pred.warnings:
        out.append(f"warning: {w}")
    if pred.devices:
        out.append("devices:")
        width = max(len(k) for k in pred.devices)
        for k, d in pred.devices.items():
            behind = f"behind {d.smmu}" if d.smmu else "behind no SMMU"
            out.append(f"  {k:<{width}}  {d.address_space:<12} {behind:<18} [{d.rule}]")
    if pred.smmus:
        out.append("smmus:")
        for k, s in pred.smmus.items():
            idr = " ".join(f"{r}={_hex(v)}" for r, v in (s.idr or {}).items()) or "IDR=?"
            out.append(f"  {k}: base={_hex(s.base)} {idr} msi-gpa={_hex(s.msi_gpa)}")
    if pred.events:
        out.append("events:")
        for e in pred.events:
            res = "ok" if e.ok else f"{e.error_class}: {e.error_desc}"
            out.append(f"  {e.op} {e.id}: {res} [{e.rule}]")
    if pred.iort is not None:
        t = pred.iort
        out.append(f"iort: revision {t.revision}, {t.node_count} nodes, "
                   f"ITS {'present' if t.its_present else 'absent'}, rc ATS {t.rc_ats}")
        for n in t.smmu_nodes:
            out.append(f"  smmu base={_hex(n.get('base'))} id={n.get('identifier')} "
                       f"flags={n.get('flags')}")
        for m in t.rc_id_mappings:
            out.append(f"  rc ids {m['input']}+{m['count']} -> {m['target']}")
        for r in t.rmr_nodes:
            out.append(f"  rmr {r['smmu']} ids {r['input']}+{r['count']}")
    if pred.trace is not None:
        out.append("trace (per phase: 0 = machine start, then each event):")
        phases = max(len(pred.trace.add_mr or []), len(pred.trace.reset_exit or []))
        for i in range(phases):
            mr = (pred.trace.add_mr or [])[i] if i < len(pred.trace.add_mr or []) else None
            rx = (pred.trace.reset_exit or [])[i] \
                if i < len(pred.trace.reset_exit or []) else None
            out.append(f"  {i}: smmu_add_mr {'-' if mr is None else ' '.join(mr) or '(none)'}"
                       f"; smmu_reset_exit x{'-' if rx is None else rx}")
    if pred.rules:
        out.append("rules: " + ", ".join(
            f"{r.rule}({r.row}{', PRED' if r.predicted else ''})" for r in pred.rules))
    return "\n".join(out)




def run(args: argparse.Namespace) -> int:
    qemu_args: list[str] = list(args.qemu_args)
    if qemu_args and qemu_args[0] == "--":
        qemu_args = qemu_args[1:]
    types = None
    if args.types:
        try:
            types = TypeHierarchy.from_file(args.types)
        except TypeHierarchyError as e:
            raise UsageError(str(e)) from None
    if args.profile not in PROFILES:
        raise UsageError(f"--profile: unknown profile '{args.profile}' "
                         f"(known: {', '.join(PROFILES)})")
    file_host = None
    if args.host_smmu:
        try:
            file_host = load_host_file(args.host_smmu)
        except HostFileError as e:
            raise UsageError(str(e)) from None
    if args.scenario:
        if qemu_args:
            raise UsageError("give either --scenario or QEMU arguments after --, not both")
        try:
            scenarios = load([args.scenario])
        except ScenarioError as e:
            raise UsageError(str(e)) from None
        results: list[dict[str, Any]] = []
        texts: list[str] = []
        for s in scenarios:
            tier = args.tier or s.tiers[0]
            try:  # what `run` predicts: the same argv, events, host SMMU and observables
                pred = predict_for(s, tier, types, profile=args.profile,
                                   host=s.host or file_host)
            except MODEL_ERRORS as e:
                raise UsageError(str(e)) from None
            results.append({"scenario": s.ref, "tier": tier, "prediction": pred.to_dict()})
            texts.append(render(pred, f"{s.ref} on {tier}"))
        print(json.dumps(results, indent=2) if args.json else "\n\n".join(texts))
        return 0
    if not qemu_args:
        raise UsageError("no QEMU arguments: use `explain -- -M virt ...` or --scenario")
    try:
        pred = predict(qemu_args, profile=args.profile, types=types, host=file_host)
    except MODEL_ERRORS as e:
        raise UsageError(str(e)) from None
    print(pred.to_json() if args.json else render(pred))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(["explain", *sys.argv[1:]]))
