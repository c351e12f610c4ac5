"""Executable reference model of QEMU's accelerated SMMUv3 (``arm-smmuv3,accel=on``).

Pure Python; needs no QEMU.  Given a QEMU command line and a sequence of QMP events it
predicts what QEMU does (:class:`~reference_model.prediction.Prediction`).  The rules cite
the rows of the behaviour catalogue (``docs/catalogue.md`` / the shared spec) and the
revision of the patch series they model; named profiles (``qemu-11.1``, ``merged-v9``,
``series-v4`` ...) select which revision's behaviour to predict.
"""
