"""conformance.select: one scenario loader and one 'predict this scenario on this tier'."""

from __future__ import annotations

import json

import pytest

from catalogue.scenario import ScenarioError
from conformance.frontends.cli import main
from conformance.select import load, predict_for, tier_argv
from reference_model import predict


def test_load_empty_is_the_catalogue_and_specs_select_in_order() -> None:
    assert len(load(None)) == len(load([])) > 100
    got = load(["preconditions.toml:p1-accel-on-tcg", "trace-o7-no-smmu"])
    assert [s.name for s in got] == ["p1-accel-on-tcg", "trace-o7-no-smmu"]
    with pytest.raises(ScenarioError, match="no scenario named"):
        load(["preconditions.toml:nope"])


def test_tier_argv_adds_the_tier_unless_the_scenario_picks_its_accelerator() -> None:
    (s,) = load(["trace-o7-no-smmu"])
    assert tier_argv(s, "tcg")[-2:] == ["-accel", "tcg"]
    assert tier_argv(s, "kvm")[-4:] == ["-accel", "kvm", "-cpu", "host"]


@pytest.mark.parametrize("name,field", [("trace-o7-one-smmu-start", "trace"),
                                        ("iort-no-smmu-gicv3", "iort")])
def test_predict_for_predicts_what_the_scenario_observes(name: str, field: str) -> None:
    (s,) = load([name])
    pred = predict_for(s, s.tiers[0])
    assert getattr(pred, field) is not None
    bare = predict(tier_argv(s, s.tiers[0]), s.events, host=s.host)
    assert getattr(bare, field) is None  # what explain printed before it used predict_for


def test_explain_scenario_shows_trace_and_its_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--json", "--scenario", "trace-o7-one-smmu-start"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["prediction"]["trace"] is not None
    assert any(r["row"] == "O7" for r in doc["prediction"]["rules"])
    assert main(["explain", "--scenario", "iort-no-smmu-gicv3"]) == 0
    assert "\niort: revision" in capsys.readouterr().out
