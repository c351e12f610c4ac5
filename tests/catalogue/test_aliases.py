"""Old scenario file names keep selecting what they held (one release)."""

from __future__ import annotations

import pytest

from catalogue.aliases import OLD_FILES
from catalogue.scenario import ScenarioError, default_dir, load_catalogue, select
from catalogue.vocabulary import TIERS


def test_old_files_are_gone_and_every_name_they_held_still_exists() -> None:
    names = {s.name for s in load_catalogue()}
    for old, held in OLD_FILES.items():
        assert not (default_dir() / old).exists()
        assert set(held) <= names, old


def test_old_file_and_name_selects_the_same_scenario() -> None:
    (s,) = select("kvm_accel.toml:kvm-accel-p16-cmdqv-on")
    assert s.name == "kvm-accel-p16-cmdqv-on"
    assert s.source == "preconditions.toml"  # the section file of its row, P16
    assert [x.name for x in select("kvm-accel-p16-cmdqv-on")] == [s.name]


def test_old_file_alone_selects_what_it_held_in_order() -> None:
    got = [s.name for s in select("nested_iommufd.toml")]
    assert got == list(OLD_FILES["nested_iommufd.toml"])


def test_old_file_with_a_name_it_did_not_hold_is_a_one_line_error() -> None:
    with pytest.raises(ScenarioError, match="no scenario named 'p1-accel-on-tcg'"):
        select("kvm_accel.toml:p1-accel-on-tcg")


def test_no_scenario_file_is_named_after_a_tier() -> None:
    for f in default_dir().glob("*.toml"):
        assert not any(f.stem.startswith(t) for t in TIERS), f.name
