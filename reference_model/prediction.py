"""Deprecated location of :mod:`catalogue.prediction`, kept for one release.

What a prediction (and an observation) looks like is the contract between the model and
the harness, so it lives in the neutral ``catalogue`` package, below both.  This module
re-exports it so that existing imports keep working.
"""

from catalogue.prediction import (
    ADDRESS_SPACE_KINDS,
    AddressSpaceKind,
    DevicePrediction,
    Difference,
    EventResult,
    IortPrediction,
    Outcome,
    Prediction,
    RuleFiring,
    SmmuPrediction,
    TracePrediction,
    diff,
)

__all__ = [
    "ADDRESS_SPACE_KINDS", "AddressSpaceKind", "DevicePrediction", "Difference",
    "EventResult", "IortPrediction", "Outcome", "Prediction", "RuleFiring",
    "SmmuPrediction", "TracePrediction", "diff",
]
