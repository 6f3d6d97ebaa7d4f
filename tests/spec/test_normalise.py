"""The space's normal form, on its own: implicit conditions of optimizer and loss parameters, and the order
entries are sampled in."""

import pytest

from hpsearch.spec import catalog
from hpsearch.spec.entry import parse_entry
from hpsearch.spec.normalise import dependency_order, implicit_conditions


def space(**raw):
    entries = {}
    for name, value in raw.items():
        entry, errors, _ = parse_entry(catalog.get(name), value)
        assert errors == []
        entries[name] = entry
    return entries


@pytest.mark.parametrize(
    "fixed, raw, whens",
    [
        # the parent is searched: the parameter is sampled under the parent's values that use it
        ({}, {"optimizer": {"choices": ["sgd", "adamw"]}, "momentum": "documented"},
         {"optimizer": {}, "momentum": {"optimizer": ("sgd",)}}),
        ({}, {"loss": {"choices": ["focal", "cross_entropy"]}, "focal_gamma": {"low": 1.0, "high": 3.0}},
         {"loss": {}, "focal_gamma": {"loss": ("focal",)}}),
        # another condition of the entry's own is kept, the implicit one added after it
        ({}, {"optimizer": {"choices": ["sgd", "adamw"]}, "batch_size": {"choices": [8, 16]},
              "momentum": {"documented": True, "when": {"batch_size": 8}}},
         {"optimizer": {}, "batch_size": {}, "momentum": {"batch_size": (8,), "optimizer": ("sgd",)}}),
        # the file's own condition on the parent is left for the rules to check, even a wrong one
        ({}, {"optimizer": {"choices": ["sgd", "adamw"]}, "momentum": {"documented": True, "when": {"optimizer": "adamw"}}},
         {"optimizer": {}, "momentum": {"optimizer": ("adamw",)}}),
        # nothing to add: the parent is fixed, not searched, or never samples a value that uses the parameter
        ({"optimizer": "sgd"}, {"momentum": "documented"}, {"momentum": {}}),
        ({"optimizer": "sgd"}, {"optimizer": {"choices": ["sgd"]}, "momentum": "documented"},
         {"optimizer": {}, "momentum": {}}),
        ({}, {"momentum": "documented"}, {"momentum": {}}),
        ({}, {"optimizer": {"choices": ["adamw", "adafactor"]}, "momentum": "documented"},
         {"optimizer": {}, "momentum": {}}),
        ({}, {"dropout": "documented", "learning_rate": "documented"}, {"dropout": {}, "learning_rate": {}}),
    ],
)
def test_implicit_conditions(fixed, raw, whens):
    given = space(**raw)
    normal = implicit_conditions(fixed, given)
    assert {name: entry.when for name, entry in normal.items()} == whens
    assert list(normal) == list(given)  # the file's order is kept


def test_implicit_conditions_leave_the_given_space_unchanged():
    given = space(optimizer={"choices": ["sgd", "adamw"]}, momentum="documented")
    implicit_conditions({}, given)
    assert given["momentum"].when == {}


@pytest.mark.parametrize(
    "raw, order, cycles",
    [
        ({"dropout": "documented", "learning_rate": "documented"}, ["dropout", "learning_rate"], []),
        ({"focal_gamma": {"low": 1.0, "high": 3.0, "when": {"loss": "focal"}},
          "loss": {"choices": ["focal", "cross_entropy"], "when": {"optimizer": "sgd"}},
          "optimizer": {"choices": ["sgd", "adamw"]}},
         ["optimizer", "loss", "focal_gamma"], []),
        ({"optimizer": {"choices": ["sgd", "adamw"], "when": {"loss": "focal"}},
          "loss": {"choices": ["focal", "cross_entropy"], "when": {"optimizer": "sgd"}}},
         ["loss", "optimizer"], ["optimizer"]),
        ({"dropout": {"low": 0.1, "high": 0.2, "when": {"optimizer": "sgd"}}}, ["dropout"], []),  # not searched
    ],
)
def test_dependency_order(raw, order, cycles):
    ordered, found = dependency_order(space(**raw))
    assert list(ordered) == order and found == cycles
