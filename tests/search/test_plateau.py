"""The plateau pruner on curves recorded from real fine-tuning runs (benchmarks/curves/classification)."""

import json
from pathlib import Path

import optuna
import pytest

from hpsearch.search import registry as plugins
from hpsearch.search.plateau import PlateauPruner, best_until

TABLE = json.loads((Path(__file__).parents[2] / "benchmarks/curves/classification/table.json").read_text())
STEPS = TABLE["steps"]
MARGIN = plugins.noise_margin("eval_accuracy", 300)["margin"]  # 300 examples evaluated: 0.058


def curves(predicate):
    return [c["values"] for c in TABLE["configs"] if predicate(c)]


def study_with(peers, pruner):
    """A study whose finished trials ran the recorded `peers` curves to the end."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for values in peers:
        study.add_trial(optuna.trial.create_trial(value=max(values),
                                                  intermediate_values=dict(zip(STEPS, values, strict=True))))
    return study


def first_pruned_step(study, values):
    """The step at which the study's pruner stops a trial reporting `values`, or None."""
    trial = study.ask()
    for step, value in zip(STEPS, values, strict=True):
        trial.report(value, step)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return step
    study.tell(trial, max(values))
    return None


# Late bloomers: configurations that end in the table's top five but sit at the majority-class plateau
# (0.383) for their first two or three evaluations.
TOP = sorted(TABLE["configs"], key=lambda c: -max(c["values"]))[:5]
BLOOMERS = [c["values"] for c in TOP if c["values"][1] <= 0.39]
GOOD_PEERS = [c["values"] for c in sorted(TABLE["configs"], key=lambda c: -max(c["values"]))[5:15]]
HOPELESS = curves(lambda c: max(c["values"]) < 0.3)  # SGD at tiny rates: stuck below the plateau


def test_the_table_has_late_bloomers_and_hopeless_curves():
    assert len(BLOOMERS) >= 2 and len(HOPELESS) >= 2


@pytest.mark.parametrize("index", range(2))
def test_a_late_bloomer_survives_among_good_peers(index):
    study = study_with(GOOD_PEERS, PlateauPruner(margin=MARGIN))
    assert first_pruned_step(study, BLOOMERS[index]) is None


def test_the_median_rule_alone_kills_the_same_late_bloomer():
    # the reason for the plateau rule: the plain median pruner stops it while it sits at the plateau
    study = study_with(GOOD_PEERS, optuna.pruners.MedianPruner())
    assert first_pruned_step(study, BLOOMERS[0]) is not None


@pytest.mark.parametrize("index", range(2))
def test_a_hopeless_trial_is_still_stopped_and_early(index):
    study = study_with(GOOD_PEERS, PlateauPruner(margin=MARGIN))
    step = first_pruned_step(study, HOPELESS[index])
    assert step is not None and step <= STEPS[len(STEPS) // 2]  # no later than half its budget


def test_a_trial_within_the_noise_of_the_median_runs_on():
    peers = [[0.40, 0.45, 0.50, 0.55]] * 5
    study = optuna.create_study(direction="maximize", pruner=PlateauPruner(margin=0.05, plateau_share=0))
    for values in peers:
        study.add_trial(optuna.trial.create_trial(value=max(values), intermediate_values=dict(enumerate(values))))
    trial = study.ask()
    trial.report(0.36, 0)  # 0.04 below the median: within the margin
    assert not trial.should_prune()
    trial.report(0.38, 1)  # 0.07 below: beyond it, and it has moved off its start (0.02 is within noise...)
    assert trial.should_prune()


def test_minimizing_uses_the_relative_margin():
    study = optuna.create_study(direction="minimize", pruner=PlateauPruner(relative_margin=0.02, plateau_share=0))
    for _ in range(5):
        study.add_trial(optuna.trial.create_trial(value=5.0, intermediate_values={0: 5.0}))
    close, far = study.ask(), study.ask()
    close.report(5.08, 0)  # 1.6% above the median loss: noise
    far.report(5.5, 0)
    assert not close.should_prune() and far.should_prune()


def test_nothing_is_pruned_before_enough_trials_finished_a_step():
    study = study_with(GOOD_PEERS[:2], PlateauPruner(margin=MARGIN, n_startup_trials=5))
    assert first_pruned_step(study, HOPELESS[0]) is None


@pytest.mark.parametrize("options, rule", [
    ({"margin": -0.1}, "margin must be 0 or more"),
    ({"percentile": 120}, "percentile must be between 0 and 100"),
    ({"plateau_share": 2}, "plateau_share must be between 0 and 1"),
])
def test_bad_options_are_refused_with_the_rule(options, rule):
    _, errors = plugins.build("pruner", plugins.PRUNERS, {"name": "plateau", **options})
    assert errors and rule in errors[0][1]


def test_best_until_reads_the_best_so_far_in_the_direction():
    assert best_until({1: 0.2, 2: 0.5, 3: 0.4}, 3, maximize=True) == 0.5
    assert best_until({1: 3.0, 2: 2.0, 3: 2.5}, 2, maximize=False) == 2.0


def test_the_noise_margin_follows_the_evaluation_size():
    assert plugins.noise_margin("eval_accuracy", 300)["margin"] == pytest.approx(0.0577, abs=1e-4)
    assert plugins.noise_margin("eval_accuracy", 10_000)["margin"] == pytest.approx(0.01)
    assert plugins.noise_margin("eval_loss", 300) == {"relative_margin": 0.02}
