"""store/best.py: the one best-trial function and the one objective-names function, and their contracts."""

import optuna
import pytest

from hpsearch.errors import UsageError
from hpsearch.store.best import best_trials, objective_names
from hpsearch.trial import FEASIBLE

X = optuna.distributions.FloatDistribution(0.0, 1.0)


def study_of(values, directions=("maximize",), attrs=()):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=list(directions))
    for value, user_attrs in values:
        study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": X}, values=value,
                                                  user_attrs=dict(user_attrs)))
    for key, value in attrs:
        study.set_user_attr(key, value)
    return study


def test_no_complete_trial_is_an_empty_list_or_the_users_error_when_one_is_required():
    study = study_of([])
    assert best_trials(study) == []
    with pytest.raises(UsageError, match="has no complete \\(feasible\\) trial yet") as raised:
        best_trials(study, required=True)
    assert raised.value.exit_code == 2


def test_one_objective_gives_the_best_trial_alone():
    study = study_of([([0.2], {}), ([0.9], {}), ([0.5], {})])
    assert [t.number for t in best_trials(study, required=True)] == [1]


def test_several_objectives_give_the_pareto_front_in_trial_order():
    study = study_of([([0.9, 5.0], {}), ([0.1, 9.0], {}), ([0.5, 1.0], {})], directions=("maximize", "minimize"))
    assert [t.number for t in best_trials(study)] == [0, 2]


def test_an_infeasible_trial_never_leads():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for value, violation in ((0.9, 1.0), (0.4, 0.0)):
        study.add_trial(optuna.trial.create_trial(
            params={"x": 0.5}, distributions={"x": X}, value=value, user_attrs={FEASIBLE: violation <= 0},
            system_attrs={"constraints": [violation]}))
    assert [t.number for t in best_trials(study)] == [1]


@pytest.mark.parametrize("attrs, directions, names", [
    ({"objectives": ["eval_f1", "train_seconds"], "metric": "eval_f1"}, 2, ["eval_f1", "train_seconds"]),
    ({"metric": "eval_accuracy"}, 1, ["eval_accuracy"]),  # stored before objectives were
    ({}, 1, ["value"]),  # not made by hpsearch
    ({"metric": "eval_loss"}, 2, ["eval_loss", "objective 1"]),
])
def test_objective_names_one_per_direction(attrs, directions, names):
    assert objective_names(attrs, directions) == names
