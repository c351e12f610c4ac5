"""One prediction's state: the machine being built and what has been predicted so far.

Every phase module (:mod:`.board`, :mod:`.devices`, :mod:`.smmu`, :mod:`.lifecycle`,
:mod:`.results`) is a set of functions taking the :class:`Run`; the run itself only keeps
the state and records rule firings (:meth:`Run.fire`: the only place a rule is fired).

How a start-up ends early:

* :class:`Exit`: QEMU exits during start-up (a phase raises it, :func:`~.predict`
  catches it);
* :class:`DevError`: one device is refused; on the command line that ends the start
  (with the ``-device`` location), for a QMP ``device_add`` it is the command's error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

from .. import cmdline
from ..machine import Bus, PciDev, Smmu
from ..prediction import RuleFiring
from ..profiles import Resolved
from ..qom import TypeHierarchy
from ..rules import FIRED, RULES, Decision
from ..scenario import HostSmmu
from .memo import WORDED as _WORDED
from .memo import MachineMemo

__all__ = ["DevError", "Exit", "Run", "Stop"]

#: how a start ends early: (stderr text or None when the model cannot say it, deciding
#: rule id, exit code or None for a crash)
Stop = tuple[str | None, str, int | None]


class Exit(Exception):
    """QEMU exits during start-up (a phase raises it; :func:`predict` catches it)."""

    def __init__(self, text: str | None, rule: str, code: int | None = 1):
        # no super().__init__: nothing reads args, and the call is not free
        self.stop: Stop = (text, rule, code)


class DevError(Exception):
    """A device refused: ``args == (text, rule id)``; text None: it fails, but the model
    cannot say the exact text.  QMP reports it with error class :attr:`cls`.

    No ``__init__`` of its own: the C one keeps the args, and a Python ``__init__``
    would triple the cost of a raise that the model does in about every other
    prediction."""

    cls = "GenericError"


_NO_CMDLINE = cmdline.ParsedCmdline()
_NO_IOMMUFDS: frozenset[str] = frozenset()
_NO_PROPS: Mapping[str, Any] = MappingProxyType({})


class Run:
    """One prediction: the machine state plus what has been predicted so far.

    ``__slots__``: a run gains some 25 attributes along phases that set them in
    different orders, which costs an instance dict its shared-key layout (and every
    attribute access its fast path); fixed slots keep both cheap.  The phase modules
    are functions taking the run, not base classes: a base without ``__slots__`` would
    give the run its ``__dict__`` back."""

    __slots__ = ("_cur_opt", "_nics", "accel_smmus", "b", "balloon", "buses", "cl",
                 "cl_iommufds", "default_bus", "devs", "dt_mode", "globals_used", "host",
                 "hot_added", "ids", "irqchip", "kvm", "legacy", "m", "mm", "mprops",
                 "msi_ctrl", "mtype", "next_base", "nic_count", "no_nested_smmu", "p",
                 "powered", "rules", "smmu_compat", "smmu_index", "smmus", "tmemo",
                 "type_count", "types", "unplugged", "virtio_iommu", "warnings")

    # set by the phases before anything reads them
    mm: MachineMemo
    kvm: bool
    irqchip: bool
    msi_ctrl: str
    dt_mode: bool
    default_bus: Bus
    #: indexes of the -global options some object used (set by _start when there are any)
    globals_used: set[int]

    def __init__(self, prof: Resolved, types: TypeHierarchy, host: HostSmmu | None) -> None:
        self.p = prof
        self.b = prof.b
        self.m = prof.msg
        self.types = types
        self.tmemo: dict[Any, Any] = types.memo
        self.host = host
        self.rules: list[RuleFiring] = []
        self.warnings: list[str] = []
        self.buses: dict[str, Bus] = {}
        self.devs: dict[str, PciDev] = {}  # by key, creation order
        #: ids of the devices (and SMMUs) that exist, as dict keys (a dict is cheaper to
        #: build than a set)
        self.ids: dict[str, None] = {}
        self.smmus: list[Smmu] = []
        self.nic_count: dict[str, int] = {}
        self.type_count: dict[str, int] = {}
        self._nics: list[str] = []
        self.legacy = False
        self.virtio_iommu = False
        self.accel_smmus = 0  # accel SMMUs created so far (admission and A4 need one)
        self.next_base = 0x0C000000
        self.smmu_index = 0
        self._cur_opt = ""
        self.cl_iommufds: Collection[str] = _NO_IOMMUFDS
        self.cl = _NO_CMDLINE  # replaced by _start before any phase reads it
        self.mtype = ""
        self.no_nested_smmu = False
        self.smmu_compat = False  # virt-11.0 or older: SMMU_COMPAT_11_0 defaults (2a)
        self.balloon = False  # a virtio-balloon exists (F.one-balloon)
        self.mprops: Mapping[str, Any] = _NO_PROPS  # replaced by board.machine (read only)
        #: the devices QMP device_add created, in order (rules/trace.py; None: none yet)
        self.hot_added: list[PciDev] | None = None
        #: PCIe port buses whose slot was powered at the last system_reset, and
        #: ``"dev:KEY"`` for the devices present on SHPC slots then (None: no reset yet,
        #: the machine start decides: a cold device at devfn 0)
        self.powered: set[str] | None = None
        #: cold devices a device_del removed (rules/trace.py: they were there at start)
        self.unplugged: list[PciDev] | None = None

    def fire(self, rule_id: str, detail: str = "") -> None:
        """Record that rule ``rule_id`` decided something (``detail``: about what)."""
        self.rules.append(RULES[rule_id].firing(detail) if detail else FIRED[rule_id])

    def key_for(self, id: str | None, driver: str) -> str:
        """The ``devices``/``smmus`` key of a new device: its id, else ``type``,
        ``type#2``, ... in creation order."""
        if id:
            return id
        n = self.type_count.get(driver, 0) + 1
        self.type_count[driver] = n
        return driver if n == 1 else f"{driver}#{n}"

    def fmt(self, decision: Decision, detail: str = "") -> str:
        """Fire a rule's decision and give its text in the profile's wording.

        The text is kept per (decision object, message table): the rules intern their
        frequent decisions (:mod:`..rules.pci_slots`), and formatting one costs several
        times the lookup (the cached decision is kept alive, so its id is not reused)."""
        rid = decision[0]
        self.rules.append(RULES[rid].firing(detail) if detail else FIRED[rid])
        k = id(decision)
        hit = _WORDED.get(k)
        if hit is not None and hit[0] is decision and hit[1] is self.m:
            return hit[2]
        text = self.m[decision[1]].format(**decision[2])
        if len(_WORDED) > 4096:
            _WORDED.clear()
        _WORDED[k] = (decision, self.m, text)
        return text
