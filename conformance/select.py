"""Choosing scenarios, and asking the model about them: shared by every front end.

* :func:`load` turns ``--scenario`` specs (``FILE``, ``FILE:NAME``, ``NAME``; none: the
  whole catalogue) into scenarios, one-line :class:`~catalogue.scenario.ScenarioError`
  on bad input;
* :func:`compose_argv` is a scenario's command line as a tier runs it;
* :func:`predict_for` is **the** "model's prediction for this scenario on this tier":
  ``run`` (through the runner), ``explain``, ``diff`` and the avocado front end all come
  here, so what ``explain --scenario`` shows is what ``run`` judges against: the same
  command line, events, host SMMU and observables.
"""

from __future__ import annotations

from collections.abc import Sequence

from catalogue.prediction import Prediction
from catalogue.scenario import HostSmmu, Scenario, ScenarioError, load_catalogue, select
from conformance.argcheck import validate
from conformance.tiers import tier_row
from reference_model import TypeHierarchy, predict

DEFAULT_PROFILE = "qemu-11.1"


def load(specs: Sequence[str] | None, allow_host_paths: bool = False) -> list[Scenario]:
    """The scenarios ``specs`` select, in order, once each; the whole catalogue when empty.

    Each is checked against what the harness owns and the trust model
    (:func:`conformance.argcheck.validate`, docs/reliability.md); a spec that selects
    nothing is a :class:`ScenarioError` (an empty file would make a green run that tested
    nothing)."""
    if not specs:
        return validate(load_catalogue(), allow_host_paths)
    out: list[Scenario] = []
    for spec in specs:
        got = select(spec)
        if not got:
            raise ScenarioError(f"{spec}: holds no scenarios")
        out.extend(got)
    return validate(out, allow_host_paths)


def _sets_accel(argv: Sequence[str]) -> bool:
    return "-accel" in argv or "--accel" in argv or any(
        "accel=" in a for i, a in enumerate(argv[1:], 1) if argv[i - 1] in ("-M", "-machine"))


def compose_argv(scenario: Scenario, tier_args: Sequence[str]) -> list[str]:
    """Scenario args plus the tier's, unless the scenario picks its accelerator itself."""
    argv = list(scenario.argv)
    return argv if _sets_accel(argv) else [*argv, *tier_args]


def tier_argv(scenario: Scenario, tier: str) -> list[str]:
    """The scenario's command line as ``run`` composes it for ``tier`` (no binary)."""
    return compose_argv(scenario, tier_row(tier).args)


def predict_for(scenario: Scenario, tier: str, types: TypeHierarchy | None = None, *,
                profile: str = DEFAULT_PROFILE,
                argv: Sequence[str] | None = None,
                host: HostSmmu | None = None) -> Prediction:
    """The model's prediction for ``scenario`` shown on ``tier``.

    ``argv`` is the command line QEMU actually ran (without the binary), when there is
    one; otherwise the tier's composition of the scenario.  ``host`` is the host SMMUv3
    the tier found (``conformance.host_smmu.model_host``: the scenario's own ``host``
    table, else the tier's probe); without it the scenario's table.  Model errors
    (``reference_model.errors.ModelError``) propagate: the caller decides whether they
    are a usage error (``explain``) or "the model does not cover this" (``run``).
    """
    return predict(list(argv) if argv is not None else tier_argv(scenario, tier),
                   events=scenario.events, host=host or scenario.host, profile=profile,
                   types=types, observe=scenario.observe)


__all__ = ["DEFAULT_PROFILE", "compose_argv", "load", "predict_for", "tier_argv"]
