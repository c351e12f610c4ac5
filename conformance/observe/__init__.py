"""What the harness reads from a running QEMU, one module per technique.

* :mod:`.mtree`: per-device address spaces and SMMU MMIO windows from
  ``info mtree -o -D`` (HMP through QMP);
* :mod:`.registers`: SMMU ID registers with ``xp /1wx``, one 32-bit word per command
  (wider reads return zeros on the SMMU);
* :mod:`.properties`: ``qom-get`` of SMMU properties;
* :mod:`.iort`: the ACPI IORT table read through ``-qtest`` and fw_cfg DMA.

Parsers take text and return plain data, so they are unit-tested on recorded output;
the ``read_*`` coroutines take a :class:`~conformance.session.QmpSession`.
"""
