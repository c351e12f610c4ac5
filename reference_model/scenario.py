"""Deprecated location of :mod:`catalogue.scenario`, kept for one release.

The scenario format is the contract between the model and the harness, so it lives in
the neutral ``catalogue`` package, below both.  This module re-exports it so that
existing imports (``from reference_model.scenario import Event``) keep working.
"""

from catalogue.observables import OBSERVABLES
from catalogue.scenario import (
    Event,
    HostSmmu,
    KnownNonconformance,
    Scenario,
    ScenarioError,
    default_dir,
    device_ids_in_argv,
    load_catalogue,
    load_file,
    parse_scenario,
    resolve_file,
    select,
    split_args,
)
from catalogue.vocabulary import REQUIREMENTS, TIERS

__all__ = [
    "OBSERVABLES", "REQUIREMENTS", "TIERS", "Event", "HostSmmu", "KnownNonconformance",
    "Scenario", "ScenarioError", "default_dir", "device_ids_in_argv", "load_catalogue",
    "load_file", "parse_scenario", "resolve_file", "select", "split_args",
]
