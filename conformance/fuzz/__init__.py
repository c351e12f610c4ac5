"""Differential fuzzing: generated machines and QMP sequences, the model as oracle.

``python -m conformance fuzz`` (:mod:`conformance.cmd_fuzz`) draws command lines and
event lists from Hypothesis strategies, runs each on a real QEMU through the ordinary
:class:`~conformance.runner.Runner` (``-j`` at once), compares every observable with the
reference model's prediction, buckets the differences by signature, and shrinks one case
per new bucket to a minimal scenario with Hypothesis's own shrinker.

Modules, imports pointing down::

    campaign        one campaign: bare-rate probe, generation, runs, triage, shrinking, report
    ├── shrink      Hypothesis's shrinker over a case's choice sequence, QEMU as the test
    ├── triage      signature of a verdict (observable, deciding rule, normalised message),
    │               buckets, the known-bug signatures from the catalogue's records
    └── generate    the Domain (what this build and tier offer) and the case strategy;
                    a case's choices come from Random((seed, index)) alone

Nothing here runs QEMU itself: every run goes through :mod:`conformance.runner`.
"""
