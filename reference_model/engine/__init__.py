"""The engine: replays QEMU's start-up and QMP events, phase by phase.

The phase order is what decides which error wins, so it is spelled out here exactly
as ``qemu-system-aarch64`` runs it (``system/vl.c``, ``hw/core/qdev.c``), one module per
phase:

1. **option loop** (:mod:`..cmdline`): every option, left to right; ``-device`` strings
   are parsed (QemuOpts) here, so a bad ``id=`` beats everything else;
2. **machine options** (``-M``, :mod:`.board`): machine type, then its properties;
3. **accelerator** selection (``-accel``, ``-M accel=``, ``-enable-kvm``; :mod:`.board`);
4. **board init** (``machvirt_init``, :mod:`.board`): GIC/MSI controller, ``pcie.0`` with
   ``gpex-root``, and the legacy ``iommu=smmuv3`` SMMU (errors without a location);
5. **-device** (:mod:`.devices`; an SMMU: :mod:`.smmu`), in command-line order; for each:
   driver lookup, bus lookup, object creation with ``-global`` values, properties in
   QDict order, then ``pre_plug -> realize -> plug`` (errors carry
   ``-device <optstring>: ``);
6. **machine creation done** (:mod:`.lifecycle`): ``nic ... has no peer`` and unused
   ``-global`` warnings, then the machine-init-done notifiers, last registered first
   (P15/P16 exits, the address space of every cold-plugged PCI device);
7. **QMP events** in order (:mod:`.lifecycle`; ``device_add`` runs step 5 for one
   device, hot; ``device_del``; ``system_reset``).

Then :mod:`.results` projects the run into a :class:`~catalogue.prediction.Prediction`.
The state of one prediction is a :class:`.run.Run`; the memos that make repeated option
strings cheap are all in :mod:`.memo`.  The rules themselves live in
:mod:`reference_model.rules`: they decide, and only the engine fires them
(:meth:`.run.Run.fire`).

Imports point one way: ``__init__ -> lifecycle -> devices -> smmu -> run -> memo``,
``board -> smmu``, ``lifecycle -> results``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from .. import cmdline
from ..cmdline import CmdlineError
from ..prediction import EventResult, Prediction
from ..profiles import resolve
from ..qom import TypeHierarchy
from ..rules.qdev import R_OPT
from ..scenario import Event, HostSmmu
from . import board, devices, lifecycle, results
from .memo import BUILTIN_TYPES, RESOLVED, builtin_types, clear_caches
from .run import DevError, Exit, Run, Stop

#: observable name -> builder of its prediction (the observables built only when asked for)
BUILDERS = results.BUILDERS

__all__ = ["BUILDERS", "clear_caches", "predict"]


def predict(argv: Sequence[str], events: Sequence[Event] = (), host: HostSmmu | None = None,
            profile: str = "qemu-11.1", types: TypeHierarchy | None = None,
            observe: Collection[str] = ()) -> Prediction:
    """What QEMU does with ``argv`` (without the binary) and then ``events``.

    ``observe`` names extra observables to predict that cost time
    (:data:`.results.BUILDERS`): ``"iort"`` (the ACPI IORT, :mod:`..rules.iort`) and
    ``"trace"`` (trace events, :mod:`..rules.trace`); the other fields are always filled.

    Raises :class:`~reference_model.cmdline.CmdlineError` for a command line the model
    does not cover (e.g. another machine type), and
    :class:`~reference_model.profiles.ProfileError` for an unknown profile (both are
    :class:`~reference_model.errors.ModelError`).
    """
    prof = RESOLVED.get(profile)
    if prof is None:
        prof = RESOLVED[profile] = resolve(profile)  # ProfileError for an unknown name
    if types is None:
        types = BUILTIN_TYPES[0] if BUILTIN_TYPES else builtin_types()
    run = Run(prof, types, host)
    try:
        stop = _start(run, argv)
    except Exit as raised:
        raised.__traceback__ = None  # no frame <-> exception cycle left for the gc
        stop = raised.stop
    if stop is not None:
        text, rule, code = stop
        for f in run.rules:
            if f.rule == rule:
                break
        else:
            run.fire(rule)
        return Prediction("exits", code, text, run.warnings, None, None, None, run.rules,
                          prof.name)
    res: list[EventResult] | None = None
    if events:
        res = []
        event = lifecycle.event
        for ev in events:
            res.append(event(run, ev))
    pred = Prediction("starts", 0, None, run.warnings, results.device_predictions(run),
                      results.smmu_predictions(run), res, run.rules, prof.name)
    if observe:
        for name, build in results.BUILDERS.items():
            if name in observe:
                value, fired = build(run, events, res or [])
                setattr(pred, name, value)
                for rid, detail in fired:
                    run.fire(rid, detail)
    return pred


def _start(run: Run, argv: Sequence[str]) -> Stop | None:
    """Phases 1-6.  An exit raises :class:`.run.Exit`, or is returned when a
    ``-device`` fails (one raise fewer)."""
    try:
        cl = cmdline.parse(argv if isinstance(argv, (list, tuple)) else tuple(argv))
    except CmdlineError as e:
        if e.qemu_text is None:
            raise
        raise Exit(e.qemu_text, R_OPT.id) from None
    run.cl = cl
    if cl.globals:
        run.globals_used = set()
    if cl.objects:
        run.cl_iommufds = {o.get("id", "") for o in cl.objects
                           if o.get("qom-type") == "iommufd"}
    board.machine(run, cl)
    board.accel(run, cl)
    try:
        board.board(run, cl)
    except DevError as e:
        raise Exit(*e.args) from None
    stop = devices.cold_plug(run, cl)
    if stop is not None:
        return stop
    lifecycle.creation_done(run, cl)
    return None
