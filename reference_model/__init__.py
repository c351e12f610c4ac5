"""Executable reference model of QEMU's accelerated SMMUv3 (``arm-smmuv3,accel=on``).

Pure Python; needs no QEMU.  Given a QEMU command line and a sequence of QMP events it
predicts what QEMU does (:class:`~catalogue.prediction.Prediction`)::

    from reference_model import predict
    p = predict(["-M", "virt", "-accel", "tcg",
                 "-device", "arm-smmuv3,primary-bus=pcie.0,accel=on"])
    p.outcome, p.exit_code, p.error
    # ('exits', 1, '-device arm-smmuv3,primary-bus=pcie.0,accel=on: SMMUv3 accel=on
    #   requires KVM with kernel-irqchip=on support')

The rules (:mod:`reference_model.rules`) cite the rows of the behaviour catalogue and
the revision of the patch series they model; named profiles (:data:`PROFILES`:
``qemu-11.1``, ``merged-v9``, ``series-v4`` ...) select which revision's behaviour to
predict.  :class:`TypeHierarchy` is the QOM type table that decides what a device is
(bridge, vfio-pci, emulated endpoint); pass one captured from another binary with
:meth:`TypeHierarchy.from_qom_list_types`.

Everything the model refuses on purpose raises a :class:`ModelError` (the tree is in
:mod:`reference_model.errors`); any other exception out of :func:`predict` is a bug.
"""

from .cmdline import CmdlineError
from .engine import clear_caches, predict
from .errors import ModelError
from .prediction import Prediction
from .profiles import PROFILES, ProfileError
from .qom import TypeHierarchy, TypeHierarchyError

# most to least important; exceptions most generic to most explicit
__all__ = ["PROFILES", "Prediction", "TypeHierarchy", "clear_caches", "predict",  # noqa: RUF022
           "ModelError", "CmdlineError", "ProfileError", "TypeHierarchyError"]
