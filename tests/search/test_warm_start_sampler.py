"""hpsearch.search.warm_start: the wrapped sampler learns from history the study never holds."""

import statistics

import optuna
import pytest
from optuna.distributions import FloatDistribution

from hpsearch.search.build import build_sampler
from hpsearch.search.prior_sampler import PriorSampler, proposed_by
from hpsearch.search.reseed import Reseeded
from hpsearch.search.warm_start import WarmStart

X = FloatDistribution(0.0, 1.0)
OPTIMUM = 0.8


def score(x: float) -> float:
    return -((x - OPTIMUM) ** 2)


def history(n: int = 30) -> list:
    """Finished trials of an earlier study, evenly over the range: their values point at the optimum."""
    return [optuna.trial.create_trial(params={"x": i / (n - 1)}, distributions={"x": X}, value=score(i / (n - 1)))
            for i in range(n)]


def proposals(sampler, n: int, study: optuna.Study | None = None) -> list[float]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = study or optuna.create_study(direction="maximize", sampler=sampler)
    study.sampler = sampler
    found = []
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, score(x))
        found.append(x)
    return found


def test_history_steers_the_first_trials_and_never_enters_the_study():
    warm, cold = [], []
    for seed in range(5):
        warm += proposals(WarmStart(optuna.samplers.TPESampler(seed=seed), history()), 5)
        cold += proposals(optuna.samplers.TPESampler(seed=seed), 5)
    # TPE samples at random until it has seen 10 trials; with 30 of history it samples near the optimum at once
    assert statistics.median(abs(x - OPTIMUM) for x in warm) < 0.1
    assert statistics.median(abs(x - OPTIMUM) for x in cold) > 0.15
    study = optuna.create_study(direction="maximize")
    proposals(WarmStart(optuna.samplers.TPESampler(seed=0), history()), 3, study)
    assert len(study.trials) == 3 and all(t.user_attrs == {} for t in study.trials)


def test_gp_learns_from_history_too():
    found = proposals(WarmStart(optuna.samplers.GPSampler(seed=0, n_startup_trials=10), history()), 3)
    assert statistics.median(abs(x - OPTIMUM) for x in found) < 0.1


def test_a_resumed_study_samples_as_one_run_in_one_go():
    def sampler():
        return WarmStart(Reseeded(optuna.samplers.TPESampler(n_startup_trials=3), seed=7), history(8))

    one_go = proposals(sampler(), 6)
    study = optuna.create_study(direction="maximize")
    resumed = proposals(sampler(), 3, study) + proposals(sampler(), 3, study)  # a new process: a new sampler
    assert resumed == one_go


def test_history_counts_as_evidence_for_the_priors():
    assert PriorSampler(optuna.samplers.RandomSampler(), {}, startup=5).mode(0) == "centre"
    warm = PriorSampler(optuna.samplers.RandomSampler(), {}, startup=5, seed=0, evidence=200)
    modes = [warm.mode(n) for n in range(50)]
    assert "centre" not in modes and modes.count("base") > 40  # 5 / 201 of a chance to draw from the priors


@pytest.mark.parametrize("with_history", [False, True])
def test_the_default_chain_still_names_the_base_sampler(make_spec, with_history):
    spec = make_spec("""
        study: {name: t, sampler: {name: tpe, seed: 0}}
        task: {dataset: {path: data.csv}}
        space: {learning_rate: documented}
    """)
    trials = [optuna.trial.create_trial(params={"learning_rate": 1e-4}, value=0.5,
                                        distributions={"learning_rate": spec.space["learning_rate"].to_distribution()})]
    sampler = build_sampler(spec.plugin_options, trials if with_history else ())
    assert isinstance(sampler, PriorSampler) and isinstance(sampler.base, WarmStart) == with_history
    assert sampler.evidence == (1 if with_history else 0)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    trial = study.ask()
    assert proposed_by(sampler, trial.number) == ("prior" if with_history else "prior centre")
