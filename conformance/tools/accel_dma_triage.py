"""Are an accel guest run's DMA differences F9/F10, or something new?

The guest model predicts where a passed-through device's DMA lands as the architecture
defines it (``reference_model/guest.py``).  QEMU 11.1.3 fixes the HWPT at each CFGI_STE
and at each GBPA write and never revisits it when the guest toggles SMMUEN (F10) or
writes GBPA with SMMUEN=1 (F9), so every such sequence lands elsewhere, and the fuzzer's
signatures cannot tell one cause of a wrong page from another.  This tool replays each
nonconformant guest scenario of a run with those *as-built* semantics (:func:`as_built`)
and checks that they give every ``landed`` the payload reported: a difference they do
not explain is not F9 or F10 and needs a look.

Usage (a ``run --json`` verdict file and the same run's ``--log-dir``)::

    .venv/bin/python -m conformance run --tier nested --scenario FILE --json \\
        --log-dir DIR > verdicts.json
    .venv/bin/python -m conformance.tools.accel_dma_triage verdicts.json DIR \
        --scenario FILE

Exit status 0 when every DMA difference is explained, 1 otherwise, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from catalogue.guest_steps import GuestStep, ste_words
from catalogue.scenario import ScenarioError, select
from reference_model.rules import ste


def as_built(steps: Sequence[GuestStep], sid: int = 0x10) -> list[str]:
    """The ``landed`` of every ``dma`` step under 11.1.3's semantics (F9, F10)."""
    smmuen = cmdqen = gbpa_abort = False
    strtab: str | None = None
    stes: dict[int, list[int]] = {}
    cds: dict[int, tuple[int, bool]] = {}
    pages: dict[tuple[int, int], int | None] = {}
    installed = ("bypass", 0)  # the GBPA HWPT attached at start (§5b)
    out: list[str] = []
    for s in steps:
        a = s.args
        if s.kind == "stream_table":
            strtab, stes = a["format"], {}
        elif s.kind == "ste":
            stes[a["sid"]] = ste_words(a)
        elif s.kind == "cd":
            cds[a["address"]] = (a["ttb0"], a["valid"])
        elif s.kind == "map":
            pages[(a["ttb"], a["iova"])] = a["pa"] if a["valid"] else None
        elif s.kind == "cr0":  # F10: a CR0 write re-attaches nothing
            smmuen, cmdqen = a["smmuen"], a["cmdqen"]
        elif s.kind == "gbpa":  # F9: attached whatever SMMUEN says
            gbpa_abort = a["abort"]
            installed = ("abort" if gbpa_abort else "bypass", 0)
        elif s.kind == "cmd" and cmdqen and strtab is not None and a["op"] in (
                "CMD_CFGI_STE", "CMD_CFGI_STE_RANGE", "CMD_CFGI_ALL"):
            words = stes.get(sid, [0] * 8 if strtab == "linear" else None)
            kind = ste.install_ste(viommu=True, accel_vfio_dev=True,
                                   ste_found=words is not None, smmu_enabled=smmuen,
                                   gbpa_abort=gbpa_abort,
                                   ste_valid=bool(words and words[0] & 1),
                                   config=(words[0] >> 1) & 7 if words else 0)
            if kind:  # "": no STE found, nothing installed; None: Config 6/7 fail
                installed = (kind, words[0] & 0xFFFFFFFFFFC0 if words else 0)
        elif s.kind == "dma":
            kind, cd = installed
            gpa: int | None = a["iova"] if kind == "bypass" else None
            if kind == "translate":
                ttb, valid = cds.get(cd, (0, False))
                gpa = pages.get((ttb, a["iova"])) if valid else None
            out.append(hex(gpa) if gpa is not None and gpa in a["at"] else "0x0")
    return out


def observed(serial: str) -> list[str]:
    return [line.split("landed=")[1].split()[0] for line in serial.splitlines()
            if " dma ok " in line]


def triage(verdicts: list[dict[str, Any]], logs: Path,
           files: Sequence[str] = ()) -> tuple[int, list[str]]:
    """(explained, lines about the unexplained ones); ``files``: where the verdicts'
    scenarios are, when not in the catalogue."""
    explained, bad = 0, []
    named = {sc.name: sc for f in files for sc in select(f)}
    for v in verdicts:
        if v.get("status") != "nonconformance":
            continue
        ref = str(v["scenario"])
        name = ref.rsplit(":", 1)[-1]
        serial = logs / str(v.get("tier", "nested")) / name / "serial.log"
        try:
            scenario = named[name] if name in named else select(ref)[0]
            got = observed(serial.read_text())
        except (OSError, ScenarioError, ValueError) as e:
            bad.append(f"{ref}: cannot replay ({e})")
            continue
        want = as_built(scenario.extra.get("guest", ()))
        if want == got:
            explained += 1
        else:
            bad.append(f"{ref}: as built {want}, observed {got}")
    return explained, bad


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.tools.accel_dma_triage",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("verdicts", help="the JSON of `run --json`")
    ap.add_argument("log_dir", help="the same run's --log-dir")
    ap.add_argument("--scenario", action="append", default=[], metavar="FILE",
                    help="a scenario file the run used (repeatable; default: catalogue)")
    a = ap.parse_args(argv)
    try:
        verdicts = json.loads(Path(a.verdicts).read_text())
    except (OSError, ValueError) as e:
        ap.error(f"{a.verdicts}: {e}")
    if not isinstance(verdicts, list):
        ap.error(f"{a.verdicts}: not a list of verdicts")
    try:
        explained, bad = triage(verdicts, Path(a.log_dir), a.scenario)
    except ScenarioError as e:
        ap.error(str(e))
    for line in bad:
        print(f"NOT F9/F10: {line}")
    print(f"{explained} nonconformance(s) explained by 11.1.3's install-time semantics "
          f"(F9, F10); {len(bad)} not")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
