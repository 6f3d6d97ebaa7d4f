"""Priors: built from the file or the literature, sampled inside their entry, centred where they say."""

import random
import statistics

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hpsearch.search import prior
from hpsearch.spec import catalog
from hpsearch.spec.entry import parse_entry, with_recommended_prior
from hpsearch.spec.recommended import Setting, recommend

LR = FloatDistribution(1e-6, 1e-2, log=True)


def draws(belief, distribution, n=400):
    rng = random.Random(0)
    return [prior.sample(belief, distribution, rng) for _ in range(n)]


def test_numeric_draws_stay_inside_and_gather_at_the_centre():
    belief = prior.from_confidence(LR, 1e-4, confidence=0.8)  # spread: 0.2 x half of 4 decades = 0.4 decades
    values = draws(belief, LR)
    assert all(1e-6 <= v <= 1e-2 for v in values)
    assert statistics.median(values) == pytest.approx(1e-4, rel=0.3)
    near = sum(1e-5 <= v <= 1e-3 for v in values) / len(values)  # within 2.5 spreads
    assert near > 0.95  # a uniform draw on the log scale would put half of them there


def test_confidence_zero_is_flat_and_higher_confidence_is_tighter():
    spreads = [prior.from_confidence(LR, 1e-4, c).spread for c in (0.0, 0.5, 0.9)]
    assert spreads[0] == pytest.approx(2.0) and spreads[0] > spreads[1] > spreads[2]


def test_int_and_stepped_draws_are_values_of_the_entry():
    steps = FloatDistribution(0.0, 0.5, step=0.1)
    for value in draws(prior.from_confidence(steps, 0.2, 0.5), steps, 100):
        assert round(value * 10) == pytest.approx(value * 10)
    ints = IntDistribution(8, 64, log=True)
    assert all(isinstance(v, int) and 8 <= v <= 64 for v in draws(prior.from_confidence(ints, 16, 0.5), ints, 100))


def test_a_categorical_prior_favours_its_choice():
    choices = CategoricalDistribution(["adamw", "sgd", "adafactor"])
    belief = prior.from_confidence(choices, "adamw", 0.7)
    assert belief.weight == pytest.approx(0.8)
    values = draws(belief, choices, 1000)
    assert 0.74 < values.count("adamw") / len(values) < 0.86
    assert {"sgd", "adafactor"} <= set(values)


def test_a_recommendation_outside_the_searched_range_moves_to_its_nearer_bound():
    narrow = FloatDistribution(1e-3, 1e-1, log=True)
    belief = prior.from_recommendation(narrow, 3e-5, 2e-5, 5e-5, "BERT")
    assert belief.value == 1e-3 and prior.centre(belief, narrow) == 1e-3


def test_a_recommended_choice_that_is_not_searched_gives_no_prior():
    assert prior.from_recommendation(CategoricalDistribution(["sgd", "adafactor"]), "adamw", None, None, "x") is None


def test_catalogue_priors_attach_to_entries_without_their_own():
    entry, _, _ = parse_entry(catalog.get("learning_rate"), {"low": 1e-6, "high": 1e-2, "log": True})
    small = with_recommended_prior(entry, recommend("learning_rate", Setting("full", "small")))
    lora = with_recommended_prior(entry, recommend("learning_rate", Setting("lora", "base")))
    assert small.prior.value == 1e-4 and "miniatures" in small.prior.source
    assert lora.prior.value == 4e-4 and "LoRA" in lora.prior.source
    own, _, _ = parse_entry(catalog.get("learning_rate"), {"low": 1e-6, "high": 1e-2, "log": True, "prior": 3e-3})
    assert with_recommended_prior(own, recommend("learning_rate", Setting())).prior.value == 3e-3


def test_density_is_highest_at_the_centre():
    belief = prior.from_confidence(LR, 1e-4, 0.5)
    assert prior.density(belief, LR, 1e-4) == 1.0 > prior.density(belief, LR, 1e-3) > prior.density(belief, LR, 1e-2)
