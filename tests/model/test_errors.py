"""One error root for the model (reference_model/errors.py): what it refuses, it refuses
with a ModelError, one line naming the option/profile/type."""

import json

import pytest

import reference_model
from reference_model import (
    CmdlineError,
    ModelError,
    ProfileError,
    TypeHierarchy,
    TypeHierarchyError,
    predict,
)


@pytest.mark.parametrize("cls", [CmdlineError, ProfileError, TypeHierarchyError])
def test_every_model_error_has_the_root(cls: type[Exception]) -> None:
    assert issubclass(cls, ModelError)
    assert issubclass(cls, ValueError)  # callers written before the root keep working


def test_the_tree_in_the_docstring_names_every_error() -> None:
    doc = reference_model.errors.__doc__ or ""
    for cls in (ModelError, CmdlineError, ProfileError, TypeHierarchyError):
        assert cls.__name__ in doc


def test_uncovered_machine_is_a_model_error() -> None:
    with pytest.raises(ModelError) as e:
        predict(["-M", "sbsa-ref", "-accel", "tcg"])
    assert "\n" not in str(e.value) and "sbsa-ref" in str(e.value)


def test_unknown_profile_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="no-such"):
        predict(["-M", "virt"], profile="no-such")


def test_bad_type_table_is_a_model_error() -> None:
    with pytest.raises(ModelError):
        TypeHierarchy.from_qom_list_types(json.loads('[{"name": 3}]'))
