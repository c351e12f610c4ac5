"""The contract between the reference model and the harness, and the project's vocabulary.

Both ``reference_model`` (which predicts) and ``conformance`` (which observes and judges)
build on this package; it imports neither.

* :mod:`catalogue.scenario`: the TOML scenario format (:class:`Scenario`, one-line
  :class:`ScenarioError`), loading and selecting scenario files;
* :mod:`catalogue.prediction`: what a prediction, and an observation, looks like
  (:class:`Prediction`) and the field-by-field :func:`diff`;
* :mod:`catalogue.vocabulary`: tiers, host requirements, catalogue row grammar, and the
  facts about QEMU that the model and the harness must agree on;
* :mod:`catalogue.observables`: one row per observable (what it fills in a prediction,
  which host feature observing it needs).
"""

from catalogue.prediction import Difference, Prediction, diff
from catalogue.scenario import Event, HostSmmu, Scenario, ScenarioError

__all__ = ["Difference", "Event", "HostSmmu", "Prediction", "Scenario", "ScenarioError",
           "diff"]
