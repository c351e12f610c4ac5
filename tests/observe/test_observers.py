"""The observable registries agree: catalogue rows == harness observers == model builders.

An observable is a row of ``catalogue.observables``, an observer in
``conformance.observe.OBSERVERS`` and, on the model's side, either a field every
prediction fills (``always``) or one the model builds only when the scenario observes
it (``builder``).  This checks all three describe the same set, the same way.
"""

from __future__ import annotations

import dataclasses

import pytest

from catalogue.observables import OBSERVABLE, OBSERVABLES, ROWS
from catalogue.prediction import Prediction
from conformance.observe import OBSERVERS, observers_for
from conformance.tiers import TIERS, host_for
from reference_model import engine, predict

#: a machine that starts with one SMMU and one device behind it, on TCG
ARGV = ["-S", "-nodefaults", "-display", "none", "-M", "virt,gic-version=3", "-accel", "tcg",
        "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0",
        "-device", "virtio-rng-pci,id=rng0"]


def test_every_catalogue_observable_has_an_observer_in_the_same_order() -> None:
    assert tuple(OBSERVERS) == OBSERVABLES
    assert [o.name for o in observers_for(list(reversed(OBSERVABLES)))] == list(OBSERVABLES)


def test_rows_name_prediction_fields() -> None:
    fields = {f.name for f in dataclasses.fields(Prediction)}
    assert {r.field for r in ROWS} <= fields


@pytest.mark.parametrize("name", OBSERVABLES)
def test_model_fills_or_builds_each_observable(name: str) -> None:
    row = OBSERVABLE[name]
    without = getattr(predict(ARGV, observe=()), row.field)
    with_it = getattr(predict(ARGV, observe=(name,)), row.field)
    assert with_it is not None, f"the model does not predict {name}"
    if row.model == "always":
        assert without is not None
    else:
        assert without is None, f"{name} is a builder: only built when observed"


def test_model_builders_are_the_builder_rows() -> None:
    # the model's builder table, where it has one (reference_model.engine.BUILDERS)
    builders = getattr(engine, "BUILDERS", None)
    if builders is None:
        pytest.skip("this model has no BUILDERS table; the behaviour is checked above")
    assert set(builders) == {r.name for r in ROWS if r.model == "builder"}


def test_hosts_declare_the_features_observers_need() -> None:
    needs = set().union(*(r.needs for r in ROWS))
    assert needs <= host_for("tcg", "qemu-system-aarch64").features
    assert "qtest" not in host_for("kvm", "qemu-system-aarch64").features  # not with KVM
    assert TIERS["nested"].make_host is not None
