import optuna
import pytest

from hpsearch.spec.suggest import configuration, sample, suggest

BASE = "study: {name: t, sampler: {name: random, seed: 3}}\ntask: {dataset: {path: d.csv}}\n"


@pytest.fixture
def conditional(make_spec):
    return make_spec(BASE + (
        "space:\n"
        "  optimizer: {choices: [sgd, adamw]}\n"
        "  momentum: documented\n"
        "  loss: {choices: [focal, cross_entropy]}\n"
        "  focal_gamma: {low: 1.0, high: 3.0}\n"
        "  batch_size: {low: 8, high: 32, step: 8}\n"
        "  learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}\n"))


def test_conditional_entries_are_sampled_only_under_their_condition(conditional):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        values = suggest(study.ask(), conditional.space)
        assert ("momentum" in values) == (values["optimizer"] == "sgd")
        assert ("focal_gamma" in values) == (values["loss"] == "focal")
        assert values["batch_size"] in (8, 16, 24, 32)
        assert 1e-5 <= values["learning_rate"] <= 1e-3
        seen.add(values["optimizer"])
    assert seen == {"sgd", "adamw"}


def test_trial_params_match_what_suggest_returns(conditional):
    study = optuna.create_study()
    trial = study.ask()
    values = suggest(trial, conditional.space)
    assert trial.params == values


def test_sample_is_deterministic_with_a_seed(conditional):
    first, second = sample(conditional, 5), sample(conditional, 5)
    assert first == second and len(first) == 5
    assert len({tuple(sorted(c.items())) for c in first}) == 5


def test_sample_uses_the_grid(make_spec):
    spec = make_spec("study: {name: t, sampler: grid}\ntask: {dataset: {path: d.csv}}\n"
                     "space: {optimizer: {choices: [sgd, adamw]}, batch_size: {choices: [8, 16]}}\n")
    combos = {(c["optimizer"], c["batch_size"]) for c in sample(spec, 4)}
    assert combos == {("sgd", 8), ("sgd", 16), ("adamw", 8), ("adamw", 16)}


def test_configuration_merges_fixed_and_sampled():
    assert configuration({"max_steps": 5, "dropout": 0.1}, {"dropout": 0.2}) == {"max_steps": 5, "dropout": 0.2}
